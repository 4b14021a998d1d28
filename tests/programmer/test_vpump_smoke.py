"""Smoke test: the programmer library against a real ``vpump serve`` process over its pty.

The integration suite proper (every command, restarts, socat, socket://) lives elsewhere; this
only proves the library and the virtual pump agree on the wire end to end.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from programmer import therapy
from programmer.client import PumpClient
from programmer.keystore import KeyStore
from programmer.transport import open_transport
from protocol import Role

pytest.importorskip("hw_sim.cli.serve_cmd", reason="vpump serve is not available")
from hw_sim.link.launcher import LaunchError, start_pump

pytestmark = pytest.mark.integration


def vpump(*args: str) -> list[str]:
    return [sys.executable, "-m", "hw_sim.cli.main", *args]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    try:
        pump = start_pump(state=tmp_path / "pump.nvm", command=vpump())
    except LaunchError as exc:
        pytest.skip(f"vpump serve did not announce its port: {exc}")
    try:
        yield pump.port, pump.control
    finally:
        pump.stop(timeout_s=5)


def bench(control: str, *args: str) -> None:
    subprocess.run(vpump("ctl", "--control", control, *args), check=True, capture_output=True)


def test_pair_fill_program_and_read_status_from_a_real_virtual_pump(
    served: tuple[str, str], tmp_path: Path
) -> None:
    port, control = served
    bench(control, "wand", "on")
    keys = KeyStore(tmp_path / "keys.json")
    with PumpClient(open_transport(port, timeout=1.0), keys, timeout_s=1.0) as client:
        # the person at the bench accepts the code the programmer shows
        client.pair(
            Role.CLINICIAN,
            on_waiting=lambda code: bench(control, "pairing", "accept", code.replace(" ", "")),
        )
        client.open_session()
        client.refill(0, 20_000_000, 2000)
        staged = client.stage(therapy.continuous(500_000))
        client.commit(staged, staged.warnings)
        status = client.status()
    assert status["daily_dose_ng"] == 500_000
    assert status["rate_nl_per_day"] == 250_000  # 500 mcg/day at 2000 mcg/mL
    assert status["reservoir_nl"] == 20_000_000
    assert client.link.counters.stale_replies == 0
