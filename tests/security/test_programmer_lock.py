"""Finding 7 of issue 9: one programmer at a time on a pump, whatever the transport.

The attack (or the accident): only plain device paths got pyserial's exclusive port lock, so two
``pumpctl`` reaching one pump through ``spy://``, ``socket://`` or ``rfc2217://`` both talked at
once, killed each other's sessions and could leave a STOP uncertain.

The specification: the programmer takes its own lock per pump link before opening any port (the
device's real path, the inner port of ``spy://``, host:port of ``socket://``/``rfc2217://``); a
second ``pumpctl`` is refused at once (exit 4, nothing sent) with the holder's pid and command,
or waits for it with ``--wait-lock SECONDS`` / ``$PUMP_WAIT_LOCK``; a killed holder frees the lock
at once (flock); pyserial's raw lock error is replaced by a clear message.  Real ``vpump serve``,
real ``pumpctl`` processes, real socat.
"""

from __future__ import annotations

import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from programmer.portlock import lock_key
from tests.integration.harness import (
    PUMPCTL,
    SOCAT,
    ServedPump,
    Socat,
    run_pumpctl,
    served_pump,
    xdg_env,
)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return xdg_env(tmp_path)


@pytest.fixture
def pump(tmp_path: Path, env: dict[str, str]) -> Iterator[ServedPump]:
    with served_pump(tmp_path, env) as served:
        served.pair()
        yield served


@pytest.fixture
def socket_url(pump: ServedPump) -> Iterator[str]:
    """A TCP server that bridges every connection to the pump's pty (socat ``fork``)."""
    if SOCAT is None:
        pytest.skip("socat is not installed (apt-get install socat)")
    bridge = Socat("TCP-LISTEN:0,bind=127.0.0.1,reuseaddr,fork", f"FILE:{pump.port},raw,echo=0")
    try:
        yield f"socket://127.0.0.1:{bridge.listening_port()}"
    finally:
        bridge.close()


def _lock_dir(env: dict[str, str]) -> Path:
    return Path(env["XDG_RUNTIME_DIR"]) / "intrathecal-pump" / "locks"


def start_holder(url: str, env: dict[str, str], seconds: float = 4.0) -> subprocess.Popen[str]:
    """``pumpctl watch`` holding the pump for ``seconds``; returns once it holds the lock."""
    # a generous reply timeout: on a loaded machine a slow reply must not end the holder early
    argv = [*PUMPCTL, "--port", url, "--timeout", "2", "watch", "--duration", str(seconds)]
    holder = subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    end = time.monotonic() + 20
    while time.monotonic() < end:
        assert holder.poll() is None, holder.communicate()
        for lock in _lock_dir(env).glob("*.lock") if _lock_dir(env).exists() else []:
            if f"pid {holder.pid}:" in lock.read_text(errors="replace"):
                return holder
        time.sleep(0.02)
    holder.kill()
    raise AssertionError("the holder never took the lock")


def finish(holder: subprocess.Popen[str]) -> None:
    out, err = holder.communicate(timeout=30)
    assert holder.returncode == 0, (out, err)


def test_a_second_programmer_over_socket_url_is_refused_naming_the_holder(
    pump: ServedPump, socket_url: str
) -> None:
    holder = start_holder(socket_url, pump.env)
    try:
        second = pump.pumpctl("--yes", "stop", port=socket_url)
        assert second.code == 4, second
        assert "in use by another programmer" in second.err
        assert f"pid {holder.pid}" in second.err and "watch" in second.err
        assert "--wait-lock" in second.err
    finally:
        finish(holder)  # the holder's session was not disturbed: it exits 0


def test_socket_and_plain_path_and_spy_share_one_lock(
    pump: ServedPump, socket_url: str, tmp_path: Path
) -> None:
    holder = start_holder(pump.port, pump.env)
    try:
        spied = pump.pumpctl("status", port=f"spy://{pump.port}?file={tmp_path / 'trace.txt'}")
        assert spied.code == 4 and f"pid {holder.pid}" in spied.err, spied
    finally:
        finish(holder)
    holder = start_holder(f"spy://{pump.port}?file={tmp_path / 'trace2.txt'}", pump.env)
    try:
        plain = pump.pumpctl("status")
        assert plain.code == 4 and f"pid {holder.pid}" in plain.err, plain
    finally:
        finish(holder)


def spy_url(pump: ServedPump, tmp_path: Path, name: str = "trace.txt") -> str:
    return f"spy://{pump.port}?file={tmp_path / name}"


# socat's ``fork`` bridge leaves the previous connection's child reading the pty for a moment
# after it closes, so a programmer that follows another at once may lose a reply to it; the
# waiting tests therefore use ``spy://`` on the pty (also a URL that had no lock before).


def test_wait_lock_waits_for_the_holder_then_runs(pump: ServedPump, tmp_path: Path) -> None:
    url = spy_url(pump, tmp_path)
    holder = start_holder(url, pump.env, seconds=2.0)
    started = time.monotonic()
    waited = pump.pumpctl("--json", "--wait-lock", "25", "status", port=url, timeout_s=2.0)
    assert waited.code == 0, waited
    assert holder.poll() is not None  # it ran only after the holder had finished
    finish(holder)
    assert time.monotonic() - started < 25

    holder = start_holder(url, pump.env, seconds=2.0)
    by_env = run_pumpctl(url, "status", env={**pump.env, "PUMP_WAIT_LOCK": "25"}, timeout_s=2.0)
    assert by_env.code == 0, by_env
    finish(holder)


def test_wait_lock_gives_up_after_its_time(pump: ServedPump, socket_url: str) -> None:
    holder = start_holder(socket_url, pump.env, seconds=5.0)
    try:
        started = time.monotonic()
        second = pump.pumpctl("--wait-lock", "0.5", "status", port=socket_url)
        assert second.code == 4 and "after waiting 0.5 s" in second.err, second
        assert time.monotonic() - started < 4.5
    finally:
        finish(holder)


def test_a_killed_holder_frees_the_lock(pump: ServedPump, tmp_path: Path) -> None:
    url = spy_url(pump, tmp_path)
    holder = start_holder(url, pump.env, seconds=30.0)
    holder.kill()
    holder.communicate(timeout=10)
    after = pump.pumpctl("--json", "status", port=url)
    assert after.code == 0, after


def test_the_lock_directory_is_private(pump: ServedPump) -> None:
    assert pump.pumpctl("status").code == 0
    for place in (_lock_dir(pump.env).parent, _lock_dir(pump.env)):
        assert stat.S_IMODE(place.stat().st_mode) == 0o700
    for lock in _lock_dir(pump.env).iterdir():
        assert stat.S_IMODE(lock.stat().st_mode) == 0o600


def test_another_programs_exclusive_lock_gets_a_clear_message(pump: ServedPump) -> None:
    other = serial.Serial(pump.port, exclusive=True)  # e.g. a terminal emulator
    try:
        refused = pump.pumpctl("status")
    finally:
        other.close()
    assert refused.code == 4, refused
    assert "in use by another program" in refused.err
    assert "Could not exclusively lock" not in refused.err
    assert "Errno" not in refused.err


def test_lock_keys_name_the_pump_link_not_the_url_spelling(tmp_path: Path) -> None:
    device = tmp_path / "ttyUSB0"
    device.touch()
    alias = tmp_path / "by-id-pump"
    alias.symlink_to(device)
    assert lock_key(str(alias)) == lock_key(str(device)) == f"dev:{device}"
    assert lock_key(f"spy://{device}?file=/tmp/x&raw") == lock_key(str(device))
    assert (
        lock_key("socket://localhost:7000")
        == lock_key("rfc2217://127.0.0.1:7000?ign_set_control")
        == lock_key("socket://LOCALHOST:7000")
    )
    assert lock_key("socket://127.0.0.1:7000") != lock_key("socket://127.0.0.1:7001")
    assert os.path.isabs(lock_key("loop://")[len("loop:") :]) is False
