"""Event logs: three bounded rings (therapy, alarm, audit) of fixed 24-byte records.

Why: a clinician must be able to reconstruct what the pump did, and the programmer must be able
to download it by cursor without ever seeing a sequence number twice.  Each record is exactly the
wire format (``pack()`` is sent as-is), carries its own CRC-32C so one bad record never poisons
the rest, and sequence numbers are per log, start at 1 and are never reused: they continue from
the highest number found in NVM after a power cycle (records are written through to NVM as they
are appended).  When a ring is full the oldest record is dropped.

Record layout (big-endian, 24 bytes)::

    seq u32 | time u32 (pump time) | event u16 | flags u16 | a i32 | b i32 | check u32

``check`` is the CRC-32C of the first 20 bytes.
"""

from __future__ import annotations

import struct
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass

from protocol.crc import crc32c
from protocol.enums import LogEvent, LogId

LOG_RECORD_SIZE = 24
_BODY = struct.Struct(">IIHHii")
_I32_MIN, _I32_MAX = -(2**31), 2**31 - 1


def clamp_i32(value: int) -> int:
    """Arguments are signed 32-bit on the wire; larger values saturate."""
    return max(_I32_MIN, min(_I32_MAX, value))


def clamp_u32(value: int) -> int:
    return max(0, min(0xFFFF_FFFF, value))


@dataclass(frozen=True, slots=True)
class LogRecord:
    seq: int
    time: int
    event: int
    flags: int
    a: int
    b: int
    check: int

    @classmethod
    def create(cls, seq: int, time: int, event: int, a: int, b: int, flags: int = 0) -> LogRecord:
        """A record with arguments saturated to their wire ranges and its check computed."""
        time, a, b, event = clamp_u32(time), clamp_i32(int(a)), clamp_i32(int(b)), int(event)
        body = _BODY.pack(seq, time, event, flags, a, b)
        return cls(seq, time, event, flags, a, b, crc32c(body))

    def pack(self) -> bytes:
        body = _BODY.pack(self.seq, self.time, self.event, self.flags, self.a, self.b)
        return body + struct.pack(">I", self.check)

    @classmethod
    def unpack(cls, data: bytes) -> LogRecord:
        """Parse 24 bytes; raises ValueError on a wrong length or a failed check."""
        if len(data) != LOG_RECORD_SIZE:
            raise ValueError(f"log record must be {LOG_RECORD_SIZE} bytes, got {len(data)}")
        (check,) = struct.unpack_from(">I", data, 20)
        if crc32c(data[:20]) != check:
            raise ValueError("log record check failed")
        seq, time, event, flags, a, b = _BODY.unpack_from(data, 0)
        return cls(seq, time, event, flags, a, b, check)

    @property
    def is_valid(self) -> bool:
        return crc32c(self.pack()[:20]) == self.check


@dataclass(frozen=True, slots=True)
class LogInfo:
    first_seq: int  # seq of the oldest record held (== next_seq when empty)
    next_seq: int
    count: int
    capacity: int


def log_for_event(event: LogEvent) -> LogId:
    """Which ring an event belongs to (by its numeric range)."""
    if event < 32:
        return LogId.THERAPY
    if event < 64:
        return LogId.ALARM
    return LogId.AUDIT


class LogRing:
    """One bounded log: records in sequence order, oldest first."""

    def __init__(self, capacity: int, records: list[LogRecord] | None = None) -> None:
        self.capacity = capacity
        ordered = sorted(records or [], key=lambda r: r.seq)[-capacity:]
        self._records = ordered
        self._seqs = [r.seq for r in ordered]
        self.next_seq = ordered[-1].seq + 1 if ordered else 1

    def append(self, time: int, event: int, a: int, b: int) -> LogRecord:
        record = LogRecord.create(self.next_seq, time, event, a, b)
        self.next_seq += 1
        self._records.append(record)
        self._seqs.append(record.seq)
        if len(self._records) > self.capacity:
            del self._records[0]
            del self._seqs[0]
        return record

    def info(self) -> LogInfo:
        first = self._seqs[0] if self._seqs else self.next_seq
        return LogInfo(first, self.next_seq, len(self._records), self.capacity)

    def read(self, cursor_seq: int, max_count: int) -> list[LogRecord]:
        """Up to ``max_count`` records with ``seq >= cursor_seq``, oldest first."""
        start = bisect_left(self._seqs, cursor_seq)
        return self._records[start : start + max(0, max_count)]

    def records(self) -> list[LogRecord]:
        return list(self._records)


LogSink = Callable[[LogId, LogRecord], None]


class EventLog:
    """The three rings plus a write-through sink (the NVM) called for every new record."""

    def __init__(self, rings: dict[LogId, LogRing], sink: LogSink | None = None) -> None:
        self.rings = rings
        self._sink = sink

    def set_sink(self, sink: LogSink | None) -> None:
        self._sink = sink

    def append(self, event: LogEvent, time: int, a: int = 0, b: int = 0) -> LogRecord:
        log_id = log_for_event(event)
        record = self.rings[log_id].append(time, event, a, b)
        if self._sink is not None:
            self._sink(log_id, record)
        return record
