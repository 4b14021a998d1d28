"""The wire's units and how people read them: ng shown as mcg, nL as mL, days of seconds.

Why: every dose, volume and time on the wire is an integer of nanograms, nanolitres or seconds
(rates per day), and every reader - the programmer's screens and JSON, the simulator's reports,
the docs - shows them as micrograms, millilitres and days.  The conversions are written once here,
where the firmware, the simulator and the programmer may all import them (the programmer may
import nothing else of the pump's code).  Pure functions, no I/O.
"""

from __future__ import annotations

from decimal import Decimal

#: Nanograms in a microgram, nanolitres in a millilitre, seconds in a day.
NG_PER_MCG = 1_000
NL_PER_ML = 1_000_000
DAY_S = 86_400


def mcg(ng: int, places: int = 3) -> float:
    """Nanograms as micrograms, rounded to ``places`` decimals (reports and JSON documents)."""
    return round(ng / NG_PER_MCG, places)


def ml(nl: int, places: int = 3) -> float:
    """Nanolitres as millilitres, rounded to ``places`` decimals (reports and JSON documents)."""
    return round(nl / NL_PER_ML, places)


def format_mcg(ng: int) -> str:
    """Nanograms as micrograms for people ("400 mcg", "12.5 mcg"), exact."""
    return f"{_trim(Decimal(ng) / NG_PER_MCG)} mcg"


def format_ml(nl: int) -> str:
    """Nanolitres as millilitres for people ("1.8 mL"), up to 3 decimals."""
    return f"{_trim((Decimal(nl) / NL_PER_ML).quantize(Decimal('0.001')))} mL"


def format_utc_offset(utc_offset_s: int) -> str:
    """A clinic's UTC offset (local time - UTC, seconds) for people: ``UTC+01:00``, ``UTC-05:00``
    (whole minutes, toward zero)."""
    sign = "-" if utc_offset_s < 0 else "+"
    minutes = abs(utc_offset_s) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _trim(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"
