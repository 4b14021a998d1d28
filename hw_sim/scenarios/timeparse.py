"""Parse the times and durations people write in scenarios: ``"30d"``, ``"1d12h"``, ``"2026-03-01T09:00"``.

Why: scenario files are written by hand; times must be unambiguous and exact integers.  Units:
``s`` seconds, ``m`` or ``min`` minutes, ``h`` hours, ``d`` days, ``w`` weeks, ``y`` years of
365 days (a calendar-free unit: ``"7y"`` is 2,555 days).  Dates are UTC; a trailing ``Z`` is
allowed, other offsets are refused.
"""

from __future__ import annotations

import datetime as dt
import re

from protocol.units import DAY_S as DAY_S  # the simulator's modules read it here

#: 2026-01-05T00:00:00Z, a Monday: the default start of a scenario.
DEFAULT_START_TIME = 1_767_571_200
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3_600, "d": DAY_S, "w": 7 * DAY_S, "y": 365 * DAY_S}
_PART = re.compile(r"(\d+)(min|s|m|h|d|w|y)")


def parse_duration(text: str | int) -> int:
    """``"1d12h"`` -> 129600.  A bare integer means seconds."""
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"duration must not be negative: {text}")
        return text
    compact = text.strip().replace(" ", "")
    if compact.isdigit():
        return int(compact)
    total, pos = 0, 0
    for match in _PART.finditer(compact):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(compact) or not compact:
        raise ValueError(f"not a duration: {text!r} (expected e.g. 90s, 30m, 12h, 72d, 1d12h)")
    return total


def parse_datetime(text: str) -> int:
    """``"2026-03-01T09:00"`` or ``"2026-03-01"`` (UTC) -> Unix seconds."""
    raw = text.strip()
    if raw.endswith("Z"):
        raw = raw[:-1]
    try:
        parsed = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"not a date/time: {text!r} (expected e.g. 2026-03-01T09:00)") from None
    if parsed.tzinfo is not None:
        raise ValueError(f"give times in UTC without an offset: {text!r}")
    return int(parsed.replace(tzinfo=dt.UTC).timestamp())


def looks_like_datetime(text: str) -> bool:
    return bool(re.match(r"^\d{4}-\d{2}-\d{2}", text.strip()))


def parse_instant(text: str | int, start: int) -> int:
    """A scenario ``at``: a duration after ``start`` or an absolute UTC date/time."""
    if isinstance(text, str) and looks_like_datetime(text):
        return parse_datetime(text)
    return start + parse_duration(text)


def format_datetime(t: int) -> str:
    """Unix seconds -> ``2026-01-05T00:00:00Z``."""
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_clock(text: str) -> int:
    """``"07:30"`` -> minute of the day 450."""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ValueError(f"not a time of day: {text!r} (expected HH:MM)")
    return int(match.group(1)) * 60 + int(match.group(2))
