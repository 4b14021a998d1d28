"""Fixtures of the integration suite: a real ``vpump serve`` per test, in its own directories.

Each test gets fresh XDG config/state/runtime directories under ``tmp_path`` (so the default key
store, journal and state paths are exercised and nothing leaks between tests), a lock-step pump
in a subprocess, and ``pumpctl`` run as a real process against it.  Teardown sends SIGTERM and
asserts the pump exits 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from programmer.cli import run as pumpctl_main

from .harness import SOCAT, Result, ServedPump, served_pump, xdg_env


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return xdg_env(tmp_path)


@pytest.fixture
def pump(tmp_path: Path, env: dict[str, str]) -> Iterator[ServedPump]:
    """A factory-fresh pump: empty, stopped, unpaired, simulated time frozen (lockstep)."""
    with served_pump(tmp_path, env) as served:
        yield served


@pytest.fixture
def paired_pump(pump: ServedPump) -> ServedPump:
    """``pump`` paired with this test's programmer (default key store under XDG_CONFIG_HOME)."""
    pump.pair()
    return pump


@pytest.fixture
def filled_pump(paired_pump: ServedPump) -> ServedPump:
    """Paired, filled with 20 mL of 2000 mcg/mL and running 500 mcg/day continuous."""
    paired_pump.fill_and_program()
    return paired_pump


InProcess = Callable[..., Result]


@pytest.fixture
def pumpctl_inproc(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> InProcess:
    """``pumpctl`` run in this process (same code path as the console script, no start-up cost)."""
    for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.delenv("PUMP_PORT", raising=False)

    def invoke(port: str, *args: str) -> Result:
        capsys.readouterr()
        code = pumpctl_main(["--port", port, "--timeout", "0.5", "--retries", "1", *args])
        out, err = capsys.readouterr()
        return Result(tuple(args), code, out, err)

    return invoke


@pytest.fixture
def socat() -> str:
    if SOCAT is None:
        pytest.skip("socat is not installed (apt-get install socat)")
    return SOCAT
