"""A programmer wired straight to an in-process virtual pump, on the pump's own clock.

Why: a programmer's timeouts, retries and reply matching are best tested against the real
firmware, but over a pty every lost reply costs its real timeout and a loaded machine can stretch
a wait until a test that counts retries fails.  Like python-can's ``VirtualBus`` or pyserial's
``loop://``, ``Loopback`` is a link with no line: bytes the programmer writes reach a
``BenchPump`` at once, and the transport's clock is the pump's simulated time, so waiting
``timeout_s`` for a reply *is* advancing the pump by ``timeout_s`` (its strokes, telemetry and
alarms run on the way).  A test of a lost reply then takes no wall time and gives the same counts
on every machine.

Faults: ``LinkFaults`` drops requests or replies, holds a reply back until the next one (a late
reply), precedes a reply with stale ones (sealed by the pump, so they verify), or makes the line
deaf, each per message type and counted down as it fires: deterministic by construction.
``at(t, action)`` runs a bench action (a fault, the wand) when pump time reaches ``t`` while the
programmer waits, for what must happen in the middle of a command.
``requests_seen`` counts every request frame the programmer sent (before faults), ``executed``
every request the firmware's handlers carried out successfully (a duplicate answered from the
request cache is not carried out again; LOG_READ and TELEMETRY_SUBSCRIBE, which the link answers
itself, are not counted).  One thread at a time: the loopback has no locks.

The transport is structurally a ``programmer.transport.Transport`` with a ``clock`` (this module
imports nothing of the programmer):

    from hw_sim.link.loopback import Loopback
    from programmer import KeyStore, PumpClient
    from protocol import MsgType

    loop = Loopback.fresh(serial_number="VP20-000042", auto_accept_pairing=True)
    loop.bench.set_wand(True)
    with PumpClient(loop.transport(), KeyStore(path), timeout_s=0.25) as client:
        client.pair()
        loop.faults.drop_replies[MsgType.STATUS] = 1
        client.status()  # the first reply is lost: 0.25 s of pump time pass, then a retry
        assert client.retries_used == 1
    loop.advance(3600)  # an hour of pump time, in milliseconds of wall time

Limits: the pump runs only while the programmer waits or the test calls ``advance`` (lock-step);
there is no line rate (``vpump serve --baud`` over a pty is the place for pacing).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self

from protocol.catalog import MsgType
from protocol.events import Notification, Reply, Request
from protocol.framing import FrameDecoder

from ..bench.bench import BenchPump
from ..board.board import VirtualBoard
from ..hardware.nvm_file import MemoryNvm
from ..profiles.loader import load_profile


@dataclass
class LinkFaults:
    """Faults on the loopback line, per message type, counted down as they fire."""

    drop_requests: Counter[MsgType] = field(default_factory=Counter)
    drop_replies: Counter[MsgType] = field(default_factory=Counter)
    #: Held back until the next frame of any type leaves the pump (then sent just before it).
    delay_replies: Counter[MsgType] = field(default_factory=Counter)
    #: Before the reply: a late reply of the same type (the previous seq) and a reply of another
    #: type carrying this seq, both sealed by the pump so they pass authentication.
    stale_before: Counter[MsgType] = field(default_factory=Counter)
    #: The line is dead both ways: nothing reaches the pump, nothing comes back.
    deaf: bool = False


class LoopbackClock:
    """Seconds of pump time as a float: the bench's whole seconds plus the fraction waited."""

    def __init__(self, loop: Loopback) -> None:
        self._loop = loop
        self._t = float(loop.bench.now)

    def monotonic(self) -> float:
        now = self._loop.bench.now
        if now > self._t:  # the bench was advanced directly
            self._t = float(now)
        return self._t

    def sleep(self, seconds: float) -> None:
        self._loop.advance(seconds)

    def _set(self, t: float) -> None:
        self._t = max(self._t, t)


class Loopback:
    """One ``BenchPump`` and the line to it (see the module docstring)."""

    def __init__(self, bench: BenchPump, faults: LinkFaults | None = None) -> None:
        self.bench = bench
        self.faults = faults or LinkFaults()
        self.clock = LoopbackClock(self)
        self.requests_seen: Counter[MsgType] = Counter()
        self.executed: Counter[MsgType] = Counter()
        self._to_pump = b""  # an unfinished frame from the programmer
        self._out = bytearray()  # bytes on their way to the programmer, after faults
        self._held: list[bytes] = []
        self._hooked: object | None = None  # the bench link the hooks are on
        self._actions: list[tuple[int, int, Callable[[], None]]] = []
        self._after: Callable[[Request, Reply], None] | None = None
        self._seal: Callable[[Reply | Notification], bytes] = bench.link.endpoint.send
        self._hook()

    @classmethod
    def fresh(
        cls,
        profile: str = "vp20",
        seed: int = 1,
        *,
        serial_number: str | None = None,
        start_time: int | None = None,
        auto_accept_pairing: bool = False,
    ) -> Self:
        """A new pump (``profile``, an NVM image in memory; the board's own start time unless
        ``start_time`` is given) on a loopback line."""
        loaded = load_profile(profile)
        nvm = MemoryNvm(loaded.hardware.nvm_size_bytes)
        if start_time is None:
            board = VirtualBoard(loaded, seed, nvm, serial_number=serial_number)
        else:
            board = VirtualBoard(loaded, seed, nvm, start_time, serial_number=serial_number)
        return cls(BenchPump(board, auto_accept_pairing=auto_accept_pairing))

    def transport(self) -> LoopbackTransport:
        """A programmer's end of the line (any number may be opened; they share the line)."""
        return LoopbackTransport(self)

    # -- time ------------------------------------------------------------------------------------
    def at(self, t: int, action: Callable[[], None]) -> None:
        """Run ``action`` (e.g. ``lambda: loop.bench.fault("motor-stall")``) once pump time
        reaches ``t``, however the time passes (a programmer waiting, ``advance``)."""
        self._actions.append((t, len(self._actions), action))
        self._actions.sort(key=lambda item: item[:2])

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of pump time pass (the pump runs; its output waits for a read)."""
        target = self.clock.monotonic() + max(0.0, seconds)
        self._run_actions_until(math.floor(target))
        self.bench.advance_to(math.floor(target))
        self.clock._set(target)
        self._collect()

    def wait_for_output(self, timeout_s: float) -> None:
        """Advance pump time until the pump sends something or ``timeout_s`` has passed."""
        target = self.clock.monotonic() + max(0.0, timeout_s)
        while not self._out:
            self._run_actions_until(self.bench.now)
            due = self.bench.next_event_time()
            if self._actions:
                due = self._actions[0][0] if due is None else min(due, self._actions[0][0])
            if due is None or due > target or due <= self.bench.now:
                break
            self.bench.advance_to(due)
            self.clock._set(float(due))
            self._collect()
        if not self._out:
            self._run_actions_until(math.floor(target))
            self.bench.advance_to(math.floor(target))
            self.clock._set(target)
            self._collect()

    def _run_actions_until(self, t: int) -> None:
        while self._actions and self._actions[0][0] <= t:
            when, _order, action = self._actions.pop(0)
            self.bench.advance_to(when)
            self.clock._set(float(when))
            action()
            self._collect()

    # -- bytes -----------------------------------------------------------------------------------
    def send_to_pump(self, data: bytes) -> None:
        """Bytes from the programmer: each whole frame is counted, faulted, then received."""
        *frames, self._to_pump = (self._to_pump + data).split(b"\x00")
        for wire in frames:
            if not wire:
                continue
            frame = wire + b"\x00"
            msg = _msg_of(frame)
            if msg is not None:
                self.requests_seen[msg] += 1
            if self.faults.deaf:
                continue
            if msg is not None and self.faults.drop_requests[msg] > 0:
                self.faults.drop_requests[msg] -= 1
                continue
            self._hook()
            self.bench.receive(frame, self.bench.now)
            self._hook()
        self._collect()

    def take_from_pump(self) -> bytes:
        """What has reached the programmer's end of the line so far."""
        self._collect()
        data, self._out = bytes(self._out), bytearray()
        return data

    def pending(self) -> int:
        self._collect()
        return len(self._out)

    def _collect(self) -> None:
        """Move the pump's output through the faults onto the line."""
        self._hook()
        data = self.bench.take_output()
        for wire in data.split(b"\x00"):
            if not wire:
                continue
            frame = wire + b"\x00"
            if self.faults.deaf:
                continue
            msg = _msg_of(frame)
            if msg is not None and self.faults.drop_replies[msg] > 0:
                self.faults.drop_replies[msg] -= 1
                continue
            if msg is not None and self.faults.delay_replies[msg] > 0:
                self.faults.delay_replies[msg] -= 1
                self._held.append(frame)
                continue
            held, self._held = self._held, []
            self._out += b"".join(held) + frame

    # -- the pump's side -------------------------------------------------------------------------
    def _hook(self) -> None:
        """Count what the firmware carries out, and let stale replies be sealed before a reply.
        Done again whenever the bench builds a new link (after a reset).  Bound methods, not
        closures, so a ``copy.deepcopy`` of a loopback is a separate pump with its own hooks."""
        link = self.bench.link
        if link is self._hooked:
            return
        self._hooked = link
        self._after = link.after_request
        self._seal = link.endpoint.send
        link.after_request = self._counted
        link.endpoint.send = self._send_with_stale  # type: ignore[method-assign]

    def _counted(self, request: Request, reply: Reply) -> None:
        if reply.ok:
            self.executed[request.msg] += 1
        if self._after is not None:
            self._after(request, reply)

    def _send_with_stale(self, event: Reply | Notification) -> bytes:
        stale = b""
        if isinstance(event, Reply) and self.faults.stale_before[event.msg] > 0:
            self.faults.stale_before[event.msg] -= 1
            older = (event.seq - 1) & 0xFFFF
            stale += self._seal(Reply(event.msg, older, event.status, event.body, event.reason))
            stale += self._seal(Reply(MsgType.ALARMS_ACK, event.seq, 0, {"acknowledged": 9}))
        return stale + self._seal(event)


class LoopbackTransport:
    """The programmer's end of a ``Loopback``: a transport whose reads wait in pump time."""

    def __init__(self, loop: Loopback) -> None:
        self.loop = loop
        self.clock = loop.clock
        self.url = "loopback://"
        self.closed = False
        self.bytes_in = 0
        self.bytes_out = 0

    def write(self, data: bytes) -> None:
        if self.closed:
            return
        self.bytes_out += len(data)
        self.loop.send_to_pump(data)

    def read(self, timeout_s: float) -> bytes:
        """What the pump sent; if nothing yet, pump time runs up to ``timeout_s`` for it."""
        if self.closed:
            return b""
        if not self.loop.pending():
            self.loop.wait_for_output(timeout_s)
        data = self.loop.take_from_pump()
        self.bytes_in += len(data)
        return data

    def close(self) -> None:
        """Hang up this end (like a pulled cable: the pump is not told)."""
        self.closed = True

    def __enter__(self) -> LoopbackTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _msg_of(frame: bytes) -> MsgType | None:
    decoded = FrameDecoder().feed(frame)
    if not decoded:
        return None
    try:
        return MsgType(decoded[0].msg_type)
    except ValueError:
        return None
