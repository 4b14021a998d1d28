"""Therapy changes and patient-bolus settings as immutable values, with one canonical encoding.

Why: a prescription travels through stage -> commit -> NVM.  The same bytes are hashed for the
two-phase commit (the programmer names the staged change by this hash) and stored in NVM, so the
encoding must be canonical: fixed-width big-endian fields in a fixed order, no optional parts.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from protocol.enums import ChangeKind

U32_MAX = 0xFFFF_FFFF


@dataclass(frozen=True, slots=True)
class FlexStep:
    """From ``start_minute`` (0..1439 of the clinic's local day) until the next step or midnight."""

    start_minute: int
    daily_dose_ng: int  # dose rate of this step, in ng per day


@dataclass(frozen=True, slots=True)
class Stopped:
    """No basal delivery."""


@dataclass(frozen=True, slots=True)
class Continuous:
    daily_dose_ng: int


@dataclass(frozen=True, slots=True)
class Flex:
    """Up to 7 day programs; ``weekday_program[d]`` (Monday first) picks the program of day d."""

    day_programs: tuple[tuple[FlexStep, ...], ...]
    weekday_program: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SingleBolus:
    """A bolus that replaces basal delivery while it runs, then the previous therapy resumes."""

    dose_ng: int
    duration_s: int


@dataclass(frozen=True, slots=True)
class PrimingBolus:
    """Fill pump tubing and catheter at the maximum rate; basal then stays stopped."""

    catheter_length_mm: int


@dataclass(frozen=True, slots=True)
class BridgeBolus:
    """Push the old-concentration drug out of tubing and catheter after a concentration change."""

    catheter_length_mm: int


BasalProgram = Stopped | Continuous | Flex
BolusChange = SingleBolus | PrimingBolus | BridgeBolus
TherapyChange = BasalProgram | BolusChange


@dataclass(frozen=True, slots=True)
class PatientBolusConfig:
    enabled: bool
    dose_ng: int
    duration_s: int
    max_per_day: int
    lockout_s: int


PATIENT_BOLUS_DISABLED = PatientBolusConfig(False, 0, 0, 0, 0)


def change_kind(change: TherapyChange) -> ChangeKind:
    """The wire kind of a change."""
    if isinstance(change, Stopped):
        return ChangeKind.STOPPED
    if isinstance(change, Continuous):
        return ChangeKind.CONTINUOUS
    if isinstance(change, Flex):
        return ChangeKind.FLEX
    if isinstance(change, SingleBolus):
        return ChangeKind.SINGLE_BOLUS
    if isinstance(change, PrimingBolus):
        return ChangeKind.PRIMING_BOLUS
    return ChangeKind.BRIDGE_BOLUS


def encode_change(change: TherapyChange) -> bytes:
    """Canonical bytes of a change.  Fields must already be range-checked (u32, u8, u16)."""
    kind = change_kind(change)
    head = struct.pack(">B", kind)
    if isinstance(change, Stopped):
        return head
    if isinstance(change, Continuous):
        return head + struct.pack(">I", change.daily_dose_ng)
    if isinstance(change, Flex):
        parts = [head, struct.pack(">B", len(change.day_programs))]
        for program in change.day_programs:
            parts.append(struct.pack(">B", len(program)))
            for step in program:
                parts.append(struct.pack(">HI", step.start_minute, step.daily_dose_ng))
        parts.append(struct.pack(">B", len(change.weekday_program)))
        parts.append(bytes(change.weekday_program))
        return b"".join(parts)
    if isinstance(change, SingleBolus):
        return head + struct.pack(">II", change.dose_ng, change.duration_s)
    return head + struct.pack(">I", change.catheter_length_mm)


def decode_change(data: bytes) -> TherapyChange:
    """Inverse of :func:`encode_change`; raises ValueError on malformed bytes."""
    change, used = decode_change_prefix(data, 0)
    if used != len(data):
        raise ValueError("trailing bytes after therapy change")
    return change


def decode_change_prefix(data: bytes, offset: int) -> tuple[TherapyChange, int]:
    """Decode one change starting at ``offset``; returns it and the offset after it."""
    try:
        kind = ChangeKind(data[offset])
        pos = offset + 1
        change: TherapyChange
        if kind is ChangeKind.STOPPED:
            change = Stopped()
        elif kind is ChangeKind.CONTINUOUS:
            (dose,) = struct.unpack_from(">I", data, pos)
            change, pos = Continuous(dose), pos + 4
        elif kind is ChangeKind.FLEX:
            programs: list[tuple[FlexStep, ...]] = []
            count = data[pos]
            pos += 1
            for _ in range(count):
                n_steps = data[pos]
                pos += 1
                steps = []
                for _ in range(n_steps):
                    minute, dose = struct.unpack_from(">HI", data, pos)
                    steps.append(FlexStep(minute, dose))
                    pos += 6
                programs.append(tuple(steps))
            n_days = data[pos]
            weekdays = tuple(data[pos + 1 : pos + 1 + n_days])
            if len(weekdays) != n_days:
                raise ValueError("truncated weekday map")
            change, pos = Flex(tuple(programs), weekdays), pos + 1 + n_days
        elif kind is ChangeKind.SINGLE_BOLUS:
            dose, duration = struct.unpack_from(">II", data, pos)
            change, pos = SingleBolus(dose, duration), pos + 8
        elif kind is ChangeKind.PRIMING_BOLUS:
            (length,) = struct.unpack_from(">I", data, pos)
            change, pos = PrimingBolus(length), pos + 4
        else:
            (length,) = struct.unpack_from(">I", data, pos)
            change, pos = BridgeBolus(length), pos + 4
    except (IndexError, struct.error) as exc:
        raise ValueError(f"truncated therapy change: {exc}") from exc
    return change, pos


def staged_hash(change: TherapyChange) -> bytes:
    """The 16-byte name of a staged change: SHA-256 of its canonical encoding, truncated."""
    return hashlib.sha256(b"therapy-change-v1\x00" + encode_change(change)).digest()[:16]


PATIENT_BOLUS_FORMAT = ">BIIII"
PATIENT_BOLUS_SIZE = struct.calcsize(PATIENT_BOLUS_FORMAT)


def encode_patient_bolus(cfg: PatientBolusConfig) -> bytes:
    return struct.pack(
        PATIENT_BOLUS_FORMAT,
        int(cfg.enabled),
        cfg.dose_ng,
        cfg.duration_s,
        cfg.max_per_day,
        cfg.lockout_s,
    )


def decode_patient_bolus(data: bytes, offset: int = 0) -> PatientBolusConfig:
    enabled, dose, duration, per_day, lockout = struct.unpack_from(
        PATIENT_BOLUS_FORMAT, data, offset
    )
    return PatientBolusConfig(bool(enabled), dose, duration, per_day, lockout)
