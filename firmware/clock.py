"""The pump's real-time clock: board time plus a settable offset, and the clinic's UTC offset.

Why: the board counts seconds since power-up (Unix seconds in simulation); the clinic sets the
pump's date and time.  Pump time is UTC (Unix seconds): log time stamps and every time the pump
reports use it, so they never jump when a clinic changes to or from daylight-saving time.  The
clinic's local time is pump time plus the UTC offset the clinic set with the clock
(``utc_offset_s``, 0 for a pump never told its zone): flex steps and the midnight that closes
a day's totals run on local time, as the clinician wrote them.  Internal deadlines use board
time, so setting the clock never makes a deadline jump.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware.units import DAY_S
from protocol.units import format_utc_offset

#: UTC offsets SET_CLOCK accepts: the zones in use span UTC-12:00 .. UTC+14:00, and every one is
#: a whole number of quarter hours (UTC+05:45, UTC+12:45), both ends included.
MIN_UTC_OFFSET_S = -12 * 3600
MAX_UTC_OFFSET_S = 14 * 3600
UTC_OFFSET_STEP_S = 15 * 60


@dataclass(slots=True)
class PumpClock:
    offset_s: int = 0  # pump time (UTC) = board time + offset
    utc_offset_s: int = 0  # clinic local time = pump time + utc offset

    def pump_time(self, board_time: int) -> int:
        return board_time + self.offset_s

    def board_time(self, pump_time: int) -> int:
        return pump_time - self.offset_s

    def optional_pump_time(self, board_time: int | None) -> int | None:
        return None if board_time is None else board_time + self.offset_s

    def local_time(self, board_time: int) -> int:
        """The clinic's local time (seconds since 1970-01-01T00:00 local) at a board time."""
        return board_time + self.offset_s + self.utc_offset_s

    def board_time_of_local(self, local_time: int) -> int:
        return local_time - self.offset_s - self.utc_offset_s


def utc_offset_problem(utc_offset_s: int) -> str | None:
    """Why a UTC offset is refused (CLOCK_INVALID), or None if the pump accepts it."""
    if not MIN_UTC_OFFSET_S <= utc_offset_s <= MAX_UTC_OFFSET_S:
        return (
            f"UTC offset {format_utc_offset(utc_offset_s)} is outside "
            f"{format_utc_offset(MIN_UTC_OFFSET_S)} .. {format_utc_offset(MAX_UTC_OFFSET_S)}"
        )
    if utc_offset_s % UTC_OFFSET_STEP_S:
        return (
            f"UTC offset {format_utc_offset(utc_offset_s)} is not a whole number of quarter hours"
        )
    return None


def date_text(unix_s: int) -> str:
    """``YYYY-MM-DD`` (UTC) of a pump time, in integers (for refusal reasons people read)."""
    days = unix_s // DAY_S + 719468  # days since 0000-03-01 (Howard Hinnant's civil_from_days)
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return f"{year:04d}-{month:02d}-{day:02d}"


def u32_as_i32(value: int) -> int:
    """A pump time (u32, clamped) in a log record's signed 32-bit argument, bit for bit."""
    value = max(0, min(0xFFFF_FFFF, value))
    return value - (1 << 32) if value >= 1 << 31 else value
