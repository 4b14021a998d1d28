"""What the pump keeps across power cycles: two records, each declared once.

Why: NVM updates are atomic per record (:mod:`firmware.nvm_layout`), so state that must change
together lives in one record.  :class:`Settings` (the CONFIG record) holds what a clinician sets
(prescription and its version, refill volume and concentration, alarm and patient-bolus
settings, titration history); the firmware holds it as this very frozen dataclass and writes it
on each such change.  :class:`Counters` (the COUNTERS record) holds what delivery changes all
the time (volume drawn since the refill named by its generation, stroke remainder, totals, clock
offset, battery and alarm state); it is small and written at least every
``profile.persist_interval_s``.

Each field's encoding is declared next to it (:mod:`firmware.record_codec`), in byte order:
encoder, decoder and :meth:`~firmware.record_codec.Record.layout` all follow from the class.
The byte layout is that of format 1 since the first release; fields may only be appended, each
with a factory value and ``appended=True``: an image written before such a field existed ends
where it would begin and reads it as that value.

A new setting is one line in :class:`Settings` (with its factory value).  A new counter is its
line in :class:`Counters` plus one in each of ``TimeLine.counters()`` (the keyword-only
constructor insists) and ``TimeLine.restore_counters()`` (a round-trip test insists): counters
change with every stroke, so the parts that count them hold them, not a frozen record.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware.alarms import ActiveAlarm
from firmware.prescription import (
    PATIENT_BOLUS_DISABLED,
    PATIENT_BOLUS_FORMAT,
    BasalProgram,
    Continuous,
    Flex,
    PatientBolusConfig,
    Stopped,
    decode_change,
    encode_change,
)
from firmware.record_codec import (
    FLAG,
    I32,
    I64,
    OPT_I64,
    U32,
    U64,
    FixedCodec,
    Record,
    array,
    blob,
    nvm,
    scalar,
)
from firmware.safety import TitrationEntry, TitrationKind
from protocol.enums import AlarmId


def _basal(data: bytes) -> BasalProgram:
    program = decode_change(data)
    if not isinstance(program, Stopped | Continuous | Flex):
        raise ValueError("config holds a bolus as basal program")
    return program


def _opt(value: int | None) -> int:
    return -1 if value is None else value


def _from_opt(value: int) -> int | None:
    return None if value < 0 else value


_PROGRAM = blob("H", encode_change, _basal, "the basal program's canonical change encoding")
_PATIENT_BOLUS = FixedCodec(
    PATIENT_BOLUS_FORMAT.lstrip(">"),
    lambda c: (int(c.enabled), c.dose_ng, c.duration_s, c.max_per_day, c.lockout_s),
    lambda t: PatientBolusConfig(bool(t[0]), t[1], t[2], t[3], t[4]),
    "enabled, dose ng, duration s, max per 24 h, lockout s",
)
_TITRATION = array(
    "B",
    FixedCodec(
        "qIB",
        lambda e: (e.time, e.daily_dose_ng, int(e.kind)),
        lambda t: TitrationEntry(t[0], t[1], TitrationKind(t[2])),
    ),
    "board time, daily dose ng, TitrationKind",
)
_SAFE_REASON = scalar(
    "B",
    lambda a: 0 if a is None else int(a),
    lambda v: None if v == 0 else AlarmId(v),
    "AlarmId, 0 = none",
)
_LOG_NEXT_SEQ = FixedCodec("III", tuple, lambda t: (t[0], t[1], t[2]), "therapy, alarm, audit")
_GRANTS = array("B", FixedCodec("q", lambda g: (g,), lambda t: t[0]), "board times")
_ALARMS = array(
    "B",
    FixedCodec(
        "BqBqq",
        lambda p: (
            int(p[0]),
            p[1].raised_at,
            int(p[1].acknowledged),
            _opt(p[1].silenced_until),
            p[1].next_tone,
        ),
        lambda t: (AlarmId(t[0]), ActiveAlarm(t[1], bool(t[2]), _from_opt(t[3]), t[4])),
    ),
    "AlarmId, raised at, acknowledged, silenced until (-1 none), next tone",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings(Record):
    """The CONFIG record: everything a clinician sets, as one atomic unit.  The defaults are
    the factory state; the two alarm settings come from the profile (:func:`factory_settings`).
    Fields after the first twelve were appended later: an older image decodes them with their
    defaults.
    """

    version: int = nvm(U32, 0)  # prescription version, +1 per commit
    suspended: bool = nvm(FLAG, False)  # stopped by the clinician (stop())
    program: BasalProgram = nvm(_PROGRAM, Stopped())  # noqa: RUF009 (nvm() is a field())
    concentration_mcg_per_ml: int = nvm(U32, 0)  # 0: never filled
    filled_nl: int = nvm(U32, 0)  # volume entered at the last refill
    refill_generation: int = nvm(U32, 0)  # refills so far
    bridge_from_mcg_per_ml: int = nvm(U32, 0)  # old concentration awaiting a bridge bolus
    start_pending: bool = nvm(FLAG, False)  # next basal prescription is a start (fill from empty)
    low_reservoir_nl: int = nvm(U32)  # low-reservoir alarm threshold
    critical_interval_s: int = nvm(U32)  # repeat interval of critical alarm tones
    patient_bolus: PatientBolusConfig = nvm(_PATIENT_BOLUS, PATIENT_BOLUS_DISABLED)  # noqa: RUF009
    titration: tuple[TitrationEntry, ...] = nvm(_TITRATION, ())
    catheter_full: bool = nvm(
        FLAG, False, appended=True
    )  # drug delivered since the last fill from empty
    therapy_given: bool = nvm(
        FLAG, False, appended=True
    )  # a bolus or basal therapy was ever committed
    utc_offset_s: int = nvm(I32, 0, appended=True)  # clinic local time - UTC, set with the clock
    catheter_length_mm: int | None = nvm(
        OPT_I64, None, appended=True
    )  # implanted catheter, set at fill/prime


def factory_settings(low_reservoir_nl: int, critical_interval_s: int) -> Settings:
    """What a pump holds before its first programming: nothing filled, nothing programmed."""
    return Settings(low_reservoir_nl=low_reservoir_nl, critical_interval_s=critical_interval_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class Counters(Record):
    """The COUNTERS record: what delivery, the battery and the alarms change all the time."""

    refill_generation: int = nvm(U32)  # the refill ``drawn_nl`` belongs to
    drawn_nl: int = nvm(U64)  # commanded volume since that refill
    stroke_remainder: int = nvm(U64)
    strokes_total: int = nvm(U64)
    delivered_nl: int = nvm(U64)
    delivered_pg: int = nvm(U64)
    programmed_amount: int = nvm(U64)  # nL*s/day programmed since manufacture
    day_delivered_pg: int = nvm(U64)
    day_programmed_amount: int = nvm(U64)
    rtc_offset_s: int = nvm(I64)  # pump time - board time
    eri_time: int | None = nvm(OPT_I64)  # board time of the elective replacement indicator
    eos_reached: bool = nvm(FLAG)
    battery_ppm: int = nvm(U32)  # last gauge reading
    stalled: bool = nvm(FLAG)
    safe_reason: AlarmId | None = nvm(_SAFE_REASON)  # noqa: RUF009
    log_next_seq: tuple[int, int, int] = nvm(_LOG_NEXT_SEQ)
    patient_bolus_grants: tuple[int, ...] = nvm(_GRANTS)  # board times, last 24 h
    alarms: tuple[tuple[AlarmId, ActiveAlarm], ...] = nvm(_ALARMS)
    daily_log_next_seq: int = nvm(U32, 1, appended=True)  # the daily-totals ring's next seq
