"""The pump's real-time clock: board time plus a settable offset.

Why: the board counts seconds since power-up (Unix seconds in simulation); the clinic sets the
pump's date and time.  Flex schedules, log time stamps and every time the pump reports use pump
time; internal deadlines use board time, so setting the clock never makes a deadline jump.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware.units import DAY_S


@dataclass(slots=True)
class PumpClock:
    offset_s: int = 0  # pump time = board time + offset

    def pump_time(self, board_time: int) -> int:
        return board_time + self.offset_s

    def board_time(self, pump_time: int) -> int:
        return pump_time - self.offset_s

    def optional_pump_time(self, board_time: int | None) -> int | None:
        return None if board_time is None else board_time + self.offset_s


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
