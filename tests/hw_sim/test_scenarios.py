"""Shipped scenarios tell their stories; the seed story is byte-identical and spans 5-7 years."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hw_sim.cli.main import main
from hw_sim.scenarios.report import to_json
from hw_sim.scenarios.scenario import load_scenario, parse_scenario
from hw_sim.scenarios.scenario_runner import run_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SEED_STORY = SCENARIOS / "seed_story.toml"
YEAR_DAYS = 365.25


def report_of(name: str) -> dict[str, Any]:
    return run_scenario(load_scenario(SCENARIOS / f"{name}.toml"))


@pytest.fixture(scope="module")
def seed_story_json() -> str:
    return to_json(run_scenario(load_scenario(SEED_STORY)))


@pytest.fixture(scope="module")
def seed_story(seed_story_json: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(seed_story_json)
    return loaded


def test_seed_story_reaches_eri_between_five_and_seven_years_and_eos_90_days_later(
    seed_story: dict[str, Any],
) -> None:
    assert 5 * YEAR_DAYS <= seed_story["eri_day"] <= 7 * YEAR_DAYS
    assert seed_story["eos_day"] == pytest.approx(seed_story["eri_day"] + 90, abs=1e-3)
    assert seed_story["end_day"] == pytest.approx(seed_story["eos_day"] + 1, abs=1e-3)
    assert seed_story["final"]["mode"] == "stopped"


def test_seed_story_refills_every_one_to_three_months(seed_story: dict[str, Any]) -> None:
    days = [refill["day"] for refill in seed_story["refills"]]
    gaps = [b - a for a, b in itertools.pairwise(days)]
    assert len(days) > 30
    assert all(28 <= gap <= 92 for gap in gaps), gaps
    assert not any(refill["discrepancy_warning"] for refill in seed_story["refills"])
    assert max(r["day"] for r in seed_story["refills"]) < seed_story["eos_day"]


def test_seed_story_titrates_from_the_screening_dose_to_maintenance(
    seed_story: dict[str, Any],
) -> None:
    doses = [
        c["daily_dose_mcg"]
        for c in seed_story["therapy_changes"]
        if c["action"] in ("continuous", "titrate")
    ]
    assert doses[0] == 100  # twice the 50 mcg effective screening bolus
    assert doses[-1] == 500
    assert all(1.1 <= b / a <= 1.3 for a, b in itertools.pairwise(doses[:-1]))
    assert seed_story["refusals"] == []


def test_seed_story_delivers_what_was_programmed_until_end_of_service(
    seed_story: dict[str, Any],
) -> None:
    # the pump stops at EOS; the report runs one more day at 500 mcg/day
    assert seed_story["programmed_mcg"] - seed_story["delivered_mcg"] == pytest.approx(500, abs=1)
    assert seed_story["strokes"]["firmware"] == seed_story["strokes"]["motor"]
    assert seed_story["true_delivered_mcg"] == pytest.approx(seed_story["delivered_mcg"], rel=0.002)
    names = [a["name"] for a in seed_story["alarms"]]
    assert "elective_replacement" in names and "end_of_service" in names


def test_seed_story_twice_gives_byte_identical_json(seed_story_json: str) -> None:
    again = CliRunner().invoke(main, ["run", str(SEED_STORY), "--json"])
    assert again.exit_code == 0, again.output
    assert again.output == seed_story_json + "\n"


def test_vpump_run_as_a_real_process_prints_the_same_json(seed_story_json: str) -> None:
    script = Path(sys.executable).with_name("vpump")  # the installed console script
    command = [str(script)] if script.exists() else [sys.executable, "-m", "hw_sim.cli.main"]
    done = subprocess.run(
        [*command, "run", str(SEED_STORY), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == seed_story_json + "\n"


def test_text_summary_names_eri_eos_and_refills() -> None:
    result = CliRunner().invoke(main, ["run", str(SCENARIOS / "pocket_fill.toml")])
    assert result.exit_code == 0, result.output
    assert "ERI: day not reached" in result.output
    assert "refills: 3" in result.output
    assert "DISCREPANCY" in result.output


def test_malformed_scenario_is_a_usage_error_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[action]]\nat = "1d"\ndo = "refill"\nconcentraton = 500\n')
    result = CliRunner().invoke(main, ["run", str(bad)])
    assert result.exit_code == 2
    assert "unknown key 'concentraton'" in result.output


def test_pocket_fill_is_seen_only_as_a_refill_discrepancy() -> None:
    report = report_of("pocket_fill")
    first, pocket, after = report["refills"]
    assert pocket["pocket_fill"] and not first["pocket_fill"]
    assert after["withdrawn_ml"] == 0 and after["discrepancy_warning"]
    assert after["discrepancy_ml"] < -1
    # the pump never knew; its one alarm is the implant's: stopped between the prime's end and
    # the first program (a bolus with no program to return to raises pump_stopped)
    assert [(a["name"], a["cleared_day"]) for a in report["alarms"]] == [("pump_stopped", 0.042)]
    assert report["pocket_mcg"] == 40_000
    assert report["true_delivered_mcg"] < report["delivered_mcg"] * 0.7


def test_over_infusion_empties_the_true_reservoir_before_the_estimate() -> None:
    report = report_of("over_infusion")
    refill = report["refills"][1]
    assert refill["discrepancy_warning"] and refill["discrepancy_ml"] < -1
    assert report["true_delivered_mcg"] > report["delivered_mcg"] * 1.1
    assert "low_reservoir" not in [a["name"] for a in report["alarms"]]


def test_flex_scenario_refills_below_the_threshold_and_never_runs_empty() -> None:
    report = report_of("flex_week")
    assert len(report["refills"]) == 2
    assert report["refills"][1]["expected_ml"] <= 3.5
    assert report["programmed_mcg"] == pytest.approx(report["delivered_mcg"], abs=1)
    assert "reservoir_empty" not in [a["name"] for a in report["alarms"]]


def test_fault_scenario_records_alarms_and_refusals() -> None:
    report = report_of("alarms_and_faults")
    names = {a["name"] for a in report["alarms"]}
    assert {"motor_stall", "low_battery_reset", "memory_error"} <= names
    codes = [r["code"] for r in report["refusals"]]
    assert codes == ["WARNINGS_NOT_ACKNOWLEDGED", "PATIENT_BOLUS_LOCKOUT"]
    assert "alarm_test" in [e["event"] for e in report["events"]]
    assert report["tones"]["two_tone"] >= 3  # stall, low battery reset, memory error


@pytest.mark.parametrize(
    ("mcg_per_day", "concentration", "low_years", "high_years"),
    [(100, 1_000, 6.8, 7.05), (1_000, 500, 4.9, 5.1)],  # 0.1 mL/day and 2 mL/day
)
def test_firmware_sees_eri_near_seven_years_at_low_flow_and_five_at_high_flow(
    mcg_per_day: int, concentration: int, low_years: float, high_years: float
) -> None:
    scenario = parse_scenario(
        {
            "seed": 1,
            "action": [
                {"at": "0d", "do": "refill", "concentration": concentration},
                {"at": "1h", "do": "continuous", "mcg_per_day": mcg_per_day},
            ],
            "refill_rule": {"below_ml": 2.5},
        }
    )
    report = run_scenario(scenario)
    assert low_years <= report["eri_day"] / YEAR_DAYS <= high_years
    assert report["eos_day"] - report["eri_day"] == pytest.approx(90, abs=1e-3)
