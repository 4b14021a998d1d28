"""The real virtual pump for the programmer's tests, on a loopback line with simulated time.

Why: the client's framing, authentication, request cache and retry logic must be exercised
against the real firmware, not a stand-in with fixed replies, and a lost reply must cost no wall
time and give the same counts on every machine.  ``hw_sim.link.loopback`` wires the programmer to an
in-process ``BenchPump`` whose clock is the transport's: a 0.25 s timeout is 0.25 s of pump time.
Its ``LinkFaults`` drop, delay or precede frames with stale replies so tests can stage the
failures the client must survive.  ``pumpctl`` reaches the same pump through ``--port
loopback://clinic`` (the CLI's ``open_transport`` is pointed at the loopback for that URL); the
spy:// tests, which need a real serial port, get the same pump behind a pty (``pty_pump``).
Over a real pty and a real ``vpump serve`` the stack is tested in tests/integration.

The clinic pump (``clinic_pump``): serial VP20-000042, 15 mL of 500 mcg/mL, continuous 400
mcg/day at prescription version 3, pump time 2026-01-05T00:00:00Z, and a therapy log of exactly
100 records, record N (N >= 4) written at about 22:20 + N minutes on 2026-01-04, and record 100
(the refill to 15 mL) at 23:59:59.  The pump's daily totals go to the daily log, not this one.  It is built once per run through the programmer itself and
copied for every test (``copy.deepcopy`` of a loopback is a separate pump).
"""

from __future__ import annotations

import copy
import os
import select
import tempfile
import threading
import tty
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hw_sim.link.loopback import Loopback, LoopbackTransport
from programmer import cli_support, therapy
from programmer.client import PumpClient
from programmer.journal import Journal, PendingRequest
from programmer.keystore import KeyStore
from programmer.transport import open_transport
from protocol import LogId, Role
from protocol.device import DeviceEndpoint
from protocol.enums import LogEvent
from protocol.log_record import encode_record
from protocol.units import DAY_S

SERIAL = "VP20-000042"
START_TIME = 1_767_571_200  # 2026-01-05T00:00:00Z
LOG_RECORDS = 100
URL = "loopback://clinic"


def log_record(seq: int, t: int, event: int, a: int = 0, b: int = 0) -> bytes:
    """One 24-byte log record as the pump sends it (for tests that build log frames)."""
    return encode_record(seq, t, event, a, b)


class ClinicPump(Loopback):
    """The real pump on a loopback line, with the handles the tests reach for."""

    url = port = URL

    @property
    def device(self) -> DeviceEndpoint:
        """The pump's protocol endpoint (pairings, session, the code it shows)."""
        return self.bench.link.endpoint

    @property
    def firmware(self) -> Any:
        return self.bench.board.firmware

    @property
    def daily_dose_ng(self) -> int:
        return int(self.firmware.prescription().daily_dose_ng)

    @property
    def mode(self) -> int:
        return int(self.firmware.prescription().mode)

    @property
    def staged(self) -> object:
        """The staged prescription, None if nothing is staged."""
        return getattr(self.firmware, "_staged", None)

    def open_wand(self) -> None:
        self.bench.set_wand(True)

    def add_log_records(self, log: LogId, upto: int) -> None:
        """Real records until ``log`` holds ``upto``: stop/resume (therapy) or audit entries."""
        fw = self.firmware
        while fw.log_info(log).next_seq <= upto:
            now = self.bench.now
            if log is LogId.THERAPY:
                fw.stop(now)
                if fw.log_info(log).next_seq <= upto:
                    fw.resume(now)
            else:
                fw.audit(LogEvent.SESSION_OPENED, 0, 0, now)


_clinic: list[ClinicPump] = []


def clinic_pump() -> ClinicPump:
    """A pump in the clinic state: built once per run, then copied (building takes a second)."""
    if not _clinic:
        _clinic.append(build_clinic_pump())
    return copy.deepcopy(_clinic[0])


def clinic_status() -> dict[str, Any]:
    """The clinic pump's own STATUS body, as a programmer reads it."""
    pump = clinic_pump()
    with tempfile.TemporaryDirectory() as keys:
        keystore = KeyStore(Path(keys) / "keys.json")
        pump.open_wand()
        with make_client(pump, keystore) as client:
            client.pair(Role.CLINICIAN)
            return client.status()


def build_clinic_pump() -> ClinicPump:
    """A pump brought to the clinic state (module docstring) by a programmer, over the wire."""
    start = START_TIME - LOG_RECORDS * 60
    pump = ClinicPump.fresh(
        serial_number=SERIAL, start_time=start - DAY_S, auto_accept_pairing=True
    )
    fw = pump.firmware
    with tempfile.TemporaryDirectory() as keys:
        keystore = KeyStore(Path(keys) / "keys.json")
        journal = _MemoryJournal(Path(keys) / "journal.json")
        setup = PumpClient(pump.transport(), keystore, timeout_s=0.25, journal=journal)
        _bring_to_clinic_state(pump, setup, start)
    assert fw.log_info(LogId.THERAPY).next_seq == LOG_RECORDS + 1
    assert pump.bench.now == START_TIME and pump.device.pairings == {}
    pump.executed.clear()
    pump.requests_seen.clear()
    return pump


class _MemoryJournal(Journal):
    """The setup programmer's journal, in memory: its hundred requests need no fsync each (the
    journal on disk is what the tests themselves use)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._items: list[PendingRequest] = []
        self._sent: dict[str, int] = {}

    def _load(self) -> tuple[list[PendingRequest], dict[str, int]]:
        return list(self._items), dict(self._sent)

    def _write(self, items: list[PendingRequest], sent: dict[str, int]) -> None:
        self._items, self._sent = list(items), dict(sent)


def _bring_to_clinic_state(pump: ClinicPump, setup: PumpClient, start: int) -> None:
    """Records 1-3 a day early (boot, refill, the first 400 mcg/day: an increase from nothing,
    out of the titration window by now), then one record a minute from 22:24: two more commits
    (version 3), stop/resume pairs, clock sets, and a refill to 15 mL at 23:59:59 (the daily
    totals at midnight go to the daily log)."""
    fw = pump.firmware
    pump.open_wand()  # the head stays over the pump for the visit (writes need it)
    setup.pair(Role.CLINICIAN)
    setup.open_session()
    setup.refill(0, 15_000_000, 500)
    setup.commit(setup.stage(therapy.continuous(400_000)))
    minute = iter(range(4, LOG_RECORDS))

    def next_minute() -> None:
        pump.bench.advance_to(start + next(minute) * 60)

    for _ in range(2):
        next_minute()
        setup.commit(setup.stage(therapy.continuous(400_000)))
    while fw.log_info(LogId.THERAPY).next_seq <= LOG_RECORDS - 3:
        next_minute()
        setup.stop()
        next_minute()
        setup.resume()
    while fw.log_info(LogId.THERAPY).next_seq < LOG_RECORDS:
        next_minute()
        setup.set_clock(pump.bench.now)  # pump time is board time here: a record, no change
    pump.bench.advance_to(START_TIME - 1)
    estimate = int(setup.status()["reservoir_nl"])
    setup.refill(estimate, 15_000_000, 500)  # record 100: a full 15 mL
    setup.unpair_key()  # the setup programmer leaves no key behind
    pump.bench.advance_to(START_TIME)  # the pump's daily total at midnight, in the daily log
    setup.close()


@pytest.fixture
def pump(monkeypatch: pytest.MonkeyPatch) -> Iterator[ClinicPump]:
    """The clinic pump; ``--port loopback://clinic`` reaches it from ``pumpctl``."""
    server = clinic_pump()

    def opener(url: str, *args: Any, **kwargs: Any) -> Any:
        return server.transport() if url == URL else open_transport(url, *args, **kwargs)

    monkeypatch.setattr(cli_support, "open_transport", opener)
    yield server


class PtyPump:
    """A loopback pump served on a pty from a thread (for spy:// captures, which need a port)."""

    def __init__(self, pump: ClinicPump) -> None:
        self.pump = pump
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            ready, _, _ = select.select([self.master, self._wake_r], [], [])
            if self._wake_r in ready:
                return
            try:
                data = os.read(self.master, 4096)
            except OSError:
                continue
            self.pump.send_to_pump(data)
            out = self.pump.take_from_pump()
            if out:
                os.write(self.master, out)

    def close(self) -> None:
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=2)
        for fd in (self.master, self._slave, self._wake_r, self._wake_w):
            os.close(fd)


@pytest.fixture
def pty_pump(pump: ClinicPump) -> Iterator[PtyPump]:
    server = PtyPump(pump)
    yield server
    server.close()


@pytest.fixture
def keystore(tmp_path: Path) -> KeyStore:
    return KeyStore(tmp_path / "config" / "keys.json")


def make_client(pump: ClinicPump, keystore: KeyStore, **kwargs: Any) -> PumpClient:
    options: dict[str, Any] = {"timeout_s": 0.25, "retries": 2}
    options.update(kwargs)
    transport: LoopbackTransport = pump.transport()
    return PumpClient(transport, keystore, **options)


@pytest.fixture
def paired(pump: ClinicPump, keystore: KeyStore) -> KeyStore:
    """A key store already holding a clinician key for ``pump``."""
    pump.open_wand()
    client = make_client(pump, keystore)
    try:
        client.pair(Role.CLINICIAN)
    finally:
        client.close()
    # the head stays over the pump (the pairing itself closed the window): writes need it
    return keystore


@pytest.fixture
def client(pump: ClinicPump, paired: KeyStore) -> Iterator[PumpClient]:
    session = make_client(pump, paired)
    session.open_session()
    yield session
    session.close()


__all__ = [
    "SERIAL",
    "START_TIME",
    "ClinicPump",
    "LogId",
    "clinic_pump",
    "clinic_status",
    "log_record",
    "make_client",
]
