"""The log record: 24 bytes, the same in the pump's NVM, on the wire and in the programmer.

Why: the pump writes records, LOG_READ carries them unchanged, and the programmer and the
conformance suite read them; one declaration (``LogRecordLayout``) with one pack/unpack keeps the
three in step.  The record's size, the ``struct`` formats the hot paths use and the number of
records one LOG_READ frame carries (``protocol.codec.LOG_RECORDS_PER_FRAME``) are derived from
it.  Layout (big-endian)::

    seq u32 | time u32 (pump time, s) | event u16 (LogEvent) | flags u16 | a i32 | b i32 | check u32

``check`` is the CRC-32C of the bytes before it, so one bad record never poisons the rest.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import construct as c

from .crc import crc32c
from .enums import LogEvent, enum_label
from .layouts import i32, u16, u32

#: The record as the pump stores it and LOG_READ carries it: the one declaration.
LogRecordLayout = c.Struct(
    "seq" / u32,
    "time" / u32,  # pump time, s
    "event" / u16,  # LogEvent
    "flags" / u16,
    "a" / i32,
    "b" / i32,
    "check" / u32,  # CRC-32C of the bytes before it
)
LOG_RECORD_SIZE: int = LogRecordLayout.sizeof()
#: Field names in wire order (the fields of ``LogRecord``).
LOG_RECORD_FIELDS: tuple[str, ...] = tuple(sub.name for sub in LogRecordLayout.subcons)
_FORMATS = [sub.subcon.fmtstr.lstrip(">") for sub in LogRecordLayout.subcons]
_BODY = struct.Struct(">" + "".join(_FORMATS[:-1]))  # everything the check covers
_CHECK = struct.Struct(">" + _FORMATS[-1])
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

    @classmethod
    def create_packed(
        cls, seq: int, time: int, event: int, a: int, b: int, flags: int = 0
    ) -> tuple[LogRecord, bytes]:
        """``create`` and its wire bytes in one go (the log's write path packs the body once)."""
        time, a, b, event = int(time), int(a), int(b), int(event)
        if not 0 <= time <= 0xFFFF_FFFF:
            time = clamp_u32(time)
        if not _I32_MIN <= a <= _I32_MAX:
            a = clamp_i32(a)
        if not _I32_MIN <= b <= _I32_MAX:
            b = clamp_i32(b)
        body = _BODY.pack(seq, time, event, flags, a, b)
        check = crc32c(body)
        # the fields set through their slots: what the frozen __init__ does, at half its cost
        # (once per log record, and the pump logs at least one a day)
        record = _new(cls)
        _set_seq(record, seq)
        _set_time(record, time)
        _set_event(record, event)
        _set_flags(record, flags)
        _set_a(record, a)
        _set_b(record, b)
        _set_check(record, check)
        return record, body + _CHECK.pack(check)

    def pack(self) -> bytes:
        return _BODY.pack(
            self.seq, self.time, self.event, self.flags, self.a, self.b
        ) + _CHECK.pack(self.check)

    @classmethod
    def parse(cls, data: bytes) -> LogRecord:
        """Parse one record without judging the check (see ``check_ok``); ValueError on length."""
        if len(data) != LOG_RECORD_SIZE:
            raise ValueError(f"log record must be {LOG_RECORD_SIZE} bytes, got {len(data)}")
        return cls(*_BODY.unpack_from(data, 0), *_CHECK.unpack_from(data, _BODY.size))

    @classmethod
    def unpack(cls, data: bytes) -> LogRecord:
        """Parse one record; raises ValueError on a wrong length or a failed check."""
        record = cls.parse(data)
        if not record.check_ok:
            raise ValueError("log record check failed")
        return record

    @property
    def check_ok(self) -> bool:
        body = _BODY.pack(self.seq, self.time, self.event, self.flags, self.a, self.b)
        return crc32c(body) == self.check

    @property
    def event_name(self) -> str:
        return enum_label(LogEvent, self.event, "event_{value}").lower()


_new = object.__new__
_SetField = Callable[[LogRecord, int], None]
_set_seq, _set_time, _set_event, _set_flags, _set_a, _set_b, _set_check = (
    cast(_SetField, LogRecord.__dict__[name].__set__) for name in LOG_RECORD_FIELDS
)


def encode_record(seq: int, time: int, event: int, a: int = 0, b: int = 0, flags: int = 0) -> bytes:
    """The wire bytes of one record, its check computed (``LogRecord.create(...).pack()``)."""
    return LogRecord.create(seq, time, event, a, b, flags).pack()
