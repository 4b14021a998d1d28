"""The device under test: a virtual pump the suite starts itself, or a device on a given port.

Why: labgrid and pytest-embedded's lesson - one place decides what "the device" is, tests only
ask for it.  A ``PumpUnderTest`` is a port URL plus what else the run has: a bench control
channel (``BenchChannel``: wand, time, faults), a pairing key and, for a pump the suite launched
itself (hw_sim.link.launcher), its process.  Tests that need something the run lacks skip with
the reason, instead of failing on a missing cable.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
import serial

from hw_sim.bench.control import ControlError, control_call
from hw_sim.link.launcher import RunningPump
from protocol import Capability, MsgType, Role

from .client import PumpKey, SuiteClient

STARTUP_TIMEOUT_S = 15.0
NETWORK_SCHEMES = ("rfc2217://", "socket://")


class BenchChannel:
    """The bench control channel of a device (``hw_sim.bench.control`` JSON lines over a Unix
    socket): the CONTROL socket of a pump the suite launched, or ``--pump-control``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def call(self, cmd: str, **args: Any) -> dict[str, Any]:
        return control_call(self.path, {"cmd": cmd, **args})

    def wand(self, on: bool) -> None:
        self.call("wand", on=on)

    def advance(self, seconds: int) -> int:
        """Advance simulated time; returns the board time after the jump."""
        return int(self.call("advance", duration=f"{seconds}s")["time"])

    def fault(self, name: str, arg: str | None = None) -> None:
        self.call("fault", name=name, **({"arg": arg} if arg is not None else {}))

    def power_cycle(self) -> None:
        self.call("power-cycle")

    def hw_status(self) -> dict[str, Any]:
        return self.call("hw-status")

    def accept_pairing(self, code: str) -> None:
        """The person at the pump accepts the code the programmer shows."""
        self.call("pairing", action="accept", code=code)

    def reject_pairing(self) -> None:
        """The person at the pump rejects the waiting pairing."""
        self.call("pairing", action="reject")

    def available(self) -> bool:
        try:
            self.call("time")
        except ControlError:
            return False
        return True


@dataclass
class PumpUnderTest:
    """What a test gets: where the device is, and what else the run provides."""

    url: str
    bench: BenchChannel | None
    key: PumpKey | None = None
    virtual: bool = False
    hello: dict[str, Any] = field(default_factory=dict)
    process: RunningPump | None = None
    _seed: int = 0
    _patient_key: PumpKey | None = None
    _shared_port: Any = None
    #: Authentication failures this run may still provoke (None: no limit, the device is fresh or
    #: a bench can wait out the lockout).  Kept for devices that still count failures other than
    #: failed pairings (which this suite now refuses: test_auth.py).
    failure_budget: int | None = None

    def client(self, seed: int | None = None) -> SuiteClient:
        """A new programmer on the device's port (close it, or use it as a context manager).

        Network transports (``rfc2217://``, ``socket://``) share one connection, since each
        connect costs a telnet negotiation; local ports are opened afresh, as a programmer would.
        """
        self._seed += 1
        shared = None
        if self.url.startswith(NETWORK_SCHEMES):
            if self._shared_port is None:
                self._shared_port = serial.serial_for_url(self.url, baudrate=115200, timeout=0.05)
            shared = self._shared_port
        return SuiteClient(self.url, seed=self._seed * 7919 + (seed or 0), port=shared)

    # -- what a test may require ---------------------------------------------------------------
    def require_bench(self, why: str) -> BenchChannel:
        if self.bench is None:
            pytest.skip(f"needs the bench control channel (--pump-control) to {why}")
        return self.bench

    def require_capability(self, capability: Capability) -> None:
        if not self.hello["capabilities"] & capability:
            pytest.skip(f"device does not announce {capability.name} in HELLO")

    def require_message(self, msg: MsgType) -> None:
        if int(msg) not in self.hello["messages"]:
            pytest.skip(f"device does not announce {msg.name} in HELLO")

    def spend_failures(self, count: int) -> None:
        """Skip unless the test may provoke ``count`` more authentication failures."""
        if self.failure_budget is None:
            return
        if count > self.failure_budget:
            pytest.skip(
                f"would provoke {count} authentication failure(s); without a bench this run may "
                f"provoke only {self.failure_budget} more before the device locks session open "
                "(pass --pump-control so the suite can wait out the lockout)"
            )
        self.failure_budget -= count

    def clinician_key(self) -> PumpKey:
        """A clinician pairing: the given key, else one made through the bench's wand."""
        if self.key is None:
            bench = self.require_bench("open the pairing window (or pass --pump-key)")
            self.key = pair_with_wand(self, bench, Role.CLINICIAN)
        if self.key.role is not Role.CLINICIAN:
            pytest.skip("needs a clinician key; --pump-key holds a patient key")
        return self.key

    def patient_key(self) -> PumpKey:
        """A patient pairing, made through the bench's wand (once per device)."""
        if self._patient_key is None:
            if self.key is not None and self.key.role is Role.PATIENT:
                self._patient_key = self.key
            else:
                bench = self.require_bench("pair a patient key")
                self._patient_key = pair_with_wand(self, bench, Role.PATIENT)
        return self._patient_key

    def session(self, role: Role = Role.CLINICIAN) -> SuiteClient:
        """A new client with an open session (clinician by default)."""
        key = self.clinician_key() if role is Role.CLINICIAN else self.patient_key()
        client = self.client()
        client.hello()
        client.login(key)
        return client

    def forgive_failures(self) -> None:
        """Let the device forget recent authentication failures (bench: advance past lockout)."""
        if self.bench is not None:
            self.bench.advance(lockout_window_s(self) + 1)


def pair_with_wand(pump: PumpUnderTest, bench: BenchChannel, role: Role) -> PumpKey:
    """Pair as a clinic does: wand over the pump, the code accepted at the pump; a patient key
    after a clinician session authorised it (PATIENT_PAIRING_AUTHORIZE).  The wand stays over
    the pump afterwards: requests that change the pump need it (the proximity rule)."""
    bench.wand(True)
    if role is Role.PATIENT:
        with pump.session(Role.CLINICIAN) as clinician:
            clinician.ok(MsgType.PATIENT_PAIRING_AUTHORIZE)
        bench.wand(True)  # the authorisation's session: the window opens again for the patient
    with pump.client() as client:
        return client.pair(role, accept=bench.accept_pairing)


def lockout_window_s(pump: PumpUnderTest) -> int:
    """The lockout window to wait out: the env var CONFORMANCE_LOCKOUT_S or the 600 s default."""
    return int(os.environ.get("CONFORMANCE_LOCKOUT_S", "600"))


def wait_ready(url: str, attempts: int = 60) -> dict[str, Any]:
    """HELLO with retries until the device answers; returns the HELLO body.

    A port that refuses the connection (an exporter still starting) is retried too, with a
    short back-off between attempts: readiness is probed, never assumed after a fixed sleep.
    """
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        try:
            client = SuiteClient(url, seed=0)
        except (serial.SerialException, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
            continue
        with client:
            return client.probe(attempts=attempts)
