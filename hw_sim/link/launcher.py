"""Start a virtual pump from Python: ``vpump serve`` as a real process, ready when it says so.

Why: test rigs, bench scripts and the demo all need the same few steps - spawn ``vpump serve``,
wait for the ``PORT``/``CONTROL`` lines it prints once it listens (never a sleep), and at the end
stop it with SIGTERM so it flushes its NVM, killing it only if it does not go.  Done once here,
a pump that fails to start says why (its stderr is in the error), and no caller is left with a
stray process or a half-read pipe.

    with launch_pump(state=tmp / "pump.nvm") as pump:
        pump.bench("wand", on=True)             # the bench control socket
        ...                                     # a programmer on pump.port
    assert pump.returncode == 0                 # stopped cleanly, state flushed

The pump runs in lockstep by default (simulated time moves only when the bench advances it), as
a reproducible rig wants; ``lockstep=False`` gives the command's own default, real time.
"""

from __future__ import annotations

import contextlib
import functools
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic
from typing import IO, Any, Literal, ParamSpec

from hw_sim.bench.control import control_call

#: How long ``vpump serve`` may take to print its PORT and CONTROL lines.
START_TIMEOUT_S = 20.0
#: How long a SIGTERM'd pump may take to flush and exit before it is killed.
STOP_TIMEOUT_S = 15.0
#: ``stderr=INHERIT``: the pump's console goes to this process's stderr (not kept for errors).
INHERIT: Literal["inherit"] = "inherit"

P = ParamSpec("P")


class LaunchError(RuntimeError):
    """``vpump serve`` did not announce itself; the message ends with what it said on stderr."""


def vpump_command() -> list[str]:
    """How to run ``vpump`` from this interpreter: its console script, else the module."""
    script = Path(sys.executable).with_name("vpump")
    if script.exists():
        return [str(script)]
    found = shutil.which("vpump")
    if found:
        return [found]
    return [sys.executable, "-m", "hw_sim.cli.main"]


@dataclass
class RunningPump:
    """A started ``vpump serve``: where it listens, its process, and how to stop it."""

    process: subprocess.Popen[bytes]
    #: The pump's line (a pty path, or the ``--port`` it serves): where a programmer connects.
    port: str
    #: The bench control socket (``vpump ctl --control``; :meth:`bench`).
    control: str
    #: The ``--link`` symlink, when one was asked for.
    link: str | None = None
    #: Where the pump's stderr goes (None: inherited).
    stderr_path: Path | None = None
    _cleanup: list[Path] = field(default_factory=list, repr=False)
    _stderr_kept: str | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        """The exit status once the pump has ended (None while it runs)."""
        return self.process.poll()

    def alive(self) -> bool:
        return self.process.poll() is None

    def bench(self, cmd: str, timeout: float = 30.0, **fields: Any) -> dict[str, Any]:
        """One bench request (``wand``, ``advance``, ``fault``, ``hw-status``...): the reply."""
        return control_call(self.control, {"cmd": cmd, **fields}, timeout=timeout)

    def stderr(self) -> str:
        """What the pump has written to its stderr so far (empty when inherited); a temporary
        log is read once more when the pump is reaped, so this still answers after a stop."""
        if self._stderr_kept is not None:
            return self._stderr_kept
        if self.stderr_path is None or not self.stderr_path.exists():
            return ""
        return self.stderr_path.read_text(errors="replace")

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM (the pump flushes its state), wait; SIGKILL if it outlasts ``timeout_s``.

        Returns the exit status (0: a clean stop; negative: the signal that ended it).  Safe to
        call again, and after :meth:`kill`.
        """
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        return self._reap()

    def kill(self) -> int:
        """SIGKILL: no flush, no goodbye (a power cut).  Returns the exit status."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        return self._reap()

    def _reap(self) -> int:
        code = self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        if self._cleanup:
            log = self.stderr_path
            if log is not None and any(log.is_relative_to(path) for path in self._cleanup):
                self._stderr_kept = self.stderr()  # the temporary log goes with its folder
            for path in self._cleanup:
                shutil.rmtree(path, ignore_errors=True)
            self._cleanup.clear()
        return code


def start_pump(
    *,
    state: Path | str | None = None,
    profile: str | Path | None = None,
    seed: int | None = None,
    lockstep: bool = True,
    control: Path | str | None = None,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    stderr: Path | Literal["inherit"] | None = None,
    command: Sequence[str] | None = None,
    timeout_s: float = START_TIMEOUT_S,
) -> RunningPump:
    """Start ``vpump serve`` and return it once it has announced its PORT and CONTROL lines.

    ``state``: its ``--state`` image (None: one in a temporary directory removed at stop).
    ``profile``, ``seed``, ``control``: the options of the same names, passed only when given;
    ``extra_args``: any other ``vpump serve`` options.  ``stderr``: a file the pump's console is
    appended to, :data:`INHERIT`, or None for a temporary file; either way a pump that fails to
    start raises :class:`LaunchError` with what it said there.  The caller stops the pump
    (:meth:`RunningPump.stop`); :func:`launch_pump` does it for you.
    """
    cleanup: list[Path] = []
    if state is None:
        folder = Path(tempfile.mkdtemp(prefix="vpump-"))
        cleanup.append(folder)
        state = folder / "pump.nvm"
    argv = [*(command or vpump_command()), "serve", "--state", str(state)]
    if profile is not None:
        argv += ["--profile", str(profile)]
    if seed is not None:
        argv += ["--seed", str(seed)]
    if lockstep:
        argv.append("--lockstep")
    if control is not None:
        argv += ["--control", str(control)]
    argv += list(extra_args)
    stderr_path: Path | None
    err: IO[bytes] | None
    if stderr == INHERIT:
        stderr_path, err = None, None
    else:
        if stderr is None:
            folder = Path(tempfile.mkdtemp(prefix="vpump-log-"))
            cleanup.append(folder)
            stderr_path = folder / "stderr.log"
        else:
            stderr_path = Path(stderr)
        err = stderr_path.open("ab")
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            env=dict(env) if env is not None else None,
            cwd=cwd,
        )
    except OSError:
        for path in cleanup:
            shutil.rmtree(path, ignore_errors=True)
        raise
    finally:
        if err is not None:
            err.close()
    pump = RunningPump(process, "", "", stderr_path=stderr_path, _cleanup=cleanup)
    try:
        wanted = 3 if "--link" in extra_args else 2
        lines = _announced(process, wanted, timeout_s)
        keys = [line.split(" ", 1)[0] for line in lines]
        if keys[:2] != ["PORT", "CONTROL"] or (wanted == 3 and keys[2] != "LINK"):
            raise LaunchError(f"vpump serve announced {lines!r}, not PORT and CONTROL")
    except LaunchError as exc:
        if pump.alive():
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        code = process.wait()
        pump._reap()
        said = pump.stderr().strip()
        raise LaunchError(
            f"{exc} (exit {code}): {' '.join(argv)}" + (f"\n{said}" if said else "")
        ) from None
    pump.port, pump.control = (line.split(" ", 1)[1] for line in lines[:2])
    if wanted == 3:
        pump.link = lines[2].split(" ", 1)[1]
    return pump


def _stopped_at_exit(
    start: Callable[P, RunningPump],
) -> Callable[P, contextlib.AbstractContextManager[RunningPump]]:
    @contextlib.contextmanager
    @functools.wraps(start)
    def managed(*args: P.args, **kwargs: P.kwargs) -> Iterator[RunningPump]:
        pump = start(*args, **kwargs)
        try:
            yield pump
        finally:
            pump.stop()

    return managed


#: :func:`start_pump` as a context manager (same arguments): the pump is stopped (SIGTERM, then
#: SIGKILL after :data:`STOP_TIMEOUT_S`) when the block ends, however it ends; its exit status
#: is ``pump.returncode`` afterwards.
launch_pump = _stopped_at_exit(start_pump)
launch_pump.__name__ = launch_pump.__qualname__ = "launch_pump"


def _announced(process: subprocess.Popen[bytes], count: int, timeout_s: float) -> list[str]:
    """The first ``count`` stdout lines, each awaited until the deadline; LaunchError if the
    process ends or the deadline passes first."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    data = b""
    deadline = monotonic() + timeout_s
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while data.count(b"\n") < count:
            remaining = deadline - monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise LaunchError(
                    f"vpump serve did not announce itself within {timeout_s:g} s "
                    f"(got {data.decode(errors='replace')!r})"
                )
            chunk = os.read(fd, 4096)
            if not chunk:
                raise LaunchError(
                    f"vpump serve ended before announcing itself "
                    f"(got {data.decode(errors='replace')!r})"
                )
            data += chunk
    return data.decode(errors="replace").splitlines()[:count]
