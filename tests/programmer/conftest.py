"""An in-process pump for the programmer's tests: the real DeviceEndpoint behind a real pty.

Why: the client's transport, framing, authentication, request cache and retry logic must be
exercised over a real pseudo-terminal with pyserial, not against mocks.  A thread serves the pty
master with the real ``protocol.DeviceEndpoint`` and a small application (``FakePumpApp``) that
answers every message with plausible fixed bodies and counts what it executed.  ``LinkFaults``
drops, delays or precedes frames with stale replies so tests can stage the failures the client
must survive.
"""

from __future__ import annotations

import hashlib
import os
import select
import threading
import time
import tty
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from firmware.handlers import device_limits_body
from hw_sim.profiles.loader import load_profile
from programmer.client import PumpClient
from programmer.keystore import KeyStore
from programmer.transport import open_transport
from protocol import (
    NEED_DATA,
    Capability,
    DeviceEndpoint,
    DeviceInfo,
    ErrorCode,
    FrameDecoder,
    LogId,
    MsgType,
    Notification,
    Reply,
    Request,
    Role,
    TherapyMode,
)
from protocol.enums import AlarmId, ChangeKind
from protocol.log_record import encode_record

SERIAL = "VP20-000042"
START_TIME = 1_767_571_200  # 2026-01-05T00:00:00Z
RECORDS_PER_FRAME = 40


def log_record(seq: int, t: int, event: int, a: int = 0, b: int = 0) -> bytes:
    return encode_record(seq, t, event, a, b)


@dataclass
class FakePumpApp:
    """Plausible pump behaviour for every request; ``executed`` counts what really ran."""

    executed: Counter[MsgType] = field(default_factory=Counter)
    mode: TherapyMode = TherapyMode.CONTINUOUS
    daily_dose_ng: int = 400_000
    concentration: int = 500
    reservoir_nl: int = 15_000_000
    version: int = 3
    staged: tuple[bytes, dict[str, Any]] | None = None
    therapy: dict[str, Any] = field(
        default_factory=lambda: {
            "kind": int(ChangeKind.CONTINUOUS),
            "params": {"daily_dose_ng": 400_000},
        }
    )
    log_size: int = 100
    stage_warnings: int = 0
    refuse: dict[MsgType, ErrorCode] = field(default_factory=dict)
    pump_time: int = START_TIME

    def rate_nl_per_day(self) -> int:
        return self.daily_dose_ng * 1000 // self.concentration

    def status_body(self) -> dict[str, Any]:
        rate = self.rate_nl_per_day() if self.mode != TherapyMode.STOPPED else 0
        low_nl = 2_000_000
        low_time = (
            self.pump_time + (self.reservoir_nl - low_nl) * 86400 // rate
            if rate and self.reservoir_nl > low_nl
            else 0
        )
        alarms = []
        if self.mode == TherapyMode.STOPPED:
            alarms.append(
                {
                    "alarm": int(AlarmId.PUMP_STOPPED),
                    "critical": True,
                    "acknowledged": False,
                    "raised_at": self.pump_time,
                    "silenced_until": 0,
                }
            )
        return {
            "pump_time": self.pump_time,
            "mode": int(self.mode),
            "prescription_version": self.version,
            "daily_dose_ng": self.daily_dose_ng if rate else 0,
            "rate_nl_per_day": rate,
            "concentration_mcg_per_ml": self.concentration,
            "reservoir_nl": self.reservoir_nl,
            "reservoir_capacity_nl": 20_000_000,
            "low_reservoir_nl": low_nl,
            "low_reservoir_time": low_time,
            "empty_time": 0,
            "battery_ppm": 930_000,
            "eri_time": START_TIME + 5 * 365 * 86400,
            "eos_time": START_TIME + (5 * 365 + 90) * 86400,
            "replace_by_time": START_TIME + (5 * 365 + 60) * 86400,
            "delivered_ng": 12_000_000,
            "delivered_nl": 24_000,
            "strokes": 96,
            "bolus_mode": 0,
            "bolus_remaining_ng": 0,
            "bolus_end_time": 0,
            "critical_interval_s": 600,
            "patient_bolus_enabled": False,
            "alarms": alarms,
        }

    def handle(self, req: Request) -> list[Reply]:
        msg = req.msg
        if msg in self.refuse:
            return [Reply(msg, req.seq, int(self.refuse[msg]), {}, "refused by the test pump")]
        self.executed[msg] += 1
        body: dict[str, Any] = {}
        if msg is MsgType.STATUS:
            body = self.status_body()
        elif msg is MsgType.READ_PRESCRIPTION:
            body = {
                "version": self.version,
                "concentration_mcg_per_ml": self.concentration,
                "therapy": self.therapy,
                "patient_bolus": {
                    "enabled": False,
                    "dose_ng": 0,
                    "duration_s": 0,
                    "max_per_day": 0,
                    "lockout_s": 0,
                },
                "low_reservoir_nl": 2_000_000,
                "critical_interval_s": 600,
            }
        elif msg is MsgType.STAGE_PRESCRIPTION:
            change = req.body["change"]
            digest = hashlib.sha256(repr(change).encode()).digest()[:16]
            self.staged = (digest, change)
            dose = change["params"].get("daily_dose_ng", self.daily_dose_ng)
            body = {
                "staged_hash": digest,
                "active_version": self.version,
                "daily_dose_ng": dose,
                "rate_nl_per_day": dose * 1000 // self.concentration,
                "duration_s": change["params"].get("duration_s", 0),
                "next_refill_time": self.pump_time + 60 * 86400,
                "low_reservoir_time": self.pump_time + 50 * 86400,
                "warnings": self.stage_warnings,
            }
        elif msg is MsgType.COMMIT_PRESCRIPTION:
            if self.staged is None or req.body["staged_hash"] != self.staged[0]:
                return [Reply(msg, req.seq, int(ErrorCode.HASH_MISMATCH), {}, "not staged")]
            if req.body["ack_warnings"] & self.stage_warnings != self.stage_warnings:
                return [Reply(msg, req.seq, int(ErrorCode.WARNINGS_NOT_ACKNOWLEDGED), {}, "ack")]
            change = self.staged[1]
            self.therapy, self.staged = change, None
            if change["kind"] == ChangeKind.CONTINUOUS:
                self.daily_dose_ng = change["params"]["daily_dose_ng"]
                self.mode = TherapyMode.CONTINUOUS
            elif change["kind"] == ChangeKind.FLEX:
                self.mode = TherapyMode.FLEX
            elif change["kind"] == ChangeKind.STOPPED:
                self.mode = TherapyMode.STOPPED
            self.version += 1
            body = {"version": self.version}
        elif msg is MsgType.ABORT_PRESCRIPTION:
            self.staged = None
        elif msg is MsgType.REFILL:
            expected = self.reservoir_nl
            self.reservoir_nl = req.body["added_nl"]
            self.concentration = req.body["concentration_mcg_per_ml"]
            discrepancy = req.body["withdrawn_nl"] - expected
            body = {
                "expected_nl": expected,
                "discrepancy_nl": discrepancy,
                "flags": 1 if abs(discrepancy) > 1_000_000 else 0,
                "reservoir_nl": self.reservoir_nl,
                "low_reservoir_time": self.pump_time + 40 * 86400,
            }
        elif msg is MsgType.PATIENT_BOLUS_REQUEST:
            body = {
                "dose_ng": 25_000,
                "duration_s": 600,
                "end_time": self.pump_time + 600,
                "remaining_today": 3,
            }
        elif msg is MsgType.STOP:
            self.mode = TherapyMode.STOPPED
        elif msg is MsgType.RESUME:
            self.mode = TherapyMode.CONTINUOUS
        elif msg is MsgType.SET_CLOCK:
            body = {"previous_time": self.pump_time}
            self.pump_time = req.body["pump_time"]
        elif msg is MsgType.ALARMS_READ:
            body = {
                "alarms": self.status_body()["alarms"],
                "low_reservoir_nl": 2_000_000,
                "critical_interval_s": 600,
            }
        elif msg is MsgType.ALARMS_ACK:
            body = {"acknowledged": len(self.status_body()["alarms"])}
        elif msg is MsgType.LOG_INFO:
            body = {
                "first_seq": 1,
                "next_seq": 1 + self.log_size,
                "count": self.log_size,
                "capacity": 2048,
                "record_size": 24,
            }
        elif msg is MsgType.LOG_READ:
            return self._log_stream(req)
        elif msg is MsgType.TELEMETRY_SUBSCRIBE:
            body = {"interval_s": req.body["interval_s"]}
        elif msg is MsgType.DEVICE_LIMITS:
            body = device_limits_body(load_profile("vp20").device)
        return [Reply(msg, req.seq, 0, body)]

    def _log_stream(self, req: Request) -> list[Reply]:
        start = max(1, req.body["cursor"])
        end = min(1 + self.log_size, start + req.body["max_count"])
        seqs = list(range(start, end))
        chunks = [seqs[i : i + RECORDS_PER_FRAME] for i in range(0, len(seqs), RECORDS_PER_FRAME)]
        chunks = chunks or [[]]
        replies = []
        for index, chunk in enumerate(chunks):
            records = [log_record(s, START_TIME + s * 60, 2, 1, 400_000) for s in chunk]
            next_cursor = chunk[-1] + 1 if chunk else start
            more = index < len(chunks) - 1
            replies.append(
                Reply(
                    MsgType.LOG_READ,
                    req.seq,
                    0,
                    {"records": records, "next_cursor": next_cursor},
                    more=more,
                )
            )
        return replies


@dataclass
class LinkFaults:
    """Faults applied by the serving thread, per message type, counted down as they fire."""

    drop_replies: Counter[MsgType] = field(default_factory=Counter)
    drop_requests: Counter[MsgType] = field(default_factory=Counter)
    delay_replies: Counter[MsgType] = field(default_factory=Counter)  # held until the next reply
    stale_before: Counter[MsgType] = field(default_factory=Counter)
    deaf: bool = False  # the pump hears nothing (a dead link)


class InProcessPump:
    """DeviceEndpoint + FakePumpApp serving a pty master from a thread."""

    def __init__(self, app: FakePumpApp | None = None) -> None:
        self.app = app or FakePumpApp()
        self.faults = LinkFaults()
        info = DeviceInfo("VP20", SERIAL, "1.0.0", Capability(0x7F))
        # a scripted rig: the pump stores a key without a person accepting the code (the
        # pump-side acceptance itself is tested in tests/security/test_pairing.py)
        self.device = DeviceEndpoint(info, os.urandom, auto_accept_pairing=True)
        self.lock = threading.Lock()
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._wake_r, self._wake_w = os.pipe()
        self._in_buffer = b""
        self._held: list[bytes] = []
        self._last_reply: dict[MsgType, Reply] = {}
        self.requests_seen: Counter[MsgType] = Counter()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def now(self) -> int:
        return int(time.time())

    def open_wand(self) -> None:
        with self.lock:
            self.device.open_pairing_window(self.now())

    def close(self) -> None:
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=2)
        for fd in (self.master, self._slave, self._wake_r, self._wake_w):
            os.close(fd)

    # -- the serving thread ----------------------------------------------------------------------
    def _serve(self) -> None:
        while True:
            ready, _, _ = select.select([self.master, self._wake_r], [], [])
            if self._wake_r in ready:
                return
            try:
                data = os.read(self.master, 4096)
            except OSError:
                continue
            with self.lock:
                self._incoming(data)

    def _incoming(self, data: bytes) -> None:
        self._in_buffer += data
        *frames, self._in_buffer = self._in_buffer.split(b"\x00")
        for wire in frames:
            if not wire:
                continue
            decoded = FrameDecoder().feed(wire + b"\x00")
            if self.faults.deaf:
                continue
            if decoded:
                msg = _msg(decoded[0].msg_type)
                if msg is not None:
                    self.requests_seen[msg] += 1
                    if self.faults.drop_requests[msg] > 0:
                        self.faults.drop_requests[msg] -= 1
                        continue
            self.device.receive_data(wire + b"\x00")
            self._process()

    def _process(self) -> None:
        now = self.now()
        while (event := self.device.next_event(now)) is not NEED_DATA:
            if isinstance(event, Request):
                self._emit(self.device.data_to_send())
                for reply in self.app.handle(event):
                    if self.faults.stale_before[reply.msg] > 0:
                        self.faults.stale_before[reply.msg] -= 1
                        self._inject_stale(reply)
                    self._last_reply[reply.msg] = reply
                    self._emit(self.device.send(reply))
                if event.msg is MsgType.TELEMETRY_SUBSCRIBE and event.body["interval_s"]:
                    self._push_telemetry()
        self._emit(self.device.data_to_send())

    def _inject_stale(self, reply: Reply) -> None:
        # a late reply to an earlier request (same type, older seq) ...
        older = Reply(reply.msg, (reply.seq - 1) & 0xFFFF, reply.status, reply.body, reply.reason)
        self._emit_raw(self.device.send(older))
        # ... and a reply of another type that happens to carry this seq
        other = Reply(MsgType.ALARMS_ACK, reply.seq, 0, {"acknowledged": 9})
        self._emit_raw(self.device.send(other))

    def _push_telemetry(self) -> None:
        status = self.app.status_body()
        for i in range(3):
            body = {
                "pump_time": status["pump_time"] + i * 60,
                "mode": status["mode"],
                "rate_nl_per_day": status["rate_nl_per_day"],
                "reservoir_nl": status["reservoir_nl"] - i * 500,
                "delivered_ng": status["delivered_ng"] + i * 250,
                "battery_ppm": status["battery_ppm"],
                "alarm_bits": 0,
            }
            self._emit_raw(self.device.send(Notification(MsgType.TELEMETRY, 0, body)))
        alarm = {
            "alarm": int(AlarmId.LOW_RESERVOIR),
            "raised": True,
            "critical": False,
            "time": status["pump_time"] + 120,
        }
        self._emit_raw(self.device.send(Notification(MsgType.ALARM_EVENT, 0, alarm)))

    def _emit(self, data: bytes) -> None:
        for wire in data.split(b"\x00"):
            if not wire:
                continue
            frames = FrameDecoder().feed(wire + b"\x00")
            msg = _msg(frames[0].msg_type) if frames else None
            if self.faults.deaf:
                continue
            if msg is not None and self.faults.drop_replies[msg] > 0:
                self.faults.drop_replies[msg] -= 1
                continue
            if msg is not None and self.faults.delay_replies[msg] > 0:
                self.faults.delay_replies[msg] -= 1
                self._held.append(wire + b"\x00")
                continue
            held, self._held = self._held, []
            self._emit_raw(b"".join(held) + wire + b"\x00")

    def _emit_raw(self, data: bytes) -> None:
        if data and not self.faults.deaf:
            os.write(self.master, data)


def _msg(value: int) -> MsgType | None:
    try:
        return MsgType(value)
    except ValueError:
        return None


@pytest.fixture
def pump() -> Iterator[InProcessPump]:
    server = InProcessPump()
    yield server
    server.close()


@pytest.fixture
def keystore(tmp_path: Path) -> KeyStore:
    return KeyStore(tmp_path / "config" / "keys.json")


def make_client(pump: InProcessPump, keystore: KeyStore, **kwargs: Any) -> PumpClient:
    options: dict[str, Any] = {"timeout_s": 0.25, "retries": 2}
    options.update(kwargs)
    transport = open_transport(pump.port, timeout=options["timeout_s"])
    return PumpClient(transport, keystore, **options)


@pytest.fixture
def paired(pump: InProcessPump, keystore: KeyStore) -> KeyStore:
    """A key store already holding a clinician key for ``pump``."""
    pump.open_wand()
    client = make_client(pump, keystore)
    try:
        client.pair(Role.CLINICIAN)
    finally:
        client.close()
    return keystore


@pytest.fixture
def client(pump: InProcessPump, paired: KeyStore) -> Iterator[PumpClient]:
    session = make_client(pump, paired)
    session.open_session()
    yield session
    session.close()


__all__ = ["SERIAL", "FakePumpApp", "InProcessPump", "LogId", "make_client"]
