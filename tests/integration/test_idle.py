"""An idle pump sleeps in the kernel: no busy polling, whether in lockstep or in real time."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from .harness import ServedPump

pytestmark = pytest.mark.integration

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


@pytest.mark.parametrize("lockstep", [True, False], ids=["lockstep", "real-time"])
def test_an_idle_pump_uses_no_measurable_cpu(
    tmp_path: Path, env: dict[str, str], lockstep: bool
) -> None:
    pump = ServedPump(tmp_path, env, lockstep=lockstep).start()
    try:
        assert pump.process is not None
        pid = pump.process.pid
        before = _cpu_seconds(pid)
        threading.Event().wait(2.0)  # the quantity under test is CPU used while nothing happens
        used = _cpu_seconds(pid) - before
        assert used <= 0.05, f"idle pump used {used:.2f} s of CPU in 2 s"
    finally:
        assert pump.stop() == 0
