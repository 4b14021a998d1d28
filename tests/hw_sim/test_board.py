"""The virtual board drives the firmware through time and injects faults the firmware must see."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware.hal import ResetCause, TonePattern
from firmware.prescription import Continuous
from hw_sim.board.board import VirtualBoard
from hw_sim.hardware.entropy import InsecureTestEntropy
from hw_sim.hardware.nvm_file import FileNvm
from hw_sim.profiles.loader import load_profile
from hw_sim.scenarios.timeparse import DAY_S, DEFAULT_START_TIME
from protocol.catalog import StageWarning
from protocol.enums import AlarmId, TherapyMode

T0 = DEFAULT_START_TIME
PROFILE = load_profile("vp20")


def filled_board(seed: int = 1, nvm: FileNvm | None = None, dose_ng: int = 500_000) -> VirtualBoard:
    """A board filled with 20 mL of 2000 mcg/mL, running ``dose_ng`` per day from T0 + 1 h."""
    board = VirtualBoard(PROFILE, seed, nvm, start_time=T0)
    board.power_on(T0)
    firmware = board.firmware
    withdrawn = board.aspirate(T0)
    board.inject(20_000_000, 2_000, T0)
    firmware.refill(withdrawn, 20_000_000, 2_000, T0)
    staged = firmware.stage(Continuous(dose_ng), T0 + 3_600)
    firmware.commit(staged.staged_hash, staged.active_version, StageWarning(0), T0 + 3_600)
    return board


def active_alarms(board: VirtualBoard) -> set[AlarmId]:
    return {a.alarm_id for a in board.firmware.alarms(board.now)}


def test_fresh_board_boots_the_firmware_into_factory_state() -> None:
    board = VirtualBoard(PROFILE, 1, start_time=T0)
    board.power_on(T0)
    status = board.firmware.status(T0)
    assert status.mode is TherapyMode.STOPPED
    assert status.reservoir_nl == 0
    assert board.hw_status()["reservoir_nl"] == 0
    assert board.resets == [(T0, ResetCause.POWER_ON)]


def test_firmware_strokes_reach_the_motor_and_true_reservoir() -> None:
    board = filled_board()
    board.run_until(T0 + 3_600 + 10 * DAY_S)
    hw = board.hw_status()
    status = board.firmware.status(board.now)
    # 500 mcg/day at 2000 mcg/mL = 250,000 nL/day = 1,000 strokes/day
    assert hw["strokes"] == status.strokes == 10_000
    assert abs(hw["delivered_nl"] - 2_500_000) < 2_500_000 * 0.01
    assert hw["reservoir_nl"] == 20_000_000 - hw["delivered_nl"]


def test_next_event_time_is_the_earlier_of_board_events_and_firmware_wakeups() -> None:
    board = filled_board()
    wakeup = board.firmware.next_wakeup()
    assert board.next_event_time() == wakeup
    board.schedule(board.now + 1, lambda t: None, name="soon")
    assert board.next_event_time() == board.now + 1


def test_board_event_at_a_second_runs_after_the_firmware_work_of_that_second() -> None:
    board = filled_board()
    seen: list[int] = []
    at = T0 + 2 * DAY_S
    board.schedule(at, lambda t: seen.append(board.firmware.status(t).strokes))
    board.run_until(at)
    assert seen == [board.firmware.status(at).strokes]


def test_same_seed_gives_the_same_truth_and_another_seed_does_not() -> None:
    def truth(seed: int) -> int:
        board = filled_board(seed)
        board.run_until(T0 + 30 * DAY_S)
        return int(board.hw_status()["delivered_nl"])

    assert truth(4) == truth(4)
    assert truth(4) != truth(5)


def test_motor_stall_raises_the_critical_alarm_and_two_tone() -> None:
    board = filled_board()
    board.motor_stall(T0 + DAY_S)
    board.run_until(T0 + DAY_S + 3_600)
    assert AlarmId.MOTOR_STALL in active_alarms(board)
    assert board.buzzer.count(TonePattern.TWO_TONE) >= 1


def test_low_battery_reset_reboots_into_the_safe_minimum_rate() -> None:
    board = filled_board()
    board.low_battery_reset(T0 + DAY_S)
    assert board.resets[-1] == (T0 + DAY_S, ResetCause.LOW_BATTERY)
    status = board.firmware.status(board.now)
    assert status.mode is TherapyMode.SAFE_MINIMUM
    assert status.rate_nl_per_day == PROFILE.device.safe_rate_nl_per_day
    assert AlarmId.LOW_BATTERY_RESET in active_alarms(board)


def test_memory_error_corrupts_nvm_and_the_firmware_reports_it() -> None:
    board = filled_board()
    board.memory_error(T0 + DAY_S)
    assert board.resets[-1] == (T0 + DAY_S, ResetCause.WATCHDOG)
    assert AlarmId.MEMORY_ERROR in active_alarms(board)


@pytest.mark.parametrize("percent", [15.0, -20.0])
def test_systematic_flow_error_separates_truth_from_the_estimate(percent: float) -> None:
    board = filled_board()
    board.over_infusion(percent, T0 + 3_600)
    board.run_until(T0 + 3_600 + 20 * DAY_S)
    estimate_used = 20_000_000 - board.firmware.status(board.now).reservoir_nl
    true_used = board.hw_status()["delivered_nl"]
    assert true_used / estimate_used == pytest.approx(1 + percent / 100, abs=0.01)


def test_pocket_fill_refill_leaves_the_true_reservoir_empty_while_the_pump_believes_it_full() -> (
    None
):
    board = filled_board()
    now = T0 + 10 * DAY_S
    withdrawn = board.aspirate(now)
    board.pocket_fill(now)
    assert board.inject(20_000_000, 2_000, now) == 0
    board.firmware.refill(withdrawn, 20_000_000, 2_000, now)
    board.run_until(now + 2 * DAY_S)
    hw = board.hw_status()
    assert hw["reservoir_nl"] == 0 and hw["air_nl"] > 0
    assert hw["pocket_ng"] == 20_000_000 * 2_000 // 1_000
    assert board.firmware.status(board.now).reservoir_nl > 19_000_000


@pytest.mark.parametrize("cut_after_bytes", [0, 10, 33, 200])
def test_power_cut_in_an_nvm_write_reboots_and_keeps_old_or_new_therapy(
    cut_after_bytes: int,
) -> None:
    board = filled_board()
    board.arm_power_cut(cut_after_bytes, T0 + DAY_S)
    board.run_until(T0 + 3 * DAY_S)  # the next persist tears; the board reboots the firmware
    assert board.power_cuts and board.resets[-1][1] is ResetCause.POWER_LOSS
    assert board.reset_listeners == []  # (the new firmware instance knows only NVM)
    status = board.firmware.status(board.now)
    assert status.mode is TherapyMode.CONTINUOUS
    assert status.daily_dose_ng == 500_000
    assert AlarmId.MEMORY_ERROR not in active_alarms(board)


def test_file_nvm_carries_therapy_across_a_new_board(tmp_path: Path) -> None:
    path = tmp_path / "pump.nvm"
    size = PROFILE.hardware.nvm_size_bytes
    nvm = FileNvm(path, size)
    board = filled_board(nvm=nvm, dose_ng=400_000)
    board.run_until(T0 + 5 * DAY_S)
    strokes = board.firmware.status(board.now).strokes
    board.flush()
    nvm.close()
    nvm_again = FileNvm(path, size)
    again = VirtualBoard(PROFILE, 1, nvm_again, start_time=T0 + 5 * DAY_S)
    again.power_on(T0 + 5 * DAY_S)
    status = again.firmware.status(again.now)
    assert status.daily_dose_ng == 400_000
    assert status.strokes == strokes
    nvm_again.close()


def test_power_cycle_resumes_therapy() -> None:
    board = filled_board()
    board.power_cycle(T0 + 2 * DAY_S)
    board.run_until(T0 + 3 * DAY_S)
    status = board.firmware.status(board.now)
    assert status.mode is TherapyMode.CONTINUOUS
    assert status.strokes == board.motor.strokes_total


def test_telemetry_bytes_are_buffered_for_the_link_and_cost_battery() -> None:
    board = VirtualBoard(PROFILE, 1, start_time=T0)
    before = board.battery.used_nas(T0)
    board.telemetry.send(b"\x01\x02\x03")
    assert board.telemetry.drain(2) == b"\x01\x02"
    assert board.telemetry.drain() == b"\x03"
    assert board.battery.used_nas(T0) - before == 3 * PROFILE.hardware.charge_per_telemetry_byte_nas


def test_key_entropy_never_follows_from_the_seed() -> None:
    """Two boards of one seed share their physics, never their key material."""
    first = VirtualBoard(PROFILE, 9, start_time=T0)
    again = VirtualBoard(PROFILE, 9, start_time=T0)
    assert not first.entropy.deterministic
    assert first.entropy.random_bytes(32) != again.entropy.random_bytes(32)
    assert first.rng.random() == again.rng.random()


def test_the_insecure_test_mode_is_reproducible_and_apart_from_the_physics() -> None:
    """The test DRBG repeats for one seed, differs between seeds, and draws nothing from the
    physics generator (a session no longer shifts motor noise)."""
    boards = [
        VirtualBoard(PROFILE, seed, start_time=T0, entropy=InsecureTestEntropy(seed))
        for seed in (9, 9, 10)
    ]
    keys = [b.entropy.random_bytes(32) for b in boards]
    assert boards[0].entropy.deterministic
    assert keys[0] == keys[1] != keys[2] and len(keys[0]) == 32
    plain = VirtualBoard(PROFILE, 9, start_time=T0)
    assert boards[0].rng.getstate() == plain.rng.getstate()


def test_clear_removes_the_injected_faults() -> None:
    board = filled_board()
    board.motor_stall(T0 + DAY_S)
    board.over_infusion(10.0, T0 + DAY_S)
    board.pocket_fill(T0 + DAY_S)
    board.clear_faults(T0 + DAY_S)
    assert board.hw_status()["faults"] == {
        "motor_stall": False,
        "motor_stall_until": None,
        "systematic_error_ppm": 0,
        "pocket_fill_armed": False,
    }


def test_buzzer_records_the_alarm_test_tones_with_their_time() -> None:
    board = filled_board()
    at = T0 + DAY_S
    board.firmware.test_alarm_tones(at)
    played = {pattern for t, pattern in board.buzzer.tones if t == at}
    assert played and played <= set(TonePattern)


def test_the_bench_stalls_the_motor_for_an_mri_scan_and_refuses_a_scan_without_duration() -> None:
    """``vpump ctl fault mri 30min``: the motor stalls until now + 1,800 s; ``motor-stall`` with
    a duration is the same transient stall, without one it lasts until cleared."""
    from hw_sim.bench.bench import BenchError
    from hw_sim.link.loopback import Loopback

    loop = Loopback.fresh("vp20", serial_number="VP20-000079", auto_accept_pairing=True)
    board = loop.bench.board
    loop.bench.fault("mri", "30min")
    assert board.hw_status()["faults"]["motor_stall_until"] == board.now + 1_800
    with pytest.raises(BenchError, match="needs the scan's duration"):
        loop.bench.fault("mri")
    with pytest.raises(BenchError, match="must be positive"):
        loop.bench.fault("motor-stall", "0s")
    loop.bench.fault("motor-stall")
    assert board.hw_status()["faults"]["motor_stall_until"] is None
    assert board.hw_status()["faults"]["motor_stall"]
