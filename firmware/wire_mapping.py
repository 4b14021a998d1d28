"""Translation between the protocol's payload dictionaries and the firmware's own types.

Why: the therapy engine works with typed dataclasses in integer units; the wire carries dicts built
by the catalog's construct layouts.  Keeping the mapping in one place means neither side leaks into
the other, and a field added to the catalog needs exactly one change here.  The STATUS and
TELEMETRY bodies are built from :class:`~firmware.reports.PumpStatus`, whose fields carry the wire's
names: a new status field is its name in ``STATUS_FIELDS`` (or ``TELEMETRY_FIELDS``), plus an
entry in ``_DERIVED`` only if the wire value is computed rather than held.  Every function that
reads wire data validates shape beyond what the layout guarantees (e.g. a weekday index) and
refuses with INVALID_SCHEDULE / INVALID_ARGUMENT rather than guessing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from protocol.catalog import CATHETER_STORED, WEEKDAY_NAMES
from protocol.enums import ChangeKind
from protocol.errors import ErrorCode, Refusal

from .alarms import AlarmState
from .prescription import (
    BridgeBolus,
    Continuous,
    Flex,
    FlexStep,
    PatientBolusConfig,
    PrimingBolus,
    SingleBolus,
    Stopped,
    TherapyChange,
)
from .reports import BolusInfo, PumpStatus


def time_or_zero(value: int | None) -> int:
    """Pump times travel as u32 seconds; 0 means "none"."""
    return 0 if value is None else max(0, min(int(value), 0xFFFF_FFFF))


def change_from_wire(change: dict[str, Any]) -> TherapyChange:
    kind, params = change["kind"], change["params"]
    if kind == ChangeKind.STOPPED:
        return Stopped()
    if kind == ChangeKind.CONTINUOUS:
        return Continuous(params["daily_dose_ng"])
    if kind == ChangeKind.FLEX:
        programs = tuple(
            tuple(FlexStep(s["start_minute"], s["daily_dose_ng"]) for s in day)
            for day in params["day_programs"]
        )
        weekdays = tuple(params["weekday_program"])
        if any(index >= len(programs) for index in weekdays):
            raise Refusal(
                ErrorCode.INVALID_SCHEDULE, "weekday map names a day program that is not sent"
            )
        return Flex(programs, weekdays)
    if kind == ChangeKind.SINGLE_BOLUS:
        return SingleBolus(params["dose_ng"], params["duration_s"])
    if kind == ChangeKind.PRIMING_BOLUS:
        return PrimingBolus(params["catheter_length_mm"])
    if kind == ChangeKind.BRIDGE_BOLUS:
        return BridgeBolus(params["catheter_length_mm"])
    raise Refusal(ErrorCode.INVALID_ARGUMENT, f"unknown change kind {kind}")


def change_to_wire(change: TherapyChange) -> dict[str, Any]:
    if isinstance(change, Continuous):
        return {
            "kind": int(ChangeKind.CONTINUOUS),
            "params": {"daily_dose_ng": change.daily_dose_ng},
        }
    if isinstance(change, Flex):
        days = [
            [{"start_minute": s.start_minute, "daily_dose_ng": s.daily_dose_ng} for s in day]
            for day in change.day_programs
        ]
        return {
            "kind": int(ChangeKind.FLEX),
            "params": {"day_programs": days, "weekday_program": list(change.weekday_program)},
        }
    if isinstance(change, SingleBolus):
        params = {"dose_ng": change.dose_ng, "duration_s": change.duration_s}
        return {"kind": int(ChangeKind.SINGLE_BOLUS), "params": params}
    if isinstance(change, PrimingBolus):
        params = {"catheter_length_mm": change.catheter_length_mm}
        return {"kind": int(ChangeKind.PRIMING_BOLUS), "params": params}
    if isinstance(change, BridgeBolus):
        params = {"catheter_length_mm": change.catheter_length_mm}
        return {"kind": int(ChangeKind.BRIDGE_BOLUS), "params": params}
    return {"kind": int(ChangeKind.STOPPED), "params": {}}


def patient_bolus_from_wire(cfg: dict[str, Any]) -> PatientBolusConfig:
    return PatientBolusConfig(
        bool(cfg["enabled"]),
        cfg["dose_ng"],
        cfg["duration_s"],
        cfg["max_per_day"],
        cfg["lockout_s"],
    )


def patient_bolus_to_wire(cfg: PatientBolusConfig | None) -> dict[str, Any]:
    if cfg is None:
        return {"enabled": False, "dose_ng": 0, "duration_s": 0, "max_per_day": 0, "lockout_s": 0}
    return {
        "enabled": cfg.enabled,
        "dose_ng": cfg.dose_ng,
        "duration_s": cfg.duration_s,
        "max_per_day": cfg.max_per_day,
        "lockout_s": cfg.lockout_s,
    }


def alarm_to_wire(alarm: AlarmState) -> dict[str, Any]:
    return {
        "alarm": int(alarm.alarm_id),
        "critical": alarm.critical,
        "acknowledged": alarm.acknowledged,
        "raised_at": time_or_zero(alarm.raised_at),
        "silenced_until": time_or_zero(alarm.silenced_until),
    }


def _running_bolus(s: PumpStatus) -> BolusInfo | None:
    """The bolus STATUS reports: a clinician bolus replaces basal, so it comes first."""
    return s.bolus if s.bolus is not None else s.patient_bolus


def bolus_remaining_ng(bolus: BolusInfo, pump_now: int) -> int:
    """The part of a running bolus's dose not yet due at ``pump_now``, rounded up: the bolus is
    spread evenly over its duration, so this is the dose times the share of the time left."""
    duration = max(1, bolus.ends_at - bolus.started_at)
    left = min(max(bolus.ends_at - pump_now, 0), duration)
    return -(-bolus.dose_ng * left // duration)


def _bolus_mode(s: PumpStatus) -> int:
    bolus = _running_bolus(s)
    return int(bolus.mode) if bolus is not None else 0


def _bolus_remaining(s: PumpStatus) -> int:
    bolus = _running_bolus(s)
    return bolus_remaining_ng(bolus, s.pump_time) if bolus is not None else 0


def _bolus_end_time(s: PumpStatus) -> int:
    bolus = _running_bolus(s)
    return time_or_zero(bolus.ends_at) if bolus is not None else 0


def _alarm_bits(s: PumpStatus) -> int:
    """Bit (AlarmId - 1) set for each active alarm."""
    bits = 0
    for alarm in s.alarms:
        bits |= 1 << (int(alarm.alarm_id) - 1)
    return bits


def _day_total(weekday: int) -> Callable[[PumpStatus], int]:
    """STATUS's basal day total of one weekday (0 = Monday)."""
    return lambda s: s.week_day_totals_ng[weekday]


#: Status fields on the wire that PumpStatus does not hold under the same name.
_DERIVED: dict[str, Callable[[PumpStatus], Any]] = {
    "bolus_mode": _bolus_mode,
    "bolus_remaining_ng": _bolus_remaining,
    "bolus_end_time": _bolus_end_time,
    "patient_bolus_enabled": lambda s: s.patient_bolus_config.enabled,
    "alarms": lambda s: [alarm_to_wire(a) for a in s.alarms],
    "alarm_bits": _alarm_bits,
    "catheter_length_mm": lambda s: (
        CATHETER_STORED if s.catheter_length_mm is None else s.catheter_length_mm
    ),
    "delivering": lambda s: s.delivering,
    "patient_bolus_dose_ng": lambda s: s.patient_bolus_config.dose_ng,
    "patient_bolus_duration_s": lambda s: s.patient_bolus_config.duration_s,
    "patient_bolus_max_per_day": lambda s: s.patient_bolus_config.max_per_day,
    "patient_bolus_lockout_s": lambda s: s.patient_bolus_config.lockout_s,
    "patient_boluses_given": lambda s: min(s.patient_bolus_use.given, 255),
    "patient_boluses_refused": lambda s: min(s.patient_bolus_use.refused, 255),
    "patient_boluses_left": lambda s: min(s.patient_bolus_use.left, 255),
    "patient_bolus_lockout_end_time": lambda s: time_or_zero(s.patient_bolus_use.lockout_end),
    **{f"day_total_{day}_ng": _day_total(i) for i, day in enumerate(WEEKDAY_NAMES)},
}

#: The STATUS reply's fields, in catalog order.
STATUS_FIELDS = (
    "pump_time",
    "mode",
    "prescription_version",
    "daily_dose_ng",
    "rate_nl_per_day",
    "concentration_mcg_per_ml",
    "reservoir_nl",
    "reservoir_capacity_nl",
    "low_reservoir_nl",
    "low_reservoir_time",
    "empty_time",
    "battery_ppm",
    "eri_time",
    "eos_time",
    "replace_by_time",
    "delivered_ng",
    "delivered_nl",
    "strokes",
    "bolus_mode",
    "bolus_remaining_ng",
    "bolus_end_time",
    "critical_interval_s",
    "patient_bolus_enabled",
    "alarms",
    "delivering",
    "patient_bolus_dose_ng",
    "patient_bolus_duration_s",
    "patient_bolus_max_per_day",
    "patient_bolus_lockout_s",
    "patient_boluses_given",
    "patient_boluses_refused",
    "patient_boluses_left",
    "patient_bolus_lockout_end_time",
    *(f"day_total_{day}_ng" for day in WEEKDAY_NAMES),
    "utc_offset_s",
    "clock_drift_warning_s",
    "projected_replace_by_time",
    "catheter_length_mm",
)
#: The TELEMETRY notification's fields, in catalog order.
TELEMETRY_FIELDS = (
    "pump_time",
    "mode",
    "rate_nl_per_day",
    "reservoir_nl",
    "delivered_ng",
    "battery_ppm",
    "alarm_bits",
)


def _status_value(s: PumpStatus, name: str) -> Any:
    derived = _DERIVED.get(name)
    if derived is not None:
        return derived(s)
    value = getattr(s, name)
    return time_or_zero(value) if name.endswith("_time") else int(value)


def status_to_wire(s: PumpStatus) -> dict[str, Any]:
    """The STATUS reply body."""
    return {name: _status_value(s, name) for name in STATUS_FIELDS}


def telemetry_to_wire(s: PumpStatus) -> dict[str, Any]:
    """The TELEMETRY notification body: a subset of STATUS for a subscribed programmer."""
    return {name: _status_value(s, name) for name in TELEMETRY_FIELDS}
