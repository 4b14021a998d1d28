"""Finding 9: two ``vpump serve`` on one ``--state``.

The attack (or a slip): a second ``vpump serve --state pump.nvm`` started while the first still
runs.  Before the fix both ran: each wrote the same image and side file (the last writer won,
silently discarding the other's therapy and hardware state) and log sequence numbers were issued
twice.  Specification: the image is locked (``flock``, exclusive, for the life of the process);
a second instance is refused at once with a clear message naming the process that holds the
lock and a non-zero exit, and changes no file; once the first has stopped the state opens again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from hw_sim.board import board_state
from tests.integration.harness import run_vpump, served_pump, xdg_env


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_second_serve_on_the_same_state_is_refused_naming_the_first(tmp_path: Path) -> None:
    env = xdg_env(tmp_path)
    state = tmp_path / "pump.nvm"
    side = board_state.sidecar_path(state)
    with served_pump(tmp_path, env, state=state) as first:
        first.advance("1d")
        before = (_digest(state), _digest(side))
        assert first.process is not None
        second = run_vpump(
            "serve",
            "--lockstep",
            "--state",
            str(state),
            "--control",
            str(tmp_path / "run" / "second.ctl"),
            env=env,
        )
        assert second.returncode == 1, second
        assert "PORT" not in second.stdout  # it never started serving
        assert "in use by process" in second.stderr, second.stderr
        assert str(first.process.pid) in second.stderr
        assert "Traceback" not in second.stderr
        assert (_digest(state), _digest(side)) == before  # nothing written by the second
        assert not (tmp_path / "run" / "second.ctl").exists()
        first.check_alive()
        assert first.identify()["serial_number"] == first.identity["serial_number"]
    # the first stopped (and released its lock): the same state serves again
    with served_pump(tmp_path, env, state=state) as again:
        assert again.identity["serial_number"] == first.identity["serial_number"]
