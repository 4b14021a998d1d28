"""The pump's words for people: doses in mcg, volumes in mL, times in min and h.

Why: a refusal's reason text travels to the programmer, which shows it as it is, so the pump must
speak the clinic's units (mcg, mL, mcg/day, mL/day, min, h), never its own integers (ng, nL, s).
Integer arithmetic only (the firmware has no floats): values are shown exactly, trailing zeros
dropped, and volumes to the microlitre (0.001 mL), rounded down like every firmware conversion.
"""

from __future__ import annotations

from protocol.units import format_mcg


def _decimal(value: int, scale: int, places: int) -> str:
    """``value / scale`` with at most ``places`` decimals (rounded toward zero), trimmed."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    step = scale // 10**places
    whole, rest = divmod(value // step, 10**places)
    text = f"{whole}.{rest:0{places}d}".rstrip("0").rstrip(".") if places else str(whole)
    return sign + text


#: Nanograms as micrograms, exact: 12_500 -> "12.5 mcg" (the wire's own formatting).
mcg = format_mcg


def mcg_per_day(ng_per_day: int) -> str:
    return f"{mcg(ng_per_day)}/day"


def ml(nl: int) -> str:
    """Nanolitres as millilitres to the microlitre: 296_000 -> "0.296 mL"."""
    return f"{_decimal(nl, 1_000_000, 3)} mL"


def ml_per_day(nl_per_day: int) -> str:
    return f"{_decimal(nl_per_day, 1_000_000, 3)} mL/day"


def cm(mm: int) -> str:
    """Millimetres as centimetres to the millimetre: 605 -> "60.5 cm"."""
    return f"{_decimal(mm, 10, 1)} cm"


def percent(permille: int) -> str:
    """A change in tenths of a per cent, signed: 333 -> "+33.3 %"."""
    sign = "+" if permille >= 0 else "-"
    return f"{sign}{_decimal(abs(permille), 10, 1)} %"


def duration(seconds: int) -> str:
    """A duration in h and min: 1_800 -> "30 min", 5_400 -> "1 h 30 min"; seconds appear only
    where the duration is not a whole minute ("17 min 46 s")."""
    hours, rest = divmod(max(0, seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours} h")
    if minutes:
        parts.append(f"{minutes} min")
    if secs or not parts:
        parts.append(f"{secs} s")
    return " ".join(parts)


def clock(minute_of_day: int) -> str:
    """A minute of the day as HH:MM."""
    return f"{minute_of_day // 60:02d}:{minute_of_day % 60:02d}"
