"""The shipped patient scenarios tell their clinical stories (scenarios/patient_*.toml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hw_sim.scenarios.scenario import ScenarioError, load_scenario, parse_scenario
from hw_sim.scenarios.scenario_runner import run_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def _run(name: str) -> dict[str, Any]:
    return run_scenario(load_scenario(SCENARIOS / f"{name}.toml"))


def _first_day(report: dict[str, Any], kind: str, value: str) -> float:
    day: float = next(
        e["day"] for e in report["patient"]["events"] if (e["kind"], e["value"]) == (kind, value)
    )
    return day


def test_pump_stopped_48_h_withdrawal_within_the_window_and_recovery_after_restart() -> None:
    report = _run("patient_pump_stopped")
    alarms = [(a["name"], a["raised_day"], a["cleared_day"]) for a in report["alarms"]]
    assert ("pump_stopped", 14.0, 16.0) in alarms
    early = _first_day(report, "withdrawal", "early")
    assert 14.0 + 6 / 24 <= early <= 14.0 + 72 / 24  # hours to a few days after the stop
    assert _first_day(report, "withdrawal", "none") <= 17.0  # within a day of the restart
    patient = report["patient"]
    assert patient["final"]["withdrawal_stage"] == "none"
    assert patient["days_with_withdrawal_signs"] == 2
    assert [d["day"] for d in patient["notable_days"]] == [15, 16]


def test_unit_mixup_overdose_shows_as_drowsiness_and_ends_after_the_correction() -> None:
    report = _run("patient_unit_mixup")
    events = [(e["kind"], e["value"]) for e in report["patient"]["events"]]
    assert ("overdose", "drowsiness") in events
    assert ("overdose", "respiratory_depression") not in events
    start = _first_day(report, "overdose", "drowsiness")
    assert 10.0 < start < 10.5
    assert 12.0 < _first_day(report, "overdose", "none") < 12.5
    assert report["patient"]["overdose_signs_h"] > 24


def test_seed_story_with_the_patient_ends_in_withdrawal_after_end_of_service() -> None:
    report = _run("patient_seed_story")
    patient = report["patient"]
    eos = report["eos_day"]
    assert eos is not None
    assert patient["days_fully_therapeutic"] >= patient["days"] - 10
    early = _first_day(report, "withdrawal", "early")
    severe = _first_day(report, "withdrawal", "severe")
    assert eos < early <= eos + 3
    assert 1 <= severe - early <= 3  # 24-72 h
    names = [a["name"] for a in report["alarms"]]
    assert "elective_replacement" in names and "end_of_service" in names


def test_reports_without_a_patient_have_no_patient_section() -> None:
    assert "patient" not in _run("pocket_fill")


def test_a_bad_patient_table_is_a_scenario_error() -> None:
    with pytest.raises(ScenarioError, match="patient: unknown patient 'nobody'"):
        parse_scenario({"patient": {"profile": "nobody"}})
    with pytest.raises(ScenarioError, match="patient: unknown key 'dose'"):
        parse_scenario({"patient": {"dose": 1}})
    drawn = parse_scenario({"patient": {"profile": "child", "seed": 5}})
    assert drawn.patient is not None and drawn.patient.seed == 5


def _data(name: str) -> dict[str, Any]:
    import tomllib

    with (SCENARIOS / f"{name}.toml").open("rb") as handle:
        return tomllib.load(handle)


def test_screening_trial_action_starts_the_pump_at_the_labels_dose() -> None:
    report = _run("patient_screening_start")
    trial = next(e for e in report["events"] if e["event"] == "screening trial")
    assert trial["boluses_mcg"] == [50.0, 75.0]
    assert trial["effective_dose_mcg"] == 75.0
    assert trial["start_dose_mcg_per_day"] == 150.0
    started = next(c for c in report["therapy_changes"] if c["action"] == "continuous")
    assert started["daily_dose_mcg"] == 150.0


def test_a_non_candidate_gets_no_pump_program() -> None:
    data = _data("patient_screening_start")
    data["patient"] = {"profile": "spinal_adult", "seed": _non_candidate_seed()}
    report = run_scenario(parse_scenario(data))
    assert [r["code"] for r in report["refusals"]] == ["NOT_A_CANDIDATE"]
    assert not [c for c in report["therapy_changes"] if c["action"] == "continuous"]


def _non_candidate_seed() -> int:
    from patient.profiles import draw, load_patient_profile
    from patient.screening import screening_trial

    profile = load_patient_profile("spinal_adult")
    return next(s for s in range(1000) if not screening_trial(draw(profile, s).params).candidate)


def test_from_screening_needs_a_patient() -> None:
    data = _data("patient_screening_start")
    del data["patient"]
    with pytest.raises(ScenarioError, match="from_screening needs a"):
        parse_scenario(data)


def test_reservoir_runs_dry_before_the_refill_withdrawal_after_the_alarms() -> None:
    report = _run("patient_reservoir_dry")
    alarms = {a["name"]: a["raised_day"] for a in report["alarms"]}
    empty = alarms["reservoir_empty"]
    assert alarms["low_reservoir"] < empty < 84.0  # the warning came days ahead
    early = _first_day(report, "withdrawal", "early")
    assert empty < early <= empty + 3
    assert report["patient"]["final"]["withdrawal_stage"] == "none"
    assert report["patient"]["overdose_signs_h"] == 0


def test_priming_a_catheter_still_full_of_drug_after_an_empty_reservoir_overdoses() -> None:
    data = _data("patient_reservoir_dry")
    data["action"].append({"at": "84d10m", "do": "prime"})
    report = run_scenario(parse_scenario(data))
    assert 84.0 < _first_day(report, "overdose", "drowsiness") < 84.2


def test_concentration_change_without_a_bridge_peaks_and_with_one_does_not() -> None:
    without = _run("patient_concentration_no_bridge")
    assert 20.0 < _first_day(without, "overdose", "drowsiness") < 20.3
    data = _data("patient_concentration_no_bridge")
    data["action"].append({"at": "20d10m", "do": "bridge"})
    bridged = run_scenario(parse_scenario(data))
    assert bridged["patient"]["overdose_signs_h"] == 0
    assert bridged["patient"]["withdrawal_signs_h"] == 0
