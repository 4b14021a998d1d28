"""Withdrawal: a staged syndrome that escalates while the drug stays away, and recedes when it returns.

Why: an interrupted intrathecal baclofen supply (empty reservoir, stopped pump, blocked catheter)
is the therapy's deadly hazard (label boxed warning).  The signs escalate over hours to days:
itching and tachycardia first, then fever and exaggerated rebound spasticity, then rigidity with
a risk of rhabdomyolysis; untreated, the severe syndrome can progress over 24-72 h.  Restarting
intrathecal delivery reverses it.

The model is a clock, which makes every event time exact:

* a patient becomes *dependent* after ``dependence_after_h`` cumulative hours with the
  effect-site concentration Ce at or above the threshold (so a screening bolus does not cause
  withdrawal, chronic therapy does);
* while a dependent patient's Ce is below the threshold (``withdrawal_threshold_ec50_ratio`` x
  EC50) the deficit clock runs forward one hour per hour;
* while Ce is at or above it, the clock runs back ``withdrawal_recovery_rate_ratio`` hours per
  hour, down to zero;
* the stage is read from the clock: early at ``withdrawal_early_after_h`` (drawn per patient),
  moderate ``withdrawal_moderate_after_early_h`` later, severe
  ``withdrawal_severe_after_early_h`` after the early signs.

Between threshold crossings of Ce (found exactly, ``patient.crossings``) the clock is linear, so
stage changes are solved, not searched for.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from patient.parameters import PatientParameters


class WithdrawalStage(IntEnum):
    """Withdrawal stages in order of severity."""

    NONE = 0
    EARLY = 1
    MODERATE = 2
    SEVERE = 3

    @property
    def signs(self) -> str:
        """What the clinic would see at this stage."""
        return _SIGNS[self]


_SIGNS = {
    WithdrawalStage.NONE: "none",
    WithdrawalStage.EARLY: "itching, tachycardia, return of baseline spasticity",
    WithdrawalStage.MODERATE: "fever, altered mental status, exaggerated rebound spasticity",
    WithdrawalStage.SEVERE: "muscle rigidity, rhabdomyolysis risk, organ failure risk",
}


@dataclass(frozen=True, slots=True)
class WithdrawalClock:
    """The withdrawal state: the deficit clock and the dependence accumulated so far."""

    deficit_h: float = 0.0
    above_threshold_h: float = 0.0


def stage_boundaries_h(params: PatientParameters) -> tuple[float, float, float]:
    """Deficit clock readings (h) at which the early, moderate and severe stages begin."""
    early = params.withdrawal_early_after_h
    return (
        early,
        early + params.withdrawal_moderate_after_early_h,
        early + params.withdrawal_severe_after_early_h,
    )


def stage_for(params: PatientParameters, deficit_h: float) -> WithdrawalStage:
    """The stage for a deficit clock reading."""
    return WithdrawalStage(sum(1 for b in stage_boundaries_h(params) if deficit_h >= b))


def is_dependent(params: PatientParameters, clock: WithdrawalClock) -> bool:
    """Whether the patient has been on the drug long enough to withdraw from it."""
    return clock.above_threshold_h >= params.dependence_after_h


#: (offset into the segment in hours, event kind, new value)
SegmentEvent = tuple[float, str, str]


def run_segment(
    params: PatientParameters, clock: WithdrawalClock, below_threshold: bool, duration_h: float
) -> tuple[WithdrawalClock, list[SegmentEvent]]:
    """Advance the clock over ``duration_h`` hours on one side of the threshold."""
    events: list[SegmentEvent] = []
    bounds = stage_boundaries_h(params)
    if below_threshold:
        if not is_dependent(params, clock):
            return clock, events
        start = clock.deficit_h
        end = start + duration_h
        for index, bound in enumerate(bounds, start=1):
            if start < bound <= end:
                events.append((bound - start, "withdrawal", WithdrawalStage(index).name.lower()))
        return WithdrawalClock(end, clock.above_threshold_h), events
    above = clock.above_threshold_h + duration_h
    need = params.dependence_after_h
    if clock.above_threshold_h < need <= above:
        events.append((need - clock.above_threshold_h, "dependence", "established"))
    start = clock.deficit_h
    rate = params.withdrawal_recovery_rate_ratio
    end = max(0.0, start - rate * duration_h)
    for index in range(len(bounds), 0, -1):
        bound = bounds[index - 1]
        if end < bound <= start:
            stage = WithdrawalStage(index - 1).name.lower()
            events.append(((start - bound) / rate, "withdrawal", stage))
    events.sort(key=lambda event: event[0])
    return WithdrawalClock(end, above), events
