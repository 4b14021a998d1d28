"""The flex week (grid, Finish-view text, ``program flex --plot``) and ``log therapy --plot``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from programmer import therapy
from programmer.finish import for_prescription
from programmer.flex_grid import day_rates, grid_text, week_grid
from programmer.plots import plot_flex_week, plot_therapy_log, therapy_series
from tests.integration.harness import ServedPump, served_pump, xdg_env

from .pngcheck import png_size

Result = tuple[int, str, str]

WORKDAY = [therapy.FlexStep(0, 300_000), therapy.FlexStep(7 * 60, 500_000)]
WEEKEND = [therapy.FlexStep(0, 250_000), therapy.FlexStep(9 * 60 + 30, 450_000)]


def _week() -> therapy.TherapyChange:
    weekend = therapy.flex(WEEKEND, range(7), None)
    return therapy.flex(WORKDAY, therapy.parse_weekdays("mon,tue,wed,thu,fri"), weekend)


def test_day_rates_are_hourly_means_worked_out_by_hand() -> None:
    rates = day_rates([s.to_wire() for s in WEEKEND])
    assert rates[:9] == [250.0] * 9
    assert rates[9] == (30 * 250 + 30 * 450) / 60 == 350.0  # the step at 09:30
    assert rates[10:] == [450.0] * 14


def test_week_grid_is_seven_by_24_monday_first() -> None:
    grid = week_grid(_week())
    assert len(grid) == 7 and all(len(row) == 24 for row in grid)
    assert grid[0] == [300.0] * 7 + [500.0] * 17  # monday
    assert grid[4] == grid[0]  # friday
    assert grid[5][9] == 350.0 and grid[6] == grid[5]  # the weekend


def test_grid_text_is_compact_and_says_what_each_digit_is() -> None:
    lines = grid_text(week_grid(_week()))
    assert lines[0] == "  hour 0     6     12    18"
    assert lines[1] == "  mon  " + "1" * 7 + "4" * 17
    assert lines[6] == "  sat  " + "0" * 9 + "2" + "3" * 14
    assert lines[8] == "  0=250  1=300  2=350  3=450  4=500 mcg/day"
    assert max(len(line) for line in lines) <= 80


def test_more_than_ten_rates_fall_to_the_nearest_of_ten_levels() -> None:
    grid = [[float(h * 10) for h in range(24)] for _ in range(7)]  # 0..230
    lines = grid_text(grid)
    assert lines[1] == "  mon  " + "".join(str(round(h * 10 / (230 / 9))) for h in range(24))
    assert "(nearest of 10 even levels)" in lines[-1]


def test_finish_view_of_a_flex_change_shows_the_week() -> None:
    from programmer.clinical import StagedSummary

    change = _week()
    status = {
        "pump_time": 1_767_571_200,
        "daily_dose_ng": 400_000,
        "rate_nl_per_day": 800_000,
        "concentration_mcg_per_ml": 500,
        "low_reservoir_time": 1_767_571_200 + 30 * 86_400,
    }
    prescription = {"therapy": therapy.continuous(400_000)}
    summary = StagedSummary.__new__(StagedSummary)
    for name, value in {
        "daily_dose_ng": 450_000,
        "rate_nl_per_day": 900_000,
        "next_refill_time": 1_767_571_200 + 20 * 86_400,
        "low_reservoir_time": 1_767_571_200 + 20 * 86_400,
        "duration_s": 0,
        "warnings": 0,
        "bolus_dose_ng": 0,
        "to_patient_ng": 0,
        "baseline_ng": 0,
        "change_permille": 0,
        "titration_limit_pct": 30,
        "soft_limit_ng": 1_500_000,
        "hard_limit_ng": 3_000_000,
        "worst_day_ng": 450_000,
    }.items():
        object.__setattr__(summary, name, value)
    view = for_prescription("program flex", status, prescription, change, summary)
    text = view.text()
    for line in grid_text(week_grid(change)):
        assert line in text.splitlines()
    assert view.to_dict()["new"]["week_grid_mcg_per_day"] == week_grid(change)


def test_plot_flex_week_draws_the_grid(tmp_path: Path) -> None:
    grid = week_grid(_week())
    plotted = plot_flex_week(grid, tmp_path / "week.png", "test")
    assert png_size(tmp_path / "week.png") == (1100, 380) == tuple(plotted["size_px"])
    assert plotted["grid"] == grid
    assert plotted["image"] == grid  # what the heat map really holds


def test_program_flex_plot_writes_the_staged_week(
    pumpctl: Callable[..., Result], tmp_path: Path
) -> None:
    png = tmp_path / "week.png"
    code, out, err = pumpctl(
        "--yes", "--json", "program", "flex", "--step", "00:00=300mcg/day",
        "--step", "07:00=500mcg/day", "--plot", str(png),
    )  # fmt: skip
    assert code == 0, err
    assert png_size(png) == (1100, 380)
    doc = json.loads(out)
    assert doc["finish"]["new"]["week_grid_mcg_per_day"] == [[300.0] * 7 + [500.0] * 17] * 7


def test_program_flex_plot_path_is_checked_before_the_pump_is_asked(
    pumpctl: Callable[..., Result], tmp_path: Path
) -> None:
    code, _out, err = pumpctl(
        "--yes", "program", "flex", "--step", "00:00=300mcg/day",
        "--plot", str(tmp_path / "missing" / "week.png"),
    )  # fmt: skip
    assert code == 2 and "does not exist" in err
    code, _out, err = pumpctl("log", "alarm", "--plot", str(tmp_path / "a.png"))
    assert code == 2 and "therapy log only" in err


# ---------------------------------------------------------------------- a live pump's logs
@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedPump]:
    with served_pump(tmp_path, xdg_env(tmp_path)) as live:
        live.pair()
        live.fill_and_program()
        yield live


@pytest.mark.integration
def test_log_therapy_plot_from_a_live_pump(served: ServedPump, tmp_path: Path) -> None:
    served.advance("10d")
    done = served.pumpctl(
        "--json", "--yes", "refill", "--withdrawn", "15mL", "--added", "15mL",
        "--concentration", "2000mcg/mL",
    )  # fmt: skip
    assert done.code == 0, done
    done = served.pumpctl("--json", "--yes", "program", "continuous", "--dose", "600mcg/day")
    assert done.code == 0, done
    served.advance("5d")
    png = tmp_path / "therapy.png"
    plotted_run = served.pumpctl("--json", "log", "therapy", "--plot", str(png))
    assert plotted_run.code == 0, plotted_run
    doc = json.loads(plotted_run.out)
    assert doc["plot"] == str(png)
    assert png_size(png) == (1100, 600)
    records = doc["records"]
    series = therapy_series(records)
    daily = [r for r in records if r["event"] == "daily_total"]
    assert len(daily) == 15
    assert series["daily"]["delivered_mcg"] == [r["decoded"]["delivered_mcg"] for r in daily]
    assert series["daily"]["programmed_mcg"][0] == 500.0
    assert series["daily"]["programmed_mcg"][-1] == 600.0
    assert series["refills"]["added_ml"] == [20.0, 15.0]
    assert series["changes"]["daily_dose_mcg"] == [500.0, 600.0]
    assert series["changes"]["day"][-1] == pytest.approx(10.0, abs=0.01)
    plotted = plot_therapy_log(series, tmp_path / "again.png")
    assert plotted["daily"] == series["daily"]
    top = plotted["axes"][0]["lines"]
    delivered = next(ln for ln in top if ln["label"] == "delivered")
    assert delivered["y"] == [r["decoded"]["delivered_mcg"] for r in daily]
    changes = next(ln for ln in top if ln["label"] == "therapy change (new dose)")
    assert changes["y"] == [500.0, 600.0]
    assert plotted["event_rows"][:2] == ["therapy_changed", "refill"]
