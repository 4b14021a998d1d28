"""The flex week as a 7 x 24 grid of the programmed dose rate: data, and text for terminals.

Why: a flex schedule is up to 13 steps per day program and a weekday mapping; what a clinician
checks is the week.  ``week_grid`` turns a FLEX therapy change (the ``program flex`` change, or
READ_PRESCRIPTION's therapy) into 7 rows (Monday first) of 24 hourly cells, each the time-weighted
mean dose rate of that hour in mcg/day (exact for steps on the hour).  ``grid_text`` is the compact
terminal form the Finish view shows; ``programmer.plots.plot_flex_week`` draws the same grid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .therapy import WEEKDAYS

LEVELS = "0123456789"


def day_rates(steps: Sequence[Mapping[str, int]]) -> list[float]:
    """24 hourly mean dose rates (mcg/day) of one day program (steps sorted, first at 00:00)."""
    ordered = sorted(steps, key=lambda s: int(s["start_minute"]))
    minute_dose = [0] * (24 * 60)
    for i, step in enumerate(ordered):
        start = int(step["start_minute"])
        end = int(ordered[i + 1]["start_minute"]) if i + 1 < len(ordered) else 24 * 60
        for minute in range(start, end):
            minute_dose[minute] = int(step["daily_dose_ng"])
    return [sum(minute_dose[h * 60 : (h + 1) * 60]) / 60 / 1000 for h in range(24)]


def week_grid(change: Mapping[str, Any]) -> list[list[float]]:
    """7 x 24 hourly dose rates in mcg/day, Monday first, of a FLEX change."""
    params = change["params"]
    programs = [day_rates(p) for p in params["day_programs"]]
    return [list(programs[int(index)]) for index in params["weekday_program"]]


def _legend_values(grid: Sequence[Sequence[float]]) -> tuple[list[float], bool]:
    """The values the digits stand for: the distinct rates when at most 10, else 10 even levels."""
    distinct = sorted({v for row in grid for v in row})
    if len(distinct) <= len(LEVELS):
        return distinct, True
    low, high = distinct[0], distinct[-1]
    step = (high - low) / (len(LEVELS) - 1)
    return [low + i * step for i in range(len(LEVELS))], False


def _symbol(value: float, legend: Sequence[float], exact: bool) -> str:
    if exact:
        return LEVELS[legend.index(value)]
    nearest = min(range(len(legend)), key=lambda i: abs(legend[i] - value))
    return LEVELS[nearest]


def grid_text(grid: Sequence[Sequence[float]]) -> list[str]:
    """The week as lines: a header of hours, one row of 24 digits per weekday, and a legend."""
    legend, exact = _legend_values(grid)
    lines = ["  hour 0     6     12    18"]
    for day, row in zip(WEEKDAYS, grid, strict=True):
        lines.append(f"  {day}  " + "".join(_symbol(v, legend, exact) for v in row))
    what = "" if exact else " (nearest of 10 even levels)"
    lines.append(
        "  "
        + "  ".join(f"{LEVELS[i]}={round(v, 1):g}" for i, v in enumerate(legend))
        + f" mcg/day{what}"
    )
    return lines
