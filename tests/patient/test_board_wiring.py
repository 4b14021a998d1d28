"""The board feeds the catheter's outflow to an attached patient; the pump cannot tell."""

from __future__ import annotations

from typing import Any

import pytest

from firmware.prescription import Continuous, PrimingBolus
from hw_sim.board.board import VirtualBoard
from hw_sim.profiles.loader import load_profile
from hw_sim.scenarios.timeparse import DAY_S, DEFAULT_START_TIME
from patient.profiles import load_patient_profile

CONCENTRATION = 2_000  # mcg/mL
T0 = DEFAULT_START_TIME


def _implanted(with_patient: bool, mcg_per_day: int = 500) -> VirtualBoard:
    board = VirtualBoard(load_profile("vp20"), 7, start_time=T0)
    board.power_on(T0)
    if with_patient:
        board.attach_patient(load_patient_profile("spinal_adult").params, "spinal_adult")
    board.inject(board.reservoir.capacity_nl, CONCENTRATION, T0)
    board.firmware.refill(0, board.reservoir.capacity_nl, CONCENTRATION, T0)
    _program(board, PrimingBolus(board.catheter.length_cm * 10), T0 + 60)
    board.run_until(T0 + 3_600)
    _program(board, Continuous(mcg_per_day * 1_000), T0 + 3_600)
    return board


def _program(board: VirtualBoard, change: Any, now: int) -> None:
    board.run_until(now)
    staged = board.firmware.stage(change, now)
    board.firmware.commit(staged.staged_hash, staged.active_version, staged.warnings, now)


def test_attaching_a_patient_changes_nothing_the_pump_or_the_bench_sees() -> None:
    plain, wired = _implanted(False), _implanted(True)
    for board in (plain, wired):
        board.run_until(T0 + 10 * DAY_S)
    wired_status = wired.hw_status()
    del wired_status["patient"]
    assert wired_status == plain.hw_status()
    assert wired.firmware.status(wired.now) == plain.firmware.status(plain.now)


def test_the_patient_receives_exactly_the_drug_that_left_the_catheter_tip() -> None:
    board = _implanted(True)
    board.run_until(T0 + 10 * DAY_S)
    link = board.patient_link
    assert link is not None and link.last_sync == board.now
    status = board.hw_status()
    lumbar = status["patient"]["lumbar_csf_mcg_per_ml"]
    # 500 mcg/day programmed, times the pump's own flow error (its bias and this fill's
    # variation: the truth, not the estimate), over 30 mL/h of clearance at steady state
    flow = 1 + status["flow_error"]["combined_ppm"] / 1_000_000
    assert lumbar == pytest.approx(500 * flow / 24 / 30, rel=0.01)
    assert status["patient"]["dependent"]


def test_a_stopped_pump_puts_the_patient_into_withdrawal_and_resuming_clears_it() -> None:
    board = _implanted(True)
    stop_at = T0 + 14 * DAY_S
    board.run_until(stop_at)
    board.firmware.stop(stop_at)
    board.run_until(stop_at + 2 * DAY_S)
    assert board.hw_status()["patient"]["withdrawal_stage"] != "none"
    link = board.patient_link
    assert link is not None
    early = next(e.time_s for e in link.events if e.value == "early")
    assert 6 * 3_600 <= early - stop_at <= 72 * 3_600
    board.firmware.resume(stop_at + 2 * DAY_S)
    board.run_until(stop_at + 3 * DAY_S)
    assert board.hw_status()["patient"]["withdrawal_stage"] == "none"
    assert link.events[-1].value == "none"


def test_a_firmware_that_catches_up_by_itself_still_feeds_the_patient_batch_by_batch() -> None:
    from firmware.prescription import Flex, FlexStep

    # a flex day with a low night: 100 mcg/day 00:00-06:00, 900 mcg/day after
    flex = Flex(((FlexStep(0, 100_000), FlexStep(360, 900_000)),), (0,) * 7)
    driven, caught_up = _implanted(True), _implanted(True)
    for board in (driven, caught_up):
        _program(board, flex, T0 + 2 * 3_600)
    end = T0 + 5 * DAY_S + 12 * 3_600
    for t in range(T0 + 2 * 3_600, end + 1, 600):
        driven.run_until(t)  # the board drives time in 10-minute steps
    caught_up.firmware.status(end)  # the firmware runs five days by itself ...
    caught_up.run_until(end)  # ... and the board only then
    a, b = driven.hw_status()["patient"], caught_up.hw_status()["patient"]
    assert a["lumbar_csf_mcg_per_ml"] == pytest.approx(b["lumbar_csf_mcg_per_ml"], rel=0.02)
    assert a["effect_site_mcg_per_ml"] == pytest.approx(b["effect_site_mcg_per_ml"], rel=0.02)


def test_in_the_batch_the_reservoir_ran_dry_the_drug_reaches_the_patient_only_before_it() -> None:
    from hw_sim.hardware.catheter import Catheter
    from hw_sim.hardware.patient_link import PatientLink

    params = load_patient_profile("spinal_adult").params
    once, twice = Catheter(0, 0, 0), Catheter(0, 0, 0)  # no dead space: pushed is delivered
    one_sync, two_syncs = PatientLink(params, once, 0), PatientLink(params, twice, 0)
    once.push(1_000, 2_000_000)
    one_sync.sync(4 * 3_600, 0.25)  # dry a quarter into the batch
    twice.push(1_000, 2_000_000)
    two_syncs.sync(3_600)  # as if the firmware had woken when it ran dry
    two_syncs.sync(4 * 3_600)
    assert one_sync.patient.snapshot() == two_syncs.patient.snapshot()


def test_the_motor_tells_the_patient_link_which_share_of_a_batch_moved_drug() -> None:
    board = _implanted(True)
    shares: list[float] = []
    sync = board.motor.on_delivered
    assert sync is not None

    def record_then_sync(now: int, share: float) -> None:
        shares.append(share)
        sync(now, share)

    board.motor.on_delivered = record_then_sync
    left = board.reservoir.aspirate(board.reservoir.volume_nl - 100_000)  # 0.1 mL stays
    assert left > 0
    board.run_until(T0 + 3 * DAY_S)
    assert board.reservoir.volume_nl == 0
    dry = next(i for i, share in enumerate(shares) if share < 1.0)
    assert 0.0 < shares[dry] < 1.0  # the batch that found it run dry: drug first, then air
    assert set(shares[:dry]) == {1.0} and set(shares[dry + 1 :]) == {0.0}
