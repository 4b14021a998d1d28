"""The screening trial before implant, as a pure function of a patient's parameters.

Why: the seed's step before surgery, and the label's rule for the starting pump dose, in one
place that a command, a scenario and a test can all call.  The protocol (label):

* a lumbar-puncture bolus of 50 mcg (1 mL of 50 mcg/mL over ``INJECTION_S``), observed for
  ``OBSERVATION_H`` (4-8 h);
* if the response is inadequate, 75 mcg 24 h later; if still inadequate, 100 mcg 24 h after that;
* a patient who does not respond to 100 mcg is not a candidate.

Response criterion (simulator choice; the label asks for "a significant decrease in muscle
tone and/or in the frequency and/or severity of spasms"): the Modified Ashworth score falls by
at least ``RESPONSE_FALL_POINTS`` below the patient's drug-free baseline at some time within the
observation window.  Onset is the first time the fall reaches ``ONSET_FALL_POINTS`` (a half
grade, the step from 1 to 1+); the effect's duration is the time the response criterion holds.

Start dose (label): twice the effective screening dose over 24 h, unless the effect lasted more
than 8 h, then the effective screening dose itself over 24 h; no increase in the first 24 h.

Each bolus runs on the same ``VirtualPatient``, so what is left of the previous one counts, as it
does in the patient.  All times are exact crossings of the closed-form solution.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

from patient.crossings import crossings_h
from patient.effect import RESPONSE_FALL_POINTS, ashworth_points, concentration_for_fall
from patient.model import VirtualPatient
from patient.parameters import PatientParameters

SCREENING_DOSES_MCG = (50.0, 75.0, 100.0)
INJECTION_S = 60.0  # label: 50 mcg in 1 mL over at least one minute
OBSERVATION_H = 8.0  # label: observe 4-8 h
INTERVAL_H = 24.0  # label: the next dose 24 h later
SAMPLE_EVERY_H = 0.5  # the report's timeline resolution
ONSET_FALL_POINTS = 0.5  # simulator choice: a perceptible change, half a grade
LONG_EFFECT_H = 8.0  # label: effect beyond 8 h -> start at the screening dose itself


@dataclass(frozen=True, slots=True)
class TimelinePoint:
    """One sample of the trial's timeline, hours after this bolus's injection began."""

    t_h: float
    lumbar_csf_mcg_per_ml: float
    effect_site_mcg_per_ml: float
    ashworth_points: float


@dataclass(frozen=True, slots=True)
class BolusObservation:
    """What one screening bolus did."""

    dose_mcg: float
    given_at_h: float  # since the trial began
    pre_dose_ashworth_points: float
    onset_h: float | None  # after the injection began; None: never perceptible
    peak_h: float  # time of the largest fall within the observation window
    peak_fall_points: float
    response_start_h: float | None
    response_duration_h: float  # time the response criterion held (within 24 h)
    responded: bool
    timeline: tuple[TimelinePoint, ...]


@dataclass(frozen=True, slots=True)
class ScreeningReport:
    """The trial's outcome: each bolus, the decision and the label's start dose."""

    patient: str
    baseline_ashworth_points: float
    criterion: str
    boluses: tuple[BolusObservation, ...]
    candidate: bool
    effective_dose_mcg: float | None
    start_dose_mcg_per_day: float | None
    start_dose_rule: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return asdict(self)


def screening_trial(params: PatientParameters, patient: str = "") -> ScreeningReport:
    """Run the label's screening protocol on a drug-free virtual patient."""
    body = VirtualPatient(params)
    response_level = concentration_for_fall(params, RESPONSE_FALL_POINTS)
    onset_level = concentration_for_fall(params, ONSET_FALL_POINTS)
    observations: list[BolusObservation] = []
    effective: float | None = None
    for index, dose in enumerate(SCREENING_DOSES_MCG):
        observation = _observe_bolus(
            body, params, dose, index * INTERVAL_H, onset_level, response_level
        )
        observations.append(observation)
        if observation.responded:
            effective = dose
            break
    criterion = (
        f"a fall of the Modified Ashworth score by >= {RESPONSE_FALL_POINTS} point within "
        f"{OBSERVATION_H:g} h of the bolus"
    )
    if effective is None:
        return ScreeningReport(
            patient,
            params.baseline_ashworth_points,
            criterion,
            tuple(observations),
            False,
            None,
            None,
            "not a candidate: no response to 100 mcg",
        )
    last = observations[-1]
    if last.response_duration_h > LONG_EFFECT_H:
        start = effective
        rule = (
            f"effect lasted {last.response_duration_h:.1f} h (> {LONG_EFFECT_H:g} h): the "
            f"effective screening dose over 24 h; no increase in the first 24 h"
        )
    else:
        start = 2 * effective
        rule = (
            f"effect lasted {last.response_duration_h:.1f} h (<= {LONG_EFFECT_H:g} h): twice the "
            f"effective screening dose over 24 h; no increase in the first 24 h"
        )
    return ScreeningReport(
        patient,
        params.baseline_ashworth_points,
        criterion,
        tuple(observations),
        True,
        effective,
        start,
        rule,
    )


def _observe_bolus(
    body: VirtualPatient,
    params: PatientParameters,
    dose_mcg: float,
    given_at_h: float,
    onset_level: float | None,
    response_level: float | None,
) -> BolusObservation:
    baseline = params.baseline_ashworth_points
    pre_dose = ashworth_points(params, body.state.effect_site_mcg_per_ml)
    injection_h = INJECTION_S / 3600.0
    timeline = [_sample(body, params, 0.0)]
    body.advance(INJECTION_S, dose_mcg / injection_h)
    after = body.state  # the injection is over; from here the input is zero for 24 h
    effect = body.model.effect_curve(after, 0.0)
    window_h = INTERVAL_H - injection_h

    def crossing_windows(level: float | None) -> list[tuple[float, float]]:
        """Intervals (h since the injection began) with Ce at or above ``level``."""
        if level is None:
            return []
        times = crossings_h(effect, level, window_h)
        above = effect.value(0.0) >= level
        edges = [0.0, *times, window_h]
        spans = []
        for lo, hi in itertools.pairwise(edges):
            if above:
                spans.append((lo + injection_h, hi + injection_h))
            above = not above
        return spans

    onset_spans = crossing_windows(onset_level)
    response_spans = crossing_windows(response_level)
    peak_t, peak_ce = effect.maximum_h(OBSERVATION_H - injection_h)
    peak_fall = baseline - ashworth_points(params, peak_ce)
    responded = bool(response_spans) and response_spans[0][0] <= OBSERVATION_H
    t = SAMPLE_EVERY_H
    while t <= OBSERVATION_H + 1e-9:
        state_t = body.model.propagate(after, 0.0, t - injection_h)
        timeline.append(
            TimelinePoint(
                t,
                state_t.lumbar_mcg_per_ml,
                state_t.effect_site_mcg_per_ml,
                ashworth_points(params, state_t.effect_site_mcg_per_ml),
            )
        )
        t += SAMPLE_EVERY_H
    body.advance(window_h * 3600.0, 0.0)
    return BolusObservation(
        dose_mcg=dose_mcg,
        given_at_h=given_at_h,
        pre_dose_ashworth_points=pre_dose,
        onset_h=onset_spans[0][0] if onset_spans else None,
        peak_h=peak_t + injection_h,
        peak_fall_points=peak_fall,
        response_start_h=response_spans[0][0] if response_spans else None,
        response_duration_h=sum(hi - lo for lo, hi in response_spans),
        responded=responded,
        timeline=tuple(timeline),
    )


def _sample(body: VirtualPatient, params: PatientParameters, t_h: float) -> TimelinePoint:
    state = body.state
    return TimelinePoint(
        t_h,
        state.lumbar_mcg_per_ml,
        state.effect_site_mcg_per_ml,
        ashworth_points(params, state.effect_site_mcg_per_ml),
    )
