"""One request, one matching reply: the loop between the transport and the protocol endpoint.

Why: a serial line can hand back a reply that belongs to an earlier request (its sender timed out
and moved on).  A client that takes "the next reply" is then one reply behind forever.  Here a
reply is accepted only if both its sequence number and its message type match the request we are
waiting for; anything else is counted as stale and discarded.  Unsolicited notifications (telemetry,
alarm events) are queued for whoever iterates them, never mistaken for replies.

Wire text: every string in an accepted reply or event (serial number, model, firmware version,
refusal reason...) is escaped here, where it enters the programmer, so no escape sequence from
the line can reach a terminal (``programmer.terminal``).

Time: deadlines are read on the transport's clock (``transport.Clock``: the wall clock for a
serial port, simulated time for an in-process loopback); reads block in the transport with the
time left, so waiting costs no CPU.
"""

from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass, field, replace

from protocol.catalog import MsgType
from protocol.errors import ErrorCode
from protocol.events import (
    NEED_DATA,
    FrameRejected,
    Notification,
    PairingCode,
    PairingCompleted,
    Reply,
    SessionOpened,
)
from protocol.programmer import ProgrammerEndpoint

from .terminal import safe_text, safe_wire
from .transport import Clock, Deadline, Transport, clock_of

SideEvent = PairingCode | PairingCompleted | SessionOpened | FrameRejected


@dataclass
class LinkCounters:
    """What the exchange saw besides the replies it wanted (figures for tests and reports)."""

    requests: int = 0
    stale_replies: int = 0
    rejected_frames: int = 0
    notifications: int = 0
    rejections: list[FrameRejected] = field(default_factory=list)


class Exchange:
    """Sends request bytes and waits for the reply with the same seq and message type."""

    def __init__(
        self,
        transport: Transport,
        endpoint: ProgrammerEndpoint,
        clock: Clock | None = None,
    ) -> None:
        self.transport = transport
        self.endpoint = endpoint
        #: The time every wait here is measured in (the transport's unless given).
        self.clock = clock if clock is not None else clock_of(transport)
        self._seq = secrets.randbelow(0x10000)
        self.counters = LinkCounters()
        self.notifications: deque[Notification] = deque()
        self.side_events: list[SideEvent] = []

    def next_seq(self) -> int:
        """A fresh sequence number for every request (wrapping at 16 bits)."""
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    def send(self, data: bytes) -> None:
        self.counters.requests += 1
        self.transport.write(data)

    def wait_reply(self, msg: MsgType, seq: int, timeout_s: float) -> Reply | None:
        """The next reply frame for (msg, seq), or None when ``timeout_s`` passes without one."""
        deadline = Deadline(self.clock, timeout_s)
        while True:
            while (event := self.endpoint.next_event()) is not NEED_DATA:
                if isinstance(event, Reply):
                    if event.msg is msg and event.seq == seq:
                        return _safe_reply(event)
                    self.counters.stale_replies += 1
                elif isinstance(event, Notification):
                    self.counters.notifications += 1
                    self.notifications.append(_safe_notification(event))
                elif isinstance(event, FrameRejected):
                    event = replace(event, reason=safe_text(event.reason))
                    if event.msg_type == msg and event.seq == seq:
                        self.side_events.append(event)  # e.g. a pairing proof that fails
                        if event.code is ErrorCode.UNKNOWN_SESSION:
                            return None  # sealed in a session we do not hold: no use waiting
                    else:
                        self.counters.rejected_frames += 1
                        self.counters.rejections.append(event)
                        del self.counters.rejections[:-20]
                elif isinstance(event, PairingCode | PairingCompleted | SessionOpened):
                    self.side_events.append(event)
            remaining = deadline.remaining()
            if remaining <= 0:
                return None
            self.endpoint.receive_data(self.transport.read(remaining))

    def next_notification(self, timeout_s: float) -> Notification | None:
        """The next queued or arriving notification, or None after ``timeout_s``."""
        deadline = Deadline(self.clock, timeout_s)
        while not self.notifications:
            event = self.endpoint.next_event()
            if event is NEED_DATA:
                remaining = deadline.remaining()
                if remaining <= 0:
                    return None
                self.endpoint.receive_data(self.transport.read(remaining))
            elif isinstance(event, Notification):
                self.counters.notifications += 1
                return _safe_notification(event)
            elif isinstance(event, Reply):
                self.counters.stale_replies += 1
            elif isinstance(event, FrameRejected):
                self.counters.rejected_frames += 1
        return self.notifications.popleft()

    def take_side_events(self) -> list[SideEvent]:
        events, self.side_events = self.side_events, []
        return events


def _safe_reply(reply: Reply) -> Reply:
    """The reply with every string from the wire escaped for a terminal (``terminal``)."""
    return replace(reply, body=safe_wire(reply.body), reason=safe_text(reply.reason))


def _safe_notification(event: Notification) -> Notification:
    return replace(event, body=safe_wire(event.body))
