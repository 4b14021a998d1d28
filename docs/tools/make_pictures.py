"""Regenerate the README pictures into docs/img/: one therapy timeline, one trumpet curve.

Usage: ``python docs/tools/make_pictures.py [OUTDIR]`` (``make pictures``; default docs/img).

Each PNG gets a JSON sidecar with the series it plotted (what ``hw_sim.studies.plots`` returned, sorted
keys); tests/pictures renders them again and compares the data with the sidecars, not pixels.
The inputs are fixed here so the pictures are reproducible for a given simulator version.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from hw_sim.scenarios.scenario import load_scenario
from hw_sim.scenarios.timeline import run_timeline
from hw_sim.studies.accuracy import parse_rate, run_accuracy
from hw_sim.studies.plots import plot_accuracy, plot_timeline

ROOT = Path(__file__).resolve().parents[2]
TIMELINE_SCENARIO = ROOT / "scenarios" / "patient_reservoir_dry.toml"
#: The trumpet curve's test: rate, hours, seed.
TRUMPET_RATE, TRUMPET_HOURS, TRUMPET_SEED = "0.5mL/day", 48.0, 1


def canonical(data: Any) -> Any:
    """What a sidecar holds: the data after a JSON round trip (tuples become lists)."""
    return json.loads(json.dumps(data, sort_keys=True))


def render(outdir: Path) -> dict[str, Any]:
    """Draw both pictures into ``outdir``; returns {file stem: plotted data}."""
    outdir.mkdir(parents=True, exist_ok=True)
    _report, series = run_timeline(load_scenario(TIMELINE_SCENARIO))
    timeline = plot_timeline(series, outdir / "timeline.png")
    result = run_accuracy(parse_rate(TRUMPET_RATE), TRUMPET_HOURS, TRUMPET_SEED)
    trumpet = plot_accuracy(result, outdir / "trumpet.png")
    return {"timeline": canonical(timeline), "trumpet": canonical(trumpet)}


def main(argv: list[str]) -> int:
    outdir = Path(argv[0]) if argv else ROOT / "docs" / "img"
    for stem, data in render(outdir).items():
        (outdir / f"{stem}.json").write_text(json.dumps(data, sort_keys=True, indent=1) + "\n")
        print(f"wrote {outdir / stem}.png and .json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
