"""Event logs: four bounded rings (therapy, alarm, audit, daily) of fixed 24-byte records.

Why: a clinician must be able to reconstruct what the pump did, and the programmer must be able
to download it by cursor without ever seeing a sequence number twice.  Each record is exactly the
wire format (``pack()`` is sent as-is), carries its own CRC-32C so one bad record never poisons
the rest, and sequence numbers are per log, start at 1 and are never reused: they continue from
the highest number found in NVM after a power cycle (records are written through to NVM as they
are appended).  When a ring is full the oldest record is dropped.  The daily totals have a
ring of their own (``LogId.DAILY``, sized by the profile's ``daily_log_capacity``): a pump writes
one a day for as long as it runs, also after end of service, and in the therapy ring those zero
totals would push the implant, refill and prescription history out.

The record type itself (24 bytes with a CRC-32C check) is ``protocol.log_record.LogRecord``:
the pump, the wire and the programmer share it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass

from firmware.profile import DeviceProfile
from protocol.enums import LogEvent, LogId
from protocol.log_record import LOG_RECORD_SIZE, LogRecord, clamp_i32, clamp_u32

__all__ = [
    "LOG_RECORD_SIZE",
    "EventLog",
    "LogInfo",
    "LogRecord",
    "LogRing",
    "clamp_i32",
    "clamp_u32",
]


@dataclass(frozen=True, slots=True)
class LogInfo:
    first_seq: int  # seq of the oldest record held (== next_seq when empty)
    next_seq: int
    count: int
    capacity: int


def log_for_event(event: LogEvent) -> LogId:
    """Which ring an event belongs to (by its numeric range; DAILY_TOTAL has its own ring)."""
    if event == LogEvent.DAILY_TOTAL:
        return LogId.DAILY
    if event < 32:
        return LogId.THERAPY
    if event < 64:
        return LogId.ALARM
    return LogId.AUDIT


def ring_capacity(profile: DeviceProfile, log_id: LogId) -> int:
    """Records a ring holds: the daily ring its own capacity, the others ``log_capacity``."""
    return profile.daily_log_capacity if log_id is LogId.DAILY else profile.log_capacity


#: Records that fell out of a full ring are dropped from its lists this many at a time.
_TRIM_CHUNK = 256


class LogRing:
    """One bounded log: records in sequence order, oldest first.

    The records that fell out of the ring are dropped from the lists in chunks of
    ``_TRIM_CHUNK`` (one list move per chunk, not two per record once the ring is full);
    ``_start`` is the index of the oldest record still in the ring."""

    def __init__(self, capacity: int, records: list[LogRecord] | None = None) -> None:
        self.capacity = capacity
        ordered = sorted(records or [], key=lambda r: r.seq)[-capacity:]
        self._records = ordered
        self._seqs = [r.seq for r in ordered]
        self._start = 0
        self.next_seq = ordered[-1].seq + 1 if ordered else 1

    def append(self, time: int, event: int, a: int, b: int, flags: int = 0) -> LogRecord:
        return self.append_packed(time, event, a, b, flags)[0]

    def append_packed(
        self, time: int, event: int, a: int, b: int, flags: int = 0
    ) -> tuple[LogRecord, bytes]:
        """``append``, also returning the record's wire bytes (what the NVM slot receives)."""
        seq = self.next_seq
        record, data = LogRecord.create_packed(seq, time, event, a, b, flags)
        self.next_seq = seq + 1
        records = self._records
        records.append(record)
        self._seqs.append(seq)
        if len(records) - self._start > self.capacity:
            self._start += 1  # the oldest record falls out of the ring
            if self._start >= _TRIM_CHUNK:
                del records[: self._start]
                del self._seqs[: self._start]
                self._start = 0
        return record, data

    def info(self) -> LogInfo:
        start = self._start
        count = len(self._records) - start
        first = self._seqs[start] if count else self.next_seq
        return LogInfo(first, self.next_seq, count, self.capacity)

    def read(self, cursor_seq: int, max_count: int) -> list[LogRecord]:
        """Up to ``max_count`` records with ``seq >= cursor_seq``, oldest first."""
        start = bisect_left(self._seqs, cursor_seq, self._start)
        return self._records[start : start + max(0, max_count)]

    def records(self) -> list[LogRecord]:
        return self._records[self._start :]

    def count_recent(self, event: int, after_time: int) -> int:
        """Records of ``event`` newer than ``after_time``, counted from the newest back to the
        first record not newer (records are appended in time order; no copy of the ring)."""
        count = 0
        records = self._records
        for index in range(len(records) - 1, self._start - 1, -1):
            record = records[index]
            if record.time <= after_time:
                break
            if record.event == event:
                count += 1
        return count


#: Receives each new record with its wire bytes (``record.pack()``, already packed).
LogSink = Callable[[LogId, LogRecord, bytes], None]


class EventLog:
    """The four rings plus a write-through sink (the NVM) called for every new record."""

    def __init__(self, rings: dict[LogId, LogRing], sink: LogSink | None = None) -> None:
        self.rings = rings
        self._sink = sink

    def set_sink(self, sink: LogSink | None) -> None:
        self._sink = sink

    def append(
        self, event: LogEvent, time: int, a: int = 0, b: int = 0, flags: int = 0
    ) -> LogRecord:
        log_id = log_for_event(event)
        record, data = self.rings[log_id].append_packed(time, event, a, b, flags)
        if self._sink is not None:
            self._sink(log_id, record, data)
        return record
