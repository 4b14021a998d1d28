"""The launcher (hw_sim.link.launcher): ready when announced, stopped cleanly, errors that say why.

The README's "A virtual pump in your own test rig" example is run here as written, so the
documented way to start a pump cannot drift from the code.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from hw_sim.link.launcher import LaunchError, launch_pump, start_pump

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration

#: A stand-in for vpump that announces itself and then ignores SIGTERM (extra args ignored).
STUBBORN = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('PORT /dev/null', flush=True)\n"
    "print('CONTROL /nonexistent', flush=True)\n"
    "time.sleep(60)\n"
)
#: A stand-in that never announces itself.
SILENT = "import time; time.sleep(60)\n"


def test_a_launched_pump_answers_its_bench_and_stops_cleanly(tmp_path: Path) -> None:
    state = tmp_path / "pump.nvm"
    with launch_pump(state=state, seed=3, control=tmp_path / "bench.ctl") as pump:
        assert pump.port.startswith("/dev/") and pump.control == str(tmp_path / "bench.ctl")
        assert pump.alive()
        assert pump.bench("hw-status")["ok"]
        before = pump.bench("time")["time"]
        assert pump.bench("advance", duration="1h")["time"] == before + 3600  # lockstep
    assert pump.returncode == 0 and not pump.alive()
    assert state.exists() and Path(f"{state}.board.json").exists()
    assert "state flushed, bye" in pump.stderr()


def test_without_a_state_the_pump_lives_in_a_temporary_folder_removed_at_stop() -> None:
    with launch_pump() as pump:
        args = pump.process.args
        assert isinstance(args, list)
        state = Path(str(args[args.index("--state") + 1]))
        assert state.exists()
    assert pump.returncode == 0
    assert not state.parent.exists()


def test_a_sigterm_right_after_the_announcement_still_flushes_the_state(tmp_path: Path) -> None:
    state = tmp_path / "pump.nvm"
    for start in range(3):  # stopped as soon as PORT/CONTROL are read: no time to install later
        pump = start_pump(state=state)
        assert pump.stop() == 0, pump.stderr()
        assert "state flushed, bye" in pump.stderr()
        assert (
            json.loads(Path(f"{state}.board.json").read_text())["binding"]["generation"]
            == start + 1
        )


def test_a_pump_that_cannot_start_raises_with_its_stderr(tmp_path: Path) -> None:
    with pytest.raises(LaunchError, match=r"(?s)exit 2.*unknown profile 'nope'"):
        start_pump(state=tmp_path / "pump.nvm", profile="nope")
    assert not (tmp_path / "pump.nvm").exists()


def test_a_pump_that_never_announces_itself_is_killed_at_the_deadline() -> None:
    with pytest.raises(LaunchError, match=r"did not announce itself within 0.5 s.*exit -9"):
        start_pump(command=[sys.executable, "-c", SILENT], timeout_s=0.5)


def test_a_pump_that_ignores_sigterm_is_killed_after_the_stop_timeout() -> None:
    pump = start_pump(command=[sys.executable, "-c", STUBBORN])
    assert (pump.port, pump.control) == ("/dev/null", "/nonexistent")
    assert pump.stop(timeout_s=0.5) == -9
    assert pump.stop() == -9  # again: nothing left to do


def test_with_link_the_link_line_is_read_too(tmp_path: Path) -> None:
    link = tmp_path / "pump-link"
    with launch_pump(state=tmp_path / "pump.nvm", extra_args=["--link", str(link)]) as pump:
        assert pump.link == str(link)
        assert link.resolve() == Path(pump.port).resolve()
    assert not link.exists()  # the pump removes its link at exit


def test_the_readme_example_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### A virtual pump in your own test rig", 1)[1]
    example = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert example is not None, "the README section has no python example"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    namespace: dict[str, object] = {"__name__": "readme_example"}
    exec(compile(example.group(1), "README.md", "exec"), namespace)
