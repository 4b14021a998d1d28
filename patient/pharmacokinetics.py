"""Lumbar CSF, the cisternal end and the effect site: a linear model solved exactly between events.

Why: the drug leaving the catheter tip is piecewise constant (a stroke rate held between
schedule changes), and the model is linear, so its solution over an interval of constant input
is closed-form.  The system is triangular - the cisternal end and the effect site follow the
lumbar concentration and do not feed back - so its matrix exponential is three scalar formulas
and ``advance(dt_s, input)`` costs the same for a minute as for a year.

With u the drug mass rate into the lumbar CSF (mcg/h), V = CL / k the lumbar distribution volume:

    dCl/dt = u / V - k Cl                  lumbar CSF, first-order elimination (k = ln2 / t1/2)
    dCc/dt = kc (Cl / g - Cc)              cisternal end: Cc -> Cl / g at steady state (g ~ 4)
    dCe/dt = ke0 (Cl - Ce)                 effect site (spinal cord), delay ke0

For constant u from state (Cl0, Cc0, Ce0), Lss = u / CL and dL = Cl0 - Lss:

    Cl(t) = Lss + dL exp(-k t)
    Y(t)  = G Lss + B exp(-k t) + (Y0 - G Lss - B) exp(-r t),  B = G r dL / (r - k)

for each follower Y with rate r and gain G (Cc: r = kc, G = 1/g; Ce: r = ke0, G = 1).  A follower
whose rate equals k within 1e-9 (relative) is moved 1e-6 away, which changes no printed digit
but keeps B finite; docs/PATIENT.md says so.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from patient.crossings import TwoExponentials
from patient.parameters import PatientParameters

_SEPARATION = 1e-6


class CsfState(NamedTuple):
    """Concentrations at one instant, mcg/mL (a tuple: cheap to make once per event)."""

    lumbar_mcg_per_ml: float = 0.0
    cisternal_mcg_per_ml: float = 0.0
    effect_site_mcg_per_ml: float = 0.0


class CsfModel:
    """The closed-form solution for one patient's parameters (rates computed once)."""

    def __init__(self, params: PatientParameters) -> None:
        self.k_per_h = params.csf_elimination_rate_per_h
        self.clearance_ml_per_h = params.csf_clearance_ml_per_h
        self.volume_ml = params.lumbar_distribution_volume_ml
        self.cisternal_gain_ratio = 1.0 / params.lumbar_to_cisternal_ratio
        self.cisternal_rate_per_h = self._separated(params.cisternal_rate_per_h)
        self.effect_rate_per_h = self._separated(params.effect_site_rate_per_h)

    def _separated(self, rate_per_h: float) -> float:
        if abs(rate_per_h - self.k_per_h) <= 1e-9 * self.k_per_h:
            return rate_per_h * (1 + _SEPARATION)
        return rate_per_h

    def steady_lumbar_mcg_per_ml(self, input_mcg_per_h: float) -> float:
        """Lss = u / CL."""
        return input_mcg_per_h / self.clearance_ml_per_h

    def lumbar_curve(self, state: CsfState, input_mcg_per_h: float) -> TwoExponentials:
        """Cl(t) under constant input from ``state``."""
        steady = self.steady_lumbar_mcg_per_ml(input_mcg_per_h)
        return TwoExponentials(steady, state.lumbar_mcg_per_ml - steady, self.k_per_h, 0.0, 0.0)

    def _follower(
        self, start: float, lumbar_start: float, steady: float, rate: float, gain: float
    ) -> TwoExponentials:
        b = gain * rate * (lumbar_start - steady) / (rate - self.k_per_h)
        target = gain * steady
        return TwoExponentials(target, b, self.k_per_h, start - target - b, rate)

    def cisternal_curve(self, state: CsfState, input_mcg_per_h: float) -> TwoExponentials:
        """Cc(t) under constant input from ``state``."""
        return self._follower(
            state.cisternal_mcg_per_ml,
            state.lumbar_mcg_per_ml,
            self.steady_lumbar_mcg_per_ml(input_mcg_per_h),
            self.cisternal_rate_per_h,
            self.cisternal_gain_ratio,
        )

    def effect_curve(self, state: CsfState, input_mcg_per_h: float) -> TwoExponentials:
        """Ce(t) under constant input from ``state``."""
        return self._follower(
            state.effect_site_mcg_per_ml,
            state.lumbar_mcg_per_ml,
            self.steady_lumbar_mcg_per_ml(input_mcg_per_h),
            self.effect_rate_per_h,
            1.0,
        )

    def propagate(self, state: CsfState, input_mcg_per_h: float, t_h: float) -> CsfState:
        """The exact state ``t_h`` hours later under constant input (no steps)."""
        if t_h <= 0:
            return state
        steady = self.steady_lumbar_mcg_per_ml(input_mcg_per_h)
        decay_k = math.exp(-self.k_per_h * t_h)
        lumbar = steady + (state.lumbar_mcg_per_ml - steady) * decay_k

        def follow(start: float, rate: float, gain: float) -> float:
            b = gain * rate * (state.lumbar_mcg_per_ml - steady) / (rate - self.k_per_h)
            target = gain * steady
            return target + b * decay_k + (start - target - b) * math.exp(-rate * t_h)

        return CsfState(
            lumbar,
            follow(
                state.cisternal_mcg_per_ml, self.cisternal_rate_per_h, self.cisternal_gain_ratio
            ),
            follow(state.effect_site_mcg_per_ml, self.effect_rate_per_h, 1.0),
        )

    def rates(self, state: CsfState, input_mcg_per_h: float) -> CsfState:
        """The right-hand side of the ODE (mcg/mL per hour): for checks and the test RK4."""
        return CsfState(
            input_mcg_per_h / self.volume_ml - self.k_per_h * state.lumbar_mcg_per_ml,
            self.cisternal_rate_per_h
            * (self.cisternal_gain_ratio * state.lumbar_mcg_per_ml - state.cisternal_mcg_per_ml),
            self.effect_rate_per_h * (state.lumbar_mcg_per_ml - state.effect_site_mcg_per_ml),
        )
