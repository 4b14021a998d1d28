"""The state-file rule in process: what a restart accepts besides the plain case.

Refusals are specified with real processes in tests/security/test_state_files.py; these are the
accepted edge cases: a start interrupted between its two writes, an image the firmware never
wrote, an image from before the binding with its format-1 side file, and the lock.
"""

from __future__ import annotations

import errno
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from hw_sim.board import board_state
from hw_sim.board.board import VirtualBoard
from hw_sim.board.restore import open_pump, shut_down
from hw_sim.board.state_files import FACTORY_SIZE, Checkpointer, OpenedState, StateError, open_state
from hw_sim.hardware.nvm_file import FileNvm
from hw_sim.profiles.loader import load_profile

PROFILE = load_profile("vp20")
SIZE = PROFILE.hardware.nvm_size_bytes


def _start(state: Path, seed: int = 1) -> tuple[OpenedState, VirtualBoard]:
    opened, board = open_pump(state, PROFILE, seed)
    board.power_on()
    return opened, board


def _stop(opened: OpenedState, board: VirtualBoard) -> None:
    board.flush()
    opened.save(board, clean=True)
    opened.close()


def test_a_second_open_of_a_locked_image_is_refused(tmp_path: Path) -> None:
    opened, board = _start(tmp_path / "pump.nvm")
    with pytest.raises(StateError, match="in use by process"):
        open_state(tmp_path / "pump.nvm", PROFILE, 1)
    _stop(opened, board)
    again, board = _start(tmp_path / "pump.nvm")  # released with the descriptor
    assert again.factory.generation == 2
    _stop(again, board)


def test_a_start_interrupted_after_its_side_file_write_is_accepted(tmp_path: Path) -> None:
    state = tmp_path / "pump.nvm"
    opened, board = _start(state)
    board.run_until(board.now + 3600)
    _stop(opened, board)
    # the next start got as far as the side file (generation 2, booting), not the factory area
    opened = open_state(state, PROFILE, 1)
    side = board_state.sidecar_path(state)
    document = json.loads(side.read_text())
    document["binding"].update(generation=2, booting=True, nvm_sha256=None)
    side.write_text(json.dumps(document))
    opened.close()
    again, board = _start(state)
    assert again.factory.generation == 2  # the interrupted run number, now complete
    _stop(again, board)


def test_an_image_the_firmware_never_wrote_starts_as_a_fresh_pump(tmp_path: Path) -> None:
    state = tmp_path / "pump.nvm"
    opened = open_state(state, PROFILE, 7)  # created, then the process died before booting
    opened.close()
    again, board = _start(state, seed=7)
    assert again.saved is None and board.identity.serial_number == "VP20-000007"
    _stop(again, board)


def test_an_image_and_side_file_from_before_the_binding_are_adopted(tmp_path: Path) -> None:
    state = tmp_path / "pump.nvm"
    nvm = FileNvm(state, SIZE)  # the old layout: the firmware's NVM over the whole file
    board = VirtualBoard(PROFILE, 4, nvm)
    board.power_on()
    board.run_until(board.now + 86_400)
    board.flush()
    legacy = board_state.export_state(board, clean=True)
    legacy["format"] = board_state.LEGACY_FORMAT
    board_state.sidecar_path(state).write_text(json.dumps(legacy))
    nvm.close()
    opened, board = _start(state)
    assert any("adopted" in note for note in opened.notes)
    assert board.identity.serial_number == "VP20-000004"
    assert board.now == legacy["now"]
    _stop(opened, board)
    again, board = _start(state)  # bound from now on
    assert again.notes == [] and again.factory.generation == 2
    _stop(again, board)
    assert state.stat().st_size == SIZE and FACTORY_SIZE < SIZE


def test_a_side_file_that_cannot_be_written_is_kept_in_the_images_reserve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "pump.nvm"
    opened, board = _start(state)
    checkpoint = Checkpointer(opened, board, err=io.StringIO())
    checkpoint()
    real_write = os.write

    def full_disk(fd: int, data: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full_disk)
    board.run_until(board.now + 5 * 86_400)
    checkpoint()
    board.run_until(board.now + 86_400)
    assert shut_down(opened, board)  # everything saved: the hardware state in the reserve
    monkeypatch.setattr(os, "write", real_write)
    stopped_at = board.now
    assert json.loads(board_state.sidecar_path(state).read_text())["now"] < stopped_at
    again = open_state(state, PROFILE, 1)
    assert again.saved is not None and again.saved["now"] == stopped_at
    assert again.saved["clean"] is True
    assert any("reserve" in note for note in again.notes)
    again.close()
