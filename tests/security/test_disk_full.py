"""Finding 8: a full disk must not kill the pump.

The attack (or plain bad luck): the disk holding ``--state`` fills up.  Before the fix ENOSPC
made ``vpump serve`` exit with a traceback within seconds in real time (the once-a-second save of
the hardware state raised out of the loop), or in lock step the error was swallowed by the bench
handler and the pump crashed at the next save; the clean-shutdown save failed too and left
``board.json.tmp`` behind, and the simulated days since the last save were lost.

Specification:

- an NVM write the memory refuses is the firmware's MEMORY_ERROR alarm: the pump keeps
  delivering from RAM exactly as before, retries, clears the alarm once everything unsaved has
  reached the memory, and says so in STATUS (and on the serve console);
- a failed save of the hardware-truth side file never stops ``vpump serve``: one clear message on
  stderr, no temporary file left, another message once saving works again; meanwhile the
  hardware state goes to a reserve inside the image (allocated with it), so a shutdown on a full
  disk still saves everything and the restart resumes where the pump stopped.  Only when even
  the reserve fails (an old sparse image) does a shutdown say so and exit 1; never a traceback.

How ENOSPC is produced: in-process, an ``OSError(ENOSPC)`` injected under ``hw_sim.hardware.nvm_file``
(the real ``os.pwrite`` replaced) and under ``hw_sim.board.board_state`` (the real ``os.write``); with
real processes, a real full file system: a small tmpfs mounted for the test.  Mounting needs
root, so those tests are skipped with the reason elsewhere (``RLIMIT_FSIZE`` would give EFBIG and
SIGXFSZ, not ENOSPC; a loop device needs root as well).  A new image has its blocks allocated
when it is created, so on a full disk it is the side file that fails; to make real NVM writes hit
ENOSPC the test copies a pump's image sparse (``cp --sparse=always``), as an image made before
allocation or on a file system without it would be.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hw_sim.board import board_state
from hw_sim.board.board import VirtualBoard
from hw_sim.hardware.nvm_file import FileNvm
from hw_sim.profiles.loader import load_profile
from protocol.enums import AlarmId, LogEvent, LogId
from protocol.units import DAY_S as DAY
from tests.boards import start_therapy
from tests.integration.harness import ServedPump, xdg_env

PROFILE = load_profile("vp20")


def _running(nvm: FileNvm | None = None, seed: int = 3) -> VirtualBoard:
    return start_therapy(VirtualBoard(PROFILE, seed, nvm))


def _alarm_ids(board: VirtualBoard) -> set[AlarmId]:
    return {a.alarm_id for a in board.firmware.status(board.now).alarms}


def _nvm_write_failing(board: VirtualBoard) -> bool:
    """Read afresh each time (an assert on the attribute itself would pin its type for mypy)."""
    return board.firmware.nvm_write_failing


def test_enospc_from_the_nvm_file_is_memory_error_and_delivery_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = PROFILE.hardware.nvm_size_bytes
    nvm = FileNvm(tmp_path / "pump.nvm", size)
    board = _running(nvm)
    twin = _running()  # the same pump on memory that never fails
    real_pwrite = os.pwrite

    def full_disk(fd: int, data: Any, offset: int) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "pwrite", full_disk)
    start = board.now
    board.run_until(start + 3 * DAY)
    twin.run_until(start + 3 * DAY)
    assert AlarmId.MEMORY_ERROR in _alarm_ids(board)
    assert _nvm_write_failing(board)
    # delivery is exactly that of the twin: the motor and the firmware's accounting went on
    assert board.motor.strokes_total == twin.motor.strokes_total > 0
    status, twin_status = board.firmware.status(board.now), twin.firmware.status(twin.now)
    assert status.delivered_nl == twin_status.delivered_nl
    assert status.reservoir_nl == twin_status.reservoir_nl
    assert status.daily_dose_ng == 500_000
    stopped_at = status.delivered_nl

    monkeypatch.setattr(os, "pwrite", real_pwrite)  # space again
    board.run_until(board.now + 120)  # the retry interval is 60 s of board time
    assert AlarmId.MEMORY_ERROR not in _alarm_ids(board)
    assert not _nvm_write_failing(board)
    # what was held in RAM reached the image: a power loss now loses nothing of it
    board.power_loss()
    again = board.firmware.status(board.now)
    assert again.delivered_nl >= stopped_at
    records = board.firmware.log_read(LogId.DAILY, 0, 10_000)  # the daily totals too
    daily = [r for r in records if r.event == LogEvent.DAILY_TOTAL]
    assert len(daily) >= 3
    nvm.close()


def test_a_bench_refused_write_raises_and_clears_memory_error_with_log_records(
    tmp_path: Path,
) -> None:
    board = _running(FileNvm(tmp_path / "pump.nvm", PROFILE.hardware.nvm_size_bytes))
    nvm = board.nvm
    assert isinstance(nvm, FileNvm)
    nvm.fail_writes(errno.EIO)
    board.run_until(board.now + DAY)
    alarms = board.firmware.status(board.now).alarms
    assert [a.alarm_id for a in alarms if a.alarm_id is AlarmId.MEMORY_ERROR]
    assert all(a.critical for a in alarms if a.alarm_id is AlarmId.MEMORY_ERROR)
    nvm.fail_writes(None)
    board.run_until(board.now + 61)
    assert AlarmId.MEMORY_ERROR not in _alarm_ids(board)
    events = [(r.event, r.a) for r in board.firmware.log_read(LogId.ALARM, 0, 1000)]
    raised = (LogEvent.ALARM_RAISED, AlarmId.MEMORY_ERROR)
    cleared = (LogEvent.ALARM_CLEARED, AlarmId.MEMORY_ERROR)
    assert raised in events and cleared in events
    nvm.close()


def test_a_side_file_save_on_a_full_disk_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    board = _running()
    path = tmp_path / "pump.nvm.board.json"
    board_state.save(board, path, clean=False)
    before = path.read_bytes()
    board.run_until(board.now + DAY)
    real_write = os.write

    def full_disk(fd: int, data: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(OSError) as raised:
        board_state.save(board, path, clean=True)
    monkeypatch.setattr(os, "write", real_write)
    assert raised.value.errno == errno.ENOSPC
    assert not board_state.tmp_path(path).exists()
    assert path.read_bytes() == before  # the last good save is untouched


# -- real processes on a real full file system -------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs of its own (root only): a file system that really fills up."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs (a real ENOSPC)")
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True, check=False)


def fill(disk: Path) -> Path:
    """Fill ``disk`` to the last byte; the filler file is returned (remove it to free space)."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as handle:
        for chunk in (1 << 16, 4096, 512, 1):
            while True:
                try:
                    handle.write(b"\xa5" * chunk)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    break
    return filler


def _filled_and_programmed(pump: ServedPump) -> None:
    """Paired, 20 mL of 2000 mcg/mL at 100 mcg/day (0.05 mL a day: 400 days of drug)."""
    pump.pair()
    pump.fill_and_program(dose="100mcg/day")


def _wait_for(predicate: Any, what: str, deadline_s: float = 20.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _alarm_names(pump: ServedPump) -> set[str]:
    result = pump.pumpctl("--json", "status", timeout_s=2.0, retries=2)
    assert result.code == 0, result
    return {alarm["name"] for alarm in result.json["alarms"]}


def test_a_full_disk_in_real_time_keeps_serve_running_and_says_so(
    tmp_path: Path, small_disk: Path
) -> None:
    env = xdg_env(tmp_path)
    state = small_disk / "pump.nvm"
    side = board_state.sidecar_path(state)
    setup = ServedPump(tmp_path, env, state=state).start()  # lock step: pair, fill, program
    _filled_and_programmed(setup)
    assert setup.stop() == 0
    pump = ServedPump(tmp_path, env, state=state, lockstep=False, extra=("--time-scale", "36000"))
    pump.start()
    try:
        filler = fill(small_disk)
        # at 36000x the firmware wakes about every 0.4 s (4 h of pump time): the loop's
        # once-a-second saves fail from now on, and every bench request forces one more
        _wait_for(lambda: "cannot save the hardware state" in pump.log(), "the message")
        time.sleep(3.0)
        for _ in range(3):
            pump.bench("hw-status")
        pump.check_alive()
        delivered = pump.bench("hw-status")["delivered_nl"]
        status = pump.pumpctl("--json", "status", timeout_s=2.0, retries=2)
        assert status.code == 0, status
        _wait_for(lambda: pump.bench("hw-status")["delivered_nl"] > delivered, "delivery")
        assert pump.log().count("cannot save the hardware state") == 1
        assert "Traceback" not in pump.log()
        assert not board_state.tmp_path(side).exists()
        filler.unlink()
        _wait_for(lambda: "hardware state saved again" in pump.log(), "the recovery message")
        fill(small_disk)
        _wait_for(lambda: pump.log().count("cannot save the hardware state") == 2, "failing")
        assert "kept in the image's reserve meanwhile" in pump.log()
        last_seen = pump.now()
        assert pump.process is not None
        pump.process.send_signal(signal.SIGTERM)
        code = pump.process.wait(timeout=15)
        if pump.process.stdout is not None:
            pump.process.stdout.close()
        pump.process = None
        assert code == 0, pump.log()  # everything saved: the hardware state in the reserve
        assert "kept in the image's reserve; the next start resumes from it" in pump.log()
        assert "Traceback" not in pump.log()
        assert not board_state.tmp_path(side).exists()
        side_time = json.loads(side.read_text())["now"]
        (small_disk / "filler").unlink()
        pump.start()  # the same pump again, from its shutdown: no simulated time lost
        assert "restored the hardware state kept in the image's reserve" in pump.log()
        resumed = pump.now()
        assert resumed >= last_seen > side_time
        assert pump.stop() == 0
    finally:
        pump.kill()


def test_nvm_writes_refused_by_a_full_disk_are_memory_error_until_space_returns(
    tmp_path: Path, small_disk: Path
) -> None:
    env = xdg_env(tmp_path)
    made = ServedPump(tmp_path, env, state=tmp_path / "made" / "pump.nvm")
    (tmp_path / "made").mkdir()
    made.start()
    _filled_and_programmed(made)
    assert made.stop() == 0
    state = small_disk / "pump.nvm"
    for source in (made.state, board_state.sidecar_path(made.state)):
        subprocess.run(["cp", "--sparse=always", str(source), str(small_disk)], check=True)
    pump = ServedPump(tmp_path, env, state=state)
    pump.start()
    try:
        assert "memory_error" not in _alarm_names(pump)
        filler = fill(small_disk)
        before = pump.bench("hw-status")["delivered_nl"]
        pump.advance("150d")  # 150 daily totals run into the image's holes: ENOSPC
        pump.check_alive()
        assert "memory_error" in _alarm_names(pump)
        after = pump.bench("hw-status")["delivered_nl"]
        assert after - before == pytest.approx(150 * 50_000, rel=0.02)  # delivery went on
        assert "MEMORY_ERROR raised" in pump.log()
        filler.unlink()
        pump.advance("2m")
        assert "memory_error" not in _alarm_names(pump)
        assert "MEMORY_ERROR cleared" in pump.log()
        assert "Traceback" not in pump.log()
        assert pump.stop() == 0
        pump.start()  # the records held in RAM while the disk was full are in the image now
        log = pump.pumpctl("--json", "log", "daily", timeout_s=2.0, retries=2)
        assert log.code == 0, log
        daily = [r for r in log.json["records"] if r["event"] == "daily_total"]
        assert len(daily) >= 150
        assert pump.stop() == 0
    finally:
        pump.kill()
