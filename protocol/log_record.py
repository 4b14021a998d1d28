"""The log record: 24 bytes, the same in the pump's NVM, on the wire and in the programmer.

Why: the pump writes records, LOG_READ carries them unchanged, and the programmer and the
conformance suite read them; one type with one pack/unpack keeps the three in step.  Layout
(big-endian)::

    seq u32 | time u32 (pump time, s) | event u16 (LogEvent) | flags u16 | a i32 | b i32 | check u32

``check`` is the CRC-32C of the first 20 bytes, so one bad record never poisons the rest.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .crc import crc32c
from .enums import LogEvent

LOG_RECORD_SIZE = 24
_BODY = struct.Struct(">IIHHii")
_CHECK = struct.Struct(">I")
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
        return _BODY.pack(
            self.seq, self.time, self.event, self.flags, self.a, self.b
        ) + _CHECK.pack(self.check)

    @classmethod
    def parse(cls, data: bytes) -> LogRecord:
        """Parse 24 bytes without judging the check (see ``check_ok``); ValueError on length."""
        if len(data) != LOG_RECORD_SIZE:
            raise ValueError(f"log record must be {LOG_RECORD_SIZE} bytes, got {len(data)}")
        return cls(*_BODY.unpack_from(data, 0), *_CHECK.unpack_from(data, 20))

    @classmethod
    def unpack(cls, data: bytes) -> LogRecord:
        """Parse 24 bytes; raises ValueError on a wrong length or a failed check."""
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
        try:
            return LogEvent(self.event).name.lower()
        except ValueError:
            return f"event_{self.event}"
