"""One patient's parameters, every one with its unit in its name.

Why: simglucose's users most often asked where a parameter came from and in which unit.  Here
the unit is part of the name (``_h`` hours, ``_per_h``, ``_ml``, ``_ml_per_h``, ``_mcg_per_ml``,
``_points`` on the Modified Ashworth Scale, ``_ratio`` and ``_unitless`` for pure numbers) and
the source sits beside each value in the profile TOML (``patient/profiles``).  This module only
holds the numbers and the few rates derived from them; it checks the relations the model needs
(a threshold below the drug's EC50, drowsiness below respiratory depression, ...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields


class ParameterError(ValueError):
    """A parameter set that the model cannot use; the message names the parameter."""


@dataclass(frozen=True, slots=True)
class PatientParameters:
    """The numbers of one virtual patient (see docs/PATIENT.md for each one's source)."""

    # pharmacokinetics: lumbar CSF, the cisternal end, the effect site
    csf_half_life_h: float
    csf_clearance_ml_per_h: float
    lumbar_distribution_volume_max_ml: float
    lumbar_to_cisternal_ratio: float
    cisternal_equilibration_half_life_h: float
    effect_site_equilibration_half_life_h: float
    # effect: Modified Ashworth score and spasm frequency
    baseline_ashworth_points: float
    max_ashworth_reduction_points: float
    ec50_mcg_per_ml: float
    hill_coefficient_unitless: float
    baseline_spasms_per_h: float
    # withdrawal
    withdrawal_threshold_ec50_ratio: float
    dependence_after_h: float
    withdrawal_early_after_h: float
    withdrawal_moderate_after_early_h: float
    withdrawal_severe_after_early_h: float
    withdrawal_recovery_rate_ratio: float
    rebound_ashworth_points: float
    rebound_spasm_ratio: float
    # overdose, read at the cisternal (brain) end
    drowsiness_cisternal_mcg_per_ml: float
    respiratory_depression_cisternal_mcg_per_ml: float

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ParameterError(f"{field.name} must be a finite number >= 0, got {value!r}")
        positive = (
            "csf_half_life_h",
            "csf_clearance_ml_per_h",
            "lumbar_to_cisternal_ratio",
            "cisternal_equilibration_half_life_h",
            "effect_site_equilibration_half_life_h",
            "ec50_mcg_per_ml",
            "hill_coefficient_unitless",
            "withdrawal_early_after_h",
            "withdrawal_recovery_rate_ratio",
            "drowsiness_cisternal_mcg_per_ml",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ParameterError(f"{name} must be > 0")
        if not self.baseline_ashworth_points <= 4:
            raise ParameterError("baseline_ashworth_points must be within the scale, 0-4")
        if self.max_ashworth_reduction_points > self.baseline_ashworth_points:
            raise ParameterError("max_ashworth_reduction_points exceeds baseline_ashworth_points")
        if not 0 < self.withdrawal_threshold_ec50_ratio < 1:
            raise ParameterError("withdrawal_threshold_ec50_ratio must be between 0 and 1")
        if self.withdrawal_severe_after_early_h <= self.withdrawal_moderate_after_early_h:
            raise ParameterError(
                "withdrawal_severe_after_early_h must exceed withdrawal_moderate_after_early_h"
            )
        if self.respiratory_depression_cisternal_mcg_per_ml <= self.drowsiness_cisternal_mcg_per_ml:
            raise ParameterError(
                "respiratory_depression_cisternal_mcg_per_ml must exceed "
                "drowsiness_cisternal_mcg_per_ml"
            )
        if self.lumbar_distribution_volume_ml > self.lumbar_distribution_volume_max_ml:
            raise ParameterError(
                f"half-life and clearance give a distribution volume of "
                f"{self.lumbar_distribution_volume_ml:.1f} mL, above "
                f"lumbar_distribution_volume_max_ml ({self.lumbar_distribution_volume_max_ml} mL)"
            )

    # -- derived ---------------------------------------------------------------------------
    @property
    def csf_elimination_rate_per_h(self) -> float:
        """k = ln 2 / t1/2, the lumbar CSF's first-order elimination rate."""
        return math.log(2) / self.csf_half_life_h

    @property
    def lumbar_distribution_volume_ml(self) -> float:
        """V = CL / k: the apparent volume the lumbar bolus dissolves in."""
        return self.csf_clearance_ml_per_h / self.csf_elimination_rate_per_h

    @property
    def cisternal_rate_per_h(self) -> float:
        """Equilibration rate of the cisternal end with its share of the lumbar concentration."""
        return math.log(2) / self.cisternal_equilibration_half_life_h

    @property
    def effect_site_rate_per_h(self) -> float:
        """ke0, the effect compartment's equilibration rate."""
        return math.log(2) / self.effect_site_equilibration_half_life_h

    @property
    def withdrawal_threshold_mcg_per_ml(self) -> float:
        """Effect-site concentration below which a dependent patient's withdrawal clock runs."""
        return self.withdrawal_threshold_ec50_ratio * self.ec50_mcg_per_ml
