"""The firmware's outgoing telemetry, buffered for the link layer to drain.

Why: the firmware pushes bytes (replies, unsolicited events) without knowing whether a pty, a
serial port or nothing is attached; the link layer (``vpump serve``) drains this buffer when it
can write.  Every byte sent costs battery charge (radio on-time), reported to a callback.
"""

from __future__ import annotations

from collections.abc import Callable


class BufferedTelemetry:
    """Implements ``firmware.hal.TelemetryPort``."""

    def __init__(self, on_bytes_sent: Callable[[int], None] | None = None) -> None:
        self._buffer = bytearray()
        self._on_bytes_sent = on_bytes_sent
        self.bytes_sent_total = 0

    def send(self, data: bytes) -> None:
        self._buffer += data
        self.bytes_sent_total += len(data)
        if self._on_bytes_sent is not None:
            self._on_bytes_sent(len(data))

    def pending(self) -> int:
        """Bytes waiting to be drained."""
        return len(self._buffer)

    def drain(self, max_bytes: int | None = None) -> bytes:
        """Take up to ``max_bytes`` (all when None) from the front of the buffer."""
        size = len(self._buffer) if max_bytes is None else min(max_bytes, len(self._buffer))
        chunk = bytes(self._buffer[:size])
        del self._buffer[:size]
        return chunk
