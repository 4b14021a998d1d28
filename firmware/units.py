"""Unit conversions for dosing: the one place where nanograms, nanolitres and days meet.

Why: every dose and volume in the firmware is an integer (nL, ng, s, mcg/mL).  Converting
between mass and volume loses a fraction; doing it in one module makes the rounding direction
explicit and testable.  All conversions round DOWN (toward less drug): a programmed rate is never
above what the clinician asked for, by less than 1 nL/day.
"""

from __future__ import annotations

from protocol.units import DAY_S as DAY_S  # the firmware's modules read it here

WEEK_S = 7 * DAY_S
#: The Unix epoch (day 0) was a Thursday; with Monday = 0 that is weekday 3.
EPOCH_WEEKDAY = 3
#: Largest value of a u32 log time stamp (pump time must fit it).
MAX_PUMP_TIME = 0xFFFF_FFFF


def mass_ng_for_volume(volume_nl: int, concentration_mcg_per_ml: int) -> int:
    """Drug mass in a volume: 1 nL at 1 mcg/mL holds 1/1000 ng (rounded down)."""
    return volume_nl * concentration_mcg_per_ml // 1000


def volume_nl_for_mass(mass_ng: int, concentration_mcg_per_ml: int) -> int:
    """Volume holding a drug mass (rounded down: never more drug than asked for)."""
    return mass_ng * 1000 // concentration_mcg_per_ml


def rate_nl_per_day(daily_dose_ng: int, concentration_mcg_per_ml: int) -> int:
    """Flow that delivers ``daily_dose_ng`` per day at the given concentration (rounded down)."""
    return volume_nl_for_mass(daily_dose_ng, concentration_mcg_per_ml)


def weekday(pump_time: int) -> int:
    """Day of the week of a pump time (seconds since the epoch): Monday = 0 .. Sunday = 6."""
    return (pump_time // DAY_S + EPOCH_WEEKDAY) % 7


def start_of_day(pump_time: int) -> int:
    """The midnight that starts the day containing a time (local time for flex and daily totals)."""
    return pump_time - pump_time % DAY_S


def ceil_div(numerator: int, denominator: int) -> int:
    """Integer division rounding up (denominator > 0)."""
    return -(-numerator // denominator)
