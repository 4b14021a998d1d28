"""Campaign 4 - attacks on the pump: all refused, all audited, the pump stays responsive.

Against the real firmware (``CommandLink`` in-process) after a real clinic session was captured:
the captured session replayed byte for byte; forged and truncated tags on frames of a live
session; a patient-role key sending clinician commands; pairing without the wand; brute-force
pairing confirmations and session keys; frames declaring huge lengths and endless runs of bytes.
An attack succeeds if the pump changes anything only an authenticated, permitted request may
change, or answers an attacker's request with success.  Every refusal that reaches the protocol
endpoint must be in the audit log (read with LOG_READ by the clinician afterwards); frames the
framing layer drops as noise are counted by the decoder instead.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from protocol import ErrorCode, LogEvent, LogId, MsgType, Request, Role
from protocol.codec import encode_request
from protocol.events import FrameRejected, PairingCompleted, Reply
from protocol.framing import MAX_FRAME, FrameDecoder, encode_frame

from .harness import campaign_seed, campaign_size, report_figures
from .inprocess import InProcessProgrammer, captured_clinic, continuous, pump_fingerprint
from .mutators import decoded, encoded

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

AUDITED = {
    LogEvent.AUTH_FAILURE,
    LogEvent.PAIRING_REFUSED,
    LogEvent.REQUEST_REFUSED,
}


@dataclass
class AttackFigures:
    attempts: Counter[str] = field(default_factory=Counter)
    successes: Counter[str] = field(default_factory=Counter)
    refusals: Counter[int] = field(default_factory=Counter)  # ErrorCode -> count
    dropped_by_framing: int = 0
    notes: list[str] = field(default_factory=list)


class Attacker:
    """Sends raw bytes at the pump and judges the outcome."""

    def __init__(self, victim: InProcessProgrammer, figures: AttackFigures) -> None:
        self.victim = victim
        self.pump = victim.pump
        self.figures = figures
        self.reader = FrameDecoder()

    def send(self, kind: str, data: bytes, *, allowed_ok: frozenset[MsgType] = frozenset()) -> None:
        """One attempt: ``data`` on the line; success = a state change or a success reply.

        ``allowed_ok`` lists messages anyone may get a success answer to (HELLO, SESSION_OPEN:
        a session nobody can use without the key) - they are not a success of the attack.
        """
        before = pump_fingerprint(self.pump)
        self.figures.attempts[kind] += 1
        self.pump.receive(data, self.pump.now)
        replies = self.reader.feed(self.pump.take_output())
        changed = pump_fingerprint(self.pump) != before
        ok_replies = [
            f
            for f in replies
            if f.payload[:2] == b"\x00\x00" and MsgType(f.msg_type) not in allowed_ok
        ]
        for frame in replies:
            status = int.from_bytes(frame.payload[:2], "big")
            if status:
                self.figures.refusals[status] += 1
        if not replies:
            self.figures.dropped_by_framing += 1
        if changed or ok_replies:
            self.figures.successes[kind] += 1
            self.figures.notes.append(
                f"{kind}: changed={changed} ok={[f.msg_type for f in ok_replies]}"
            )


def test_attacks_are_refused_audited_and_the_pump_stays_responsive(
    record_property: Callable[[str, object], None],
) -> None:
    rounds = campaign_size("attacks", bounded=3, full=40)
    seed = campaign_seed(8086)
    rng = random.Random(seed)
    pump, clinician = captured_clinic(seed)
    captured = list(clinician.capture.to_pump)
    figures = AttackFigures()
    attacker = Attacker(clinician, figures)
    audit_mark = clinician.ok(MsgType.LOG_INFO, {"log": int(LogId.AUDIT)})["next_seq"]
    refused_before: Counter[int] = Counter()
    unaudited: Counter[str] = Counter()
    audit_records = 0
    lockout = pump.board.profile.device.auth_lockout_s
    unauth_ok = frozenset({MsgType.HELLO, MsgType.SESSION_OPEN, MsgType.SESSION_CLOSE})

    for _round in range(rounds):
        if _round:  # the audit ring is bounded: check each round's records before they wrap
            records, missing = _audit_check(
                clinician, audit_mark, figures.refusals - refused_before
            )
            audit_records += records
            unaudited += missing
            audit_mark = clinician.ok(MsgType.LOG_INFO, {"log": int(LogId.AUDIT)})["next_seq"]
            refused_before = Counter(figures.refusals)
        # 1. the captured session, replayed byte for byte (whole, then frame by frame)
        attacker.send("replay_whole_session", b"".join(captured), allowed_ok=unauth_ok)
        for frame in captured:
            attacker.send("replay_frame", frame, allowed_ok=unauth_ok)
        pump.advance_to(pump.now + lockout + 1)

        # 2. forged and truncated tags on fresh frames of a live clinician session
        clinician.open_session()
        for _ in range(4):
            genuine = clinician.endpoint.send(
                Request(
                    MsgType.ALARMS_CONFIG,
                    {
                        "request_id": rng.randrange(1, 2**32),
                        "low_reservoir_nl": 4_500_000,
                        "critical_interval_s": 120,
                    },
                    clinician.next_seq(),
                )
            )
            inner = decoded(genuine)
            assert inner is not None
            forged_tag = inner[:-16] + rng.randbytes(16)
            attacker.send("forged_tag", encoded(forged_tag))
            flipped = bytearray(inner)
            flipped[-1 - rng.randrange(16)] ^= 1 << rng.randrange(8)
            attacker.send("forged_tag", encoded(bytes(flipped)))
            cut = rng.randint(1, 15)
            attacker.send("truncated_tag", encoded(inner[:-cut]))
            length = int.from_bytes(inner[5:7], "big")
            relabelled = inner[:5] + (length + 16 - cut).to_bytes(2, "big") + inner[7:-cut]
            attacker.send("truncated_tag", encoded(relabelled))
            pump.advance_to(pump.now + lockout + 1)

        # 3. a patient key sending clinician commands
        patient = InProcessProgrammer(pump, seed + 1)
        patient.pair(Role.PATIENT, authorizer=clinician)
        patient.open_session()
        clinician_only: list[tuple[MsgType, dict[str, Any]]] = [
            (MsgType.STAGE_PRESCRIPTION, {"change": continuous(2_900_000)}),
            (
                MsgType.REFILL,
                {"withdrawn_nl": 0, "added_nl": 5_000_000, "concentration_mcg_per_ml": 2000},
            ),
            (MsgType.ALARMS_CONFIG, {"low_reservoir_nl": 500_000, "critical_interval_s": 3600}),
            (MsgType.STOP, {}),
            (MsgType.SET_CLOCK, {"pump_time": 0}),
            (MsgType.UNPAIR, {"key_id": clinician.key_id}),
            (
                MsgType.PATIENT_BOLUS_CONFIG,
                {
                    "config": {
                        "enabled": True,
                        "dose_ng": 100_000,
                        "duration_s": 300,
                        "max_per_day": 8,
                        "lockout_s": 1800,
                    },
                    "ack_warnings": 0,
                    "preview": False,
                },
            ),
        ]
        for msg, body in clinician_only:
            body = {"request_id": rng.randrange(1, 2**32), **body}
            data = patient.endpoint.send(Request(msg, body, patient.next_seq()))
            attacker.send("patient_role_escalation", data)
        patient.endpoint.close_session()
        # the patient key is removed again by the clinician (a clinic would)
        clinician.open_session()
        clinician.ok(MsgType.UNPAIR, {"key_id": patient.key_id})

        # 4. pairing without the wand
        for _ in range(3):
            intruder = InProcessProgrammer(pump, rng.randrange(2**31))
            intruder.endpoint.serial_number = clinician.endpoint.serial_number
            data = intruder.endpoint.begin_pairing(
                Role.CLINICIAN, rng.randbytes(32), rng.randbytes(16), intruder.next_seq()
            )
            attacker.send("pairing_without_wand", data)

        # 5. brute-force pairing (wand on: a clinic's window) and brute-force session keys
        pump.set_wand(True)
        for _ in range(8):
            intruder = InProcessProgrammer(pump, rng.randrange(2**31))
            intruder.endpoint.serial_number = clinician.endpoint.serial_number
            begin = intruder.endpoint.begin_pairing(
                Role.CLINICIAN, rng.randbytes(32), rng.randbytes(16), intruder.next_seq()
            )
            pump.receive(begin, pump.now)
            pump.take_output()  # the window lets anyone begin; the proof decides
            proof = {"programmer_proof": rng.randbytes(16)}
            confirm = encode_frame(
                MsgType.PAIR_CONFIRM,
                intruder.next_seq(),
                encode_request(MsgType.PAIR_CONFIRM, proof),
            )
            attacker.send("brute_force_pairing", confirm)
        pump.set_wand(False)
        pump.advance_to(pump.now + lockout + 1)
        for _ in range(8):
            body = {"key_id": rng.randrange(2**32), "programmer_nonce": rng.randbytes(16)}
            data = encode_frame(
                MsgType.SESSION_OPEN,
                rng.randrange(2**16),
                encode_request(MsgType.SESSION_OPEN, body),
            )
            attacker.send("brute_force_session_key", data)
        pump.advance_to(pump.now + lockout + 1)

        # 6. huge declared lengths and endless runs: memory stays bounded, nothing decodes
        header = bytes([1, 0, int(MsgType.STATUS), 0, 1]) + b"\xff\xff"
        attacker.send("huge_declared_length", encoded(header + rng.randbytes(64)))
        attacker.send(
            "huge_declared_length",
            encoded(bytes([1, 1, 0x10, 0, 2, 0xFF, 0xFF]) + rng.randbytes(40)),
        )
        attacker.send(
            "endless_run", bytes(rng.randrange(1, 256) for _ in range(3 * MAX_FRAME)) * 30
        )
        decoder = pump.link.endpoint.decoder
        assert len(decoder._partial) <= 2 * MAX_FRAME  # memory stays bounded mid-run
        pump.receive(b"\x00", pump.now)  # the attacker stops; the idle line ends the run

    # the pump still serves its clinician, and the audit log holds every refusal
    clinician.open_session()
    status = clinician.ok(MsgType.STATUS)
    records, missing = _audit_check(clinician, audit_mark, figures.refusals - refused_before)
    audit_records += records
    unaudited += missing
    report_figures(
        record_property,
        "attacks",
        {
            "attempts": sum(figures.attempts.values()),
            "by_kind": dict(figures.attempts),
            "successes": sum(figures.successes.values()),
            "refused_by_endpoint": sum(figures.refusals.values()),
            "refusals_by_code": {ErrorCode(c).name: n for c, n in sorted(figures.refusals.items())},
            "dropped_by_framing": figures.dropped_by_framing,
            "audit_records": audit_records,
            "refusals_not_audited": sum(unaudited.values()),
            "pump_responsive": status["prescription_version"] >= 1,
            "seed": seed,
        },
    )
    assert sum(figures.successes.values()) == 0, figures.notes
    assert not unaudited, f"refusals missing from the audit log: {dict(unaudited)}"
    assert status["prescription_version"] == 2


def _audit_check(
    clinician: InProcessProgrammer, mark: int, refused: Counter[int]
) -> tuple[int, Counter[str]]:
    """Audit records since ``mark`` (read by the clinician after any lockout) against the
    refusals the attacks got; returns (records read, refusals with no audit record)."""
    pump = clinician.pump
    pump.advance_to(pump.now + pump.board.profile.device.auth_lockout_s + 1)
    clinician.open_session()
    records: list[bytes] = []
    for reply in clinician.request(
        MsgType.LOG_READ, {"log": int(LogId.AUDIT), "cursor": mark, "max_count": 65535}
    ):
        records += [bytes(r) for r in reply.body["records"]]
    audited: Counter[int] = Counter()
    for raw in records:
        event, a = int.from_bytes(raw[8:10], "big"), int.from_bytes(raw[12:16], "big", signed=True)
        if event == LogEvent.REJECTIONS_SUPPRESSED:  # a count of refusals not logged one by one
            audited[a] += int.from_bytes(raw[16:20], "big", signed=True)
        elif event in AUDITED:
            audited[a] += 1
    missing: Counter[str] = Counter(
        {
            ErrorCode(code).name: n - audited[code]
            for code, n in refused.items()
            if audited[code] < n
        }
    )
    return len(records), missing


def test_lockout_after_brute_force_is_in_the_audit_log() -> None:
    """Five failed confirmations lock pairing out (not session open); the lockout is audited."""
    pump, clinician = captured_clinic(3)
    pump.set_wand(True)
    rng = random.Random(3)

    def begin(intruder: InProcessProgrammer) -> bytes:
        return intruder.endpoint.begin_pairing(
            Role.CLINICIAN, rng.randbytes(32), rng.randbytes(16), intruder.next_seq()
        )

    for _ in range(5):
        intruder = InProcessProgrammer(pump, rng.randrange(2**31))
        intruder.endpoint.serial_number = clinician.endpoint.serial_number
        pump.receive(begin(intruder), pump.now)
        pump.take_output()
        pump.receive(
            encode_frame(
                MsgType.PAIR_CONFIRM,
                9,
                encode_request(MsgType.PAIR_CONFIRM, {"programmer_proof": rng.randbytes(16)}),
            ),
            pump.now,
        )
        pump.take_output()
    intruder = InProcessProgrammer(pump, rng.randrange(2**31))
    intruder.endpoint.serial_number = clinician.endpoint.serial_number
    events = intruder.exchange(begin(intruder))
    assert any(
        getattr(e, "status", getattr(e, "code", None)) == ErrorCode.PAIRING_LOCKED_OUT
        for e in events
        if isinstance(e, FrameRejected | Reply)
    ), events
    assert not any(isinstance(e, PairingCompleted) for e in events)
    clinician.open_session()  # a paired key is never locked out
    assert clinician.ok(MsgType.STATUS)["prescription_version"] >= 1
    fw = pump.board.firmware
    audit = fw.log_read(LogId.AUDIT, 1, 1000)
    assert any(r.event == LogEvent.LOCKOUT_STARTED for r in audit)
