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
from hw_sim.hardware.motor import draw_pump_bias_ppm
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
    # the truth differs from the estimate by the pump's own flow bias (seed 20260105: +1.65 %)
    # and each fill's variation (2 % sd, averaging over 52 refills): within 1 % of the bias
    bias = draw_pump_bias_ppm(20260105, 10_000, 20_000, 145_000)
    assert bias == 16_542
    ratio = seed_story["true_delivered_mcg"] / seed_story["delivered_mcg"]
    assert ratio == pytest.approx(1 + bias / 1_000_000, abs=0.01)
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
    # the stall (day 5) is found at the next stroke and ends when the bench clears it on day 6,
    # at the next trial stroke (within 300 s = 0.0035 day); the MRI (day 6 + 1 h = 6.042, 30 min)
    # likewise, and ends at the first trial stroke after 6.042 + 30 / 1,440 = 6.0625
    stalls = [
        (a["raised_day"], a["cleared_day"]) for a in report["alarms"] if a["name"] == "motor_stall"
    ]
    assert len(stalls) == 2
    (raised, cleared), (mri_raised, mri_cleared) = stalls
    assert raised == 5.0 and 6.0 <= cleared <= 6.004
    assert 6.042 <= mri_raised < 6.05 and 6.062 <= mri_cleared <= 6.066
    assert {"event": "mri", "day": 6.042, "duration_s": 1_800} in report["events"]


@pytest.mark.parametrize(
    ("mcg_per_day", "concentration", "low_years", "high_years"),
    [(48, 1_000, 6.9, 7.0), (1_000, 500, 4.95, 5.05)],  # 0.048 mL/day (minimum) and 2 mL/day
)
def test_firmware_reaches_eos_within_seven_years_at_the_minimum_rate_and_five_at_high_flow(
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
    assert low_years <= report["eos_day"] / YEAR_DAYS <= high_years
    assert report["eos_day"] - report["eri_day"] == pytest.approx(90, abs=1e-3)


def test_a_scenario_clinic_in_another_zone_runs_and_counts_flex_steps_on_local_time() -> None:
    """The clinic at UTC+05:00 from the start; continuous 500 mcg/day from 10 min, then from
    day 1 (00:00Z = 05:00 local) flex 00:00 = 400 and 07:00 = 530 mcg/day, to day 3.5 (12:00Z =
    17:00 local).  By hand: a flex day is (7 x 400 + 17 x 530) / 24 = 492.083 mcg; from 05:00
    to 17:00 local are 2 h at 400 and 10 h at 530 = 254.167 mcg; continuous 500 x 1430 / 1440
    = 496.528 mcg.  Programmed: 496.528 + 2 x 492.083 + 254.167 = 1,734.861 mcg (on UTC it
    would be 7 h at 400 + 5 h at 530 in the last half day: 1,707.778 mcg).  The pump's estimate
    agrees within a stroke's drug (250 nL x 2000 mcg/mL = 0.5 mcg)."""
    scenario = parse_scenario(
        {
            "name": "clinic_utc_plus_5",
            "profile": "vp20",
            "seed": 3,
            "end": "3d12h",
            "action": [
                {"at": "0d", "do": "set_clock", "offset": "0h", "utc_offset": "+05:00"},
                {"at": "0d", "do": "refill", "added_ml": 20, "concentration": 2000},
                {"at": "10m", "do": "continuous", "mcg_per_day": 500},
                {"at": "1d", "do": "flex", "steps": [["00:00", 400], ["07:00", 530]]},
            ],
        }
    )
    report = run_scenario(scenario)
    clock = [e for e in report["events"] if e["event"] == "set_clock"]
    assert clock and clock[0]["utc_offset_s"] == 18_000
    assert report["programmed_mcg"] == 1734.861
    assert report["delivered_mcg"] == pytest.approx(1734.861, abs=0.5)


def test_mri_scenario_stalls_during_the_scan_and_recovers_by_itself() -> None:
    """The scan from day 7 + 1 h (7.0417) for 45 min: the first stroke in the field (86.4 s
    later, 7.043) raises MOTOR_STALL; the first trial stroke after 7.0417 + 45 / 1,440 = 7.0729
    turns (7.074).  The pump missed 45 min of 500 mcg/day = 15.6 mcg, not made up (the
    clinic's yardstick programmed it), and the patient shows no withdrawal."""
    report = report_of("mri_scan")
    stalls = [(a["raised_day"], a["cleared_day"]) for a in report["alarms"]]
    assert [a["name"] for a in report["alarms"]] == ["motor_stall"]
    assert stalls == [(7.043, 7.074)]
    assert report["programmed_mcg"] - report["delivered_mcg"] == pytest.approx(15.6, abs=0.6)
    assert report["patient"]["withdrawal_signs_h"] == 0
    assert report["final"]["mode"] == "continuous"
