"""Spasticity from the effect-site concentration: a sigmoid Emax model on the Ashworth scale.

Why: the clinic judges baclofen by muscle tone (Modified Ashworth Scale, 0-4) and spasms, not by
a concentration nobody measures.  The drug's fractional effect is

    E(Ce) = Ce^n / (EC50^n + Ce^n)                                   (0 <= E < 1)
    score  = clamp(baseline - max_reduction * E + rebound, 0, 4)     Modified Ashworth points
    spasms = baseline_spasms * (1 - E) * rebound_spasm_factor        spasms per hour

EC50 carries the per-patient sensitivity; the rebound terms come from the withdrawal stage
(``patient.withdrawal``).  The score is continuous (the clinical scale's 1+ sits at 1.5).  The
inverse, ``concentration_for_fall``, turns a clinical criterion ("a fall of one point") into an
effect-site level, so its onset and end are exact crossings of the closed-form solution.
"""

from __future__ import annotations

from patient.parameters import PatientParameters

ASHWORTH_MAX_POINTS = 4.0
#: The documented response criterion (simulator choice): the drug lowers the score by a point.
#: Used by the screening trial and for "time in the therapeutic range".
RESPONSE_FALL_POINTS = 1.0


def drug_effect_fraction(params: PatientParameters, effect_site_mcg_per_ml: float) -> float:
    """E(Ce), the fraction of the maximal drug effect, 0 for no drug."""
    if effect_site_mcg_per_ml <= 0:
        return 0.0
    ratio = float(
        (effect_site_mcg_per_ml / params.ec50_mcg_per_ml) ** params.hill_coefficient_unitless
    )
    return ratio / (1.0 + ratio)


def ashworth_points(
    params: PatientParameters, effect_site_mcg_per_ml: float, rebound_points: float = 0.0
) -> float:
    """The continuous Modified Ashworth score (0-4)."""
    fall = params.max_ashworth_reduction_points * drug_effect_fraction(
        params, effect_site_mcg_per_ml
    )
    score = params.baseline_ashworth_points - fall + rebound_points
    return min(ASHWORTH_MAX_POINTS, max(0.0, score))


def spasms_per_h(
    params: PatientParameters, effect_site_mcg_per_ml: float, rebound_ratio: float = 1.0
) -> float:
    """Spasm frequency per hour (Penn scale 3 is 1-10 per hour, 4 more than 10)."""
    remaining = 1.0 - drug_effect_fraction(params, effect_site_mcg_per_ml)
    return params.baseline_spasms_per_h * remaining * rebound_ratio


def concentration_for_fall(params: PatientParameters, fall_points: float) -> float | None:
    """The effect-site level at which the drug lowers the score by ``fall_points``.

    None if the patient's maximal reduction cannot reach that fall (a non-responder).
    """
    if fall_points <= 0:
        return 0.0
    if fall_points >= params.max_ashworth_reduction_points:
        return None
    fraction = fall_points / params.max_ashworth_reduction_points
    return float(
        params.ec50_mcg_per_ml
        * (fraction / (1.0 - fraction)) ** (1.0 / params.hill_coefficient_unitless)
    )
