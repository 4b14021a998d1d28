"""A whole pump and a programmer endpoint in one process: for fuzzing and attacks at speed.

Why: the fuzz and attack campaigns send hundreds of thousands of frames; a pty round trip per
frame would make that minutes.  Here the real firmware (``CommandLink`` on a ``VirtualBoard``
through ``BenchPump``) and the real ``ProgrammerEndpoint`` exchange bytes directly, and every
byte that crosses is captured so sessions can be replayed and mutated.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from typing import Any

from hw_sim.bench.bench import BenchPump
from hw_sim.board.board import VirtualBoard
from hw_sim.hardware.entropy import InsecureTestEntropy
from hw_sim.hardware.nvm_file import MemoryNvm
from hw_sim.profiles.loader import load_profile
from protocol import (
    CATALOG,
    NEED_DATA,
    ChangeKind,
    LogId,
    MsgType,
    Notification,
    PairingCode,
    PairingCompleted,
    ProgrammerEndpoint,
    Reply,
    Request,
    Role,
)
from protocol.events import FrameRejected, SessionOpened


def split_frames(wire: bytes) -> list[bytes]:
    """Wire bytes cut into frames, each with its 0x00 delimiter."""
    return [part + b"\x00" for part in wire.split(b"\x00") if part]


def make_pump(seed: int = 11, *, test_keys: bool = False) -> BenchPump:
    """A fresh pump; ``test_keys`` draws its key material from the seeded test DRBG, so that a
    captured session (and every mutant of it) repeats exactly for one seed."""
    profile = load_profile("vp20")
    entropy = InsecureTestEntropy(seed) if test_keys else None
    board = VirtualBoard(profile, seed, MemoryNvm(profile.hardware.nvm_size_bytes), entropy=entropy)
    return BenchPump(board)


@dataclass
class Capture:
    """Frames as they crossed the line, in order, by direction."""

    to_pump: list[bytes] = field(default_factory=list)
    to_programmer: list[bytes] = field(default_factory=list)


class InProcessProgrammer:
    """A ``ProgrammerEndpoint`` wired straight to a ``BenchPump``; records every frame."""

    def __init__(self, pump: BenchPump, seed: int = 5) -> None:
        self.pump = pump
        self.endpoint = ProgrammerEndpoint()
        self.rng = random.Random(seed)
        self.seq = self.rng.randrange(1, 0x8000)
        self.capture = Capture()
        self.notifications: list[Notification] = []
        self.key_id = 0
        self.pairing_key = b""

    def exchange(self, data: bytes) -> list[Any]:
        self.capture.to_pump += split_frames(data)
        self.pump.receive(data, self.pump.now)
        answer = self.pump.take_output()
        self.capture.to_programmer += split_frames(answer)
        self.endpoint.receive_data(answer)
        events: list[Any] = []
        while (event := self.endpoint.next_event()) is not NEED_DATA:
            if isinstance(event, Notification):
                self.notifications.append(event)
            else:
                events.append(event)
        return events

    def next_seq(self) -> int:
        self.seq = (self.seq + 1) & 0xFFFF
        return self.seq

    def pair(
        self, role: Role = Role.CLINICIAN, authorizer: InProcessProgrammer | None = None
    ) -> None:
        """Pair as a clinic does: the person at the pump accepts the code; a patient key after
        a clinician session (``authorizer``'s, else a new clinician key's) authorised it."""
        endpoint = self.pump.link.endpoint
        self.pump.set_wand(True)  # the authorisation changes the pump: it needs the head too
        if role is Role.PATIENT and not endpoint.patient_pairing_authorized(self.pump.now):
            clinician = authorizer or InProcessProgrammer(self.pump, self.rng.randrange(2**31))
            if authorizer is None:
                clinician.pair()
            clinician.open_session()
            clinician.ok(MsgType.PATIENT_PAIRING_AUTHORIZE)
            clinician.endpoint.close_session()
        self.pump.set_wand(True)
        self.request(MsgType.HELLO)
        events = self.exchange(
            self.endpoint.begin_pairing(
                role, self.rng.randbytes(32), self.rng.randbytes(16), self.next_seq()
            )
        )
        code = next(e.code for e in events if isinstance(e, PairingCode))
        self.exchange(self.endpoint.confirm_pairing(self.next_seq()))  # the pump waits
        self.pump.accept_pairing(code)  # the person at the pump: the same code, accepted
        events = self.exchange(self.endpoint.confirm_pairing(self.next_seq()))
        done = next(e for e in events if isinstance(e, PairingCompleted))
        self.key_id, self.pairing_key = done.key_id, done.pairing_key
        # the head stays over the pump (pairing closed the window): writes need it

    def open_session(self) -> None:
        events = self.exchange(
            self.endpoint.open_session(
                self.key_id, self.pairing_key, self.rng.randbytes(16), self.next_seq()
            )
        )
        if not any(isinstance(e, SessionOpened) for e in events):
            raise AssertionError(f"session did not open: {events}")

    def request(self, msg: MsgType, body: dict[str, Any] | None = None) -> list[Reply]:
        body = dict(body or {})
        if CATALOG[msg].state_changing and "request_id" not in body:
            body["request_id"] = self.rng.randrange(1, 2**32)
        events = self.exchange(self.endpoint.send(Request(msg, body, self.next_seq())))
        return [e for e in events if isinstance(e, Reply)]

    def rejections(self, events: list[Any]) -> list[FrameRejected]:
        return [e for e in events if isinstance(e, FrameRejected)]

    def ok(self, msg: MsgType, body: dict[str, Any] | None = None) -> dict[str, Any]:
        replies = self.request(msg, body)
        assert replies and replies[-1].ok, f"{msg.name}: {replies}"
        return replies[-1].body


def continuous(daily_dose_ng: int) -> dict[str, Any]:
    return {"kind": int(ChangeKind.CONTINUOUS), "params": {"daily_dose_ng": daily_dose_ng}}


def clinic_session(programmer: InProcessProgrammer) -> None:
    """A typical clinic visit, every message family once: the corpus the fuzzers mutate."""
    p = programmer
    p.ok(MsgType.STATUS)
    p.ok(
        MsgType.REFILL,
        {"withdrawn_nl": 0, "added_nl": 20_000_000, "concentration_mcg_per_ml": 500},
    )
    staged = p.ok(MsgType.STAGE_PRESCRIPTION, {"change": continuous(400_000)})
    p.ok(
        MsgType.COMMIT_PRESCRIPTION,
        {
            "staged_hash": staged["staged_hash"],
            "active_version": staged["active_version"],
            "ack_warnings": staged["warnings"],
        },
    )
    p.ok(MsgType.READ_PRESCRIPTION)
    p.ok(MsgType.ALARMS_CONFIG, {"low_reservoir_nl": 3_000_000, "critical_interval_s": 900})
    p.ok(MsgType.ALARMS_READ)
    p.ok(MsgType.LOG_INFO, {"log": int(LogId.THERAPY)})
    p.request(MsgType.LOG_READ, {"log": int(LogId.THERAPY), "cursor": 1, "max_count": 50})
    p.ok(MsgType.TELEMETRY_SUBSCRIBE, {"interval_s": 60})
    p.pump.advance_to(p.pump.now + 120)
    p.exchange(b"")
    p.ok(MsgType.TELEMETRY_SUBSCRIBE, {"interval_s": 0})
    staged = p.ok(
        MsgType.STAGE_PRESCRIPTION,
        {
            "change": {
                "kind": int(ChangeKind.SINGLE_BOLUS),
                "params": {"dose_ng": 50_000, "duration_s": 600},
            }
        },
    )
    p.ok(
        MsgType.COMMIT_PRESCRIPTION,
        {
            "staged_hash": staged["staged_hash"],
            "active_version": staged["active_version"],
            "ack_warnings": staged["warnings"],
        },
    )
    p.ok(MsgType.REQUEST_STATUS, {"request_id": 1})
    p.ok(MsgType.STATUS)


def captured_clinic(
    seed: int = 11, *, test_keys: bool = False
) -> tuple[BenchPump, InProcessProgrammer]:
    """A paired pump after a full clinic session; the programmer holds the capture."""
    pump = make_pump(seed, test_keys=test_keys)
    programmer = InProcessProgrammer(pump, seed)
    programmer.pair()
    programmer.open_session()
    clinic_session(programmer)
    return pump, programmer


def pump_fingerprint(pump: BenchPump) -> tuple[object, ...]:
    """Everything only an authenticated, permitted request may change (time stands still).

    Excluded on purpose: the session (SESSION_OPEN is unauthenticated by design), the lockout
    and the audit log (refusals are meant to be recorded), the decoder's counters.
    """
    fw = pump.board.firmware
    endpoint = pump.link.endpoint
    # every byte the pump sends costs battery charge: the gauge moves with any answer
    status = dataclasses.replace(fw.status(pump.now), battery_ppm=0)
    staged = getattr(fw, "_staged", None)
    return (
        fw.prescription(),
        None if staged is None else staged.staged_hash,
        status,
        tuple(sorted((k, p.role, p.key) for k, p in endpoint.pairings.items())),
        endpoint.cache.to_bytes(),
        fw.log_info(LogId.THERAPY),
        fw.log_info(LogId.ALARM),
        pump.board.hw_status()["reservoir_nl"],
    )
