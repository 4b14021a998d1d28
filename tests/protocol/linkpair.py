"""An in-memory programmer <-> pump pair over the real endpoints, for protocol tests.

The pump side has a tiny application that answers STATUS and records every state-changing
request it executes, so tests can count executions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from protocol import (
    NEED_DATA,
    Capability,
    DeviceEndpoint,
    DeviceInfo,
    MsgType,
    PairingCode,
    PairingCompleted,
    ProgrammerEndpoint,
    Reply,
    Request,
    Role,
    SecurityPolicy,
)

STATUS_BODY: dict[str, Any] = {
    "pump_time": 1_767_571_200,
    "mode": 1,
    "prescription_version": 3,
    "daily_dose_ng": 400_000,
    "rate_nl_per_day": 800_000,
    "concentration_mcg_per_ml": 500,
    "reservoir_nl": 18_000_000,
    "reservoir_capacity_nl": 20_000_000,
    "low_reservoir_nl": 2_000_000,
    "low_reservoir_time": 1_768_953_600,
    "empty_time": 1_769_126_400,
    "battery_ppm": 990_000,
    "eri_time": 0,
    "eos_time": 0,
    "replace_by_time": 0,
    "delivered_ng": 1_000_000,
    "delivered_nl": 2_000_000,
    "strokes": 8_000,
    "bolus_mode": 0,
    "bolus_remaining_ng": 0,
    "bolus_end_time": 0,
    "critical_interval_s": 600,
    "patient_bolus_enabled": False,
    "catheter_length_mm": 0xFFFF,
    "alarms": [],
    "delivering": True,
    "patient_bolus_dose_ng": 0,
    "patient_bolus_duration_s": 0,
    "patient_bolus_max_per_day": 0,
    "patient_bolus_lockout_s": 0,
    "patient_boluses_given": 0,
    "patient_boluses_refused": 0,
    "patient_boluses_left": 0,
    "patient_bolus_lockout_end_time": 0,
    **{f"day_total_{day}_ng": 400_000 for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
    "utc_offset_s": 3600,
    "clock_drift_warning_s": 300,
    "projected_replace_by_time": 0,
}


@dataclass
class LinkPair:
    seed: int = 7
    now: int = 1_000
    device: DeviceEndpoint = field(init=False)
    programmer: ProgrammerEndpoint = field(default_factory=ProgrammerEndpoint)
    executed: list[Request] = field(default_factory=list)
    device_events: list[object] = field(default_factory=list)
    seq: int = 0

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        self.rng = rng
        info = DeviceInfo("VP-20", "VP20-000042", "1.0.0", Capability.PAIRING | Capability.FLEX)
        self.device = DeviceEndpoint(info, rng.randbytes, SecurityPolicy(5, 600, 300))

    def next_seq(self) -> int:
        self.seq = (self.seq + 1) & 0xFFFF
        return self.seq

    def to_device(self, data: bytes) -> bytes:
        """Feed bytes to the pump, run its application, return everything it sent back."""
        self.device.receive_data(data)
        out = bytearray()
        while (ev := self.device.next_event(self.now)) is not NEED_DATA:
            self.device_events.append(ev)
            if isinstance(ev, Request):
                out += self.device.data_to_send()
                out += self.device.send(self._answer(ev))
        out += self.device.data_to_send()
        return bytes(out)

    def _answer(self, req: Request) -> Reply:
        if req.msg is MsgType.STATUS:
            return Reply(req.msg, req.seq, 0, STATUS_BODY)
        self.executed.append(req)
        if req.msg is MsgType.SET_CLOCK:
            return Reply(req.msg, req.seq, 0, {"previous_time": 5, "previous_utc_offset_s": 0})
        return Reply(req.msg, req.seq, 0, {})

    def to_programmer(self, data: bytes) -> list[object]:
        self.programmer.receive_data(data)
        events: list[object] = []
        while (ev := self.programmer.next_event()) is not NEED_DATA:
            events.append(ev)
        return events

    def roundtrip(self, data: bytes) -> list[object]:
        return self.to_programmer(self.to_device(data))

    def request(self, msg: MsgType, body: dict[str, Any] | None = None) -> list[object]:
        return self.roundtrip(self.programmer.send(Request(msg, body or {}, self.next_seq())))

    def pair(self, role: Role = Role.CLINICIAN) -> tuple[int, bytes, str]:
        """Pair like a clinic: the person at the pump accepts the code the programmer shows.

        A patient key is first authorised by a clinician session (a clinician key is paired
        for that if the pump has none authorising yet).
        """
        if role is Role.PATIENT and not self.device.patient_pairing_authorized(self.now):
            self.authorize_patient()
        self.request(MsgType.HELLO)
        self.device.open_pairing_window(self.now)
        events = self.roundtrip(
            self.programmer.begin_pairing(
                role, self.rng.randbytes(32), self.rng.randbytes(16), self.next_seq()
            )
        )
        code = next(e.code for e in events if isinstance(e, PairingCode))
        events = self.roundtrip(self.programmer.confirm_pairing(self.next_seq()))
        assert not any(type(e).__name__ == "PairingCompleted" for e in events)  # not yet
        self.device.accept_pairing(code, self.now)  # the person at the pump compares, accepts
        events = self.roundtrip(self.programmer.confirm_pairing(self.next_seq()))
        done = next(e for e in events if isinstance(e, PairingCompleted))
        return done.key_id, done.pairing_key, code

    def authorize_patient(self) -> None:
        """A clinician session sends PATIENT_PAIRING_AUTHORIZE, then closes."""
        key_id, key, _ = self.pair(Role.CLINICIAN)
        self.open(key_id, key)
        self.request(
            MsgType.PATIENT_PAIRING_AUTHORIZE, {"request_id": self.rng.randrange(1, 2**32)}
        )
        self.programmer.close_session()

    def open(self, key_id: int, key: bytes) -> list[object]:
        return self.roundtrip(
            self.programmer.open_session(key_id, key, self.rng.randbytes(16), self.next_seq())
        )

    def paired_session(self, role: Role = Role.CLINICIAN) -> None:
        key_id, key, _ = self.pair(role)
        self.open(key_id, key)
        assert self.programmer.session is not None
