"""The patient's state in the board state file: saved whole, restored exactly, checked strictly.

The ``patient`` section (``PatientLink.export_state``) and the catheter's fault fields are
optional within board state format 2: a file without them is a patent catheter and no patient,
as every file written before they existed.  A damaged patient section is refused by
``check_state`` (so ``vpump serve`` refuses it before anything is restored or written) with a
message that names the field.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hw_sim.board import board_state
from hw_sim.board.board import VirtualBoard
from hw_sim.hardware.patient_link import SAVED_EVENTS
from hw_sim.profiles.loader import load_profile
from patient.profiles import draw, load_patient_profile
from tests.boards import start_therapy
from tests.integration.harness import VPUMP, served_pump, xdg_env

DAY, H = 86_400, 3_600


def _withdrawing_board() -> VirtualBoard:
    """Spinal adult (a population variant), 14 days of 500 mcg/day, then 40 h stopped."""
    board = VirtualBoard(load_profile("vp20"), seed=5)
    profile = draw(load_patient_profile("spinal_adult"), 11)
    board.attach_patient(profile.params, profile.name).population_seed = 11
    start_therapy(board)
    board.catheter_occlusion(30, board.now)
    board.run_until(board.now + 14 * DAY)
    board.firmware.stop(board.now)
    board.run_until(board.now + 40 * H)
    return board


def _restored(state: dict[str, Any], nvm: Any = None) -> VirtualBoard:
    again = VirtualBoard(load_profile("vp20"), seed=state["seed"], nvm=nvm, start_time=state["now"])
    board_state.import_state(again, json.loads(json.dumps(state)))  # through JSON, as on disk
    return again


def test_a_restored_patient_goes_on_exactly_as_the_original() -> None:
    board = _withdrawing_board()
    board.flush()
    state = board_state.export_state(board, clean=True)
    again = _restored(state, copy.deepcopy(board.nvm))  # the same NVM, as a restart finds it
    assert board_state.export_state(again, clean=True) == state
    assert again.hw_status()["patient"] == board.hw_status()["patient"]
    assert again.catheter.occlusion_ppm == 300_000
    again.power_on(board.now)
    board.firmware.resume(board.now)
    again.firmware.resume(again.now)
    for b in (board, again):
        b.run_until(b.now + 2 * DAY)
    assert again.hw_status()["patient"] == board.hw_status()["patient"]
    assert again.hw_status()["patient"]["withdrawal_stage"] == "none"


def test_a_file_without_patient_or_catheter_faults_is_still_valid() -> None:
    board = start_therapy(VirtualBoard(load_profile("vp20"), seed=5))
    board.run_until(board.now + DAY)
    state = board_state.export_state(board, clean=True)
    assert "patient" not in state
    for key in board_state.CATHETER_FAULT_DEFAULTS:  # as the previous version wrote it
        del state["catheter"][key]
    board_state.check_state(state)
    again = _restored(state)
    assert again.patient_link is None
    assert again.catheter.faults == {"occlusion_ppm": 0, "leak_ppm": 0, "outflow_fault": None}


def test_the_saved_events_are_bounded_and_the_stage_times_kept() -> None:
    board = _withdrawing_board()
    link = board.patient_link
    assert link is not None
    link.events.extend(link.events * 40)
    saved = board_state.export_state(board, clean=False)["patient"]
    assert len(saved["events"]) == SAVED_EVENTS
    assert saved["signs_since"] == link.signs_since is not None


def _damage(section: dict[str, Any], how: str) -> None:
    body = section["body"]
    if how == "missing field":
        del body["deficit_h"]
    elif how == "unknown field":
        section["mood"] = "fine"
    elif how == "string concentration":
        body["lumbar_mcg_per_ml"] = "0.7"
    elif how == "negative clock":
        body["deficit_h"] = -1.0
    elif how == "unknown overdose":
        body["overdose"] = "coma"
    elif how == "parameter missing":
        del section["params"]["ec50_mcg_per_ml"]
    elif how == "parameter out of the model":
        section["params"]["ec50_mcg_per_ml"] = 0
    elif how == "more drug than the catheter gave":
        section["last_pg"] += 10**12
    elif how == "not an object":
        section.clear()
    elif how == "bad events":
        section["events"] = [[1.0, "withdrawal"]]


DAMAGES = (
    "missing field",
    "unknown field",
    "string concentration",
    "negative clock",
    "unknown overdose",
    "parameter missing",
    "parameter out of the model",
    "more drug than the catheter gave",
    "not an object",
    "bad events",
)


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_patient_section_is_refused_with_a_clear_message(how: str) -> None:
    state = copy.deepcopy(board_state.export_state(_withdrawing_board(), clean=False))
    _damage(state["patient"], how)
    with pytest.raises(ValueError, match="the patient section is damaged"):
        board_state.check_state(state)


def test_half_written_catheter_faults_are_refused() -> None:
    state = board_state.export_state(_withdrawing_board(), clean=False)
    del state["catheter"]["leak_ppm"]
    with pytest.raises(ValueError, match="leak_ppm"):
        board_state.check_state(state)
    state["catheter"]["leak_ppm"] = 0
    state["catheter"]["outflow_fault"] = "snapped"
    with pytest.raises(ValueError, match="outflow_fault"):
        board_state.check_state(state)


def test_vpump_serve_refuses_a_damaged_patient_section_and_changes_nothing(
    tmp_path: Path,
) -> None:
    env = xdg_env(tmp_path)
    with served_pump(tmp_path, env, extra=("--patient", "child")) as pump:
        pump.advance("1h")
    side = board_state.sidecar_path(pump.state)
    state = json.loads(side.read_text())
    state["patient"]["body"]["overdose"] = "coma"
    side.write_text(json.dumps(state))
    before = side.read_bytes(), pump.state.read_bytes()
    done = subprocess.run(
        [*VPUMP, "serve", "--lockstep", "--state", str(pump.state),
         "--control", str(tmp_path / "c.ctl")],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 1 and "PORT" not in done.stdout, done
    assert "refused" in done.stderr and "patient section is damaged" in done.stderr, done
    assert "coma" in done.stderr and "Traceback" not in done.stderr
    assert (side.read_bytes(), pump.state.read_bytes()) == before
