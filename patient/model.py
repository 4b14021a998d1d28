"""The virtual patient: concentrations, effect, withdrawal and overdose advanced event to event.

Why: the board knows how much drug left the catheter tip and when; this object turns that into
what the clinic would see.  ``advance(dt_s, lumbar_input_mcg_per_h)`` holds the input constant
for ``dt_s`` seconds and solves the whole interval in closed form: the threshold crossings of the
effect site (withdrawal) and of the cisternal end (overdose) are found on the exact solution, the
withdrawal clock is linear between them, and the events come back with their exact times.  Cost
does not depend on ``dt_s``: a year of constant input is as cheap as a second.  Deterministic:
no clock, no randomness (population variants are drawn before, in ``patient.profiles``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from patient.crossings import TwoExponentials, crossings_h, crossings_many_h
from patient.effect import (
    RESPONSE_FALL_POINTS,
    ashworth_points,
    concentration_for_fall,
    spasms_per_h,
)
from patient.overdose import OverdoseLevel, overdose_level, overdose_levels_mcg_per_ml
from patient.parameters import PatientParameters
from patient.pharmacokinetics import CsfModel, CsfState
from patient.withdrawal import (
    WithdrawalClock,
    WithdrawalStage,
    is_dependent,
    run_segment,
    stage_for,
)

S_PER_H = 3600.0
_new_state = tuple.__new__  # a CsfState from its three values (the namedtuple's own __new__)
#: The fields of ``VirtualPatient.snapshot``: nine numbers, then the overdose level and dependence.
SNAPSHOT_FIELDS = (
    "lumbar_mcg_per_ml",
    "cisternal_mcg_per_ml",
    "effect_site_mcg_per_ml",
    "deficit_h",
    "above_threshold_h",
    "time_s",
    "withdrawal_signs_total_h",
    "overdose_signs_total_h",
    "therapeutic_total_h",
    "overdose",
    "dependent",
)


@dataclass(frozen=True, slots=True)
class PatientEvent:
    """Something the clinic would notice, at an exact simulated time (s since the start)."""

    time_s: float
    kind: str  # "withdrawal", "overdose" or "dependence"
    value: str  # the new stage or level, lower case


@dataclass(frozen=True, slots=True)
class PatientStatus:
    """The patient at one instant: what a bench ``ctl patient`` would show."""

    time_s: float
    lumbar_csf_mcg_per_ml: float
    cisternal_csf_mcg_per_ml: float
    effect_site_mcg_per_ml: float
    ashworth_points: float
    spasms_per_h: float
    withdrawal_stage: str
    withdrawal_signs: str
    overdose: str
    dependent: bool
    withdrawal_signs_total_h: float
    overdose_signs_total_h: float
    therapeutic_total_h: float  # response criterion met (a 1-point fall), no overdose signs


class VirtualPatient:
    """One patient, drug-free at time zero unless a state is given."""

    def __init__(self, params: PatientParameters, state: CsfState | None = None) -> None:
        self.params = params
        self.model = CsfModel(params)
        self.state = state if state is not None else CsfState()
        self.clock = WithdrawalClock()
        self.time_s = 0.0
        self.withdrawal_signs_total_h = 0.0
        self.overdose_signs_total_h = 0.0
        self.therapeutic_total_h = 0.0
        self._response_level = concentration_for_fall(params, RESPONSE_FALL_POINTS)
        self._threshold = params.withdrawal_threshold_mcg_per_ml
        self._overdose_levels = overdose_levels_mcg_per_ml(params)
        self._overdose = overdose_level(params, self.state.cisternal_mcg_per_ml)
        self._dependent = False

    # -- time ------------------------------------------------------------------------------
    def advance(self, dt_s: float, lumbar_input_mcg_per_h: float) -> list[PatientEvent]:
        """Hold the input for ``dt_s`` seconds; return the events in time order."""
        if dt_s < 0 or lumbar_input_mcg_per_h < 0:
            raise ValueError("dt_s and lumbar_input_mcg_per_h must be >= 0")
        if dt_s == 0:
            return []
        t_end_h = dt_s / S_PER_H
        model = self.model
        lumbar0, cisternal0, effect0 = self.state
        k = model.k_per_h
        steady = lumbar_input_mcg_per_h / model.clearance_ml_per_h
        d_lumbar = lumbar0 - steady
        # the two followers as c + a e^(-k t) + b e^(-r t) (pharmacokinetics.py's formulas,
        # inlined: this runs once per input change, tens of thousands of times a simulated year)
        re = model.effect_rate_per_h
        a_e = re * d_lumbar / (re - k)
        b_e = effect0 - steady - a_e
        rc, gain = model.cisternal_rate_per_h, model.cisternal_gain_ratio
        c_c = gain * steady
        a_c = gain * rc * d_lumbar / (rc - k)
        b_c = cisternal0 - c_c - a_c
        found: list[tuple[float, str, str]] = []

        # overdose: the cisternal curve stays within c +- its coefficients; cross only if needed
        # (``x if x < 0.0 else 0.0`` spelled as min(x, 0.0) and max(x, 0.0) evaluate it: the same
        # floats, without a call - this runs once per interval, thousands of times a year)
        low, high = self._overdose_levels
        floor = c_c + (0.0 if a_c > 0.0 else a_c) + (0.0 if b_c > 0.0 else b_c)
        ceiling = c_c + (0.0 if a_c < 0.0 else a_c) + (0.0 if b_c < 0.0 else b_c)
        calm_all = False  # no overdose signs in the whole interval
        if floor < low <= ceiling or floor < high <= ceiling:
            calm = self._overdose_segment(TwoExponentials(c_c, a_c, k, b_c, rc), t_end_h, found)
        elif self._overdose is not OverdoseLevel.NONE:
            self.overdose_signs_total_h += t_end_h
            calm = []
        else:
            calm = [(0.0, t_end_h)]
            calm_all = True

        # the effect-site curve stays within its constant +- its coefficients
        e_floor = steady + (0.0 if a_e > 0.0 else a_e) + (0.0 if b_e > 0.0 else b_e)
        e_ceiling = steady + (0.0 if a_e < 0.0 else a_e) + (0.0 if b_e < 0.0 else b_e)

        # time in the therapeutic range: the response criterion met, no overdose signs
        level = self._response_level
        if calm and level is not None:
            if e_floor >= level and calm_all:
                self.therapeutic_total_h += t_end_h  # what _overlap_h gives for two whole spans
            else:
                if e_floor >= level:
                    effective = [(0.0, t_end_h)]
                elif level > e_ceiling:
                    effective = []
                else:
                    effect = TwoExponentials(steady, a_e, k, b_e, re)
                    level_cuts = crossings_h(effect, level, t_end_h)
                    effective = _spans(effect.value(0.0) >= level, level_cuts, t_end_h)
                self.therapeutic_total_h += _overlap_h(effective, calm)

        # withdrawal: a dependent patient whose effect site stays above the threshold and who has
        # no deficit to recover from has nothing to do (``clock.above_threshold_h`` only matters
        # until dependence, which is never lost, so it is not counted further)
        threshold = self._threshold
        below = effect0 < threshold
        may_cross = e_floor < threshold <= e_ceiling
        if may_cross or below or self.clock.deficit_h > 0 or not self._dependent:
            cuts: list[float] = []
            if may_cross:
                effect = TwoExponentials(steady, a_e, k, b_e, re)
                below = effect.value(0.0) < threshold
                cuts = crossings_h(effect, threshold, t_end_h)
            self._withdrawal_segments(below, [*cuts, t_end_h], found)

        decay_k = math.exp(-k * t_end_h)
        self.state = _new_state(  # CsfState(lumbar, cisternal, effect), without its Python __new__
            CsfState,
            (
                steady + d_lumbar * decay_k,
                c_c + a_c * decay_k + b_c * math.exp(-rc * t_end_h),
                steady + a_e * decay_k + b_e * math.exp(-re * t_end_h),
            ),
        )
        base_s = self.time_s
        self.time_s += dt_s
        if not found:
            return []
        found.sort(key=lambda event: event[0])
        return [PatientEvent(base_s + t * S_PER_H, kind, value) for t, kind, value in found]

    def _overdose_segment(
        self, cisternal: TwoExponentials, t_end_h: float, found: list[tuple[float, str, str]]
    ) -> list[tuple[float, float]]:
        """Overdose events and hours; returns the spans without overdose signs."""
        cuts = sorted(
            t for ts in crossings_many_h(cisternal, self._overdose_levels, t_end_h) for t in ts
        )
        calm: list[tuple[float, float]] = []
        last = 0.0
        for cut, is_crossing in [*((t, True) for t in cuts), (t_end_h, False)]:
            if self._overdose is OverdoseLevel.NONE:
                calm.append((last, cut))
            else:
                self.overdose_signs_total_h += cut - last
            if is_crossing:
                new = overdose_level(self.params, cisternal.value(cut))
                if new != self._overdose:
                    found.append((cut, "overdose", new.name.lower()))
                    self._overdose = new
            last = cut
        return calm

    def _withdrawal_segments(
        self, below: bool, cuts: list[float], found: list[tuple[float, str, str]]
    ) -> None:
        last = 0.0
        for cut in cuts:
            stage_before = stage_for(self.params, self.clock.deficit_h)
            self.clock, events = run_segment(self.params, self.clock, below, cut - last)
            if events or stage_before is not WithdrawalStage.NONE:
                self._count_withdrawal_time(stage_before, events, cut - last)
                found.extend((last + offset, kind, value) for offset, kind, value in events)
            self._dependent = is_dependent(self.params, self.clock)
            below = not below
            last = cut

    def _count_withdrawal_time(
        self, stage_before: WithdrawalStage, events: list[tuple[float, str, str]], length_h: float
    ) -> None:
        with_signs = stage_before is not WithdrawalStage.NONE
        last = 0.0
        for offset, kind, value in events:
            if kind != "withdrawal":
                continue
            if with_signs:
                self.withdrawal_signs_total_h += offset - last
            with_signs = value != "none"
            last = offset
        if with_signs:
            self.withdrawal_signs_total_h += length_h - last

    def inject_bolus(self, mass_mcg: float) -> None:
        """An instantaneous bolus into the lumbar CSF (a lumbar puncture, an access-port dose)."""
        if mass_mcg < 0:
            raise ValueError("mass_mcg must be >= 0")
        s = self.state
        self.state = CsfState(
            s.lumbar_mcg_per_ml + mass_mcg / self.model.volume_ml,
            s.cisternal_mcg_per_ml,
            s.effect_site_mcg_per_ml,
        )  # the cisternal end and the effect site are continuous: the overdose level holds

    # -- saving and restoring ----------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Everything that changes with time, as JSON-ready numbers (``restore`` inverts it).

        Floats keep every bit through JSON (``repr`` round-trips), so a restored patient goes on
        exactly as this one would have."""
        lumbar, cisternal, effect = self.state
        return {
            "lumbar_mcg_per_ml": lumbar,
            "cisternal_mcg_per_ml": cisternal,
            "effect_site_mcg_per_ml": effect,
            "deficit_h": self.clock.deficit_h,
            "above_threshold_h": self.clock.above_threshold_h,
            "time_s": self.time_s,
            "withdrawal_signs_total_h": self.withdrawal_signs_total_h,
            "overdose_signs_total_h": self.overdose_signs_total_h,
            "therapeutic_total_h": self.therapeutic_total_h,
            "overdose": self._overdose.name.lower(),
            "dependent": self._dependent,
        }

    @classmethod
    def restore(cls, params: PatientParameters, saved: dict[str, Any]) -> VirtualPatient:
        """The patient a ``snapshot`` describes; ValueError names the first unusable field."""
        if not isinstance(saved, dict) or set(saved) != set(SNAPSHOT_FIELDS):
            raise ValueError(f"the patient's state needs exactly the fields {SNAPSHOT_FIELDS}")
        numbers: dict[str, float] = {}
        for key in SNAPSHOT_FIELDS[:9]:
            value = saved[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{key} is not a number")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{key} is not a finite number >= 0")
            numbers[key] = float(value)
        try:
            overdose = OverdoseLevel[str(saved["overdose"]).upper()]
        except KeyError:
            raise ValueError(f"overdose {saved['overdose']!r} is not a known level") from None
        if not isinstance(saved["dependent"], bool):
            raise ValueError("dependent is not true/false")
        body = cls(
            params,
            CsfState(
                numbers["lumbar_mcg_per_ml"],
                numbers["cisternal_mcg_per_ml"],
                numbers["effect_site_mcg_per_ml"],
            ),
        )
        body.clock = WithdrawalClock(numbers["deficit_h"], numbers["above_threshold_h"])
        body.time_s = numbers["time_s"]
        body.withdrawal_signs_total_h = numbers["withdrawal_signs_total_h"]
        body.overdose_signs_total_h = numbers["overdose_signs_total_h"]
        body.therapeutic_total_h = numbers["therapeutic_total_h"]
        body._overdose = overdose
        body._dependent = saved["dependent"]
        return body

    # -- what the clinic sees ---------------------------------------------------------------
    @property
    def withdrawal_stage(self) -> WithdrawalStage:
        """The current withdrawal stage."""
        return stage_for(self.params, self.clock.deficit_h)

    @property
    def overdose(self) -> OverdoseLevel:
        """The current overdose level."""
        return self._overdose

    def status(self) -> PatientStatus:
        """A snapshot of everything observable."""
        stage = self.withdrawal_stage
        rebound = 0.0
        spasm_ratio = 1.0
        if stage >= WithdrawalStage.MODERATE:
            rebound = self.params.rebound_ashworth_points
            spasm_ratio = self.params.rebound_spasm_ratio
        if stage is WithdrawalStage.SEVERE:
            rebound = 4.0  # rigidity: the top of the scale
        ce = self.state.effect_site_mcg_per_ml
        return PatientStatus(
            time_s=self.time_s,
            lumbar_csf_mcg_per_ml=self.state.lumbar_mcg_per_ml,
            cisternal_csf_mcg_per_ml=self.state.cisternal_mcg_per_ml,
            effect_site_mcg_per_ml=ce,
            ashworth_points=ashworth_points(self.params, ce, rebound),
            spasms_per_h=spasms_per_h(self.params, ce, spasm_ratio),
            withdrawal_stage=stage.name.lower(),
            withdrawal_signs=stage.signs,
            overdose=self.overdose.name.lower(),
            dependent=is_dependent(self.params, self.clock),
            withdrawal_signs_total_h=self.withdrawal_signs_total_h,
            overdose_signs_total_h=self.overdose_signs_total_h,
            therapeutic_total_h=self.therapeutic_total_h,
        )


def _spans(starts_inside: bool, cuts: list[float], t_end_h: float) -> list[tuple[float, float]]:
    """The parts of [0, t_end] inside a set whose boundary crossings are ``cuts``."""
    spans: list[tuple[float, float]] = []
    inside, last = starts_inside, 0.0
    for cut in [*cuts, t_end_h]:
        if inside:
            spans.append((last, cut))
        inside, last = not inside, cut
    return spans


def _overlap_h(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    """Total length of the intersection of two sorted lists of disjoint spans."""
    total, i, j = 0.0, 0, 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if hi > lo:
            total += hi - lo
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total
