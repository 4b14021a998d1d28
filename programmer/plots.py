"""Pictures from what the programmer downloads: a live pump's therapy log, the flex week.

Why: the clinic sees a pump through its logs; a timeline of daily totals, refills and therapy
changes is read at a glance.  matplotlib is the optional ``pictures`` extra, imported lazily
inside the drawing functions (``pumpctl`` starts without it); figures use the Agg canvas, no
display.  The series functions are pure and the drawing functions return what they plotted, so
tests check data, not pixels.  (hw_sim.studies.plots draws the simulated world; the programmer may not
import hw_sim, hence this module.)
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from protocol.units import DAY_S

from .errors import UsageError
from .therapy import WEEKDAYS

FIG_DPI = 100
LOG_SIZE_IN = (11.0, 6.0)
FLEX_SIZE_IN = (11.0, 3.8)

#: Therapy-log events drawn as marks on the event row, and their labels.
MARKED_EVENTS = {
    "therapy_changed": "change",
    "refill": "refill",
    "pump_stopped": "stopped",
    "pump_resumed": "resumed",
    "bolus_started": "bolus",
    "reset": "reset",
    "safe_minimum_entered": "safe minimum",
    "clock_changed": "clock",
}


def new_figure(width_in: float, height_in: float) -> Any:
    """An Agg figure (no display); a clear usage error when matplotlib is missing."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - the extra is installed by make venv
        raise UsageError(
            "--plot needs matplotlib: pip install 'intrathecal-pump[pictures]'"
        ) from None
    fig = Figure(figsize=(width_in, height_in), dpi=FIG_DPI)
    FigureCanvasAgg(fig)
    return fig


def axes_data(fig: Any) -> list[dict[str, Any]]:
    """What the figure's axes really hold: per axes its y label and every line's label and data,
    read back from matplotlib's Line2D objects (tests compare these with the source series)."""
    found = []
    for ax in fig.get_axes():
        lines = [
            {
                "label": str(line.get_label()),
                "x": [float(v) for v in line.get_xdata()],
                "y": [float(v) for v in line.get_ydata()],
            }
            for line in ax.get_lines()
            if not str(line.get_label()).startswith("_")  # matplotlib's unnamed helpers
        ]
        found.append({"ylabel": str(ax.get_ylabel()), "lines": lines})
    return found


def save(fig: Any, path: str | Path) -> None:
    fig.savefig(str(path), format="png", dpi=FIG_DPI, metadata={"Software": None})


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


# ---------------------------------------------------------------------- therapy log
def therapy_series(documents: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The series of a therapy log (``record_document`` dicts, as ``log therapy --out`` writes).

    Times are days since the first record.  ``daily``: the DAILY_TOTAL records (delivered and
    programmed mcg of the day that ended at the record); ``refills``: added and discrepancy mL;
    ``changes``: THERAPY_CHANGED with the new daily dose (continuous, flex, stopped); ``events``:
    every marked event by kind.  Records that fail their check are left out and counted.
    """
    good = [d for d in documents if d.get("check_ok", True)]
    start_iso = good[0]["time"] if good else None
    start = _seconds(start_iso) if start_iso else 0.0

    def day(doc: Mapping[str, Any]) -> float:
        return round((_seconds(doc["time"]) - start) / DAY_S, 4)

    daily = [d for d in good if d["event"] == "daily_total"]
    refills = [d for d in good if d["event"] == "refill"]
    changes = [
        d for d in good if d["event"] == "therapy_changed" and "daily_dose_mcg" in d["decoded"]
    ]
    events: dict[str, list[float]] = {}
    for doc in good:
        if doc["event"] in MARKED_EVENTS:
            events.setdefault(doc["event"], []).append(day(doc))
    return {
        "start": start_iso,
        "records": len(documents),
        "bad_checks": len(documents) - len(good),
        "daily": {
            "day": [day(d) for d in daily],
            "delivered_mcg": [d["decoded"]["delivered_mcg"] for d in daily],
            "programmed_mcg": [d["decoded"]["programmed_mcg"] for d in daily],
        },
        "refills": {
            "day": [day(d) for d in refills],
            "added_ml": [d["decoded"]["added_ml"] for d in refills],
            "discrepancy_ml": [d["decoded"]["discrepancy_ml"] for d in refills],
        },
        "changes": {
            "day": [day(d) for d in changes],
            "change": [d["decoded"]["change"] for d in changes],
            "daily_dose_mcg": [d["decoded"]["daily_dose_mcg"] for d in changes],
        },
        "events": events,
    }


def plot_therapy_log(
    series: Mapping[str, Any], path: str | Path, title: str = ""
) -> dict[str, Any]:
    """Draw ``therapy_series``: daily totals (refills and changes marked), the event rows."""
    fig = new_figure(*LOG_SIZE_IN)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.4]})
    fig.suptitle(f"Therapy log{': ' + title if title else ''} (from {series['start'] or '-'})")
    daily, changes = series["daily"], series["changes"]
    top.step(daily["day"], daily["programmed_mcg"], where="pre", label="programmed", lw=1.2)
    top.step(daily["day"], daily["delivered_mcg"], where="pre", label="delivered", lw=0.8)
    top.plot(
        changes["day"],
        changes["daily_dose_mcg"],
        "D",
        ms=4,
        color="tab:purple",
        label="therapy change (new dose)",
    )
    for d in series["refills"]["day"]:
        top.axvline(d, color="tab:green", lw=0.6, alpha=0.6)
    top.set_ylabel("mcg/day")
    top.set_ylim(bottom=0)
    top.legend(loc="lower right", fontsize=8)
    kinds = [k for k in MARKED_EVENTS if k in series["events"]]
    for row, kind in enumerate(kinds):
        days = series["events"][kind]
        bottom.plot(days, [row] * len(days), "|", ms=9, mew=1.5)
    bottom.set_yticks(range(len(kinds)), [MARKED_EVENTS[k] for k in kinds], fontsize=7)
    bottom.set_ylim(-0.8, max(len(kinds), 1) - 0.2)
    bottom.set_xlabel("days since the first record")
    fig.tight_layout()
    save(fig, path)
    return {
        "kind": "therapy_log",
        "size_px": [round(d * FIG_DPI) for d in fig.get_size_inches()],
        "axes": axes_data(fig),
        "event_rows": kinds,
        **{k: series[k] for k in ("daily", "refills", "changes")},
    }


# ---------------------------------------------------------------------- flex week
def plot_flex_week(
    grid: Sequence[Sequence[float]], path: str | Path, title: str = ""
) -> dict[str, Any]:
    """The 7 x 24 grid of ``programmer.flex_grid.week_grid`` as a heat map with its values."""
    fig = new_figure(*FLEX_SIZE_IN)
    ax = fig.subplots(1, 1)
    image = ax.imshow(grid, aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_yticks(range(7), list(WEEKDAYS))
    ax.set_xticks(range(24), [str(h) for h in range(24)], fontsize=7)
    ax.set_xlabel("hour of the day (pump time)")
    heading = "Flex week, dose rate mcg/day" + (
        "\n" + "\n".join(textwrap.wrap(title, 120)) if title else ""
    )
    ax.set_title(heading, fontsize=8)
    values = [v for row in grid for v in row]
    middle = (min(values) + max(values)) / 2 if values else 0.0
    for y, row in enumerate(grid):
        for x, value in enumerate(row):
            colour = "black" if value > middle else "white"  # readable on viridis
            ax.text(x, y, f"{value:.0f}", ha="center", va="center", fontsize=5, color=colour)
    fig.colorbar(image, ax=ax, label="mcg/day")
    fig.tight_layout()
    save(fig, path)
    return {
        "kind": "flex_week",
        "size_px": [round(d * FIG_DPI) for d in fig.get_size_inches()],
        "image": [[float(v) for v in row] for row in ax.images[0].get_array()],
        "grid": [list(row) for row in grid],
    }


def check_plot_path(path: Path) -> None:
    """Refuse a ``--plot FILE`` that cannot be written, before anything talks to the pump."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"--plot {path} is a directory; give a file name, e.g. {path}/plot.png")
    if not parent.is_dir():
        raise UsageError(f"--plot {path}: the directory {parent} does not exist")
    if path.suffix.lower() != ".png":
        raise UsageError(f"--plot {path}: give a .png file name")
