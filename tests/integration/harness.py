"""Real processes for the integration tests: ``vpump serve``, ``pumpctl``, socat.

Why: the integration suite proves that the two console commands agree over real
pseudo-terminals, sockets and serial URLs, exactly as a user runs them.  This module starts and
stops those processes (``vpump serve`` through hw_sim.link.launcher).  Readiness is always awaited
(the ``PORT``/``CONTROL`` lines and one identify, or the line socat prints once it listens), never
slept for; every wait has a deadline
so a broken build fails fast instead of hanging the suite.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hw_sim.bench.control import control_call
from hw_sim.link.launcher import LaunchError, RunningPump, start_pump
from programmer.client import PumpClient
from programmer.errors import ProgrammerError
from programmer.keystore import KeyStore
from programmer.transport import open_transport

BIN = Path(sys.executable).parent
START_DEADLINE_S = 20.0
COMMAND_DEADLINE_S = 30.0


def xdg_env(root: Path) -> dict[str, str]:
    """The environment of every process of one test: XDG directories inside ``root``."""
    env = dict(os.environ)
    for name, sub in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_RUNTIME_DIR", "run"),
    ):
        path = root / sub
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        env[name] = str(path)
    env.pop("PUMP_PORT", None)
    env.pop("PUMP_CONTROL", None)
    return env


def console(name: str, module: str) -> list[str]:
    """The installed console script ``name``, or the same entry point through this interpreter."""
    script = BIN / name
    if script.exists():
        return [str(script)]
    found = shutil.which(name)
    if found:
        return [found]
    return [sys.executable, "-c", f"import sys; from {module} import main; sys.exit(main())"]


VPUMP = console("vpump", "hw_sim.cli.main")
PUMPCTL = console("pumpctl", "programmer.cli")


class LineReader:
    """Lines from a child's pipe, each awaited with a deadline (a pipe read never hangs a test)."""

    def __init__(self, stream: Any) -> None:
        self._fd = stream.fileno()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._fd, selectors.EVENT_READ)
        self._buffer = b""
        self.seen: list[str] = []

    def readline(self, deadline_s: float) -> str:
        end = time.monotonic() + deadline_s
        while b"\n" not in self._buffer:
            remaining = end - time.monotonic()
            if remaining <= 0 or not self._selector.select(remaining):
                raise TimeoutError(f"waited {deadline_s:g} s for a line; got {self.seen!r}")
            chunk = os.read(self._fd, 4096)
            if not chunk:
                raise EOFError(f"the process closed its output after {self.seen!r}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        self.seen.append(line.decode(errors="replace"))
        return self.seen[-1]

    def close(self) -> None:
        self._selector.close()


@dataclass
class Result:
    """One finished ``pumpctl`` run."""

    args: tuple[str, ...]
    code: int
    out: str
    err: str

    @property
    def json(self) -> dict[str, Any]:
        try:
            document = json.loads(self.out)
        except ValueError as exc:
            raise AssertionError(
                f"stdout of pumpctl {self.args} is not one JSON document: {self}"
            ) from exc
        assert isinstance(document, dict)
        return document

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def run_vpump(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """``vpump ARGS`` as a real process without a terminal, run to its end (with a deadline)."""
    return subprocess.run(
        [*VPUMP, *args],
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=COMMAND_DEADLINE_S,
        check=False,
    )


def run_pumpctl(
    port: str | None, *args: str, env: Mapping[str, str], timeout_s: float = 0.5, retries: int = 1
) -> Result:
    """``pumpctl --port PORT --timeout T --retries N ARGS`` as a real process without a terminal."""
    argv = [*PUMPCTL]
    if port is not None:
        argv += ["--port", port]
    argv += ["--timeout", str(timeout_s), "--retries", str(retries), *args]
    done = subprocess.run(
        argv,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=COMMAND_DEADLINE_S,
        check=False,
    )
    return Result(tuple(args), done.returncode, done.stdout, done.stderr)


class ServedPump:
    """``vpump serve --lockstep`` in a subprocess, with its state, control socket and logs."""

    def __init__(
        self,
        workdir: Path,
        env: Mapping[str, str],
        *,
        state: Path | None = None,
        extra: tuple[str, ...] = (),
        lockstep: bool = True,
        client_port: str | None = None,
    ) -> None:
        self.workdir = workdir
        self.env = dict(env)
        self.state = state or workdir / "pump.nvm"
        self.control = str(workdir / "run" / "bench.ctl")
        self.extra = extra
        self.lockstep = lockstep
        self.log_path = workdir / "vpump-serve.log"
        self.running: RunningPump | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.port = ""
        self.served_on = ""
        self._client_port = client_port
        self.identity: dict[str, Any] = {}

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> ServedPump:
        try:
            self.running = start_pump(
                state=self.state,
                control=self.control,
                lockstep=self.lockstep,
                extra_args=self.extra,
                env=self.env,
                stderr=self.log_path,
                command=VPUMP,
                timeout_s=START_DEADLINE_S,
            )
        except LaunchError as exc:
            raise AssertionError(f"vpump serve did not announce itself: {exc}") from exc
        self.process = self.running.process
        self.served_on = self.running.port
        self.port = self._client_port or self.served_on  # where programmers connect
        self.control = self.running.control
        self.identity = self.identify()
        return self

    def identify(self, port: str | None = None, deadline_s: float = 10.0) -> dict[str, Any]:
        """One HELLO through the programmer library: the pump is ready once it answers."""
        end = time.monotonic() + deadline_s
        last: Exception | None = None
        while time.monotonic() < end:
            self.check_alive()
            try:
                transport = open_transport(port or self.port, timeout=0.5)
                with PumpClient(transport, KeyStore(self.workdir / "probe-keys.json"), 0.5, 0) as c:
                    return c.identify()
            except ProgrammerError as exc:  # not answering yet: ask again until the deadline
                last = exc
        raise AssertionError(f"the pump never answered identify: {last}\n{self.log()}")

    def stop(self) -> int:
        """SIGTERM (the pump flushes its NVM) and the exit status (killed after 15 s)."""
        assert self.running is not None
        code = self.running.stop(timeout_s=15)
        self.running = self.process = None
        return code

    def kill(self) -> None:
        if self.running is not None:
            self.running.kill()
        self.running = self.process = None

    def check_alive(self) -> None:
        assert self.process is not None, "vpump serve is not running"
        code = self.process.poll()
        assert code is None, f"vpump serve died with exit {code}\n{self.log()}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # -- the bench and the programmer ------------------------------------------------------------
    def bench(self, cmd: str, **fields: Any) -> dict[str, Any]:
        """One bench control request (``wand``, ``advance``, ``fault``, ``hw-status``...)."""
        return control_call(self.control, {"cmd": cmd, **fields})

    def advance(self, duration: str | int) -> int:
        return int(self.bench("advance", duration=duration)["time"])

    def now(self) -> int:
        return int(self.bench("time")["time"])

    def pumpctl(self, *args: str, port: str | None = None, **options: Any) -> Result:
        return run_pumpctl(port or self.port, *args, env=self.env, **options)

    def fill_and_program(
        self, dose: str = "500mcg/day", added: str = "20mL", concentration: str = "2000mcg/mL"
    ) -> None:
        """The first visit after pairing: fill an empty pump and start continuous therapy."""
        for args in (
            ("refill", "--withdrawn", "0mL", "--added", added, "--concentration", concentration),
            ("program", "continuous", "--dose", dose),
        ):
            result = self.pumpctl("--json", "--yes", *args)
            assert result.code == 0, result

    def pair(self, role: str = "clinician", *options: str) -> Result:
        """``pumpctl [OPTIONS] --json pair --role ROLE`` as a clinic does it: the wand over the
        pump, and the person at the pump typing in the code the programmer shows."""
        self.bench("wand", on=True)  # and it stays there for the visit: writes need it
        result = self.pair_accepting(role, *options)
        assert result.code == 0, result
        return result

    def pair_accepting(self, role: str, *options: str, accept: bool = True) -> Result:
        """``pumpctl pair`` in the background; once it prints its confirmation code, that code
        is accepted at the pump (``vpump ctl pairing accept``; rejected if not ``accept``)."""
        args = (*options, "--json", "pair", "--role", role)
        argv = [*PUMPCTL, "--port", self.port, "--timeout", "0.5", "--retries", "1", *args]
        process = subprocess.Popen(
            argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stderr is not None
        seen = []
        for line in process.stderr:  # ends when pumpctl exits
            seen.append(line)
            found = re.search(r"Confirmation code: (\d{3}) (\d{3})", line)
            if found:
                if accept:
                    self.bench("pairing", action="accept", code=found[1] + found[2])
                else:
                    self.bench("pairing", action="reject")
                break
        out, err = process.communicate(timeout=COMMAND_DEADLINE_S)
        return Result(args, process.returncode, out, "".join(seen) + err)


@contextlib.contextmanager
def served_pump(workdir: Path, env: Mapping[str, str], **kwargs: Any) -> Iterator[ServedPump]:
    """A started pump, stopped at the end with SIGTERM; the exit status must be 0."""
    pump = ServedPump(workdir, env, **kwargs).start()
    try:
        yield pump
    except BaseException:
        pump.kill()
        raise
    code = pump.stop()
    assert code == 0, f"vpump serve exited {code} on SIGTERM\n{pump.log()}"


# -- socat -----------------------------------------------------------------------------------------

SOCAT = shutil.which("socat")
_PTY_LINE = re.compile(r"PTY is (\S+)")
_LISTEN_LINE = re.compile(r"listening on .*:(\d+)\s*$")


class Socat:
    """A ``socat -d -d`` process and what it announced on stderr."""

    def __init__(self, *addresses: str) -> None:
        assert SOCAT is not None
        self.process = subprocess.Popen(
            [SOCAT, "-d", "-d", *addresses],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert self.process.stderr is not None
        self.lines = LineReader(self.process.stderr)

    def wait_for(self, pattern: re.Pattern[str], count: int = 1) -> list[str]:
        """The first group of ``count`` stderr lines matching ``pattern``."""
        found: list[str] = []
        end = time.monotonic() + START_DEADLINE_S
        while len(found) < count:
            line = self.lines.readline(max(0.1, end - time.monotonic()))
            match = pattern.search(line)
            if match:
                found.append(match.group(1))
        return found

    def pty_pair(self) -> tuple[str, str]:
        first, second = self.wait_for(_PTY_LINE, 2)
        return first, second

    def listening_port(self) -> int:
        return int(self.wait_for(_LISTEN_LINE)[0])

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.lines.close()
        if self.process.stderr is not None:
            self.process.stderr.close()
