"""Translation between the protocol's payload dictionaries and the firmware's own types.

Why: the therapy engine works with typed dataclasses in integer units; the wire carries dicts built
by the catalog's construct layouts.  Keeping the mapping in one place means neither side leaks into
the other, and a field added to the catalog needs exactly one change here.  Every function that
reads wire data validates shape beyond what the layout guarantees (e.g. a weekday index) and
refuses with INVALID_SCHEDULE / INVALID_ARGUMENT rather than guessing.
"""

from __future__ import annotations

from typing import Any

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
