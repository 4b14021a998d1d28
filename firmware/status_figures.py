"""Figures STATUS reports that the pump computes for the status screen: the week's day totals,
the patient's bolus use in the last 24 hours, and whether drug reaches the patient now.

Why: the programmer shows what the pump says and computes no clinical number itself, so every
figure of the status screen is the pump's: a flex week is shown with the day totals the pump
delivers, an empty reservoir shows that nothing is delivered (the motor may still turn at the
safe minimum, pushing no drug), and the patient-bolus use is the pump's own count over the same
sliding 24 h window its daily maximum is checked against (refusals: the PATIENT_BOLUS_REFUSED
records of the therapy log in that window, so no counter needs room in NVM).  Pure functions of the engine's state,
integers only.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware.prescription import BasalProgram, Continuous, Flex, PatientBolusConfig
from firmware.schedule import day_total_ng
from firmware.units import DAY_S


def week_day_totals_ng(program: BasalProgram) -> tuple[int, ...]:
    """Basal drug per day, Monday first, as programmed (ng; a flex day's steps integrated,
    rounded down); all 0 when no basal program is in force."""
    if isinstance(program, Continuous):
        return (program.daily_dose_ng,) * 7
    if isinstance(program, Flex):
        return tuple(day_total_ng(program.day_programs[i]) for i in program.weekday_program)
    return (0,) * 7


@dataclass(frozen=True, slots=True)
class PatientBolusUse:
    given: int  # granted in the last 24 h
    refused: int  # refused in the last 24 h
    left: int  # still allowed in the last-24-h window (the daily maximum minus given)
    lockout_end: int | None  # board time the lockout after the last grant ends; None: none runs


def patient_bolus_use(
    cfg: PatientBolusConfig, grants: list[int], refused: int, now: int
) -> PatientBolusUse:
    """The patient's bolus use at board time ``now`` from the pump's grant times (board times),
    over the sliding 24 h the daily maximum is checked against; ``refused``: the refusals the
    therapy log holds for the same 24 h."""
    given = sum(1 for g in grants if g > now - DAY_S)
    lockout_end = None
    if grants and cfg.enabled and now < grants[-1] + cfg.lockout_s:
        lockout_end = grants[-1] + cfg.lockout_s
    left = max(0, cfg.max_per_day - given) if cfg.enabled else 0
    return PatientBolusUse(given, refused, left, lockout_end)
