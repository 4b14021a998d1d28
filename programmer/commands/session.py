"""``identify``, ``pair``, ``unpair`` and ``status``: who the pump is and how it is doing."""

from __future__ import annotations

from typing import Any

import click

from protocol.catalog import Capability
from protocol.enums import Role

from ..cli_support import confirm, connected, declined, emit, interactive, note, options, say
from ..finish import for_settings
from ..views import status_document, status_text


@click.command()
def identify() -> None:
    """Identify the pump: model, serial number, firmware, pairing window.

    Needs no pairing: it is the only thing an unpaired programmer may read.

    Example: pumpctl --port /dev/pts/3 identify
    """
    with connected(session=False) as client:
        hello = client.identify()
        stored = client.keystore.get(str(hello["serial_number"]))
    doc = {
        "model": hello["model"],
        "serial_number": hello["serial_number"],
        "firmware_version": hello["firmware_version"],
        "protocol": [hello["protocol_min"], hello["protocol_max"]],
        "max_payload": hello["max_payload"],
        "capabilities": hello["capabilities"],
        "pairing_window_open": hello["pairing_window_open"],
        "paired_keys": hello["paired_keys"],
        "paired_with_this_programmer": stored is not None,
        "insecure_test_keys": client.insecure_test_keys,
    }
    doc["capability_names"] = capability_names(int(hello["capabilities"]))
    emit(doc, identify_text(doc))


def capability_names(bits: int) -> list[str]:
    """HELLO's capability bits as lower-case names; unknown bits as ``bit_N``."""
    names = [c.name.lower() for c in Capability if c.name and bits & c]
    known = sum(int(c) for c in Capability)
    names += [f"bit_{n}" for n in range(32) if bits & ~known & (1 << n)]
    return names


def identify_text(doc: dict[str, Any]) -> str:
    low, high = doc["protocol"]
    yes_no = {True: "yes", False: "no"}
    rows = [
        ("model", doc["model"]),
        ("serial number", doc["serial_number"]),
        ("firmware", doc["firmware_version"]),
        ("protocol", f"version {low}" if low == high else f"versions {low} to {high}"),
        ("largest payload", f"{doc['max_payload']} bytes"),
        ("capabilities", ", ".join(doc["capability_names"]) or "none"),
        ("pairing window open", yes_no[bool(doc["pairing_window_open"])]),
        ("paired keys", doc["paired_keys"]),
        ("paired with this programmer", yes_no[bool(doc["paired_with_this_programmer"])]),
    ]
    if doc["insecure_test_keys"]:
        rows.append(("INSECURE TEST KEYS", "yes: keys follow from a seed (tests only)"))
    return "\n".join(f"{label:<28} {value}" for label, value in rows)


@click.command()
@click.option(
    "--role",
    type=click.Choice(["clinician", "patient"]),
    default="clinician",
    show_default=True,
    help="The role bound to the key: a patient key may only read and ask for patient boluses "
    "(it needs a clinician's `pumpctl pairings authorize-patient` first).",
)
@click.option(
    "--confirm-timeout",
    type=click.FloatRange(min=1, max=3600),
    default=120.0,
    show_default=True,
    help="Seconds to wait for the code to be accepted at the pump.",
)
def pair(role: str, confirm_timeout: float) -> None:
    """Pair this programmer with the pump and store the key.

    The pump accepts pairing only while the programmer head is over it (its pairing window is
    open), one pairing per window.  Both sides show the same 6-digit confirmation code; compare
    them.  On a terminal you are asked whether they match; with --yes or without a terminal the
    code is printed on stderr and pairing proceeds.  The pump stores the key only when the
    person at the pump accepts the code there (on the virtual pump: `vpump ctl pairing accept
    CODE`); pumpctl waits for that up to --confirm-timeout.  Pairing again from the same
    programmer replaces its earlier key on the pump.  A patient key needs a clinician's
    `pumpctl pairings authorize-patient` first.

    Example: pumpctl --port /dev/pts/3 pair --role clinician
    """
    opts = options()

    def show_code(code: str) -> bool:
        note(f"Confirmation code: {code}  (the pump shows the same code)")
        if opts.yes or not interactive():
            return True
        return click.confirm("Does the pump show the same code?", default=True, err=True)

    def waiting(code: str) -> None:
        note(
            f"Waiting for the code {code} to be accepted at the pump "
            f"(`vpump ctl pairing accept {code.replace(' ', '')}`)..."
        )

    with connected(session=False) as client:
        stored = client.pair(
            Role[role.upper()], show_code, on_waiting=waiting, confirm_timeout_s=confirm_timeout
        )
    doc = {
        "serial_number": stored.serial_number,
        "key_id": stored.key_id,
        "role": stored.role.name.lower(),
        "keystore": str(opts.keystore_obj().path),
    }
    emit(doc, f"Paired with pump {stored.serial_number} as {role} (key {stored.key_id:#010x}).")


@click.command()
def unpair() -> None:
    """Make the pump forget this programmer's key, then delete it from the key store.

    Example: pumpctl --port /dev/pts/3 --yes unpair
    """
    with connected() as client:
        serial = client.serial_number
        stored = client.keystore.get(serial)
        assert stored is not None  # the session opened with it
        view = for_settings(
            f"unpair pump {serial}",
            [("pairing key", f"{stored.key_id:#010x} ({stored.role.name.lower()})", "forgotten")],
            ["this programmer must pair again (wand over the pump) to talk to this pump"],
        )
        if not confirm(view):
            raise declined()
        client.unpair_key(0)
        client.endpoint.close_session()  # the pump closed it with the key
        client.keystore.remove(serial)
    emit(
        {
            "serial_number": serial,
            "key_id": stored.key_id,
            "unpaired": True,
            "finish": view.to_dict(),
        },
        f"Unpaired from pump {serial}.",
    )


@click.command()
def status() -> None:
    """Show the pump's state: therapy, reservoir estimate, battery, alarms.

    --json prints one document with (at least) mode, daily_dose_mcg, rate_ml_per_day,
    concentration_mcg_per_ml, reservoir_ml, reservoir_capacity_ml, low_reservoir_alarm_ml,
    days_to_low_reservoir, alarms, battery {eri, eos, replace_by, remaining_pct}, pump_time,
    delivering, patient_bolus {settings, given_24h, refused_24h, left_24h, lockout_until},
    week (the day totals) and flex (the steps of a flex program).

    Example: pumpctl --port /dev/pts/3 --json status
    """
    with connected() as client:
        doc = status_document(client.status(), client.read_prescription())
        doc["serial_number"] = client.serial_number
    emit(doc, status_text(doc))
    if doc["mode"] == "stopped" and options().json:
        say("warning: the pump is STOPPED: no drug is delivered until `pumpctl resume`")
