"""Shared machinery of the reliability campaigns: real pumps, programmers, sizes and figures.

Why: every campaign needs the same few things - a ``vpump serve`` process it may kill, a paired
programmer, a campaign size that is small in ``make test`` and large in ``make campaign``, and
one JSON line of figures at the end.  Readiness is awaited (the PORT/CONTROL lines, through
hw_sim.link.launcher), never slept for, and every wait has a deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hw_sim.bench.control import control_call
from hw_sim.link.launcher import LaunchError, RunningPump, start_pump
from programmer.client import PumpClient
from programmer.keystore import KeyStore
from programmer.transport import open_transport
from protocol import Role

FIGURES_PROPERTY = "campaign_figures"
START_DEADLINE_S = 20.0
PAGE_SIZE = 4096


def full_campaign() -> bool:
    """True under ``make campaign`` (``CAMPAIGN=full``)."""
    return os.environ.get("CAMPAIGN", "").lower() == "full"


def campaign_size(name: str, bounded: int, full: int) -> int:
    """How many points/operations a campaign runs: ``CAMPAIGN_<NAME>=N`` overrides both."""
    override = os.environ.get(f"CAMPAIGN_{name.upper()}")
    if override:
        return int(override)
    return full if full_campaign() else bounded


def campaign_seed(default: int) -> int:
    """The campaign's seed: ``CAMPAIGN_SEED`` for a different, still reproducible, draw."""
    return int(os.environ.get("CAMPAIGN_SEED", default))


def report_figures(
    record_property: Callable[[str, object], None], campaign: str, figures: dict[str, Any]
) -> str:
    """Print the campaign's one JSON line and attach it to the test report."""
    line = json.dumps(
        {"campaign": campaign, "size": "full" if full_campaign() else "bounded", **figures},
        sort_keys=True,
    )
    print(line)
    record_property(FIGURES_PROPERTY, line)
    return line


def short_dir(prefix: str) -> Path:
    """A short private directory (Unix socket paths must stay under ~100 bytes)."""
    return Path(tempfile.mkdtemp(prefix=prefix))


class ServedPump:
    """``vpump serve`` as a real process on a fresh pty; it can be killed and started again."""

    def __init__(
        self,
        state: Path,
        *,
        seed: int = 1,
        lockstep: bool = True,
        time_scale: float | None = None,
        baud: int | None = None,
    ) -> None:
        self.state = state
        self.seed = seed
        self.lockstep = lockstep
        self.time_scale = time_scale
        self.baud = baud
        self._sockets = short_dir("vprel")
        self.control = str(self._sockets / "ctl")
        self.port = ""
        self.running: RunningPump | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        #: The programmer head is over the pump: a restarted process (a power cycle) gets it
        #: back, as a board keeps seeing a head that never moved.
        self.head = False

    def start(self) -> ServedPump:
        extra: list[str] = []
        if self.time_scale is not None:
            extra += ["--time-scale", str(self.time_scale)]
        if self.baud is not None:
            extra += ["--baud", str(self.baud)]
        env = dict(os.environ)
        env["XDG_STATE_HOME"] = str(self._sockets)
        try:
            self.running = start_pump(
                state=self.state,
                seed=self.seed,
                lockstep=self.lockstep,
                control=self.control,
                extra_args=extra,
                env=env,
                timeout_s=START_DEADLINE_S,
            )
        except LaunchError as exc:
            raise RuntimeError(f"vpump serve did not announce PORT/CONTROL: {exc}") from exc
        self.process = self.running.process
        self.port = self.running.port
        self.starts += 1
        if self.head:
            self.bench("wand", on=True)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def bench(self, cmd: str, **fields: Any) -> dict[str, Any]:
        if cmd == "wand":
            self.head = bool(fields.get("on"))
        return control_call(self.control, {"cmd": cmd, **fields}, timeout=30.0)

    def kill(self) -> None:
        """SIGKILL: no flush, no goodbye - the supply is cut."""
        if self.running is not None:
            self.running.kill()
        self.running = self.process = None

    def stop(self) -> None:
        """SIGTERM: the pump flushes its state and exits 0 (killed if it outlasts 10 s)."""
        if self.running is not None:
            self.running.stop(timeout_s=10)
        self.running = self.process = None

    def rss_kb(self) -> int:
        """Resident set size of the pump process (VmRSS from /proc), in KiB."""
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS line")

    def close(self) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            os.unlink(self.control)
        with contextlib.suppress(OSError):
            self._sockets.rmdir()


@contextlib.contextmanager
def served_pump(state: Path, **options: Any) -> Iterator[ServedPump]:
    pump = ServedPump(state, **options).start()
    try:
        yield pump
    finally:
        pump.close()


def _read_lines(fd: int, count: int, deadline_s: float) -> list[str]:
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    buffer = b""
    end = time.monotonic() + deadline_s
    try:
        while buffer.count(b"\n") < count:
            remaining = end - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise TimeoutError(f"vpump serve announced only {buffer!r}")
            chunk = os.read(fd, PAGE_SIZE)
            if not chunk:
                raise EOFError(f"vpump serve exited after {buffer!r}")
            buffer += chunk
    finally:
        selector.close()
    return buffer.decode().splitlines()[:count]


def open_client(
    port: str, keystore: KeyStore, *, timeout_s: float = 0.5, retries: int = 2
) -> PumpClient:
    transport = open_transport(port, timeout=timeout_s)
    return PumpClient(transport, keystore, timeout_s=timeout_s, retries=retries)


def pair(
    pump: ServedPump,
    keystore: KeyStore,
    role: Role = Role.CLINICIAN,
    *,
    authorized_by: KeyStore | None = None,
) -> None:
    """Pair a programmer key of ``role`` (the wand is placed for it and stays there for the
    visit: requests that change the pump need it); a patient key is first authorised in a
    session of the clinician key store ``authorized_by``."""
    pump.bench("wand", on=True)
    if authorized_by is not None:
        with open_client(pump.port, authorized_by) as clinician:
            clinician.authorize_patient_pairing()
    with open_client(pump.port, keystore) as client:
        # the person at the bench accepts the code the programmer shows
        def accept(code: str) -> None:
            pump.bench("pairing", action="accept", code=code.replace(" ", ""))

        client.pair(role, on_waiting=accept)


def fill_and_program(client: PumpClient, daily_dose_ng: int = 400_000) -> None:
    """The first clinic visit: fill 20 mL at 500 mcg/mL, start continuous therapy."""
    from programmer import therapy

    client.refill(0, 20_000_000, 500)
    staged = client.stage(therapy.continuous(daily_dose_ng))
    client.commit(staged, staged.warnings)
