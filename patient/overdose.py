"""Overdose: drowsiness, then respiratory depression, read at the cisternal (brain) end.

Why: intrathecal baclofen's overdose signs are supraspinal - drowsiness progressing to coma and
respiratory depression (label) - so they follow the concentration that reaches the cisterna, not
the lumbar one that relaxes the legs.  Two levels per patient (simulator choices, no public
figure): at or above ``drowsiness_cisternal_mcg_per_ml`` drowsiness, at or above
``respiratory_depression_cisternal_mcg_per_ml`` respiratory depression.  A unit mix-up of
60 mcg per hour for 60 mcg per day crosses the first; a large bolus crosses the second.
"""

from __future__ import annotations

from enum import IntEnum

from patient.parameters import PatientParameters


class OverdoseLevel(IntEnum):
    """Overdose signs in order of severity."""

    NONE = 0
    DROWSINESS = 1
    RESPIRATORY_DEPRESSION = 2


def overdose_levels_mcg_per_ml(params: PatientParameters) -> tuple[float, float]:
    """Cisternal concentrations at which drowsiness and respiratory depression begin."""
    return (
        params.drowsiness_cisternal_mcg_per_ml,
        params.respiratory_depression_cisternal_mcg_per_ml,
    )


def overdose_level(params: PatientParameters, cisternal_mcg_per_ml: float) -> OverdoseLevel:
    """The overdose level for a cisternal concentration."""
    return OverdoseLevel(
        sum(1 for level in overdose_levels_mcg_per_ml(params) if cisternal_mcg_per_ml >= level)
    )
