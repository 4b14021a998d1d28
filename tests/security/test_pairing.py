"""Finding 3 of issue 9, silent pairing: the attacks, written as the specification they now meet.

The attacks (reproduced by an adversarial review against a real pump and programmer):

* **Man in the middle.**  While the wand window was open, whoever completed PAIR_BEGIN and
  PAIR_CONFIRM got a key stored; the confirmation code was compared only on the programmer, so
  a relay that ran one pairing with the pump and another with the clinician's programmer walked
  away with a key of its own.  Now the pump stores a key only when the person at the pump types
  in the code the programmer shows, and a relay's two legs have different codes.
* **Filling the key slots.**  The window stayed open after a pairing: one attacker paired four
  times and the clinician got KEY_STORE_FULL.  Now the window closes after one pairing.
* **Racing the clinician.**  A PAIR_BEGIN (or a forged PAIR_CONFIRM) from an attacker while the
  clinician compared codes replaced (or cancelled) the pending pairing, and the clinician's
  confirmation failed.  Now a second PAIR_BEGIN is refused with PAIRING_BUSY and a forged
  confirmation leaves the pending pairing alone.
* **Any role.**  Whoever paired chose the role.  Now a patient key pairs only after a clinician
  session authorised one patient pairing.
* **Re-pairing** the same programmer took a new slot each time; now it replaces its key.
* A lost patient remote could not be found or revoked: ``pumpctl pairings`` lists and revokes.

The protocol-level attacks run against the real firmware and board in memory (a ``BenchPump``,
as ``vpump serve`` runs it); the ``pumpctl`` commands run as real processes against a real
``vpump serve``.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hw_sim.bench.bench import BenchError, BenchPump
from protocol import ErrorCode, LogEvent, LogId, MsgType, PairingCode, PairingCompleted, Reply, Role
from protocol.catalog import Capability
from protocol.codec import encode_request
from protocol.crypto import PairingInitiator, PairingResponder
from protocol.device import DeviceEndpoint, DeviceInfo
from protocol.framing import encode_frame
from protocol.security_state import Pairing
from tests.integration.harness import PUMPCTL, VPUMP, ServedPump, served_pump, xdg_env
from tests.reliability.inprocess import InProcessProgrammer, make_pump


# -- helpers -------------------------------------------------------------------------------------
def replies(events: list[Any]) -> list[Reply]:
    return [e for e in events if isinstance(e, Reply)]


def begin(prog: InProcessProgrammer, role: Role = Role.CLINICIAN, **kwargs: Any) -> list[Any]:
    prog.request(MsgType.HELLO)
    return prog.exchange(
        prog.endpoint.begin_pairing(
            role, prog.rng.randbytes(32), prog.rng.randbytes(16), prog.next_seq(), **kwargs
        )
    )


def code_of(events: list[Any]) -> str:
    return next(e.code for e in events if isinstance(e, PairingCode))


def confirm(prog: InProcessProgrammer) -> tuple[Reply, list[Any]]:
    events = prog.exchange(prog.endpoint.confirm_pairing(prog.next_seq()))
    (reply,) = replies(events)
    return reply, events


def pair(
    pump: BenchPump, prog: InProcessProgrammer, role: Role = Role.CLINICIAN, **kwargs: Any
) -> Reply:
    """Pair through a window already open: begin, confirm, and - where the pump waits for it -
    the person at the pump accepting the code this programmer shows."""
    begun = begin(prog, role, **kwargs)
    (reply,) = replies(begun)
    if not reply.ok:
        return reply
    code = code_of(begun)
    reply, events = confirm(prog)
    if awaiting(reply):
        pump.accept_pairing(code)
        reply, events = confirm(prog)
    done = next((e for e in events if isinstance(e, PairingCompleted)), None)
    if done is not None:
        prog.key_id, prog.pairing_key = done.key_id, done.pairing_key
    return reply


def awaiting(reply: Reply) -> bool:
    """The pump waits for the person at the pump (by name: the check also runs on old code)."""
    return getattr(ErrorCode(reply.status), "name", "") == "PAIRING_AWAITING_CONFIRMATION"


def audit_events(pump: BenchPump) -> list[tuple[LogEvent, int, int]]:
    records = pump.board.firmware.log_read(LogId.AUDIT, 1, 1000)
    return [(LogEvent(r.event), r.a, r.b) for r in records]


# -- man in the middle ---------------------------------------------------------------------------
def test_a_man_in_the_middle_gets_no_key_without_acceptance_at_the_pump() -> None:
    """A relay runs one pairing with the pump and another with the clinician's programmer.

    Its proof to the pump is valid (it holds that leg's keys), so before the fix the pump
    stored its key.  Now the pump waits for the person at the pump, who types in the code the
    clinician's programmer shows: the relay's two legs have different codes, so the pump
    refuses it and stores nothing, however long the relay keeps asking.
    """
    pump = make_pump(31)
    pump.set_wand(True)
    relay = InProcessProgrammer(pump, 1031)  # the relay's leg towards the pump
    begun = begin(relay)
    pump_leg_code = code_of(begun)
    # the relay's other leg: it plays the pump towards the clinician's programmer
    clinician = PairingInitiator(bytes(range(1, 33)), bytes(16), int(Role.CLINICIAN))
    fake_pump = PairingResponder(bytes(range(2, 34)), bytes(range(16)), "VP20-000031")
    programmer_leg = fake_pump.complete(clinician.public, clinician.nonce, int(Role.CLINICIAN))
    clinician_sees = clinician.complete(fake_pump.public, fake_pump.nonce, "VP20-000031")
    assert clinician_sees.format_code() == programmer_leg.format_code()
    assert clinician_sees.format_code() != pump_leg_code

    reply, events = confirm(relay)  # the relay's proof is valid for the pump's leg
    assert reply.status == ErrorCode.PAIRING_AWAITING_CONFIRMATION, reply
    assert not any(isinstance(e, PairingCompleted) for e in events)
    assert pump.link.endpoint.pairings == {}
    with pytest.raises(BenchError, match="not the one the pump shows"):
        pump.accept_pairing(clinician_sees.format_code())  # the person types what they see
    for _ in range(5):  # the relay keeps polling: still nothing
        reply, _ = confirm(relay)
        assert reply.status == ErrorCode.PAIRING_AWAITING_CONFIRMATION
    assert pump.link.endpoint.pairings == {}
    pump.reject_pairing()
    reply, _ = confirm(relay)
    assert reply.status == ErrorCode.PAIRING_REJECTED
    assert pump.link.endpoint.pairings == {}
    assert (LogEvent.PAIRING_REJECTED, int(Role.CLINICIAN), int(ErrorCode.PAIRING_REJECTED)) in (
        audit_events(pump)
    )


# -- one pairing per window -------------------------------------------------------------------
def test_one_attacker_cannot_fill_the_key_slots() -> None:
    """Before the fix one attacker paired four times in one window and the clinician got
    KEY_STORE_FULL.  Even if the person at the pump is fooled into accepting the attacker's
    code once, the window closes after that pairing: the rest of the attacker's attempts are
    refused, and the clinician (wand placed again) pairs."""
    pump = make_pump(32)
    pump.set_wand(True)
    attacker_results = []
    for n in range(4):
        attacker = InProcessProgrammer(pump, 2000 + n)
        attacker_results.append(pair(pump, attacker).status)
    assert attacker_results[0] == ErrorCode.OK
    assert attacker_results[1:] == [ErrorCode.PAIRING_WINDOW_CLOSED] * 3
    assert len(pump.link.endpoint.pairings) == 1
    assert not pump.link.endpoint.pairing_window_open(pump.now)
    pump.set_wand(True)  # the clinician places the wand
    clinician = InProcessProgrammer(pump, 2100)
    assert pair(pump, clinician).ok
    assert len(pump.link.endpoint.pairings) == 2


# -- racing the clinician -----------------------------------------------------------------------
def test_an_attacker_during_the_clinicians_comparison_does_not_break_it() -> None:
    """While the clinician compares codes an attacker sends its own PAIR_BEGIN and a forged
    PAIR_CONFIRM.  Before the fix the first replaced the clinician's pending pairing and the
    second cancelled it.  Now the attacker is refused (PAIRING_BUSY, PAIRING_FAILED), the
    clinician's pairing completes, and nothing is stored for the attacker."""
    pump = make_pump(33)
    pump.set_wand(True)
    clinician = InProcessProgrammer(pump, 3000)
    clinician_code = code_of(begin(clinician))
    attacker = InProcessProgrammer(pump, 3001)
    (busy,) = replies(begin(attacker))
    assert busy.status == ErrorCode.PAIRING_BUSY, busy
    assert clinician_code.replace(" ", "") not in busy.reason.replace(" ", "")  # not disclosed
    proof = encode_request(MsgType.PAIR_CONFIRM, {"programmer_proof": bytes(16)})
    forged = attacker.exchange(encode_frame(MsgType.PAIR_CONFIRM, attacker.next_seq(), proof))
    assert replies(forged)[0].status == ErrorCode.PAIRING_FAILED
    reply, _ = confirm(clinician)  # the clinician's comparison is done
    if awaiting(reply):
        pump.accept_pairing(clinician_code)
        reply, _ = confirm(clinician)
    assert reply.ok, reply
    (stored,) = pump.link.endpoint.pairings.values()
    assert stored.role is Role.CLINICIAN
    assert audit_events(pump).count((LogEvent.PAIRED, stored.key_id, int(Role.CLINICIAN))) == 1


def test_a_retried_pair_begin_from_the_same_programmer_gets_the_same_answer() -> None:
    """A lost PAIR_BEGIN reply: the programmer sends the same request again and is answered
    with the same keys, not refused as busy (only a different PAIR_BEGIN is)."""
    pump = make_pump(34)
    pump.set_wand(True)
    prog = InProcessProgrammer(pump, 3400)
    prog.request(MsgType.HELLO)
    private, nonce = prog.rng.randbytes(32), prog.rng.randbytes(16)
    first = prog.exchange(prog.endpoint.begin_pairing(Role.CLINICIAN, private, nonce, 50))
    again = prog.exchange(prog.endpoint.begin_pairing(Role.CLINICIAN, private, nonce, 51))
    assert replies(first)[0].body == replies(again)[0].body
    assert code_of(first) == code_of(again)


# -- the patient role -------------------------------------------------------------------------
def test_patient_pairing_without_a_clinicians_authorisation_is_refused() -> None:
    """Before the fix anyone in the window could pair as a patient.  Now PAIR_BEGIN with the
    patient role is refused until a clinician session sends PATIENT_PAIRING_AUTHORIZE, and one
    authorisation lets exactly one patient key pair."""
    pump = make_pump(35)
    pump.set_wand(True)
    remote = InProcessProgrammer(pump, 3500)
    refused = pair(pump, remote, Role.PATIENT)
    assert refused.status == ErrorCode.PATIENT_PAIRING_NOT_AUTHORIZED, refused
    assert pump.link.endpoint.pairings == {}

    clinician = InProcessProgrammer(pump, 3501)
    assert pair(pump, clinician).ok
    clinician.open_session()
    (denied,) = clinician.request(MsgType.PATIENT_PAIRING_AUTHORIZE)
    assert denied.ok and denied.body["valid_until_time"] > pump.now
    clinician.endpoint.close_session()
    pump.set_wand(True)
    assert pair(pump, remote, Role.PATIENT).ok
    roles = sorted(p.role for p in pump.link.endpoint.pairings.values())
    assert roles == [Role.CLINICIAN, Role.PATIENT]
    pump.set_wand(True)
    second = InProcessProgrammer(pump, 3502)
    assert pair(pump, second, Role.PATIENT).status == ErrorCode.PATIENT_PAIRING_NOT_AUTHORIZED
    assert any(e[0] is LogEvent.PATIENT_PAIRING_AUTHORIZED for e in audit_events(pump))


def test_a_patient_key_may_not_authorise_a_patient_pairing() -> None:
    pump = make_pump(36)
    remote = InProcessProgrammer(pump, 3600)
    remote.pair(Role.PATIENT)  # authorised by a clinician key made for it
    remote.open_session()
    (reply,) = remote.request(MsgType.PATIENT_PAIRING_AUTHORIZE)
    assert reply.status == ErrorCode.ROLE_NOT_PERMITTED
    (listing,) = remote.request(MsgType.PAIRINGS_LIST)
    assert listing.status == ErrorCode.ROLE_NOT_PERMITTED


# -- re-pairing -------------------------------------------------------------------------------
def test_re_pairing_the_same_programmer_replaces_its_key() -> None:
    """The same programmer id pairing again replaces its key (audited as unpaired + paired);
    a different programmer takes a new slot; the old key no longer opens a session."""
    pump = make_pump(37)
    prog = InProcessProgrammer(pump, 3700)
    pump.set_wand(True)
    assert pair(pump, prog, programmer_id=0x1234_5678_9ABC).ok
    old_key_id, old_key = prog.key_id, prog.pairing_key
    pump.set_wand(True)
    assert pair(pump, prog, programmer_id=0x1234_5678_9ABC).ok
    assert prog.key_id != old_key_id
    assert list(pump.link.endpoint.pairings) == [prog.key_id]
    assert pump.link.endpoint.pairings[prog.key_id].programmer_id == 0x1234_5678_9ABC
    events = audit_events(pump)
    assert (LogEvent.UNPAIRED, old_key_id, int(Role.CLINICIAN)) in events
    other = InProcessProgrammer(pump, 3701)
    pump.set_wand(True)
    assert pair(pump, other, programmer_id=0x42).ok
    assert len(pump.link.endpoint.pairings) == 2
    stale = prog.exchange(
        prog.endpoint.open_session(old_key_id, old_key, bytes(16), prog.next_seq())
    )
    assert replies(stale)[0].status == ErrorCode.UNKNOWN_KEY


def test_pairing_records_survive_a_power_cycle_and_old_state_is_still_read() -> None:
    pump = make_pump(38)
    prog = InProcessProgrammer(pump, 3800)
    pump.set_wand(True)
    assert pair(pump, prog, programmer_id=77).ok
    paired_at = pump.now
    pump.power_cycle()
    (p,) = pump.link.endpoint.pairings.values()
    assert (p.key_id, p.programmer_id, p.paired_time) == (prog.key_id, 77, paired_at)
    # a version 1 security state (before programmer ids): its keys are kept, anonymous
    v1 = struct.pack(">BBI", 1, 1, 0) + struct.pack(">IB32s", 5, int(Role.PATIENT), b"k" * 32)
    endpoint = DeviceEndpoint(DeviceInfo("VP-20", "VP20-1", "1", Capability(1)), bytes)
    endpoint.import_state(v1 + b"\x00")
    assert endpoint.pairings == {5: Pairing(5, Role.PATIENT, b"k" * 32, 0, 0)}
    endpoint.import_state(endpoint.export_state())
    assert endpoint.pairings[5].role is Role.PATIENT


# -- the pump's side, list and revoke through pumpctl against a real vpump serve -------------------
@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedPump]:
    with served_pump(tmp_path, xdg_env(tmp_path)) as pump:
        yield pump


def ctl(pump: ServedPump, *args: str) -> str:
    done = subprocess.run(
        [*VPUMP, "ctl", "--control", pump.control, *args],
        env=pump.env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout


def test_the_code_is_shown_on_the_pump_side_and_nothing_is_stored_until_accepted(
    served: ServedPump,
) -> None:
    """`vpump serve`'s console and `vpump ctl hw-status` (human and --json) show the code the
    programmer shows; `pumpctl pair` waits until it is accepted there."""
    served.bench("wand", on=True)
    argv = [*PUMPCTL, "--port", served.port, "--timeout", "0.5", "--json", "pair"]
    process = subprocess.Popen(
        argv,
        env=served.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    code = ""
    for line in process.stderr:
        if found := re.search(r"Waiting for the code (\d{3} \d{3})", line):
            code = found[1]
            break
    assert code, "pumpctl never waited for the pump"
    status = json.loads(ctl(served, "hw-status", "--json"))
    assert status["pairing"]["state"] == "awaiting_acceptance"
    assert status["pairing"]["code"] == code and status["pairing"]["role"] == "clinician"
    assert status["paired_keys"] == 0  # nothing stored while the person at the pump decides
    assert f"code {code}" in ctl(served, "hw-status")
    assert f"PAIRING CODE {code}" in served.log()
    ctl(served, "pairing", "accept", code.replace(" ", ""))
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 0, out
    assert json.loads(out)["role"] == "clinician"
    assert "pairing accepted" in served.log()
    assert json.loads(ctl(served, "hw-status", "--json"))["pairing_window_open"] is False


def test_a_code_rejected_at_the_pump_fails_pumpctl_pair_visibly(served: ServedPump) -> None:
    served.bench("wand", on=True)
    result = served.pair_accepting("clinician", accept=False)
    assert result.code == 3, result
    assert "PAIRING_REJECTED" in result.json["message"]
    assert served.bench("hw-status")["paired_keys"] == 0


def test_list_and_revoke_through_pumpctl_against_a_real_vpump_serve(served: ServedPump) -> None:
    """A clinician lists the pump's keys, sees which one is its own, authorises and later
    revokes a (lost) patient remote; a programmer pairing again replaces its key."""
    clinic = str(served.workdir / "clinic-keys.json")
    remote = str(served.workdir / "remote-keys.json")
    served.pair("clinician", "--keystore", clinic)
    served.bench("wand", on=True)
    refused = served.pair_accepting("patient", "--keystore", remote)
    assert refused.code == 3 and "PATIENT_PAIRING_NOT_AUTHORIZED" in refused.json["message"]
    authorised = served.pumpctl(
        "--keystore", clinic, "--json", "--yes", "pairings", "authorize-patient"
    )
    assert authorised.code == 0, authorised
    served.pair("patient", "--keystore", remote)
    listed = served.pumpctl("--keystore", clinic, "--json", "pairings")
    assert listed.code == 0, listed
    keys = {k["role"]: k for k in listed.json["pairings"]}
    assert set(keys) == {"clinician", "patient"}
    assert keys["clinician"]["this_programmer"] and not keys["patient"]["this_programmer"]
    assert keys["patient"]["paired_at"] and keys["patient"]["programmer_id"]
    assert listed.json["max_pairings"] >= 2
    text = served.pumpctl("--keystore", clinic, "pairings")
    assert keys["patient"]["key_id_hex"] in text.out and "this programmer" in text.out

    # re-pairing the clinician's programmer replaces its key instead of taking a slot
    before = keys["clinician"]["key_id"]
    served.pair("clinician", "--keystore", clinic)
    again = served.pumpctl("--keystore", clinic, "--json", "pairings").json["pairings"]
    assert len(again) == 2 and before not in {k["key_id"] for k in again}

    revoked = served.pumpctl(
        "--keystore", clinic, "--json", "--yes", "pairings", "revoke", keys["patient"]["key_id_hex"]
    )
    assert revoked.code == 0, revoked
    assert revoked.json["revoked"] is True and revoked.json["role"] == "patient"
    after = served.pumpctl("--keystore", clinic, "--json", "pairings").json["pairings"]
    assert [k["role"] for k in after] == ["clinician"]
    lost = served.pumpctl("--keystore", remote, "--json", "status")
    assert lost.code == 3 and "UNKNOWN_KEY" in lost.json["message"]
    audit = served.pumpctl("--keystore", clinic, "--json", "log", "audit").json["records"]
    seen = [(r["event"], r["decoded"].get("role")) for r in audit]
    assert ("paired", "patient") in seen and ("unpaired", "patient") in seen
    assert ("patient_pairing_authorized", None) in seen
    assert ("pairing_refused", None) in seen  # the unauthorised patient PAIR_BEGIN


def test_the_programmer_id_is_made_once_and_kept_in_the_key_store(tmp_path: Path) -> None:
    """Re-pairing is recognised by the programmer id: it must stay the same across pairings,
    key store rewrites and removals, and differ between key stores."""
    from programmer.keystore import KeyStore, StoredKey

    store = KeyStore(tmp_path / "keys.json")
    first = store.programmer_id()
    assert 0 < first < 1 << 64
    store.put(StoredKey("VP20-000001", 5, Role.CLINICIAN, b"k" * 32, "now"))
    store.remove("VP20-000001")
    assert KeyStore(tmp_path / "keys.json").programmer_id() == first
    assert KeyStore(tmp_path / "other.json").programmer_id() != first
