"""Beyond one machine: the suite's core against a separately started pump given by --pump-port,
and through ser2net as rfc2217:// (how a lab exports USB-serial devices from other hosts)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from protocol import Role

from .conftest import Launcher
from .target import PumpUnderTest, pair_with_wand, wait_ready

#: The subset run through another transport: identify, framing, authentication, every message.
CORE = ["test_identify.py", "test_framing.py", "test_messages.py"]
HERE = Path(__file__).parent


def run_suite(tmp_path: Path, url: str, key_file: Path, control: str | None) -> str:
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
    # as a team runs the installed suite: by module name, options from the pytest11 plugin
    args += ["--pyargs", *(f"conformance.{name.removesuffix('.py')}" for name in CORE)]
    args += ["--pump-port", url, "--pump-key", str(key_file), "--rootdir", str(HERE.parent.parent)]
    if control:
        args += ["--pump-control", control]
    done = subprocess.run(args, capture_output=True, text=True, timeout=150, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return done.stdout


def _key_file(pump: PumpUnderTest, tmp_path: Path) -> Path:
    assert pump.bench is not None
    path = tmp_path / "key.json"
    pair_with_wand(pump, pump.bench, Role.CLINICIAN).save(path)
    return path


@pytest.fixture
def own_pump(external_pump: PumpUnderTest | None, launcher: Launcher) -> PumpUnderTest:
    if external_pump is not None:
        pytest.skip("starts its own pumps to export them")
    pump = launcher.start()
    return pump


@pytest.mark.timeout(180)
def test_the_core_suite_passes_against_a_pump_given_by_pump_port(
    own_pump: PumpUnderTest, launcher: Launcher, tmp_path: Path
) -> None:
    assert own_pump.bench is not None
    out = run_suite(tmp_path, own_pump.url, _key_file(own_pump, tmp_path), own_pump.bench.path)
    assert " passed" in out
    launcher.stop(own_pump)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SER2NET_CONFIG = """%YAML 1.1
---
connection: &pump
    accepter: telnet(rfc2217),tcp,127.0.0.1,{port}
    enable: on
    options:
      kickolduser: true
    connector: serialdev,{device},115200n81,local
"""


@pytest.mark.timeout(180)
def test_the_core_suite_passes_over_rfc2217_through_ser2net(
    own_pump: PumpUnderTest, launcher: Launcher, tmp_path: Path
) -> None:
    ser2net = shutil.which("ser2net") or (
        "/usr/sbin/ser2net" if Path("/usr/sbin/ser2net").exists() else None
    )
    if ser2net is None:
        pytest.skip("ser2net is not installed (Debian: apt-get install -y ser2net)")
    assert own_pump.bench is not None
    key_file = _key_file(own_pump, tmp_path)
    port = _free_port()
    config = tmp_path / "ser2net.yaml"
    config.write_text(SER2NET_CONFIG.format(port=port, device=own_pump.url), encoding="utf-8")
    proc = subprocess.Popen(
        [ser2net, "-n", "-c", str(config), "-P", str(tmp_path / "ser2net.pid")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        # A pty has no modem lines: ser2net cannot confirm SET_CONTROL, so do not wait for it.
        url = f"rfc2217://127.0.0.1:{port}?ign_set_control"
        wait_ready(url, attempts=40)  # readiness: HELLO through the exporter, with retries
        assert " passed" in run_suite(tmp_path, url, key_file, own_pump.bench.path)
    finally:
        proc.terminate()
        proc.wait(10)
        launcher.stop(own_pump)
