"""Strict parsing of clinical quantities typed by a person, into the protocol's integers.

Why: the one published flex-dosing overdose was 60 mcg per *hour* typed where 60 mcg per *day* was
meant.  So every quantity must carry its unit, the unit must be the kind the field expects (a daily
dose is mass per day, not per hour), and absurd values are refused here, at the user's edge, with
a message that says what was expected.  Everything past this module is integers: nanograms,
nanolitres, seconds, millimetres, mcg/mL.

Rounding: a decimal input is converted exactly (``decimal.Decimal``) and must land on a whole
number of the target unit; "0.0000001mg" is refused rather than silently rounded.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from protocol.units import DAY_S

from .errors import UnitError

_NUMBER = r"(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
_QUANTITY = re.compile(_NUMBER + r"\s*(?P<unit>[a-zA-Zµμ/%]*(?:/[a-zA-Z]+)?)\s*$")

#: Mass units in nanograms.
_MASS_NG = {"ng": 1, "mcg": 1000, "ug": 1000, "µg": 1000, "μg": 1000, "mg": 1_000_000}
#: Volume units in nanolitres.
_VOLUME_NL = {"nl": 1, "ul": 1000, "µl": 1000, "μl": 1000, "ml": 1_000_000}
#: Durations in seconds.
_DURATION_S = {
    "s": 1,
    "sec": 1,
    "min": 60,
    "m": 60,
    "h": 3600,
    "hr": 3600,
    "d": DAY_S,
    "day": DAY_S,
    "days": DAY_S,
}
_LENGTH_MM = {"mm": 1, "cm": 10}
_PER_DAY = {"day", "d"}

MAX_DAILY_DOSE_NG = 20_000 * 1000  # 20 mg/day: far above any published intrathecal dose
MAX_BOLUS_NG = 5_000 * 1000
MAX_VOLUME_NL = 100 * 1_000_000  # 100 mL: no intrathecal reservoir is larger
MAX_CONCENTRATION_MCG_PER_ML = 10_000
MAX_DURATION_S = 366 * DAY_S
MAX_LENGTH_MM = 2_000


def _split(text: str, what: str, example: str) -> tuple[Decimal, str]:
    match = _QUANTITY.match(text.strip())
    if not match:
        raise UnitError(
            f"{what}: cannot read {text!r}; expected a number and a unit, e.g. {example}"
        )
    try:
        number = Decimal(match["num"])
    except InvalidOperation:  # pragma: no cover - the regex only admits valid decimals
        raise UnitError(f"{what}: {match['num']!r} is not a number") from None
    unit = match["unit"]
    if not unit:
        raise UnitError(f"{what}: {text!r} has no unit; write it with its unit, e.g. {example}")
    return number, unit


def _whole(value: Decimal, what: str, text: str, unit_name: str) -> int:
    if value != value.to_integral_value():
        raise UnitError(f"{what}: {text!r} is finer than {unit_name}, the smallest step")
    return int(value)


def _check_range(
    value: int, low: int, high: int, what: str, text: str, expected: str, *, zero_ok: bool = False
) -> int:
    if value < 0:
        raise UnitError(f"{what}: {text!r} is negative; expected {expected}")
    if value == 0 and not zero_ok:
        raise UnitError(f"{what}: {text!r} is zero; expected {expected}")
    if value < low and not (zero_ok and value == 0):
        raise UnitError(f"{what}: {text!r} is too small; expected {expected}")
    if value > high:
        raise UnitError(f"{what}: {text!r} is implausibly large; expected {expected}")
    return value


def _mass_ng(number: Decimal, mass_unit: str, what: str, text: str, example: str) -> Decimal:
    factor = _MASS_NG.get(mass_unit) or _MASS_NG.get(mass_unit.lower())
    if factor is None:
        raise UnitError(
            f"{what}: unknown mass unit {mass_unit!r} in {text!r}; use ng, mcg or mg, e.g. {example}"
        )
    return number * factor


def parse_daily_dose(text: str, *, zero_ok: bool = False) -> int:
    """A daily dose such as "400mcg/day" or "0.4mg/day", in nanograms per day.

    Refuses any other time base ("400mcg/h" is the classic tenfold-to-24-fold error) and a dose
    above 20 000 mcg/day.
    """
    what, example = "daily dose", "400mcg/day"
    number, unit = _split(text, what, example)
    mass_unit, _, per = unit.partition("/")
    if not per:
        raise UnitError(
            f"{what}: {text!r} has no time base; a daily dose is mass per day, e.g. {example}"
        )
    if per.lower() not in _PER_DAY:
        raise UnitError(
            f"{what}: {text!r} is per {per}, but a daily dose must be given per day "
            f"(e.g. {example}); refusing rather than converting, to avoid a per-hour/per-day mix-up"
        )
    ng = _whole(_mass_ng(number, mass_unit, what, text, example), what, text, "0.001 mcg/day")
    expected = f"a dose between 0 and {MAX_DAILY_DOSE_NG // 1000} mcg/day, e.g. {example}"
    return _check_range(ng, 1, MAX_DAILY_DOSE_NG, what, text, expected, zero_ok=zero_ok)


def parse_dose(text: str, what: str = "bolus dose") -> int:
    """A single dose such as "50mcg" or "0.05mg", in nanograms."""
    example = "50mcg"
    number, unit = _split(text, what, example)
    if "/" in unit:
        raise UnitError(f"{what}: {text!r} is a rate; a bolus dose is a mass, e.g. {example}")
    ng = _whole(_mass_ng(number, unit, what, text, example), what, text, "0.001 mcg")
    expected = f"a dose above 0 and at most {MAX_BOLUS_NG // 1000} mcg, e.g. {example}"
    return _check_range(ng, 1, MAX_BOLUS_NG, what, text, expected)


def parse_volume(text: str, what: str = "volume", *, zero_ok: bool = False) -> int:
    """A volume such as "20mL", "1.8mL" or "500uL", in nanolitres (at most 100 mL)."""
    example = "20mL"
    number, unit = _split(text, what, example)
    factor = _VOLUME_NL.get(unit.lower())
    if factor is None:
        raise UnitError(f"{what}: unknown volume unit in {text!r}; use mL or uL, e.g. {example}")
    nl = _whole(number * factor, what, text, "0.000001 mL")
    expected = f"a volume {'from 0' if zero_ok else 'above 0'} up to 100 mL, e.g. {example}"
    return _check_range(nl, 1, MAX_VOLUME_NL, what, text, expected, zero_ok=zero_ok)


def parse_concentration(text: str) -> int:
    """A drug concentration such as "500mcg/mL" or "2mg/mL", in whole mcg/mL."""
    what, example = "concentration", "500mcg/mL"
    number, unit = _split(text, what, example)
    mass_unit, _, per = unit.partition("/")
    if per.lower() != "ml":
        raise UnitError(f"{what}: {text!r} must be mass per mL, e.g. {example}")
    mcg = _mass_ng(number, mass_unit, what, text, example) / 1000
    value = _whole(mcg, what, text, "mcg/mL")
    expected = (
        f"a concentration above 0 up to {MAX_CONCENTRATION_MCG_PER_ML} mcg/mL, e.g. {example}"
    )
    return _check_range(value, 1, MAX_CONCENTRATION_MCG_PER_ML, what, text, expected)


def parse_duration(text: str, what: str = "duration", *, zero_ok: bool = False) -> int:
    """A duration such as "90s", "30min", "1h" or "2d", in seconds."""
    example = "30min"
    number, unit = _split(text, what, example)
    factor = _DURATION_S.get(unit.lower())
    if factor is None:
        raise UnitError(
            f"{what}: unknown time unit in {text!r}; use s, min, h or d, e.g. {example}"
        )
    seconds = _whole(number * factor, what, text, "second")
    expected = f"a duration {'from 0' if zero_ok else 'above 0'} up to 366 days, e.g. {example}"
    return _check_range(seconds, 1, MAX_DURATION_S, what, text, expected, zero_ok=zero_ok)


def parse_length(text: str, what: str = "catheter length") -> int:
    """A length such as "60cm" or "600mm", in millimetres."""
    example = "60cm"
    number, unit = _split(text, what, example)
    factor = _LENGTH_MM.get(unit.lower())
    if factor is None:
        raise UnitError(f"{what}: unknown length unit in {text!r}; use cm or mm, e.g. {example}")
    mm = _whole(number * factor, what, text, "mm")
    expected = f"a length above 0 up to {MAX_LENGTH_MM // 10} cm, e.g. {example}"
    return _check_range(mm, 1, MAX_LENGTH_MM, what, text, expected)


def parse_time_of_day(text: str) -> int:
    """A wall-clock time "HH:MM" (24 h), in minutes after midnight."""
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", text)
    if not match:
        raise UnitError(f"time of day: cannot read {text!r}; expected HH:MM, e.g. 07:00")
    hours, minutes = int(match[1]), int(match[2])
    if hours > 23 or minutes > 59:
        raise UnitError(f"time of day: {text!r} is not a time between 00:00 and 23:59")
    return hours * 60 + minutes


def format_duration(seconds: int) -> str:
    """Seconds for people ("1 h 30 min", "45 s")."""
    if seconds == 0:
        return "0 s"
    parts = []
    for size, name in ((DAY_S, "d"), (3600, "h"), (60, "min"), (1, "s")):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {name}")
    return " ".join(parts)
