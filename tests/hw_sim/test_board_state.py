"""The hardware's truth survives a serve restart: board state saved beside the NVM image."""

from __future__ import annotations

from pathlib import Path

from hw_sim.board import board_state
from hw_sim.board.board import VirtualBoard
from hw_sim.profiles.loader import load_profile
from protocol.units import DAY_S as DAY
from tests.boards import start_therapy


def _running_board() -> VirtualBoard:
    board = start_therapy(VirtualBoard(load_profile("vp20"), seed=5))
    now = board.now
    board.over_infusion(10, now)
    board.run_until(now + 12 * DAY)
    return board


def test_saved_board_state_restores_clock_reservoir_battery_motor_and_catheter(
    tmp_path: Path,
) -> None:
    board = _running_board()
    path = tmp_path / "pump.nvm.board.json"
    board_state.save(board, path, clean=True)
    saved = board_state.load(path)
    assert saved is not None and saved["clean"] is True
    again = VirtualBoard(load_profile("vp20"), seed=saved["seed"], start_time=saved["now"])
    board_state.import_state(again, saved)
    assert board_state.export_state(again, clean=True) == board_state.export_state(
        board, clean=True
    )
    assert again.now == board.now
    assert again.battery.remaining_ppm(again.now) == board.battery.remaining_ppm(board.now)
    assert again.rng.random() == board.rng.random()  # the same random future


def test_no_saved_state_means_a_pump_fresh_from_the_factory(tmp_path: Path) -> None:
    assert board_state.load(tmp_path / "missing.board.json") is None


def test_a_damaged_board_state_file_is_refused_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "pump.nvm.board.json"
    path.write_text("{not json")
    try:
        board_state.load(path)
    except ValueError as exc:
        assert str(path) in str(exc)
    else:
        raise AssertionError("a damaged file must be refused")
