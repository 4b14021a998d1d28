"""What the pump keeps across power cycles, as two records of fixed field order.

Why: NVM updates are atomic per record (:mod:`firmware.nvm_layout`), so state that must change
together lives in one record.  CONFIG holds what a clinician sets (prescription and its version,
refill volume and concentration, alarm and patient-bolus settings, titration history); it is
written on each such change.  COUNTERS holds what delivery changes all the time (volume drawn
since the refill named by its generation, stroke remainder, totals, clock offset, battery and
alarm state); it is small and written at least every ``profile.persist_interval_s``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from firmware.alarms import ActiveAlarm
from firmware.prescription import (
    PATIENT_BOLUS_SIZE,
    BasalProgram,
    Continuous,
    Flex,
    PatientBolusConfig,
    Stopped,
    decode_change,
    decode_patient_bolus,
    encode_change,
    encode_patient_bolus,
)
from firmware.safety import TitrationEntry, TitrationKind
from protocol.enums import AlarmId

FORMAT_VERSION = 1


class _Writer:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def put(self, fmt: str, *values: int) -> None:
        self.parts.append(struct.pack(">" + fmt, *values))

    def raw(self, data: bytes) -> None:
        self.parts.append(data)

    def bytes(self) -> bytes:
        return b"".join(self.parts)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def get(self, fmt: str) -> tuple[int, ...]:
        values = struct.unpack_from(">" + fmt, self.data, self.pos)
        self.pos += struct.calcsize(">" + fmt)
        return values

    def one(self, fmt: str) -> int:
        return self.get(fmt)[0]

    def raw(self, length: int) -> bytes:
        chunk = self.data[self.pos : self.pos + length]
        if len(chunk) != length:
            raise ValueError("record truncated")
        self.pos += length
        return chunk


def _opt(value: int | None) -> int:
    return -1 if value is None else value


def _from_opt(value: int) -> int | None:
    return None if value < 0 else value


@dataclass(frozen=True, slots=True)
class ConfigSnapshot:
    version: int
    program: BasalProgram
    suspended: bool
    concentration_mcg_per_ml: int
    filled_nl: int
    refill_generation: int
    bridge_from_mcg_per_ml: int
    start_pending: bool
    low_reservoir_nl: int
    critical_interval_s: int
    patient_bolus: PatientBolusConfig
    titration: tuple[TitrationEntry, ...]

    def encode(self) -> bytes:
        w = _Writer()
        w.put("BIB", FORMAT_VERSION, self.version, int(self.suspended))
        program = encode_change(self.program)
        w.put("H", len(program))
        w.raw(program)
        w.put(
            "IIII",
            self.concentration_mcg_per_ml,
            self.filled_nl,
            self.refill_generation,
            self.bridge_from_mcg_per_ml,
        )
        w.put("BII", int(self.start_pending), self.low_reservoir_nl, self.critical_interval_s)
        w.raw(encode_patient_bolus(self.patient_bolus))
        w.put("B", len(self.titration))
        for entry in self.titration:
            w.put("qIB", entry.time, entry.daily_dose_ng, entry.kind)
        return w.bytes()

    @classmethod
    def decode(cls, data: bytes) -> ConfigSnapshot:
        r = _Reader(data)
        fmt, version, suspended = r.get("BIB")
        if fmt != FORMAT_VERSION:
            raise ValueError(f"config format {fmt} unknown")
        program = decode_change(r.raw(r.one("H")))
        if not isinstance(program, Stopped | Continuous | Flex):
            raise ValueError("config holds a bolus as basal program")
        conc, filled, generation, bridge = r.get("IIII")
        start_pending, low, interval = r.get("BII")
        patient = decode_patient_bolus(r.raw(PATIENT_BOLUS_SIZE))
        titration = []
        for _ in range(r.one("B")):
            time, dose, kind = r.get("qIB")
            titration.append(TitrationEntry(time, dose, TitrationKind(kind)))
        return cls(
            version,
            program,
            bool(suspended),
            conc,
            filled,
            generation,
            bridge,
            bool(start_pending),
            low,
            interval,
            patient,
            tuple(titration),
        )


_COUNTERS_FIXED = struct.Struct(">BIQQQQQQQQqqBIBBIIIB")


@dataclass(frozen=True, slots=True)
class CountersSnapshot:
    refill_generation: int
    drawn_nl: int
    stroke_remainder: int
    strokes_total: int
    delivered_nl: int
    delivered_pg: int
    programmed_amount: int
    day_delivered_pg: int
    day_programmed_amount: int
    rtc_offset_s: int
    eri_time: int | None
    eos_reached: bool
    battery_ppm: int
    stalled: bool
    safe_reason: AlarmId | None
    patient_bolus_grants: tuple[int, ...]
    alarms: tuple[tuple[AlarmId, ActiveAlarm], ...]
    log_next_seq: tuple[int, int, int]

    def encode(self) -> bytes:
        w = _Writer()
        w.raw(
            _COUNTERS_FIXED.pack(
                FORMAT_VERSION,
                self.refill_generation,
                self.drawn_nl,
                self.stroke_remainder,
                self.strokes_total,
                self.delivered_nl,
                self.delivered_pg,
                self.programmed_amount,
                self.day_delivered_pg,
                self.day_programmed_amount,
                self.rtc_offset_s,
                _opt(self.eri_time),
                int(self.eos_reached),
                self.battery_ppm,
                int(self.stalled),
                0 if self.safe_reason is None else self.safe_reason,
                *self.log_next_seq,
                len(self.patient_bolus_grants),
            )
        )
        for grant in self.patient_bolus_grants:
            w.put("q", grant)
        w.put("B", len(self.alarms))
        for alarm_id, alarm in self.alarms:
            w.put(
                "BqBqq",
                alarm_id,
                alarm.raised_at,
                int(alarm.acknowledged),
                _opt(alarm.silenced_until),
                alarm.next_tone,
            )
        return w.bytes()

    @classmethod
    def decode(cls, data: bytes) -> CountersSnapshot:
        r = _Reader(data)
        fmt, generation, drawn, remainder = r.get("BIQQ")
        if fmt != FORMAT_VERSION:
            raise ValueError(f"counters format {fmt} unknown")
        strokes, delivered_nl, delivered_pg, programmed = r.get("QQQQ")
        day_pg, day_programmed, offset = r.get("QQq")
        eri, eos, ppm, stalled, safe = r.get("qBIBB")
        seqs = r.get("III")
        grants = tuple(r.one("q") for _ in range(r.one("B")))
        alarms = []
        for _ in range(r.one("B")):
            alarm_id, raised, ack, silenced, next_tone = r.get("BqBqq")
            alarms.append(
                (AlarmId(alarm_id), ActiveAlarm(raised, bool(ack), _from_opt(silenced), next_tone))
            )
        return cls(
            generation,
            drawn,
            remainder,
            strokes,
            delivered_nl,
            delivered_pg,
            programmed,
            day_pg,
            day_programmed,
            offset,
            _from_opt(eri),
            bool(eos),
            ppm,
            bool(stalled),
            None if safe == 0 else AlarmId(safe),
            grants,
            tuple(alarms),
            (seqs[0], seqs[1], seqs[2]),
        )
