"""Catheter faults the pump cannot see, and the access-port aspiration that reveals them."""

from __future__ import annotations

from typing import Any

import pytest

from firmware.prescription import Continuous, PrimingBolus
from hw_sim.board.board import VirtualBoard
from hw_sim.profiles.loader import load_profile
from hw_sim.scenarios.scenario import ScenarioError, load_scenario, parse_scenario
from hw_sim.scenarios.scenario_runner import run_scenario
from hw_sim.scenarios.timeparse import DAY_S, DEFAULT_START_TIME
from patient.profiles import load_patient_profile
from tests.patient.test_patient_scenarios import SCENARIOS

T0 = DEFAULT_START_TIME
CONCENTRATION = 2_000


def _program(board: VirtualBoard, change: Any, now: int) -> None:
    board.run_until(now)
    staged = board.firmware.stage(change, now)
    board.firmware.commit(staged.staged_hash, staged.active_version, staged.warnings, now)


def _on_therapy(days: int = 10) -> VirtualBoard:
    board = VirtualBoard(load_profile("vp20"), 3, start_time=T0)
    board.power_on(T0)
    board.attach_patient(load_patient_profile("spinal_adult").params, "spinal_adult")
    board.inject(board.reservoir.capacity_nl, CONCENTRATION, T0)
    board.firmware.refill(0, board.reservoir.capacity_nl, CONCENTRATION, T0)
    _program(board, PrimingBolus(board.catheter.length_cm * 10), T0 + 60)
    _program(board, Continuous(500_000), T0 + 3_600)
    board.run_until(T0 + days * DAY_S)
    return board


def test_complete_occlusion_no_alarm_drug_stays_in_the_reservoir_patient_withdraws() -> None:
    board = _on_therapy()
    at = board.now
    before = board.hw_status()
    board.catheter_occlusion(100, at)
    board.run_until(at + 3 * DAY_S)
    hw = board.hw_status()
    status = board.firmware.status(board.now)
    assert [a for a in status.alarms if a.critical] == []  # the pump sees nothing wrong
    assert hw["strokes"] - before["strokes"] > 2_000  # the motor kept turning
    assert hw["reservoir_nl"] == before["reservoir_nl"]  # but nothing left the reservoir
    assert hw["reservoir_nl"] - status.reservoir_nl > 700_000  # the refill will show it
    assert hw["catheter"]["blocked_nl"] > 700_000
    assert hw["patient"]["withdrawal_stage"] != "none"
    assert board.aspirate_access_port(500_000, board.now) == (0, 0)  # no CSF comes back


def test_partial_occlusion_lets_the_unblocked_share_through() -> None:
    board = _on_therapy(3)
    at, start_pg = board.now, board.catheter.to_patient_pg
    board.catheter_occlusion(50, at)
    board.run_until(at + 2 * DAY_S)
    delivered_mcg = (board.catheter.to_patient_pg - start_pg) / 1e6
    assert delivered_mcg == pytest.approx(500.0, rel=0.05)  # half of 2 days at 500 mcg/day
    got_nl, _ = board.aspirate_access_port(400_000, board.now)
    assert got_nl == 200_000  # slow, partial return


def test_leak_sends_its_share_to_the_tissue() -> None:
    board = _on_therapy(3)
    at, patient_pg, tissue_pg = board.now, board.catheter.to_patient_pg, board.catheter.to_tissue_pg
    board.catheter_leak(30, at)
    board.run_until(at + 2 * DAY_S)
    to_patient = board.catheter.to_patient_pg - patient_pg
    to_tissue = board.catheter.to_tissue_pg - tissue_pg
    assert to_tissue / (to_patient + to_tissue) == pytest.approx(0.30, abs=0.001)
    assert board.hw_status()["catheter"]["to_tissue_ng"] == board.catheter.to_tissue_pg // 1000


@pytest.mark.parametrize("fault", ["disconnect", "migration"])
def test_disconnection_or_tip_migration_sends_everything_to_the_tissue(fault: str) -> None:
    board = _on_therapy()
    at = board.now
    if fault == "disconnect":
        board.catheter_disconnect(at)
    else:
        board.catheter_tip_migration(at)
    patient_pg = board.catheter.to_patient_pg
    board.run_until(at + 3 * DAY_S)
    assert board.catheter.to_patient_pg == patient_pg
    assert board.catheter.to_tissue_pg > 0
    assert board.hw_status()["patient"]["withdrawal_stage"] != "none"
    assert board.aspirate_access_port(500_000, board.now) == (0, 0)
    board.clear_faults(board.now)
    assert board.hw_status()["catheter"]["outflow_fault"] is None


def test_patent_catheter_returns_the_column_then_csf() -> None:
    board = _on_therapy(3)
    dead_space_nl = board.catheter.dead_space_nl
    got_nl, drug_pg = board.aspirate_access_port(dead_space_nl + 100_000, board.now)
    assert got_nl == dead_space_nl + 100_000
    assert drug_pg == pytest.approx(dead_space_nl * CONCENTRATION, rel=0.01)  # pg = nL x mcg/mL
    assert board.catheter.drug_in_column_pg == 0  # CSF fills the catheter now


def test_catheter_occlusion_scenario_no_alarm_withdrawal_discrepancy_failed_aspiration() -> None:
    report = run_scenario(load_scenario(SCENARIOS / "patient_catheter_occlusion.toml"))
    # no alarm for the occlusion; the one alarm is the implant's: stopped between the prime's end
    # and the first program (a bolus with no program to return to raises pump_stopped)
    assert [(a["name"], a["cleared_day"]) for a in report["alarms"]] == [("pump_stopped", 0.042)]
    aspirations = [e for e in report["events"] if e["event"] == "access port aspiration"]
    assert [a["csf_returned"] for a in aspirations] == [True, False]
    refill = report["refills"][-1]
    assert refill["discrepancy_ml"] > 0.7  # more drug left than the pump expected
    events = [
        (e["day"], e["value"]) for e in report["patient"]["events"] if e["kind"] == "withdrawal"
    ]
    assert events[0][1] == "early" and 20.0 < events[0][0] < 23.0
    assert events[-1][1] == "none" and events[-1][0] > 24.0


def test_catheter_fault_pct_is_checked() -> None:
    with pytest.raises(ScenarioError, match="catheter-leak needs pct"):
        parse_scenario({"action": [{"at": "1d", "do": "fault", "fault": "catheter-leak"}]})
    with pytest.raises(ScenarioError, match="pct must be 0-100"):
        parse_scenario(
            {"action": [{"at": "1d", "do": "fault", "fault": "catheter-occlusion", "pct": 120}]}
        )
