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

Short high-rate periods (one rule for flex steps and single boluses, docs/CLINICAL.md): the daily
hard limit bounds what a *day* delivers; a period whose dose rate is above it is judged by the
dose it delivers, like a bolus:

- a single bolus delivers at most ``max_bolus_ng``, and the largest basal day plus the enabled
  patient boluses plus the bolus stays within the daily hard limit;
- a flex step (or a run of consecutive steps, across midnight too) whose rate is above the daily
  hard limit delivers at most ``max_bolus_ng`` over its duration; every day total stays within the
  daily hard limit (and the device's maximum rate bounds every step).

Patient-bolus configuration is checked like a dose increase: its *worst day* (largest basal day +
dose x maximum per 24 h) against the hard limit (refused) and the soft limit, and, when it rises,
against the titration baseline (the basal baseline plus the patient-bolus allowance in force now).

A priming bolus into a catheter that already holds drug (``SafetyContext.catheter_full``) raises
PRIME_INTO_FULL_CATHETER and reports the whole priming volume's drug as reaching the patient.

Reason texts speak the clinic's units (mcg, mL, min, h: :mod:`firmware.wording`).
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
from firmware.wording import clock, duration, mcg, mcg_per_day, ml, ml_per_day, percent
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
    basal_daily_ng: int = 0  # largest day total of the committed basal program (0: stopped)
    catheter_full: bool = False  # drug was delivered since the last fill from empty (Settings)


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
    to_patient_ng: int = 0  # drug the bolus brings to the patient (a prime into an empty
    # catheter only fills it: 0)
    baseline_ng: int = 0  # titration baseline the daily dose was compared with (0: none)
    change_permille: int = 0  # (daily dose - baseline) / baseline, in 0.1 % (rounded down)
    worst_day_ng: int = 0  # largest day: basal + enabled patient boluses + this bolus


@dataclass(frozen=True, slots=True)
class PatientBolusCheck:
    """A patient-bolus configuration checked like a dose increase (its Finish-view numbers)."""

    warnings: StageWarning
    daily_dose_ng: int  # basal (flex: largest day total)
    allowance_ng: int  # dose x max per 24 h (0 when disabled)
    worst_day_ng: int  # daily_dose_ng + allowance_ng
    current_worst_day_ng: int  # with the configuration in force now
    baseline_ng: int  # 0: none
    change_permille: int
    increase: bool  # the worst day rises (recorded as an increase in the titration history)


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


def check_basal_dose(
    dose_ng: int, conc: int, profile: DeviceProfile, what: str, *, daily_limit: bool = True
) -> None:
    """Hard limits of one dose rate (ng/day) at a concentration.  ``daily_limit``: the rate
    itself is held to the daily hard limit (a continuous dose); a flex step is not, its period
    is judged by :func:`check_high_rate_periods`."""
    drug = profile.drug
    if dose_ng < 0:
        raise _refuse(ErrorCode.INVALID_ARGUMENT, f"{what}: dose cannot be negative")
    if dose_ng > U32_MAX or (daily_limit and dose_ng > drug.hard_max_daily_dose_ng):
        raise _refuse(
            ErrorCode.DOSE_ABOVE_HARD_LIMIT,
            f"{what}: {mcg_per_day(dose_ng)} asked, above the hard limit "
            f"of {mcg_per_day(drug.hard_max_daily_dose_ng)}",
        )
    rate = rate_nl_per_day(dose_ng, conc)
    if rate < profile.min_rate_nl_per_day:
        raise _refuse(
            ErrorCode.RATE_BELOW_MINIMUM,
            f"{what}: {ml_per_day(rate)} ({mcg_per_day(dose_ng)} at {conc} mcg/mL) is below "
            f"the minimum rate of {ml_per_day(profile.min_rate_nl_per_day)}",
        )
    if rate > profile.max_rate_nl_per_day:
        raise _refuse(
            ErrorCode.RATE_ABOVE_MAXIMUM,
            f"{what}: {ml_per_day(rate)} ({mcg_per_day(dose_ng)} at {conc} mcg/mL) is above "
            f"the maximum rate of {ml_per_day(profile.max_rate_nl_per_day)}",
        )


def _week_steps(flex: Flex) -> list[tuple[int, int, int, int]]:
    """The week as (minute of the week, dose rate ng/day, day program, minute of the day)."""
    steps = []
    for day, index in enumerate(flex.weekday_program):
        for step in flex.day_programs[index]:
            steps.append(
                (day * 1440 + step.start_minute, step.daily_dose_ng, index, step.start_minute)
            )
    return steps


def check_high_rate_periods(flex: Flex, profile: DeviceProfile) -> None:
    """A run of consecutive flex steps whose dose rate is above the daily hard limit (across
    midnight and the week's end too) may deliver no more than one single bolus
    (``max_bolus_ng``): the module docstring's rule for short high-rate periods."""
    drug = profile.drug
    hard = drug.hard_max_daily_dose_ng
    steps = _week_steps(flex)
    week = 7 * 1440
    count = len(steps)
    high = [rate > hard for _, rate, _, _ in steps]
    if not any(high) or all(high):
        return  # nothing above the limit, or every day is (the day totals refuse it)
    first = next(i for i in range(count) if not high[i])  # start the walk after a low step
    run_dose_scaled = 0  # ng/day x minutes
    run_minutes = 0
    run_start: tuple[int, int] | None = None
    for offset in range(1, count + 1):
        i = (first + offset) % count
        start, rate, index, minute = steps[i]
        end = steps[(i + 1) % count][0]
        minutes = (end - start) % week
        if high[i]:
            if run_start is None:
                run_start = (index, minute)
            run_dose_scaled += rate * minutes
            run_minutes += minutes
            continue
        if run_start is not None:
            _check_run(run_start, run_dose_scaled, run_minutes, profile)
            run_dose_scaled = run_minutes = 0
            run_start = None


def _check_run(
    start: tuple[int, int], dose_scaled: int, minutes: int, profile: DeviceProfile
) -> None:
    drug = profile.drug
    dose = dose_scaled // 1440  # ng/day x min -> ng
    if dose > drug.max_bolus_ng:
        index, minute = start
        raise _refuse(
            ErrorCode.DOSE_ABOVE_HARD_LIMIT,
            f"day program {index} from {clock(minute)}: {duration(minutes * 60)} above the daily "
            f"limit of {mcg_per_day(drug.hard_max_daily_dose_ng)} delivers {mcg(dose)}, more "
            f"than one bolus may ({mcg(drug.max_bolus_ng)})",
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


def change_permille(value_ng: int, baseline_ng: int) -> int:
    """(value - baseline) / baseline in tenths of a per cent, rounded toward zero (0: none)."""
    if baseline_ng <= 0:
        return 0
    diff = value_ng - baseline_ng
    magnitude = abs(diff) * 1000 // baseline_ng
    return magnitude if diff >= 0 else -magnitude


def _baseline(ctx: SafetyContext, profile: DeviceProfile) -> int:
    """The titration baseline in force (0: none - a start)."""
    if ctx.start_pending or not ctx.titration:
        return 0
    found = titration_baseline(ctx.titration, ctx.now, profile.drug.titration_window_s)
    return found or 0


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
    if _recent_increase(ctx, profile):
        warnings |= StageWarning.SECOND_INCREASE_WITHIN_24H
    return warnings, TitrationKind.INCREASE


def _recent_increase(ctx: SafetyContext, profile: DeviceProfile) -> bool:
    recent = [e for e in ctx.titration if e.time > ctx.now - profile.drug.titration_window_s]
    return any(e.kind is not TitrationKind.SAME_OR_LOWER for e in recent)


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
    hard = profile.drug.hard_max_daily_dose_ng
    if isinstance(change, Continuous):
        check_basal_dose(change.daily_dose_ng, conc, profile, "continuous")
    else:
        for steps in change.day_programs:
            for step in steps:
                if not 0 <= step.daily_dose_ng <= U32_MAX:
                    raise _refuse(
                        ErrorCode.INVALID_ARGUMENT,
                        f"step at {clock(step.start_minute)}: the dose is out of range",
                    )
    daily = program_daily_dose_ng(change)
    if daily > hard:
        raise _refuse(
            ErrorCode.DOSE_ABOVE_HARD_LIMIT,
            f"a day total of {mcg_per_day(daily)} asked, above the hard limit of "
            f"{mcg_per_day(hard)}",
        )
    if isinstance(change, Flex):
        check_high_rate_periods(change, profile)
        for number, steps in enumerate(change.day_programs):
            for step in steps:
                check_basal_dose(
                    step.daily_dose_ng,
                    conc,
                    profile,
                    f"day program {number} step at {clock(step.start_minute)}",
                    daily_limit=False,
                )
    worst_day = daily + ctx.patient_bolus_allowance_ng
    if worst_day > hard:
        raise _refuse(
            ErrorCode.DOSE_ABOVE_HARD_LIMIT,
            f"a day total of {mcg_per_day(daily)} plus the enabled patient boluses "
            f"({mcg(ctx.patient_bolus_allowance_ng)} a day) is {mcg_per_day(worst_day)}, above "
            f"the hard limit of {mcg_per_day(hard)}: reduce the patient-bolus allowance first",
        )
    warnings, kind = _titration(daily, ctx, profile)
    if daily > profile.drug.soft_max_daily_dose_ng:
        warnings |= StageWarning.SOFT_DOSE_LIMIT
    if ctx.bridge_from_mcg_per_ml:
        warnings |= StageWarning.CONCENTRATION_CHANGED_NEEDS_BRIDGE
    baseline = _baseline(ctx, profile)
    return ValidatedChange(
        change,
        warnings,
        daily,
        0,
        0,
        0,
        0,
        kind,
        baseline_ng=baseline,
        change_permille=change_permille(daily, baseline),
        worst_day_ng=worst_day,
    )


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
    day_before = ctx.basal_daily_ng + ctx.patient_bolus_allowance_ng
    if isinstance(change, SingleBolus):
        drug = profile.drug
        if change.dose_ng > drug.max_bolus_ng:
            raise _refuse(
                ErrorCode.BOLUS_ABOVE_LIMIT,
                f"a bolus of {mcg(change.dose_ng)} asked, above the single-bolus limit of "
                f"{mcg(drug.max_bolus_ng)}",
            )
        if not drug.min_bolus_duration_s <= change.duration_s <= drug.max_bolus_duration_s:
            raise _refuse(
                ErrorCode.BOLUS_DURATION_INVALID,
                f"a bolus over {duration(change.duration_s)} asked; it must last "
                f"{duration(drug.min_bolus_duration_s)} to {duration(drug.max_bolus_duration_s)}",
            )
        worst_day = day_before + change.dose_ng
        if worst_day > drug.hard_max_daily_dose_ng:
            raise _refuse(
                ErrorCode.DOSE_ABOVE_HARD_LIMIT,
                f"a bolus of {mcg(change.dose_ng)} on a day of {mcg_per_day(day_before)} "
                f"(basal and patient boluses) makes {mcg_per_day(worst_day)}, above the hard "
                f"limit of {mcg_per_day(drug.hard_max_daily_dose_ng)}",
            )
        volume = volume_nl_for_mass(change.dose_ng, conc)
        if volume <= 0:
            raise _refuse(
                ErrorCode.INVALID_ARGUMENT,
                f"a bolus of {mcg(change.dose_ng)} is less than 0.001 mL of drug at {conc} mcg/mL",
            )
        if volume * DAY_S > profile.max_rate_nl_per_day * change.duration_s:
            fastest = ceil_div(volume * DAY_S, profile.max_rate_nl_per_day)
            raise _refuse(
                ErrorCode.BOLUS_DURATION_INVALID,
                f"{ml(volume)} over {duration(change.duration_s)} is above the maximum rate of "
                f"{ml_per_day(profile.max_rate_nl_per_day)}: give it over at least "
                f"{duration(fastest)}",
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
            to_patient_ng=change.dose_ng,
            worst_day_ng=worst_day,
        )
    volume = catheter_volume_nl(profile, change.catheter_length_mm)
    if isinstance(change, PrimingBolus):
        _check_volume(volume, ctx)
        prime_s = ceil_div(volume * DAY_S, profile.max_rate_nl_per_day)
        dose = mass_ng_for_volume(volume, conc)
        # an empty catheter is only filled; a full one pushes the whole volume into the patient
        to_patient = dose if ctx.catheter_full else 0
        warnings = StageWarning.PRIME_INTO_FULL_CATHETER if ctx.catheter_full else StageWarning(0)
        return ValidatedChange(
            change,
            warnings,
            basal_after,  # the programmed therapy resumes when the prime ends
            volume,
            prime_s,
            dose,
            conc,
            TitrationKind.SAME_OR_LOWER,
            to_patient_ng=to_patient,
            worst_day_ng=day_before + to_patient,
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
            ErrorCode.RATE_ABOVE_MAXIMUM,
            f"the bridge rate of {ml_per_day(bridge_rate)} is above the maximum of "
            f"{ml_per_day(profile.max_rate_nl_per_day)}",
        )
    if bridge_rate <= 0:
        raise _refuse(ErrorCode.RATE_BELOW_MINIMUM, "the bridge rate rounds to 0 mL/day")
    _check_volume(volume, ctx)
    bridge_s = ceil_div(volume * DAY_S, bridge_rate)
    dose = mass_ng_for_volume(volume, old)
    return ValidatedChange(
        change,
        StageWarning(0),
        basal_after,
        volume,
        bridge_s,
        dose,
        old,
        TitrationKind.SAME_OR_LOWER,
        to_patient_ng=dose,
        worst_day_ng=day_before,
    )


def _basal_dose_after(ctx: SafetyContext) -> int:
    return ctx.basal_dose_now_ng if ctx.basal_running else 0


def _check_volume(volume_nl: int, ctx: SafetyContext) -> None:
    if volume_nl > ctx.reservoir_nl:
        raise _refuse(
            ErrorCode.RESERVOIR_EMPTY,
            f"the bolus needs {ml(volume_nl)} but the reservoir estimate is {ml(ctx.reservoir_nl)}",
        )


def validate_patient_bolus(
    cfg: PatientBolusConfig, ctx: SafetyContext, profile: DeviceProfile
) -> PatientBolusCheck:
    """A patient-bolus configuration: hard limits refuse; the worst day is then checked like a
    dose increase (soft limit, titration) and returned with its warnings and numbers."""
    drug = profile.drug
    basal = ctx.basal_daily_ng
    current_worst = basal + ctx.patient_bolus_allowance_ng
    if not cfg.enabled:
        return PatientBolusCheck(StageWarning(0), basal, 0, basal, current_worst, 0, 0, False)
    limits = profile.patient_bolus
    if cfg.dose_ng <= 0 or cfg.duration_s <= 0 or cfg.max_per_day <= 0:
        raise _refuse(
            ErrorCode.INVALID_ARGUMENT, "patient bolus dose, duration and count must be positive"
        )
    most = min(limits.max_dose_ng, drug.max_bolus_ng)
    if cfg.dose_ng > most:
        raise _refuse(
            ErrorCode.BOLUS_ABOVE_LIMIT,
            f"a patient bolus of {mcg(cfg.dose_ng)} asked, above the limit of {mcg(most)}",
        )
    if not limits.min_duration_s <= cfg.duration_s <= limits.max_duration_s:
        raise _refuse(
            ErrorCode.BOLUS_DURATION_INVALID,
            f"a patient bolus over {duration(cfg.duration_s)} asked; it must last "
            f"{duration(limits.min_duration_s)} to {duration(limits.max_duration_s)}",
        )
    if cfg.max_per_day > limits.max_per_day_limit:
        raise _refuse(
            ErrorCode.INVALID_ARGUMENT,
            f"{cfg.max_per_day} patient boluses per 24 h asked; at most "
            f"{limits.max_per_day_limit} allowed",
        )
    if not limits.min_lockout_s <= cfg.lockout_s <= limits.max_lockout_s:
        raise _refuse(
            ErrorCode.INVALID_ARGUMENT,
            f"a patient-bolus lockout of {duration(cfg.lockout_s)} asked; it must be "
            f"{duration(limits.min_lockout_s)} to {duration(limits.max_lockout_s)}",
        )
    allowance = cfg.dose_ng * cfg.max_per_day
    worst_day = basal + allowance
    if worst_day > drug.hard_max_daily_dose_ng:
        raise _refuse(
            ErrorCode.DOSE_ABOVE_HARD_LIMIT,
            f"basal {mcg_per_day(basal)} plus {cfg.max_per_day} patient boluses of "
            f"{mcg(cfg.dose_ng)} is a worst day of {mcg_per_day(worst_day)}, above the hard "
            f"limit of {mcg_per_day(drug.hard_max_daily_dose_ng)}",
        )
    warnings = StageWarning(0)
    if worst_day > drug.soft_max_daily_dose_ng:
        warnings |= StageWarning.SOFT_DOSE_LIMIT
    basal_baseline = _baseline(ctx, profile)
    baseline = basal_baseline + ctx.patient_bolus_allowance_ng if basal_baseline else 0
    increase = worst_day > current_worst and bool(basal_baseline)
    if increase:
        if worst_day * 100 > baseline * (100 + drug.titration_soft_increase_pct):
            warnings |= StageWarning.TITRATION_INCREASE_OVER_LIMIT
        if _recent_increase(ctx, profile):
            warnings |= StageWarning.SECOND_INCREASE_WITHIN_24H
    return PatientBolusCheck(
        warnings,
        basal,
        allowance,
        worst_day,
        current_worst,
        baseline,
        change_permille(worst_day, baseline),
        increase,
    )


def _decimal_mcg(ng: int) -> str:
    return mcg(ng).removesuffix(" mcg")


def warning_text(
    warnings: StageWarning,
    value_ng: int,
    baseline_ng: int,
    permille: int,
    profile: DeviceProfile,
    to_patient_ng: int = 0,
) -> str:
    """The reason text of an unacknowledged commit: each warning with its numbers."""
    drug = profile.drug
    parts = []
    for flag in warnings:
        if flag is StageWarning.SOFT_DOSE_LIMIT:
            parts.append(
                f"SOFT_DOSE_LIMIT ({_decimal_mcg(value_ng)} > "
                f"{mcg_per_day(drug.soft_max_daily_dose_ng)})"
            )
        elif flag is StageWarning.TITRATION_INCREASE_OVER_LIMIT:
            parts.append(
                f"TITRATION_INCREASE_OVER_LIMIT ({percent(permille)} on "
                f"{mcg_per_day(baseline_ng)} > +{drug.titration_soft_increase_pct} %)"
            )
        elif flag is StageWarning.PRIME_INTO_FULL_CATHETER:
            parts.append(f"PRIME_INTO_FULL_CATHETER ({mcg(to_patient_ng)} reaches the patient)")
        else:
            parts.append(str(flag.name))
    return ", ".join(parts)


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
