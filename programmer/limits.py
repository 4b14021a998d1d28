"""The pump's own limits (DEVICE_LIMITS), used to explain a request it would refuse before sending.

Why: the pump's reason texts are for people and its limits used to be readable only there; a
clinician typing 900 mcg/day deserves "above this pump's hard limit of 800 mcg/day for baclofen"
before anything goes on the line.  Only exact comparisons with the numbers the pump announced are
made here (no rate or refill-date arithmetic: the pump computes those, docs/PROTOCOL.md section
6), so a request this module lets through may still be refused by the pump, but one it stops
would certainly have been refused: nothing is sent, nothing changes (``LimitRefusal``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from protocol.catalog import CATHETER_STORED, MsgType
from protocol.enums import ChangeKind
from protocol.errors import ErrorCode
from protocol.units import format_mcg, format_ml

from .errors import PumpRefused
from .units import format_duration


class LimitRefusal(PumpRefused):
    """Not sent: the request is outside a limit the pump announced in DEVICE_LIMITS.

    The code is the one the pump would have answered with; nothing was sent or changed.
    """

    def __init__(self, code: ErrorCode, reason: str, what: str = "") -> None:
        super().__init__(code, reason, what)
        prefix = f"{what}: " if what else ""
        self.args = (f"{prefix}not sent, the pump would refuse it ({code.name}): {reason}",)


def _date(pump_time: int) -> str:
    return datetime.fromtimestamp(pump_time, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _range(low: int, high: int, fmt: Any) -> str:
    return f"{fmt(low)} to {fmt(high)}"


def explain(msg: MsgType, body: Mapping[str, Any], limits: Mapping[str, Any]) -> None:
    """Raise ``LimitRefusal`` if ``body`` of ``msg`` is outside the pump's announced limits."""
    check = _CHECKS.get(msg)
    if check is not None:
        found = check(body, limits)
        if found is not None:
            code, reason = found
            raise LimitRefusal(code, reason, msg.name.lower())


Found = tuple[ErrorCode, str] | None


def _basal_dose(dose_ng: int, drug: Mapping[str, Any], what: str) -> Found:
    hard = int(drug["hard_max_daily_dose_ng"])
    if dose_ng > hard:
        return (
            ErrorCode.DOSE_ABOVE_HARD_LIMIT,
            f"{what} {format_mcg(dose_ng)}/day is above this pump's hard limit of "
            f"{format_mcg(hard)}/day for {drug['drug_name']} (a hard limit cannot be overridden)",
        )
    return None


def _stage(body: Mapping[str, Any], limits: Mapping[str, Any]) -> Found:
    change = body["change"]
    kind, params = int(change["kind"]), change["params"]
    drug, delivery = limits["drug"], limits["delivery"]
    if kind == ChangeKind.CONTINUOUS:
        return _basal_dose(int(params["daily_dose_ng"]), drug, "the dose")
    if kind == ChangeKind.FLEX:
        most = int(delivery["max_flex_steps"])
        for number, day in enumerate(params["day_programs"]):
            if len(day) > most:
                return (
                    ErrorCode.INVALID_SCHEDULE,
                    f"day program {number} has {len(day)} steps; this pump allows at most {most}",
                )
        # a step's rate may be above the daily hard limit for a short period: the pump judges
        # the dose that period delivers (docs/CLINICAL.md), nothing the programmer recomputes
        return None
    if kind == ChangeKind.SINGLE_BOLUS:
        dose, duration = int(params["dose_ng"]), int(params["duration_s"])
        if dose > int(drug["max_bolus_ng"]):
            return (
                ErrorCode.BOLUS_ABOVE_LIMIT,
                f"a bolus of {format_mcg(dose)} is above this pump's bolus limit of "
                f"{format_mcg(int(drug['max_bolus_ng']))}",
            )
        low, high = int(drug["min_bolus_duration_s"]), int(drug["max_bolus_duration_s"])
        if not low <= duration <= high:
            return (
                ErrorCode.BOLUS_DURATION_INVALID,
                f"a bolus over {format_duration(duration)}: this pump allows "
                f"{_range(low, high, format_duration)}",
            )
        return None
    if kind in (ChangeKind.PRIMING_BOLUS, ChangeKind.BRIDGE_BOLUS):
        length, most = int(params["catheter_length_mm"]), int(delivery["max_catheter_length_mm"])
        if length > most and length != CATHETER_STORED:  # that one: the catheter the pump knows
            return (
                ErrorCode.INVALID_ARGUMENT,
                f"a catheter of {length} mm is longer than the {most} mm this pump accepts",
            )
    return None


def _refill(body: Mapping[str, Any], limits: Mapping[str, Any]) -> Found:
    drug = limits["drug"]
    allowed = [int(c) for c in drug["concentrations_mcg_per_ml"]]
    conc = int(body["concentration_mcg_per_ml"])
    if conc not in allowed:
        listed = ", ".join(f"{c} mcg/mL" for c in allowed)
        return (
            ErrorCode.CONCENTRATION_NOT_IN_LIBRARY,
            f"{conc} mcg/mL is not in this pump's {drug['drug_name']} library ({listed})",
        )
    capacity = int(limits["delivery"]["reservoir_capacity_nl"])
    if int(body["added_nl"]) > capacity:
        return (
            ErrorCode.REFILL_OVER_CAPACITY,
            f"{format_ml(int(body['added_nl']))} is more than the reservoir holds "
            f"({format_ml(capacity)})",
        )
    return None


def _patient_bolus(body: Mapping[str, Any], limits: Mapping[str, Any]) -> Found:
    cfg, pb = body["config"], limits["patient_bolus"]
    if not cfg["enabled"]:
        return None
    most = min(int(pb["max_dose_ng"]), int(limits["drug"]["max_bolus_ng"]))
    if int(cfg["dose_ng"]) > most:
        return (
            ErrorCode.BOLUS_ABOVE_LIMIT,
            f"a patient bolus of {format_mcg(int(cfg['dose_ng']))} is above this pump's limit "
            f"of {format_mcg(most)}",
        )
    for field, low_key, high_key, code in (
        ("duration_s", "min_duration_s", "max_duration_s", ErrorCode.BOLUS_DURATION_INVALID),
        ("lockout_s", "min_lockout_s", "max_lockout_s", ErrorCode.INVALID_ARGUMENT),
    ):
        value, low, high = int(cfg[field]), int(pb[low_key]), int(pb[high_key])
        if not low <= value <= high:
            name = field.removesuffix("_s")
            return (
                code,
                f"a patient-bolus {name} of {format_duration(value)}: this pump allows "
                f"{_range(low, high, format_duration)}",
            )
    if int(cfg["max_per_day"]) > int(pb["max_per_day_limit"]):
        return (
            ErrorCode.INVALID_ARGUMENT,
            f"{cfg['max_per_day']} patient boluses per 24 h: this pump allows at most "
            f"{pb['max_per_day_limit']}",
        )
    return None


def _alarms(body: Mapping[str, Any], limits: Mapping[str, Any]) -> Found:
    alarms = limits["alarms"]
    low = int(body["low_reservoir_nl"])
    if not int(alarms["low_reservoir_min_nl"]) <= low <= int(alarms["low_reservoir_max_nl"]):
        span = _range(
            int(alarms["low_reservoir_min_nl"]), int(alarms["low_reservoir_max_nl"]), format_ml
        )
        return (
            ErrorCode.ALARM_CONFIG_OUT_OF_RANGE,
            f"a low-reservoir alarm at {format_ml(low)}: this pump allows {span}",
        )
    interval = int(body["critical_interval_s"])
    lo, hi = int(alarms["critical_interval_min_s"]), int(alarms["critical_interval_max_s"])
    if not lo <= interval <= hi:
        return (
            ErrorCode.ALARM_CONFIG_OUT_OF_RANGE,
            f"a critical alarm every {format_duration(interval)}: this pump allows "
            f"{_range(lo, hi, format_duration)}",
        )
    return None


def _day(pump_time: int) -> str:
    return datetime.fromtimestamp(pump_time, UTC).strftime("%Y-%m-%d")


def _clock(body: Mapping[str, Any], limits: Mapping[str, Any]) -> Found:
    """Worded as the pump words it (a person reads the same sentence either way)."""
    clock = limits["clock"]
    value = int(body["pump_time"])
    low, high = int(clock["earliest_time"]), int(clock["latest_time"])
    if value < low:
        return (
            ErrorCode.CLOCK_INVALID,
            f"the date {_day(value)} is before {_day(low)}, the earliest this pump accepts: "
            "set the clock to today's date and time",
        )
    if value > high:
        return (
            ErrorCode.CLOCK_INVALID,
            f"the date {_day(value)} is after {_day(high)}, the latest this pump accepts: "
            "set the clock to today's date and time",
        )
    return None


_CHECKS = {
    MsgType.STAGE_PRESCRIPTION: _stage,
    MsgType.REFILL: _refill,
    MsgType.STAGE_REFILL: _refill,
    MsgType.PATIENT_BOLUS_CONFIG: _patient_bolus,
    MsgType.ALARMS_CONFIG: _alarms,
    MsgType.SET_CLOCK: _clock,
}


def applies_to(msg: MsgType) -> bool:
    """True if ``explain`` has something to check for ``msg``."""
    return msg in _CHECKS


def limits_document(limits: Mapping[str, Any]) -> dict[str, Any]:
    """DEVICE_LIMITS as ``pumpctl limits --json`` prints it: the pump's integers, grouped."""
    return {group: dict(values) for group, values in limits.items()}


def limits_text(limits: Mapping[str, Any]) -> list[str]:
    """DEVICE_LIMITS for people, in clinical units."""
    drug, tit, dl = limits["drug"], limits["titration"], limits["delivery"]
    pb, al, ck = limits["patient_bolus"], limits["alarms"], limits["clock"]
    concs = ", ".join(f"{c} mcg/mL" for c in drug["concentrations_mcg_per_ml"])
    dur = format_duration
    return [
        f"drug: {drug['drug_name']} ({concs})",
        f"daily dose: hard limit {format_mcg(drug['hard_max_daily_dose_ng'])}/day, "
        f"soft limit {format_mcg(drug['soft_max_daily_dose_ng'])}/day",
        f"bolus: up to {format_mcg(drug['max_bolus_ng'])} over "
        f"{_range(drug['min_bolus_duration_s'], drug['max_bolus_duration_s'], dur)}",
        f"titration: an increase over {tit['soft_increase_pct']} % within "
        f"{dur(tit['window_s'])} needs acknowledgement",
        f"rate: {_range(dl['min_rate_nl_per_day'], dl['max_rate_nl_per_day'], format_ml)} per "
        f"day (safe minimum {format_ml(dl['safe_rate_nl_per_day'])}/day)",
        f"reservoir: {format_ml(dl['reservoir_capacity_nl'])}; flex: up to "
        f"{dl['max_flex_steps']} steps a day; catheter: up to {dl['max_catheter_length_mm']} mm",
        f"patient bolus: up to {format_mcg(pb['max_dose_ng'])} over "
        f"{_range(pb['min_duration_s'], pb['max_duration_s'], dur)}, at most "
        f"{pb['max_per_day_limit']} per 24 h, lockout "
        f"{_range(pb['min_lockout_s'], pb['max_lockout_s'], dur)}",
        f"alarms: low reservoir "
        f"{_range(al['low_reservoir_min_nl'], al['low_reservoir_max_nl'], format_ml)}, "
        f"critical repeat {_range(al['critical_interval_min_s'], al['critical_interval_max_s'], dur)}",
        f"clock: {_range(ck['earliest_time'], ck['latest_time'], _date)} (UTC, pump time)",
    ]
