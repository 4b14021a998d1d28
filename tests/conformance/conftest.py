"""Fixtures of the conformance suite: the device under test and clients on it.

By default every test module gets its own virtual pump (``vpump serve --lockstep`` in a
subprocess, state and control socket in the worker's own temporary directory, so pytest-xdist
workers never clash); ``fresh_pump`` starts one per test for tests that need a factory-fresh
device or that change security state.  With ``--pump-port`` every test talks to that one device;
``--pump-key`` gives it a pairing and ``--pump-control`` its bench.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hw_sim.link.launcher import RunningPump, start_pump
from protocol import Role

from .client import PumpKey, SuiteClient
from .target import STARTUP_TIMEOUT_S, BenchChannel, PumpUnderTest, wait_ready


class Launcher:
    """Starts virtual pumps in unique directories and stops every one it started."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.count = itertools.count(1)
        self.running: list[RunningPump] = []

    def start(self, seed: int | None = None, extra: tuple[str, ...] = ()) -> PumpUnderTest:
        n = next(self.count)
        workdir = self.base / f"p{n}"
        workdir.mkdir(parents=True, exist_ok=True)
        proc = start_pump(
            state=workdir / "pump.nvm",
            seed=seed if seed is not None else n,
            control=workdir / "bench.ctl",
            extra_args=extra,
            stderr=workdir / "stderr.log",
            timeout_s=STARTUP_TIMEOUT_S,
        )
        self.running.append(proc)
        pump = PumpUnderTest(proc.port, BenchChannel(proc.control), virtual=True, process=proc)
        pump.hello = wait_ready(proc.port)
        return pump

    def stop(self, pump: PumpUnderTest) -> None:
        proc = pump.process
        if proc is not None and proc in self.running:
            self.running.remove(proc)
            proc.stop(timeout_s=10)

    def stop_all(self) -> None:
        while self.running:
            self.running.pop().stop(timeout_s=10)


@pytest.fixture(scope="session")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    launcher = Launcher(tmp_path_factory.mktemp("vp", numbered=True))
    yield launcher
    launcher.stop_all()


@pytest.fixture(scope="session")
def external_pump(pytestconfig: pytest.Config) -> PumpUnderTest | None:
    """The device given with --pump-port, or None when the suite runs its own pumps."""
    url = pytestconfig.getoption("--pump-port")
    if not url:
        return None
    control = pytestconfig.getoption("--pump-control")
    key_file = pytestconfig.getoption("--pump-key")
    pump = PumpUnderTest(url, BenchChannel(control) if control else None)
    if not control:
        pump.failure_budget = int(os.environ.get("CONFORMANCE_FAILURE_BUDGET", "4"))
    if key_file:
        pump.key = PumpKey.load(key_file)
    pump.hello = wait_ready(url)
    return pump


@pytest.fixture(scope="module")
def pump(external_pump: PumpUnderTest | None, launcher: Launcher) -> Iterator[PumpUnderTest]:
    """The device for this module's tests (shared by the module)."""
    if external_pump is not None:
        yield external_pump
        return
    started = launcher.start()
    yield started
    launcher.stop(started)


@pytest.fixture
def fresh_pump(external_pump: PumpUnderTest | None, launcher: Launcher) -> Iterator[PumpUnderTest]:
    """A factory-fresh device for this test alone (only the suite's own virtual pumps)."""
    if external_pump is not None:
        pytest.skip("needs a factory-fresh device: runs against the suite's own virtual pumps")
    started = launcher.start()
    yield started
    launcher.stop(started)


@pytest.fixture
def isolated_pump(
    external_pump: PumpUnderTest | None, launcher: Launcher
) -> Iterator[PumpUnderTest]:
    """A device whose authentication-failure count this test may raise.

    Virtual: a pump of its own.  External: the shared device; afterwards the bench (if any)
    advances time past the lockout window so later tests can still open sessions.
    """
    if external_pump is not None:
        yield external_pump
        external_pump.forgive_failures()
        return
    started = launcher.start()
    yield started
    launcher.stop(started)


@pytest.fixture
def clinician(pump: PumpUnderTest) -> Iterator[SuiteClient]:
    """A client with an open clinician session on the module's device."""
    client = pump.session(Role.CLINICIAN)
    yield client
    client.close()
