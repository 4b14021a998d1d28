"""Pictures of the simulated world: therapy timeline, trumpet curve, population histograms.

Why: engineers would rather look than read.  matplotlib is an optional extra (``pip install
'intrathecal-pump[pictures]'``) imported lazily inside each function, so ``vpump`` starts without
it and a missing extra is a clear message.  Figures are drawn with ``matplotlib.figure.Figure``
and the Agg canvas: no display, no pyplot global state.  Each function returns the series it
plotted (JSON-ready), so tests and ``make pictures`` sidecars check data, not pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

FIG_DPI = 100
TIMELINE_SIZE_IN = (11.0, 9.0)
TRUMPET_SIZE_IN = (11.0, 4.5)
HISTOGRAM_SIZE_IN = (11.0, 3.5)


class PlotsUnavailable(RuntimeError):
    """matplotlib is not installed."""


def plot_path_problem(path: str | Path) -> str | None:
    """Why ``--plot PATH`` cannot be written (checked before any work), or None."""
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        return f"--plot {target} is a directory; give a file name, e.g. {target}/plot.png"
    if not parent.is_dir():
        return f"--plot {target}: the directory {parent} does not exist"
    if target.suffix.lower() != ".png":
        return f"--plot {target}: give a .png file name"
    return None


def new_figure(width_in: float, height_in: float) -> Any:
    """An Agg figure of ``width_in x height_in`` inches at ``FIG_DPI`` (no display needed)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - the extra is installed by make venv
        raise PlotsUnavailable(
            "plots need matplotlib: pip install 'intrathecal-pump[pictures]'"
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
    """Write ``fig`` as PNG (metadata without the matplotlib version or a date: stable bytes)."""
    fig.savefig(str(path), format="png", dpi=FIG_DPI, metadata={"Software": None})


# ---------------------------------------------------------------------- therapy timeline
def plot_timeline(series: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """Draw ``hw_sim.scenarios.timeline.run_timeline``'s series to ``path``; returns what was plotted.

    Panels: daily dose programmed vs delivered (refills as vertical lines), reservoir estimate vs
    truth, alarms (critical in red) and tones as marks on their own rows, battery (pump gauge
    and bench truth), and, when the scenario has a patient, lumbar CSF concentration, Ashworth
    score and withdrawal stage.
    """
    patient = series.get("patient")
    rows = 5 if patient else 4
    fig = new_figure(TIMELINE_SIZE_IN[0], TIMELINE_SIZE_IN[1] if patient else 7.5)
    axes = fig.subplots(rows, 1, sharex=True)
    fig.suptitle(f"Therapy timeline: {series['scenario']}")
    daily, res, bat = series["daily"], series["reservoir"], series["battery"]
    ax = axes[0]
    ax.step(daily["day"], daily["programmed_mcg"], where="post", label="programmed", lw=1.2)
    ax.step(daily["day"], daily["delivered_mcg"], where="post", label="delivered (pump)", lw=0.8)
    ax.set_ylabel("mcg/day")
    for day in series["refill_days"]:
        for a in axes[:2]:
            a.axvline(day, color="tab:green", lw=0.5, alpha=0.5)
    ax.legend(loc="upper right", fontsize=8)
    ax = axes[1]
    ax.plot(res["day"], res["estimate_ml"], label="estimate (pump)", lw=1.2)
    ax.plot(res["day"], res["true_ml"], label="true (bench)", lw=0.8, ls="--")
    ax.set_ylabel("reservoir mL")
    ax.legend(loc="upper right", fontsize=8)
    ax = axes[2]
    alarm_names = sorted({a["name"] for a in series["alarms"]})
    tone_names = sorted({t["pattern"] for t in series["tones"]})
    labels = [f"alarm {n}" for n in alarm_names] + [f"tone {n}" for n in tone_names]
    for a in series["alarms"]:
        y = alarm_names.index(a["name"])
        ax.plot([a["day"]], [y], "v", color="tab:red" if a["critical"] else "tab:orange", ms=5)
    for t in series["tones"]:
        y = len(alarm_names) + tone_names.index(t["pattern"])
        ax.plot([t["day"]], [y], "|", color="tab:purple", ms=6)
    ax.set_yticks(range(len(labels)), labels, fontsize=6)
    ax.set_ylim(-0.8, max(len(labels), 1) - 0.2)
    ax = axes[3]
    ax.plot(bat["day"], bat["pump_pct"], label="gauge (pump)", lw=1.2)
    ax.plot(bat["day"], bat["true_pct"], label="true (bench)", lw=0.8, ls="--")
    if series.get("eri_day") is not None:
        ax.axvline(series["eri_day"], color="tab:red", lw=0.8, label="ERI")
    ax.set_ylabel("battery %")
    ax.legend(loc="upper right", fontsize=8)
    if patient:
        ax = axes[4]
        ax.plot(
            patient["day"],
            patient["lumbar_csf_mcg_per_ml"],
            color="tab:blue",
            lw=1,
            label="lumbar CSF",
        )
        ax.set_ylabel("CSF mcg/mL", color="tab:blue")
        twin = ax.twinx()
        twin.plot(
            patient["day"], patient["ashworth_points"], color="tab:brown", lw=1, label="Ashworth"
        )
        stages = [*patient["stage"][:-1], patient["stage"][-2]]  # held to the end
        twin.step(
            patient["stage_day"],
            stages,
            where="post",
            color="tab:red",
            lw=1,
            label="withdrawal stage",
        )
        twin.set_ylabel("Ashworth (brown) / withdrawal stage 0-3 (red)", fontsize=7)
    axes[-1].set_xlabel("day")
    fig.tight_layout()
    save(fig, path)
    return {
        "kind": "timeline",
        "size_px": [round(d * FIG_DPI) for d in fig.get_size_inches()],
        "axes": axes_data(fig),
        "panels": rows,
        "alarm_rows": labels,
        **{k: series[k] for k in ("daily", "reservoir", "battery", "refill_days", "patient")},
    }


# ---------------------------------------------------------------------- trumpet curve
def plot_accuracy(result: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """Draw ``hw_sim.studies.accuracy.analyse``'s result: start-up curve, trumpet, long windows."""
    panels = [k for k in ("trumpet", "long") if result.get(k)]
    fig = new_figure(*TRUMPET_SIZE_IN)
    axes = fig.subplots(1, 1 + len(panels))
    fig.suptitle(
        f"Flow accuracy (IEC 60601-2-24, as commonly implemented): {result['profile']} at "
        f"{result['rate_ml_per_day']:g} mL/day, seed {result['seed']}",
        fontsize=10,
    )
    startup = result["startup"]
    ax = axes[0]
    hours = [m / 60 for m in startup["minutes"]]
    ax.plot(hours, startup["flow_ml_per_day"], lw=0.5, color="tab:gray", label="per 0.5 min")
    ax.plot(hours, startup["mean_since_start_ml_per_day"], lw=1.2, label="mean since start")
    ax.axhline(result["rate_ml_per_day"], color="tab:red", lw=0.8, ls="--", label="programmed")
    ax.set_xlabel("hours")
    ax.set_ylabel("flow mL/day")
    ax.set_title("start-up curve", fontsize=9)
    ax.legend(fontsize=7)
    plotted: dict[str, Any] = {"kind": "accuracy", "startup": startup}
    for ax, key in zip(axes[1:], panels, strict=True):
        part = result[key]
        windows = [w["window_min"] for w in part["windows"]]
        highs = [w["max_pct"] for w in part["windows"]]
        lows = [w["min_pct"] for w in part["windows"]]
        ax.plot(windows, highs, "o-", color="tab:blue", label="Ep max")
        ax.plot(windows, lows, "o-", color="tab:orange", label="Ep min")
        ax.axhline(part["mean_error_pct"], color="tab:green", lw=0.8, ls="--", label="A")
        ax.axhline(0, color="black", lw=0.5)
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(windows, [f"{w:g}" for w in windows])
        ax.set_xlabel("observation window, min")
        ax.set_ylabel("error %")
        start_h, end_h = part["period_h"]
        ax.set_title(
            ("trumpet" if key == "trumpet" else "long windows") + f", hours {start_h:g}-{end_h:g}",
            fontsize=9,
        )
        ax.legend(fontsize=7)
        plotted[key] = {
            "window_min": windows,
            "max_pct": highs,
            "min_pct": lows,
            "mean_error_pct": part["mean_error_pct"],
        }
    fig.tight_layout()
    save(fig, path)
    plotted["size_px"] = [round(d * FIG_DPI) for d in fig.get_size_inches()]
    plotted["axes"] = axes_data(fig)
    return plotted


# ---------------------------------------------------------------------- population
POPULATION_HISTOGRAMS = (
    ("days_early", "days the reservoir ran dry before its refill"),
    ("eri_day", "ERI day"),
    ("withdrawal_h_per_patient_year", "hours of withdrawal signs per patient-year"),
)


def _row_values(value: Any) -> list[float]:
    """A row field as plotted values: None none, a list each of its items, else the value."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [float(v) for v in value if v is not None]
    return [float(value)]


def plot_population_histograms(
    rows: Sequence[dict[str, Any]],
    path: str | Path,
    fields: Sequence[tuple[str, str]] = POPULATION_HISTOGRAMS,
    bins: int = 30,
) -> dict[str, Any]:
    """Histograms of a population's result rows (one dict per patient), one panel per field.

    ``fields`` pairs a row key with its axis label; a key that is missing or None (the event
    did not happen: ERI not reached) gives no value, a list (``days_early``: one per dry
    reservoir) gives one value per item; the title counts the patients with a value.  Used by
    ``vpump population --plot``.  Returns, per field, the values plotted and the bin counts.
    """
    fig = new_figure(*HISTOGRAM_SIZE_IN)
    axes = fig.subplots(1, len(fields), squeeze=False)[0]
    plotted: dict[str, Any] = {"kind": "population", "rows": len(rows), "fields": {}}
    for ax, (key, label) in zip(axes, fields, strict=True):
        per_row = [_row_values(r.get(key)) for r in rows]
        values = [v for vs in per_row for v in vs]
        counts: list[int] = []
        if values:
            n, _, _ = ax.hist(values, bins=bins, color="tab:blue")
            counts = [int(c) for c in n]
        ax.set_xlabel(label, fontsize=8)
        ax.set_title(f"{sum(1 for vs in per_row if vs)} of {len(rows)} patients", fontsize=8)
        plotted["fields"][key] = {"values": values, "counts": counts}
    axes[0].set_ylabel("patients")
    fig.tight_layout()
    save(fig, path)
    plotted["size_px"] = [round(d * FIG_DPI) for d in fig.get_size_inches()]
    return plotted
