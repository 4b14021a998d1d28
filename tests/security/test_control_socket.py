"""Finding 10 of issue 9: the bench control socket of ``vpump serve``.

The attacks: (1) one bench client sending a byte every few seconds without a newline froze the
whole serve loop - the pump stopped answering ``pumpctl`` and every other bench client - since
each connection was read blocking, with a 5 s timeout that every byte renewed; (2) the socket's
mode followed the umask, 0777 under umask 0, so another local user opened the wand (the
pairing window) and injected faults; (3) without ``--control`` the socket went to a predictable
path in /tmp (``vpump-<pid>.ctl``); (4) ``--control PATH`` unlinked whatever was at PATH.

The specification: bench clients are served without blocking the pump (per-connection buffers,
an idle timeout, a maximum request size, a partial line kept until its newline); the socket is
created 0600 whatever the umask; the default socket is ``control.sock`` in a fresh private
(0700) directory; ``--control`` replaces only a stale socket and refuses anything else with a
clear message and a non-zero exit, leaving it untouched.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hw_sim.bench import control as control_module
from hw_sim.bench.control import ControlServer, control_call
from hw_sim.link.launcher import start_pump
from tests.integration.harness import START_DEADLINE_S, VPUMP, run_vpump, served_pump, xdg_env


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


class SlowLoris:
    """A bench client that trickles one byte of a request every ``every_s``, never a newline."""

    def __init__(self, path: str, every_s: float = 0.5) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-loris", daemon=True)
        self.sent = 0

    TEXT = b'{"cmd": "time"' + b" " * 10_000

    def _run(self) -> None:
        while not self._stop.wait(self._every_s) and self.sent < len(self.TEXT):
            try:
                self.sock.send(self.TEXT[self.sent : self.sent + 1])
            except OSError:
                return
            self.sent += 1

    def __enter__(self) -> SlowLoris:
        self._thread.start()
        return self

    def stop_trickling(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def __exit__(self, *exc: object) -> None:
        self.stop_trickling()
        self.sock.close()


def test_a_slow_loris_bench_client_freezes_neither_the_pump_nor_other_bench_clients(
    tmp_path: Path,
) -> None:
    env = xdg_env(tmp_path)
    with served_pump(tmp_path, env) as pump:
        pump.pair()
        with SlowLoris(pump.control) as loris:
            time.sleep(1.2)  # the loris is mid-request, a byte at a time
            started = time.monotonic()
            answer = control_call(pump.control, {"cmd": "hw-status"}, timeout=3.0)
            bench_s = time.monotonic() - started
            status = pump.pumpctl("--json", "status", timeout_s=1.0, retries=2)
            assert loris.sent >= 2
            # the partial line was kept: its end completes it and it is answered
            loris.stop_trickling()
            loris.sock.settimeout(3.0)
            loris.sock.sendall(loris.TEXT[loris.sent :] + b"}\n")
            reply = loris.sock.recv(4096)
        assert answer["ok"] and bench_s < 1.0, bench_s
        assert status.code == 0, status
        assert b'"ok": true' in reply and b'"time"' in reply, reply


def _socket_mode(path: str) -> int:
    info = os.stat(path)
    assert stat.S_ISSOCK(info.st_mode)
    return stat.S_IMODE(info.st_mode)


def test_the_control_socket_is_created_0600_even_under_umask_0(tmp_path: Path) -> None:
    env = xdg_env(tmp_path)
    with umask(0), served_pump(tmp_path, env) as pump:
        assert _socket_mode(pump.control) == 0o600
        pump.bench("time")  # and it works


class DefaultServe:
    """``vpump serve`` without --control: where does the socket go?"""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.pump = start_pump(
            state=tmp_path / "p.nvm", env=env, command=VPUMP, timeout_s=START_DEADLINE_S
        )
        self.control = self.pump.control

    def stop(self) -> int:
        return self.pump.stop(timeout_s=15)


def test_the_default_socket_is_in_a_fresh_private_directory(tmp_path: Path) -> None:
    env = xdg_env(tmp_path)
    with umask(0):
        first = DefaultServe(tmp_path / "a", env)
        second = DefaultServe(tmp_path / "b", env)
    try:
        for served in (first, second):
            directory = Path(served.control).parent
            assert directory.parent == Path(env["XDG_RUNTIME_DIR"])
            assert stat.S_IMODE(directory.stat().st_mode) == 0o700
            assert directory.stat().st_uid == os.getuid()
            assert _socket_mode(served.control) == 0o600
            assert control_call(served.control, {"cmd": "time"})["ok"]
        assert Path(first.control).parent != Path(second.control).parent  # not predictable
    finally:
        codes = (first.stop(), second.stop())
    assert codes == (0, 0)
    assert not Path(first.control).parent.exists()  # removed at exit


def _serve_refusing(tmp_path: Path, env: dict[str, str], control: Path) -> str:
    done = run_vpump(
        "serve",
        "--lockstep",
        "--state",
        str(tmp_path / "r.nvm"),
        "--control",
        str(control),
        env=env,
    )
    assert done.returncode != 0, f"serve accepted --control {control}: {done.stdout}"
    assert "PORT" not in done.stdout
    return done.stderr


def test_a_regular_file_at_control_is_left_untouched_and_serve_refuses(tmp_path: Path) -> None:
    env = xdg_env(tmp_path)
    victim = tmp_path / "notes.txt"
    victim.write_text("the clinician's notes\n")
    err = _serve_refusing(tmp_path, env, victim)
    assert "regular file" in err and "refusing" in err, err
    assert victim.read_text() == "the clinician's notes\n"


def test_a_directory_a_link_or_a_live_socket_at_control_is_refused(tmp_path: Path) -> None:
    env = xdg_env(tmp_path)
    directory = tmp_path / "a-directory"
    directory.mkdir()
    assert "directory" in _serve_refusing(tmp_path, env, directory)
    assert directory.is_dir()
    link = tmp_path / "a-link"
    link.symlink_to(tmp_path / "elsewhere")
    assert "symbolic link" in _serve_refusing(tmp_path, env, link)
    assert link.is_symlink()
    with served_pump(tmp_path, env) as pump:
        err = _serve_refusing(tmp_path, env, Path(pump.control))
        assert "already running" in err, err
        assert pump.bench("time")["ok"]  # the first pump keeps its socket


def test_a_stale_socket_at_control_is_replaced(tmp_path: Path) -> None:
    env = xdg_env(tmp_path)
    stale = tmp_path / "run" / "bench.ctl"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(stale))
    dead.close()  # a server that died without removing its socket
    with served_pump(tmp_path, env) as pump:
        assert pump.control == str(stale)
        assert pump.bench("time")["ok"]


# -- the server's limits, in process ------------------------------------------------------------


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ControlServer]:
    served = ControlServer(tmp_path / "c.sock")
    yield served
    served.close()


def _accepted(server: ControlServer, now: float) -> tuple[socket.socket, socket.socket]:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(server.path)
    deadline = time.monotonic() + 2
    while (conn := server.accept(now)) is None:
        assert time.monotonic() < deadline
    return client, conn


def test_an_idle_bench_client_is_closed_after_the_idle_timeout(server: ControlServer) -> None:
    client, conn = _accepted(server, now=100.0)
    client.sendall(b'{"cmd": "ti')
    time.sleep(0.05)
    assert server.read_requests(conn, 101.0) == ([], True)  # partial: kept, nothing blocks
    assert server.expired(100.0 + control_module.IDLE_TIMEOUT_S - 1) == []
    assert server.expired(100.0 + control_module.IDLE_TIMEOUT_S) == [conn]
    client.close()


def test_a_request_longer_than_the_limit_is_refused_and_the_client_dropped(
    server: ControlServer,
) -> None:
    client, conn = _accepted(server, now=0.0)
    client.settimeout(2.0)
    client.sendall(b" " * (control_module.MAX_REQUEST_BYTES + 10))  # and no newline
    deadline = time.monotonic() + 2
    alive = True
    while alive and time.monotonic() < deadline:
        _requests, alive = server.read_requests(conn, 0.0)
    assert not alive
    assert b"longer than" in client.recv(4096)
    client.close()
