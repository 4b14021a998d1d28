"""The firmware's outgoing telemetry, buffered for the link layer to drain.

Why: the firmware pushes bytes (replies, unsolicited events) without knowing whether a pty, a
serial port or nothing is attached; the link layer (``vpump serve``) drains this buffer when it
can write.  Every byte sent costs battery charge (radio on-time), reported to a callback.

Two classes, so a flood cannot outlive itself: session replies and alarm events (normal
priority) always leave before replies to unauthenticated requests (low priority, e.g. HELLO).
Each ``send`` carries whole frames; the queues hold them one frame each (split at the COBS
delimiter), and a frame that has started to leave is finished before any other, so frames of
the two classes are never interleaved on the line.

Bounds: the low-priority queue keeps at most ``LOW_PRIORITY_MAX_BYTES`` (a dozen HELLO replies,
about 90 ms of a 115 200 baud line); a new chunk pushes the oldest waiting ones out, so what is
sent is the freshest answer and never a backlog.  The normal queue holds only what an
authenticated programmer asked for (the largest is one LOG_READ stream) and alarm events; it is
capped at ``NORMAL_MAX_BYTES``, oldest chunks dropped, for a programmer that never reads.
Dropped bytes are counted per class (``dropped``).  The radio's cost is charged when a chunk is
queued (so battery figures do not depend on how fast a client reads); a frame refused outright
because it is larger than its whole queue is not charged.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

from protocol.framing import DELIMITER

#: Low-priority bytes kept waiting: about a dozen HELLO replies (75 bytes each).
LOW_PRIORITY_MAX_BYTES = 1024
#: Normal bytes kept waiting: room for the longest log download a session can ask for.
NORMAL_MAX_BYTES = 4 * 1024 * 1024


class BufferedTelemetry:
    """Implements ``firmware.hal.TelemetryPort``."""

    def __init__(
        self,
        on_bytes_sent: Callable[[int], None] | None = None,
        low_priority_max_bytes: int = LOW_PRIORITY_MAX_BYTES,
        normal_max_bytes: int = NORMAL_MAX_BYTES,
    ) -> None:
        self._queues: tuple[deque[bytes], deque[bytes]] = (deque(), deque())  # normal, low
        self._sizes = [0, 0]
        self._limits = (normal_max_bytes, low_priority_max_bytes)
        self._current = b""  # the chunk on its way out, finished before any other
        self._on_bytes_sent = on_bytes_sent
        self.bytes_sent_total = 0
        #: Bytes dropped unsent because their queue was full: normal, low priority.
        self.dropped = [0, 0]

    def send(self, data: bytes, low_priority: bool = False) -> None:
        cls = 1 if low_priority else 0
        queue, limit = self._queues[cls], self._limits[cls]
        for frame in _frames(data):
            if len(frame) > limit:  # larger than its whole queue: refused, not charged
                self.dropped[cls] += len(frame)
                continue
            queue.append(frame)
            self._sizes[cls] += len(frame)
            while self._sizes[cls] > limit:  # the oldest waiting frames make room
                old = queue.popleft()
                self._sizes[cls] -= len(old)
                self.dropped[cls] += len(old)
            self.bytes_sent_total += len(frame)  # what is queued is sent: the radio's cost
            if self._on_bytes_sent is not None:
                self._on_bytes_sent(len(frame))

    def dropped_bytes(self) -> dict[str, int]:
        """Bytes dropped unsent per class, for ``vpump ctl hw-status``."""
        return {"normal": self.dropped[0], "low_priority": self.dropped[1]}

    def pending(self) -> int:
        """Bytes waiting to be drained."""
        return len(self._current) + self._sizes[0] + self._sizes[1]

    def drain(self, max_bytes: int | None = None) -> bytes:
        """Take up to ``max_bytes`` (all when None): the chunk in progress, then normal-priority
        chunks, then low-priority ones."""
        out = bytearray()
        while max_bytes is None or len(out) < max_bytes:
            if not self._current:
                cls = 0 if self._queues[0] else 1
                if not self._queues[cls]:
                    break
                self._current = self._queues[cls].popleft()
                self._sizes[cls] -= len(self._current)
            room = len(self._current) if max_bytes is None else max_bytes - len(out)
            out += self._current[:room]
            self._current = self._current[room:]
        return bytes(out)


def _frames(data: bytes) -> Iterator[bytes]:
    """``data`` cut after each delimiter: one frame each (a tail without one is a piece too)."""
    start = 0
    while start < len(data):
        end = data.find(DELIMITER, start)
        end = len(data) if end < 0 else end + 1
        yield bytes(data[start:end])
        start = end
