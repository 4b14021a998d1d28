"""``pairings``: the pump's pairing keys - list them, revoke one, authorise a patient pairing.

Why: a lost patient remote must be revocable, and the clinician must see who holds a key to the
pump.  Listing (PAIRINGS_LIST) and authorising a patient key (PATIENT_PAIRING_AUTHORIZE) are
clinician-only; revoking uses UNPAIR with the key id.
"""

from __future__ import annotations

from typing import Any

import click

from protocol.enums import Role, enum_label

from ..cli_support import confirm, connected, declined, emit, require_confirmation_possible
from ..errors import UsageError
from ..finish import for_settings
from ..views import iso_time


def _role_name(value: int) -> str:
    return enum_label(Role, value, "role_{value}").lower()


def _key_id(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a key id (decimal or 0x hex, as `pumpctl pairings` shows)"
        ) from None
    if not 0 < value <= 0xFFFF_FFFF:
        raise click.BadParameter(f"key id {text} is out of range")
    return value


def _documents(body: dict[str, Any], own_key_id: int | None) -> list[dict[str, Any]]:
    return [
        {
            "key_id": int(p["key_id"]),
            "key_id_hex": f"{int(p['key_id']):#010x}",
            "role": _role_name(int(p["role"])),
            "programmer_id": f"{int(p['programmer_id']):016x}" if p["programmer_id"] else None,
            "paired_at": iso_time(int(p["paired_time"])) if p["paired_time"] else None,
            "this_programmer": int(p["key_id"]) == own_key_id,
        }
        for p in body["pairings"]
    ]


@click.group(invoke_without_command=True)
@click.pass_context
def pairings(ctx: click.Context) -> None:
    """List the pump's pairing keys (clinician); see also `revoke` and `authorize-patient`.

    \b
    Examples:
      pumpctl --port /dev/pts/3 pairings
      pumpctl --port /dev/pts/3 --yes pairings revoke 0x1a2b3c4d
      pumpctl --port /dev/pts/3 --yes pairings authorize-patient
    """
    if ctx.invoked_subcommand is None:
        _list()


@pairings.command("list")
def list_pairings() -> None:
    """List the pump's pairing keys: key id, role, paired at, and which one is this programmer.

    --json prints {"serial_number", "max_pairings", "pairings": [{"key_id", "key_id_hex",
    "role", "programmer_id", "paired_at", "this_programmer"}]}.

    Example: pumpctl --port /dev/pts/3 --json pairings list
    """
    _list()


def _list() -> None:
    with connected() as client:
        serial = client.serial_number
        body = client.pairings()
        stored = client.keystore.get(serial)
    keys = _documents(body, stored.key_id if stored else None)
    doc = {"serial_number": serial, "max_pairings": int(body["max_pairings"]), "pairings": keys}
    lines = [f"Pump {serial}: {len(keys)} of {doc['max_pairings']} pairing keys"]
    for k in keys:
        mine = "  <- this programmer" if k["this_programmer"] else ""
        lines.append(
            f"  {k['key_id_hex']}  {k['role']:<9}  paired {k['paired_at'] or 'at an unknown time'}"
            f"{mine}"
        )
    emit(doc, "\n".join(lines))


@pairings.command()
@click.argument("key_id")
def revoke(key_id: str) -> None:
    """Make the pump forget the pairing key KEY_ID (a lost patient remote, a retired programmer).

    KEY_ID as `pumpctl pairings` shows it (0x hex or decimal).  Revoking this programmer's own
    key also deletes it from the key store.

    Example: pumpctl --port /dev/pts/3 --yes pairings revoke 0x1a2b3c4d
    """
    wanted = _key_id(key_id)
    require_confirmation_possible()
    with connected() as client:
        serial = client.serial_number
        stored = client.keystore.get(serial)
        own = stored is not None and stored.key_id == wanted
        listed = {k["key_id"]: k for k in _documents(client.pairings(), wanted if own else None)}
        entry = listed.get(wanted)
        if entry is None:
            raise UsageError(
                f"pump {serial} holds no key {wanted:#010x}; `pumpctl pairings` lists its keys"
            )
        warnings = ["the holder of this key can no longer talk to the pump; it must pair again"]
        if own:
            warnings.append("this is this programmer's own key: it is deleted here too")
        view = for_settings(
            f"revoke a pairing key on pump {serial}",
            [("pairing key", f"{entry['key_id_hex']} ({entry['role']})", "revoked")],
            warnings,
        )
        if not confirm(view):
            raise declined()
        client.unpair_key(wanted)
        if own:
            client.endpoint.close_session()  # the pump closed it with the key
            client.keystore.remove(serial)
    emit(
        {
            "serial_number": serial,
            "key_id": wanted,
            "role": entry["role"],
            "revoked": True,
            "this_programmer": own,
            "finish": view.to_dict(),
        },
        f"Revoked {entry['role']} key {entry['key_id_hex']} on pump {serial}.",
    )


@pairings.command("authorize-patient")
def authorize_patient() -> None:
    """Allow one patient remote to pair with the pump (clinician).

    The pump then accepts one PAIR_BEGIN with the patient role while its pairing window is open,
    for as long as a pairing window lasts (the answer says until when); the code must still be
    accepted at the pump.  Then, with the wand over the pump, on the patient's remote:
    `pumpctl --keystore REMOTE_KEYS pair --role patient`.

    Example: pumpctl --port /dev/pts/3 --yes pairings authorize-patient
    """
    require_confirmation_possible()
    with connected() as client:
        serial = client.serial_number
        view = for_settings(
            f"authorise a patient pairing on pump {serial}",
            [("patient pairing", "not allowed", "one patient key may pair")],
            ["a patient key may read the pump and ask for patient boluses within their limits"],
        )
        if not confirm(view):
            raise declined()
        until = client.authorize_patient_pairing()
    valid_until = iso_time(until)
    emit(
        {"serial_number": serial, "valid_until": valid_until, "finish": view.to_dict()},
        f"One patient key may pair with pump {serial} until {valid_until}: put the wand over "
        "the pump and run `pumpctl pair --role patient` on the patient's remote.",
    )
