"""``vpump run --plot`` and ``vpump accuracy --plot``: real PNGs, and the data they show."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hw_sim.cli.main import main
from hw_sim.profiles.loader import load_profile
from hw_sim.scenarios.scenario import load_scenario
from hw_sim.scenarios.timeline import run_timeline
from hw_sim.studies.accuracy import (
    LONG_WINDOWS_MIN,
    SHORT_WINDOWS_MIN,
    parse_rate,
    run_accuracy,
    simulate,
    window_errors,
)
from hw_sim.studies.plots import plot_accuracy, plot_population_histograms, plot_timeline

from .pngcheck import png_size

ROOT = Path(__file__).resolve().parents[2]
PATIENT_SCENARIO = ROOT / "scenarios" / "patient_reservoir_dry.toml"


def vpump(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


# ---------------------------------------------------------------------- timeline
@pytest.fixture(scope="module")
def timeline(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """``vpump run --json --plot`` of the reservoir-dry patient scenario: (report, png)."""
    png = tmp_path_factory.mktemp("timeline") / "timeline.png"
    code, out = vpump("run", str(PATIENT_SCENARIO), "--json", "--plot", str(png))
    assert code == 0, out
    return json.loads(out), png


def test_run_plot_writes_a_real_png_and_does_not_change_the_report(
    timeline: tuple[dict[str, Any], Path],
) -> None:
    report, png = timeline
    assert png_size(png) == (1100, 900)  # 11 x 9 in at 100 dpi: five panels with a patient
    code, out = vpump("run", str(PATIENT_SCENARIO), "--json")
    assert code == 0
    assert json.loads(out) == report  # the plot's looks leave the physics alone


def test_timeline_series_match_the_scenario_report(
    timeline: tuple[dict[str, Any], Path], tmp_path: Path
) -> None:
    report, _png = timeline
    again, series = run_timeline(load_scenario(PATIENT_SCENARIO))
    assert again == report
    plotted = plot_timeline(series, tmp_path / "t.png")
    assert png_size(tmp_path / "t.png") == tuple(plotted["size_px"])
    daily = plotted["daily"]
    summary = report["daily_dose_mcg"]
    assert len(daily["delivered_mcg"]) == summary["days"]
    assert min(daily["delivered_mcg"]) == summary["min"]
    assert max(daily["delivered_mcg"]) == summary["max"]
    assert round(sum(daily["delivered_mcg"]), 3) == summary["delivered_total_mcg"]
    assert round(sum(daily["programmed_mcg"]), 3) == summary["programmed_total_mcg"]
    assert plotted["refill_days"] == [r["day"] for r in report["refills"]]
    reservoir = plotted["reservoir"]
    assert reservoir["estimate_ml"][-1] == pytest.approx(
        report["reservoir"]["estimate_ml"], abs=5e-5
    )
    assert reservoir["true_ml"][-1] == pytest.approx(report["reservoir"]["true_ml"], abs=5e-5)
    for refill in report["refills"]:  # sampled just before each refill: the truth it met
        i = reservoir["day"].index(refill["day"])
        assert reservoir["true_ml"][i] == pytest.approx(
            refill["true_reservoir_before_ml"], abs=5e-5
        )
    battery = plotted["battery"]
    assert battery["pump_pct"][-1] == report["final"]["battery_ppm"] / 10_000
    assert battery["true_pct"][-1] == report["final"]["true_battery_ppm"] / 10_000
    assert reservoir["day"] == sorted(reservoir["day"])
    alarm_rows = {f"alarm {a['name']}" for a in report["alarms"]}
    assert alarm_rows <= set(plotted["alarm_rows"])
    assert {f"tone {t}" for t in report["tones"]} <= set(plotted["alarm_rows"])
    patient = plotted["patient"]
    assert len(patient["day"]) == report["patient"]["days"]
    assert max(patient["withdrawal_stage"]) == 3  # severe, as the report's events say
    changes = [e for e in report["patient"]["events"] if e["kind"] == "withdrawal"]
    assert "severe" in [e["value"] for e in changes]
    assert patient["stage_day"][1:-1] == [e["day"] for e in changes]
    assert patient["stage"][1:-1] == [
        {"none": 0, "early": 1, "moderate": 2, "severe": 3}[e["value"]] for e in changes
    ]
    assert patient["lumbar_csf_mcg_per_ml"][-1] > 0  # the refill restored the drug
    assert min(patient["lumbar_csf_mcg_per_ml"]) < 0.05 * max(patient["lumbar_csf_mcg_per_ml"])


def _line(plotted: dict[str, Any], label: str) -> dict[str, Any]:
    """The one line with ``label`` in the figure, as read back from its Axes."""
    found: list[dict[str, Any]] = [
        ln for ax in plotted["axes"] for ln in ax["lines"] if ln["label"] == label
    ]
    assert len(found) == 1, (label, [ln["label"] for ax in plotted["axes"] for ln in ax["lines"]])
    return found[0]


def test_the_timeline_axes_hold_the_report_series(tmp_path: Path) -> None:
    report, series = run_timeline(load_scenario(PATIENT_SCENARIO))
    plotted = plot_timeline(series, tmp_path / "t.png")
    delivered = _line(plotted, "delivered (pump)")
    assert delivered["y"] == series["daily"]["delivered_mcg"]
    assert round(sum(delivered["y"]), 3) == report["daily_dose_mcg"]["delivered_total_mcg"]
    assert delivered["x"] == [float(d) for d in range(1, report["daily_dose_mcg"]["days"] + 1)]
    reservoir_true = [ln for ln in plotted["axes"][1]["lines"] if ln["label"] == "true (bench)"]
    assert reservoir_true[0]["y"] == series["reservoir"]["true_ml"]
    assert reservoir_true[0]["y"][-1] == pytest.approx(report["reservoir"]["true_ml"], abs=5e-5)
    battery = [ln for ln in plotted["axes"][3]["lines"] if ln["label"] == "gauge (pump)"]
    assert battery[0]["y"][-1] == report["final"]["battery_ppm"] / 10_000
    labels = [ln["label"] for ax in plotted["axes"] for ln in ax["lines"]]
    assert ("ERI" in labels) == (report["eri_day"] is not None)
    stage = _line(plotted, "withdrawal stage")
    assert max(stage["y"]) == 3.0 and stage["x"][-1] == report["end_day"]
    csf = _line(plotted, "lumbar CSF")
    assert len(csf["y"]) == report["patient"]["days"]
    assert csf["y"][-1] == pytest.approx(
        report["patient"]["final"]["lumbar_csf_mcg_per_ml"], rel=0.2
    )


def test_a_scenario_without_a_patient_has_four_panels(tmp_path: Path) -> None:
    _report, series = run_timeline(load_scenario(ROOT / "scenarios" / "pocket_fill.toml"))
    assert series["patient"] is None
    plotted = plot_timeline(series, tmp_path / "p.png")
    assert plotted["panels"] == 4
    assert png_size(tmp_path / "p.png") == (1100, 750)


# ---------------------------------------------------------------------- accuracy
def test_accuracy_plot_and_json_drive_the_real_motor_model(tmp_path: Path) -> None:
    png = tmp_path / "trumpet.png"
    code, out = vpump(
        "accuracy", "--rate", "0.5mL/day", "--seed", "7", "--plot", str(png), "--json"
    )
    assert code == 0, out
    doc = json.loads(out)
    assert png_size(png) == (1100, 450)
    assert doc["samples"] == 48 * 120 and doc["sample_min"] == 0.5
    assert [w["window_min"] for w in doc["trumpet"]["windows"]] == list(SHORT_WINDOWS_MIN)
    assert [w["window_min"] for w in doc["long"]["windows"]] == list(LONG_WINDOWS_MIN)
    # the same numbers from the board's own samples, with the formula written out here
    samples = simulate(500_000, 48, 7)
    assert sum(samples) % load_profile("vp20").device.stroke_volume_nl < 250  # whole strokes +-
    r = 500_000 * 30 / 86_400
    second_hour = samples[120:240]
    for window in doc["trumpet"]["windows"]:
        m = window["window_min"] * 2
        errors = [
            100 / m * sum((q - r) / r for q in second_hour[j : j + m])
            for j in range(len(second_hour) - m + 1)
        ]
        assert window["max_pct"] == pytest.approx(max(errors), abs=1e-3)
        assert window["min_pct"] == pytest.approx(min(errors), abs=1e-3)
        assert window["windows"] == len(errors)
    # and the picture shows exactly those
    plotted = plot_accuracy(doc, tmp_path / "again.png")
    assert plotted["trumpet"]["max_pct"] == [w["max_pct"] for w in doc["trumpet"]["windows"]]
    assert plotted["long"]["min_pct"] == [w["min_pct"] for w in doc["long"]["windows"]]
    assert plotted["startup"]["flow_ml_per_day"][:4] == [
        round(q * 2880 / 1e6, 6) for q in samples[:4]
    ]
    assert plotted["size_px"] == [1100, 450]
    trumpet_axes = plotted["axes"][1]["lines"]
    highs = next(ln for ln in trumpet_axes if ln["label"] == "Ep max")
    lows = next(ln for ln in trumpet_axes if ln["label"] == "Ep min")
    assert highs["x"] == [float(w) for w in SHORT_WINDOWS_MIN]
    assert highs["y"] == [w["max_pct"] for w in doc["trumpet"]["windows"]]
    assert lows["y"] == [w["min_pct"] for w in doc["trumpet"]["windows"]]
    long_highs = next(ln for ln in plotted["axes"][2]["lines"] if ln["label"] == "Ep max")
    assert long_highs["x"] == [float(w) for w in LONG_WINDOWS_MIN]


def test_a_trumpet_narrows_with_the_window_and_a_bias_shifts_it() -> None:
    plain = run_accuracy(parse_rate("0.5mL/day"), 48, 3)
    spread = [w["max_pct"] - w["min_pct"] for w in plain["long"]["windows"]]
    assert spread[-1] < spread[0]
    # the pump of seed 3 has its own bias and fill variation: +2.2174 % and -1.8574 %,
    # (1.022174 x 0.981426) - 1 = +0.32 %; the injected 10 % multiplies on top of it
    assert plain["long"]["mean_error_pct"] == pytest.approx(0.32, abs=0.3)
    biased = run_accuracy(parse_rate("0.5mL/day"), 48, 3, bias_pct=10.0)
    assert biased["long"]["mean_error_pct"] == pytest.approx(1.0032 * 110 - 100, abs=0.3)
    assert all(w["min_pct"] > 5 for w in biased["long"]["windows"])


def test_same_seed_same_numbers_other_seed_other_numbers() -> None:
    a = run_accuracy(500_000, 3, 11)
    assert run_accuracy(500_000, 3, 11) == a
    assert run_accuracy(500_000, 3, 12)["trumpet"] != a["trumpet"]
    assert a["long"] is None  # 3 h: no room for the long windows


def test_window_errors_agree_with_the_command_on_a_short_test() -> None:
    doc = run_accuracy(500_000, 2, 5)
    samples = simulate(500_000, 2, 5)
    r = 500_000 * 30 / 86_400
    errors = window_errors(samples[120:240], r, 62)
    assert doc["trumpet"]["windows"][-1]["max_pct"] == round(max(errors), 3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate", "0.5"], "expected a number and a unit"),
        (["--rate", "0.5mL"], "expected a number and a unit"),
        (["--rate", "0mL/day"], "above zero"),
        (["--rate", "30mL/day"], "maximum"),
        (["--rate", "5mL/day", "--hours", "96"], "reservoir"),
        (["--rate", "0.5mL/day", "--hours", "0"], "above zero"),
        (["--rate", "0.5mL/day", "--bias", "-100"], "above -100"),
    ],
)
def test_bad_rates_units_and_durations_are_usage_errors(args: list[str], message: str) -> None:
    code, out = vpump("accuracy", *args)
    assert code == 2, out
    assert message in out


@pytest.mark.parametrize("command", ["run", "accuracy"])
def test_plot_paths_that_cannot_be_written_are_usage_errors(command: str, tmp_path: Path) -> None:
    first = (
        [str(ROOT / "scenarios" / "pocket_fill.toml")]
        if command == "run"
        else ["--rate", "0.5mL/day"]
    )
    for path, message in (
        (tmp_path / "missing" / "x.png", "does not exist"),
        (tmp_path, "is a directory"),
        (tmp_path / "x.jpg", ".png"),
    ):
        code, out = vpump(command, *first, "--plot", str(path))
        assert code == 2 and message in out, out


def test_accuracy_text_output_lists_every_window() -> None:
    code, out = vpump("accuracy", "--rate", "20uL/h", "--hours", "25")
    assert code == 0, out
    assert "trumpet (hours 1-2)" in out and "31 min" in out
    assert "omitted (longer than the period): 120, 240, 480, 960 min" in out


def test_the_commands_do_not_load_matplotlib_unless_asked() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from hw_sim.cli.main import main\n"
        "from programmer.cli import run\n"
        "run(['--help'])\n"
        "CliRunner().invoke(main, ['accuracy', '--rate', '0.5mL/day', '--hours', '2'])\n"
        "print('matplotlib' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "False"


# ---------------------------------------------------------------------- population (function only)
def test_population_histograms_from_result_rows(tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = [
        {"days_early": [2.0], "eri_day": 2400.0, "withdrawal_h_per_patient_year": 0.0},
        {"days_early": [], "eri_day": 2500.0, "withdrawal_h_per_patient_year": 12.5},
        {"days_early": [4.0, 1.5], "eri_day": None, "withdrawal_h_per_patient_year": 30.0},
    ]
    plotted = plot_population_histograms(rows, tmp_path / "pop.png", bins=4)
    assert png_size(tmp_path / "pop.png") == (1100, 350)
    fields = plotted["fields"]
    assert fields["days_early"]["values"] == [2.0, 4.0, 1.5]  # one per dry reservoir
    assert sum(fields["days_early"]["counts"]) == 3
    assert fields["eri_day"]["values"] == [2400.0, 2500.0]
    assert fields["withdrawal_h_per_patient_year"]["values"] == [0.0, 12.5, 30.0]
    assert plotted["rows"] == 3
