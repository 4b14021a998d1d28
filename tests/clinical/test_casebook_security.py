"""Casebook: clinic visits during the attacks and faults of the security review (issue 9).

Each case is a short visit; the docstring works out by hand what the clinician must see.
Common arithmetic: vp20, 20 mL of 2000 mcg/mL, continuous 500 mcg/day.  The rate is
500 / 2000 = 0.25 mL/day = 250,000 nL/day, i.e. 1,000 strokes of 250 nL a day.
"""

from __future__ import annotations

import errno
import os
import random
from pathlib import Path
from typing import Any

import pytest

from hw_sim.board.board import VirtualBoard
from hw_sim.hardware.nvm_file import FileNvm
from hw_sim.profiles.loader import load_profile
from protocol.enums import AlarmId
from protocol.units import DAY_S
from tests.boards import start_therapy
from tests.integration.harness import served_pump, xdg_env
from tests.security.test_lockout import FAILURES, _invented_session_frame, _raw_client

pytestmark = pytest.mark.timeout(120)

PROFILE = load_profile("vp20")


def test_the_disk_fills_for_three_days_and_the_patient_gets_every_dose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk under the pump's NVM image fills up right after the first visit and stays full
    for three days.  The pump must go on as prescribed and say that it cannot save.

    By hand, three days at 1,000 strokes a day:
      strokes 3 x 1,000 = 3,000; volume 3,000 x 250 nL = 750,000 nL = 0.75 mL;
      drug 0.75 mL x 2000 mcg/mL = 1,500 mcg = 1,500,000 ng;
      reservoir estimate 20 mL - 0.75 mL = 19.25 mL = 19,250,000 nL;
      programmed dose still 500 mcg/day; MEMORY_ERROR active while the disk is full, and gone
      within one retry interval (60 s) once space returns.
    """
    nvm = FileNvm(tmp_path / "pump.nvm", PROFILE.hardware.nvm_size_bytes)
    board = start_therapy(VirtualBoard(PROFILE, 3, nvm))
    start = board.firmware.status(board.now)
    real_pwrite = os.pwrite

    def full_disk(fd: int, data: Any, offset: int) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "pwrite", full_disk)
    board.run_until(board.now + 3 * DAY_S)
    status = board.firmware.status(board.now)
    assert AlarmId.MEMORY_ERROR in {a.alarm_id for a in status.alarms}
    assert status.daily_dose_ng == 500_000
    assert status.delivered_nl - start.delivered_nl == 750_000
    assert status.reservoir_nl == 19_250_000
    assert board.motor.strokes_total == 3_000

    monkeypatch.setattr(os, "pwrite", real_pwrite)
    board.run_until(board.now + 60)
    status = board.firmware.status(board.now)
    assert AlarmId.MEMORY_ERROR not in {a.alarm_id for a in status.alarms}
    nvm.close()


def test_a_flood_of_forged_frames_does_not_keep_the_clinician_from_stopping_the_pump(
    tmp_path: Path,
) -> None:
    """A day after the first visit someone on the line sends forged frames with invented
    session ids (four times the old lockout threshold); the clinician then stops the pump.

    By hand, one day at 1,000 strokes: 250,000 nL = 0.25 mL, so the pump shows 19.75 mL left
    and 500 mcg delivered.  The stop must go through at once (no lockout), the pump must show
    STOPPED with the critical PUMP_STOPPED alarm, and the reservoir must stay at 19.75 mL.
    """
    env = xdg_env(tmp_path)
    with served_pump(tmp_path, env) as pump:
        pump.pair()
        pump.fill_and_program()
        before = pump.pumpctl("--json", "status").json
        pump.advance("1d")
        rng = random.Random(11)
        with _raw_client(pump) as attacker:
            for _ in range(4 * FAILURES):
                attacker.link.send(_invented_session_frame(rng))
            attacker.identify()  # every forged frame has been answered (refused) by now
        stop = pump.pumpctl("--json", "--yes", "stop")
        assert stop.code == 0, stop
        status = pump.pumpctl("--json", "status").json
    assert before["reservoir_ml"] == pytest.approx(20.0)
    assert status["reservoir_ml"] == pytest.approx(19.75)
    assert status["mode"].lower() == "stopped"
    stopped = [a for a in status["alarms"] if a["name"] == "pump_stopped"]
    assert stopped and stopped[0]["critical"]
