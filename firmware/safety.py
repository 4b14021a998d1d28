"""Safety checks: a therapy change is validated whole, before anything changes.

Why: a wrong prescription can overdose (respiratory depression, coma) or underdose (withdrawal).
Every change passes through :func:`validate_change`: hard limits refuse with a named
:class:`~protocol.errors.ErrorCode`; soft limits return :class:`~protocol.catalog.StageWarning`
flags (the wire's own type, used end to end) that the commit must acknowledge.  Nothing here mutates pump state.

Order of checks: shape of the request (the programmer's mistake), then the pump's state (end of
service, motor fault, bolus running, no drug), then the drug library and the device's rates.

Titration guard (drug label: titrate once per 24 h, +10-30 %):

- the *baseline* is the lowest basal daily dose in force at any time in the last
  ``titration_window_s``; a new dose above baseline x (100 + titration_soft_increase_pct) % is
  TITRATION_INCREASE_OVER_LIMIT;
- an increase when another increase (or the start of therapy) was committed within the window is
  SECOND_INCREASE_WITHIN_24H ("no increase in the first 24 h" of the label);
- the first basal prescription of a pump never programmed is a *start*: no titration warning.
  Running empty and refilling does not make the next one a start: the baseline is still the last
  therapy the patient was on (docs/CLINICAL.md).
For flex programs the daily dose compared is the largest day total of the week.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from firmware.prescription import (
    U32_MAX,
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
from firmware.profile import DeviceProfile
from firmware.schedule import program_daily_dose_ng
from firmware.units import DAY_S, ceil_div, mass_ng_for_volume, rate_nl_per_day, volume_nl_for_mass
from protocol.catalog import StageWarning
from protocol.errors import ErrorCode, Refusal

#: Longest catheter a priming or bridge bolus may be computed for (simulator choice: 2 m).
MAX_CATHETER_LENGTH_MM = 2000
#: Titration history entries kept (enough for several changes within one window).
TITRATION_HISTORY_MAX = 16


class TitrationKind(enum.IntEnum):
    SAME_OR_LOWER = 0
    INCREASE = 1
    START = 2


@dataclass(frozen=True, slots=True)
class TitrationEntry:
    time: int  # board time of the commit
    daily_dose_ng: int
    kind: TitrationKind


@dataclass(frozen=True, slots=True)
class SafetyContext:
    """What validation needs to know about the pump (a snapshot)."""

    now: int  # board time
    pump_time: int
    concentration_mcg_per_ml: int  # 0: never filled
    reservoir_nl: int
    end_of_service: bool
    motor_fault: bool
    clinician_bolus_running: bool
    basal_running: bool  # a basal program is in force and not stopped
    basal_dose_now_ng: int  # dose rate of the basal program at this moment
    bridge_from_mcg_per_ml: int  # old concentration awaiting a bridge bolus, 0 if none
    start_pending: bool  # next basal prescription is a start (fill from empty)
    titration: tuple[TitrationEntry, ...]
    patient_bolus_allowance_ng: int = 0  # dose x max per 24 h while patient bolus is enabled


@dataclass(frozen=True, slots=True)
class ValidatedChange:
    change: TherapyChange
    warnings: StageWarning
    daily_dose_ng: int  # basal daily dose after the change (flex: largest day total)
    bolus_volume_nl: int  # 0 for basal changes
    bolus_duration_s: int
    bolus_dose_ng: int
    bolus_concentration_mcg_per_ml: int  # the drug the bolus pushes (old one for a bridge)
    titration_kind: TitrationKind


def _refuse(code: ErrorCode, message: str) -> Refusal:
    return Refusal(code, message)


def catheter_volume_nl(profile: DeviceProfile, catheter_length_mm: int) -> int:
    """Pump tubing plus catheter volume (rounded down to whole nL)."""
    return (
        profile.pump_tubing_volume_nl + catheter_length_mm * profile.catheter_volume_nl_per_cm // 10
    )


def check_flex_shape(flex: Flex, profile: DeviceProfile) -> None:
    programs = flex.day_programs
    if not 1 <= len(programs) <= 7:
        raise _refuse(
            ErrorCode.INVALID_SCHEDULE, f"flex needs 1 to 7 day programs, got {len(programs)}"
        )
    if len(flex.weekday_program) != 7:
        raise _refuse(
            ErrorCode.INVALID_SCHEDULE, "weekday map needs exactly 7 entries (Monday first)"
        )
    for day, index in enumerate(flex.weekday_program):
        if not 0 <= index < len(programs):
            raise _refuse(
                ErrorCode.INVALID_SCHEDULE, f"weekday {day} names missing day program {index}"
            )
    unused = sorted(set(range(len(programs))) - set(flex.weekday_program))
    if unused:
        raise _refuse(
            ErrorCode.INVALID_SCHEDULE, f"day program {unused[0]} is not used by any weekday"
        )
    for number, steps in enumerate(programs):
        _check_day_program(number, steps, profile)


def _check_day_program(number: int, steps: tuple[FlexStep, ...], profile: DeviceProfile) -> None:
    if not 1 <= len(steps) <= profile.max_flex_steps:
        raise _refuse(
            ErrorCode.INVALID_SCHEDULE,
            f"day program {number} has {len(steps)} steps; 1 to {profile.max_flex_steps} allowed",
        )
    if steps[0].start_minute != 0:
        raise _refuse(ErrorCode.INVALID_SCHEDULE, f"day program {number} must start at minute 0")
    previous = -1
    for step in steps:
        if not previous < step.start_minute < 1440:
            raise _refuse(
                ErrorCode.INVALID_SCHEDULE,
                f"day program {number}: step starts must increase strictly within 0..1439",
            )
        previous = step.start_minute


def check_basal_dose(dose_ng: int, conc: int, profile: DeviceProfile, what: str) -> None:
    """Hard limits of one dose rate (ng/day) at a concentration."""
    drug = profile.drug
    if dose_ng < 0:
        raise _refuse(ErrorCode.INVALID_ARGUMENT, f"{what}: dose cannot be negative")
    if dose_ng > drug.hard_max_daily_dose_ng or dose_ng > U32_MAX:
        raise _refuse(
            ErrorCode.DOSE_ABOVE_HARD_LIMIT,
            f"{what}: {dose_ng} ng/day is above the hard limit "
            f"of {drug.hard_max_daily_dose_ng} ng/day",
        )
    rate = rate_nl_per_day(dose_ng, conc)
    if rate < profile.min_rate_nl_per_day:
        raise _refuse(
            ErrorCode.RATE_BELOW_MINIMUM,
            f"{what}: {rate} nL/day is below the minimum rate "
            f"of {profile.min_rate_nl_per_day} nL/day",
        )
    if rate > profile.max_rate_nl_per_day:
        raise _refuse(
            ErrorCode.RATE_ABOVE_MAXIMUM,
            f"{what}: {rate} nL/day is above the maximum rate "
            f"of {profile.max_rate_nl_per_day} nL/day",
        )


def titration_baseline(history: tuple[TitrationEntry, ...], now: int, window_s: int) -> int | None:
    """Lowest basal daily dose in force during the last window (None: no history)."""
    in_force: list[int] = []
    for entry in history:
        if entry.time > now - window_s:
            in_force.append(entry.daily_dose_ng)
    before = [e for e in history if e.time <= now - window_s]
    if before:
        in_force.append(before[-1].daily_dose_ng)
    return min(in_force) if in_force else None


def _titration(
    dose_ng: int, ctx: SafetyContext, profile: DeviceProfile
) -> tuple[StageWarning, TitrationKind]:
    history = ctx.titration
    if ctx.start_pending or not history:
        return StageWarning(0), TitrationKind.START
    drug = profile.drug
    warnings = StageWarning(0)
    previous = history[-1].daily_dose_ng
    if dose_ng <= previous:
        return warnings, TitrationKind.SAME_OR_LOWER
    baseline = titration_baseline(history, ctx.now, drug.titration_window_s)
    if baseline is not None and dose_ng * 100 > baseline * (100 + drug.titration_soft_increase_pct):
        warnings |= StageWarning.TITRATION_INCREASE_OVER_LIMIT
    recent = [e for e in history if e.time > ctx.now - drug.titration_window_s]
    if any(e.kind is not TitrationKind.SAME_OR_LOWER for e in recent):
        warnings |= StageWarning.SECOND_INCREASE_WITHIN_24H
    return warnings, TitrationKind.INCREASE


def _check_state(ctx: SafetyContext, needs_drug: bool) -> None:
    if ctx.end_of_service:
        raise _refuse(
            ErrorCode.END_OF_SERVICE, "battery end of service: the pump no longer delivers"
        )
    if ctx.motor_fault:
        raise _refuse(ErrorCode.MOTOR_FAULT, "motor stall alarm is active: resume the pump first")
    if ctx.clinician_bolus_running:
        raise _refuse(
            ErrorCode.BOLUS_IN_PROGRESS, "a bolus is running; wait for it or stop the pump"
        )
    if needs_drug and ctx.concentration_mcg_per_ml <= 0:
        raise _refuse(ErrorCode.PUMP_NOT_FILLED, "the pump holds no drug yet: refill first")
    if needs_drug and ctx.reservoir_nl <= 0:
        raise _refuse(ErrorCode.RESERVOIR_EMPTY, "the reservoir estimate is empty: refill first")


def validate_change(
    change: TherapyChange, ctx: SafetyContext, profile: DeviceProfile
) -> ValidatedChange:
    """Validate a whole change; raises Refusal, or returns the change with its warnings."""
    if isinstance(change, Stopped):
        return ValidatedChange(change, StageWarning(0), 0, 0, 0, 0, 0, TitrationKind.SAME_OR_LOWER)
    if isinstance(change, Continuous | Flex):
        return _validate_basal(change, ctx, profile)
    return _validate_bolus(change, ctx, profile)


def _validate_basal(
    change: Continuous | Flex, ctx: SafetyContext, profile: DeviceProfile
) -> ValidatedChange:
    if isinstance(change, Flex):
        check_flex_shape(change, profile)
    elif change.daily_dose_ng < 0:
        raise _refuse(ErrorCode.INVALID_ARGUMENT, "dose cannot be negative")
    _check_state(ctx, needs_drug=True)
    conc = ctx.concentration_mcg_per_ml
    if isinstance(change, Continuous):
        check_basal_dose(change.daily_dose_ng, conc, profile, "continuous")
    else:
        for number, steps in enumerate(change.day_programs):
            for step in steps:
                check_basal_dose(
                    step.daily_dose_ng,
                    conc,
                    profile,
                    f"day program {number} minute {step.start_minute}",
                )
    daily = program_daily_dose_ng(change)
    if daily > profile.drug.hard_max_daily_dose_ng:
        raise _refuse(
            ErrorCode.DOSE_ABOVE_HARD_LIMIT, f"daily total {daily} ng is above the hard limit"
        )
    worst_day = daily + ctx.patient_bolus_allowance_ng
    if worst_day > profile.drug.hard_max_daily_dose_ng:
        raise _refuse(
            ErrorCode.DOSE_ABOVE_HARD_LIMIT,
            f"daily total {daily} ng plus the enabled patient boluses "
            f"({ctx.patient_bolus_allowance_ng} ng) is above the hard limit: "
            "reduce the patient-bolus allowance first",
        )
    warnings, kind = _titration(daily, ctx, profile)
    if daily > profile.drug.soft_max_daily_dose_ng:
        warnings |= StageWarning.SOFT_DOSE_LIMIT
    if ctx.bridge_from_mcg_per_ml:
        warnings |= StageWarning.CONCENTRATION_CHANGED_NEEDS_BRIDGE
    return ValidatedChange(change, warnings, daily, 0, 0, 0, 0, kind)


def _validate_bolus(
    change: SingleBolus | PrimingBolus | BridgeBolus, ctx: SafetyContext, profile: DeviceProfile
) -> ValidatedChange:
    if isinstance(change, SingleBolus):
        if change.dose_ng <= 0 or change.duration_s <= 0:
            raise _refuse(ErrorCode.INVALID_ARGUMENT, "bolus dose and duration must be positive")
    elif not 0 <= change.catheter_length_mm <= MAX_CATHETER_LENGTH_MM:
        raise _refuse(
            ErrorCode.INVALID_ARGUMENT,
            f"catheter length must be 0..{MAX_CATHETER_LENGTH_MM} mm, "
            f"got {change.catheter_length_mm}",
        )
    _check_state(ctx, needs_drug=True)
    conc = ctx.concentration_mcg_per_ml
    basal_after = _basal_dose_after(ctx)
    if isinstance(change, SingleBolus):
        drug = profile.drug
        if change.dose_ng > drug.max_bolus_ng:
            raise _refuse(
                ErrorCode.BOLUS_ABOVE_LIMIT,
                f"bolus {change.dose_ng} ng is above {drug.max_bolus_ng} ng",
            )
        if not drug.min_bolus_duration_s <= change.duration_s <= drug.max_bolus_duration_s:
            raise _refuse(
                ErrorCode.BOLUS_DURATION_INVALID,
                f"bolus duration must be "
                f"{drug.min_bolus_duration_s}..{drug.max_bolus_duration_s} s",
            )
        volume = volume_nl_for_mass(change.dose_ng, conc)
        if volume <= 0:
            raise _refuse(ErrorCode.INVALID_ARGUMENT, "bolus dose is below one nanolitre of drug")
        if volume * DAY_S > profile.max_rate_nl_per_day * change.duration_s:
            raise _refuse(
                ErrorCode.BOLUS_DURATION_INVALID, "bolus would exceed the maximum rate: lengthen it"
            )
        _check_volume(volume, ctx)
        return ValidatedChange(
            change,
            StageWarning(0),
            basal_after,
            volume,
            change.duration_s,
            change.dose_ng,
            conc,
            TitrationKind.SAME_OR_LOWER,
        )
    volume = catheter_volume_nl(profile, change.catheter_length_mm)
    if isinstance(change, PrimingBolus):
        _check_volume(volume, ctx)
        duration = ceil_div(volume * DAY_S, profile.max_rate_nl_per_day)
        dose = mass_ng_for_volume(volume, conc)
        return ValidatedChange(
            change,
            StageWarning(0),
            basal_after,  # the programmed therapy resumes when the prime ends
            volume,
            duration,
            dose,
            conc,
            TitrationKind.SAME_OR_LOWER,
        )
    old = ctx.bridge_from_mcg_per_ml
    if not old:
        raise _refuse(
            ErrorCode.NO_BRIDGE_NEEDED, "the last refill did not change the concentration"
        )
    if not ctx.basal_running or ctx.basal_dose_now_ng <= 0:
        raise _refuse(ErrorCode.INVALID_ARGUMENT, "a bridge bolus needs a running basal program")
    bridge_rate = rate_nl_per_day(ctx.basal_dose_now_ng, old)
    if bridge_rate > profile.max_rate_nl_per_day:
        raise _refuse(
            ErrorCode.RATE_ABOVE_MAXIMUM, f"bridge rate {bridge_rate} nL/day is above the maximum"
        )
    if bridge_rate <= 0:
        raise _refuse(ErrorCode.RATE_BELOW_MINIMUM, "bridge rate rounds to zero")
    _check_volume(volume, ctx)
    duration = ceil_div(volume * DAY_S, bridge_rate)
    dose = mass_ng_for_volume(volume, old)
    return ValidatedChange(
        change,
        StageWarning(0),
        basal_after,
        volume,
        duration,
        dose,
        old,
        TitrationKind.SAME_OR_LOWER,
    )


def _basal_dose_after(ctx: SafetyContext) -> int:
    return ctx.basal_dose_now_ng if ctx.basal_running else 0


def _check_volume(volume_nl: int, ctx: SafetyContext) -> None:
    if volume_nl > ctx.reservoir_nl:
        raise _refuse(
            ErrorCode.RESERVOIR_EMPTY,
            f"bolus needs {volume_nl} nL but the reservoir estimate is {ctx.reservoir_nl} nL",
        )


def validate_patient_bolus(
    cfg: PatientBolusConfig, basal_daily_ng: int, profile: DeviceProfile
) -> None:
    """Limits of a patient-bolus configuration (a disabled one is always accepted)."""
    if not cfg.enabled:
        return
    limits = profile.patient_bolus
    if cfg.dose_ng <= 0 or cfg.duration_s <= 0 or cfg.max_per_day <= 0:
        raise _refuse(
            ErrorCode.INVALID_ARGUMENT, "patient bolus dose, duration and count must be positive"
        )
    if cfg.dose_ng > min(limits.max_dose_ng, profile.drug.max_bolus_ng):
        raise _refuse(
            ErrorCode.BOLUS_ABOVE_LIMIT,
            f"patient bolus {cfg.dose_ng} ng is above {limits.max_dose_ng} ng",
        )
    if not limits.min_duration_s <= cfg.duration_s <= limits.max_duration_s:
        raise _refuse(
            ErrorCode.BOLUS_DURATION_INVALID,
            f"patient bolus duration must be {limits.min_duration_s}..{limits.max_duration_s} s",
        )
    if cfg.max_per_day > limits.max_per_day_limit:
        raise _refuse(
            ErrorCode.INVALID_ARGUMENT,
            f"at most {limits.max_per_day_limit} patient boluses per 24 h",
        )
    if not limits.min_lockout_s <= cfg.lockout_s <= limits.max_lockout_s:
        raise _refuse(
            ErrorCode.INVALID_ARGUMENT,
            f"patient bolus lockout must be {limits.min_lockout_s}..{limits.max_lockout_s} s",
        )
    worst_day = basal_daily_ng + cfg.dose_ng * cfg.max_per_day
    if worst_day > profile.drug.hard_max_daily_dose_ng:
        raise _refuse(
            ErrorCode.DOSE_ABOVE_HARD_LIMIT,
            f"basal plus {cfg.max_per_day} patient boluses is {worst_day} ng/day, "
            "above the hard limit",
        )


def record_titration(
    history: tuple[TitrationEntry, ...], entry: TitrationEntry, window_s: int
) -> tuple[TitrationEntry, ...]:
    """Append a committed basal dose and drop entries no longer needed for the baseline."""
    entries = [*history, entry]
    cutoff = entry.time - window_s
    keep_from = 0
    for index, old in enumerate(entries):
        if old.time <= cutoff:
            keep_from = index  # the last one before the window still defines the dose in force
    return tuple(entries[keep_from:])[-TITRATION_HISTORY_MAX:]
