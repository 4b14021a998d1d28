"""The real-time loop of ``vpump serve``: line bytes, bench requests and simulated time.

Why: the board and firmware are pure functions of their inputs; this loop is the only place that
reads the wall clock.  It sleeps in ``select`` until a byte arrives, a bench request comes, the
next simulated event falls due or a paced byte may leave - so an idle pump uses no CPU.

Time: ``SimClock`` maps the monotonic clock to board seconds at ``--time-scale`` (default 1).  In
``--lockstep`` mode simulated time stands still except when the bench advances it, so a whole
session over a pty is reproducible byte for byte.

Line rate: a pty has none, so with ``--baud`` the loop paces output itself at baud/10 bytes per
second (8N1), in small bursts.

Output priority: the loop takes from the firmware's telemetry buffer (hw_sim/hardware/telemetry.py) only
what the line can carry now, so the buffer's order decides what leaves next: session replies and
alarm events first, replies to unauthenticated requests (bounded, a few frames) after them.  A
flood of HELLOs therefore never builds a backlog here that a clinician would wait behind.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hw_sim.bench.bench import BenchPump
from hw_sim.bench.control import ControlServer
from hw_sim.link.capture import LineCapture
from hw_sim.link.ports import LinePort

#: Most bytes taken from the telemetry buffer at once when the line is not paced (the rest wait
#: there, in priority order, bounded per class).
OUTPUT_CHUNK = 4096
#: Largest burst written at once when pacing a line rate.
PACING_BURST = 64
#: Poll interval for ports that cannot be waited on (e.g. rfc2217:// without a file descriptor).
POLL_INTERVAL_S = 0.01
#: Longest wall time between saves of the hardware state while simulated time runs.
CHECKPOINT_INTERVAL_S = 1.0


@dataclass
class SimClock:
    lockstep: bool
    scale: float
    base_sim: int
    base_wall: float

    @classmethod
    def start(cls, sim_now: int, lockstep: bool, scale: float) -> SimClock:
        return cls(lockstep, scale, sim_now, time.monotonic())

    def now(self) -> int:
        if self.lockstep:
            return self.base_sim
        return self.base_sim + int((time.monotonic() - self.base_wall) * self.scale)

    def seconds_until(self, sim_t: int) -> float | None:
        if self.lockstep:
            return None
        return max(0.0, self.base_wall + (sim_t - self.base_sim) / self.scale - time.monotonic())

    def jump(self, seconds: int) -> None:
        self.base_sim += seconds


class ServeLoop:
    def __init__(
        self,
        bench: BenchPump,
        port: LinePort,
        control: ControlServer,
        clock: SimClock,
        baud: int | None = None,
        checkpoint: Callable[[], None] | None = None,
        capture: LineCapture | None = None,
    ) -> None:
        self.bench = bench
        self.capture = capture
        self.port = port
        self.control = control
        self.clock = clock
        self.baud = baud
        self._out = bytearray()
        self._credit = 0.0
        self._credit_at = time.monotonic()
        self._stop = False
        self._checkpoint = checkpoint
        self._port_events = selectors.EVENT_READ
        self._checkpoint_at = time.monotonic()
        self._checkpoint_sim = bench.now

    # -- public --------------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop = True

    def run(self) -> None:
        sel = selectors.DefaultSelector()
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        previous = signal.set_wakeup_fd(wake_w)
        handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        port_fd = self.port.fileno()
        if port_fd is not None:
            sel.register(port_fd, selectors.EVENT_READ, "port")
        sel.register(self.control.fileno(), selectors.EVENT_READ, "control")
        sel.register(wake_r, selectors.EVENT_READ, "wake")
        try:
            while not self._stop:
                self._set_write_interest(sel, port_fd)
                for key, mask in sel.select(self._timeout(port_fd)):
                    self._on_ready(sel, key, mask, wake_r)
                if port_fd is None:
                    self._read_port()
                self._expire_bench_clients(sel)
                self._tick()
        finally:
            for conn in self.control.connections():
                self._drop_bench_client(sel, conn)
            signal.set_wakeup_fd(previous)
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            sel.close()
            os.close(wake_r)
            os.close(wake_w)

    # -- events --------------------------------------------------------------------------------
    def _on_signal(self, signum: int, frame: Any) -> None:
        self._stop = True

    def _on_ready(
        self, sel: selectors.BaseSelector, key: selectors.SelectorKey, mask: int, wake_r: int
    ) -> None:
        tag = key.data
        if tag == "port":
            self._read_port()
        elif tag == "control":
            while (conn := self.control.accept(time.monotonic())) is not None:
                sel.register(conn, selectors.EVENT_READ, ("bench", conn))
        elif isinstance(tag, tuple) and tag[0] == "bench":
            self._serve_bench_client(sel, tag[1], mask)
        elif tag == "wake":
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 512)

    def _read_port(self) -> None:
        data = self.port.read()
        if data:
            now = self._sim_now()
            received = self.bench.corrupt(data)
            if self.capture is not None:
                self.capture.to_pump(received, now)
            self.bench.receive(received, now)

    def _serve_bench_client(self, sel: selectors.BaseSelector, conn: Any, mask: int) -> None:
        """Whatever one bench connection has ready: complete request lines are carried out and
        answered; a partial line waits in its buffer; nothing here blocks (hw_sim/bench/control.py)."""
        alive = True
        if mask & selectors.EVENT_READ:
            requests, alive = self.control.read_requests(conn, time.monotonic())
            for request in requests:
                self._tick()
                answer = self.bench.control(request, advance=self._advance)
                self._maybe_checkpoint(force=True)
                self.control.reply(conn, answer)
                self._tick()
        if mask & selectors.EVENT_WRITE or not alive:
            alive = self.control.flush(conn) and alive
        if self.control.done(conn) or (not alive and not self.control.wants_write(conn)):
            self._drop_bench_client(sel, conn)
            return
        events = selectors.EVENT_WRITE if not alive else selectors.EVENT_READ
        if self.control.wants_write(conn):
            events |= selectors.EVENT_WRITE
        sel.modify(conn, events, ("bench", conn))

    def _expire_bench_clients(self, sel: selectors.BaseSelector) -> None:
        for conn in self.control.expired(time.monotonic()):
            self._drop_bench_client(sel, conn)

    def _drop_bench_client(self, sel: selectors.BaseSelector, conn: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            sel.unregister(conn)
        self.control.drop(conn)

    def _advance(self, seconds: int) -> None:
        self.clock.jump(seconds)
        self.bench.advance_to(
            self.clock.now() if not self.clock.lockstep else self.bench.now + seconds
        )
        if self.clock.lockstep:
            self.clock.base_sim = self.bench.now

    def _sim_now(self) -> int:
        return max(self.clock.now(), self.bench.now)

    def _tick(self) -> None:
        if not self.clock.lockstep:
            now = self.clock.now()
            if now > self.bench.now:
                self.bench.advance_to(now)
        self._write_output()
        self._maybe_checkpoint()

    def _maybe_checkpoint(self, force: bool = False) -> None:
        """Save the hardware state: at once after a physical change, else at most once a second."""
        if self._checkpoint is None:
            return
        wall = time.monotonic()
        moved = self.bench.now != self._checkpoint_sim
        due = wall - self._checkpoint_at >= CHECKPOINT_INTERVAL_S
        if force or self.bench.checkpoint_due or (moved and due):
            self._checkpoint()
            self.bench.checkpoint_due = False
            self._checkpoint_at, self._checkpoint_sim = wall, self.bench.now

    # -- output ----------------------------------------------------------------------------------
    def _write_output(self) -> None:
        """Write what the line takes now; only that much leaves the telemetry buffer, so what
        waits there keeps its priority order (``_out`` holds at most one burst)."""
        if self.baud:
            self._write_burst()
            return
        while self._write_burst() == OUTPUT_CHUNK:  # the port takes more: keep going
            pass

    def _write_burst(self) -> int:
        """One write of at most a burst; the number of bytes the port took."""
        budget = OUTPUT_CHUNK
        if self.baud:
            now = time.monotonic()
            self._credit = min(
                self._credit + (now - self._credit_at) * self.baud / 10, PACING_BURST
            )
            self._credit_at = now
            budget = int(self._credit)
            if budget <= 0:
                return 0
        if len(self._out) < budget and self.bench.pending_output():
            self._out += self.bench.corrupt(self.bench.take_output(budget - len(self._out)))
        if not self._out:
            return 0
        written = self.port.write(bytes(self._out[:budget]))
        if written > 0:
            if self.capture is not None:
                self.capture.from_pump(bytes(self._out[:written]), self.bench.now)
            del self._out[:written]
            if self.baud:
                self._credit -= written
        return max(0, written)

    def _set_write_interest(self, sel: selectors.BaseSelector, port_fd: int | None) -> None:
        if port_fd is None:
            return
        waiting = bool(self._out) or self.bench.pending_output() > 0
        want = selectors.EVENT_READ | (selectors.EVENT_WRITE if waiting and not self.baud else 0)
        if want != self._port_events:  # modify() is a syscall: only when the interest changes
            sel.modify(port_fd, want, "port")
            self._port_events = want

    def _timeout(self, port_fd: int | None) -> float | None:
        candidates: list[float] = []
        if self.baud and (self._out or self.bench.pending_output()):
            missing = max(0.0, 1.0 - self._credit)
            candidates.append(missing * 10 / self.baud)
        if not self.clock.lockstep:  # in lockstep only the bench moves time: nothing falls due
            nxt = self.bench.next_event_time()
            if nxt is not None:
                candidates.append(self.clock.seconds_until(nxt) or 0.0)
        if port_fd is None:
            candidates.append(POLL_INTERVAL_S)
        deadline = self.control.next_deadline()
        if deadline is not None:  # an idle bench client to close
            candidates.append(max(0.0, deadline - time.monotonic()))
        return min(candidates) if candidates else None


class EarlyStop:
    """SIGINT/SIGTERM caught from before the announcement until the loop catches them itself.

    Whoever reads PORT/CONTROL may stop the pump at once; without this, a signal between the
    announcement and :meth:`ServeLoop.run` ended the process unflushed.  A signal that comes
    early is remembered and stops the loop as soon as it is handed one (:meth:`forward_to`).
    """

    def __init__(self) -> None:
        self.requested = False
        self._target: Callable[[], None] | None = None
        self._previous = {
            s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)
        }

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.requested = True
        if self._target is not None:
            self._target()

    def forward_to(self, stop: Callable[[], None]) -> None:
        """From now on a signal calls ``stop``; one that already came calls it now."""
        self._target = stop
        if self.requested:
            stop()

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def announce(port_path: str, control_path: str) -> None:
    """The first two stdout lines, flushed before anything else: the contract scripts rely on."""
    sys.stdout.write(f"PORT {port_path}\nCONTROL {control_path}\n")
    sys.stdout.flush()
