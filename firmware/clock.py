"""The pump's real-time clock: board time plus a settable offset.

Why: the board counts seconds since power-up (Unix seconds in simulation); the clinic sets the
pump's date and time.  Flex schedules, log time stamps and every time the pump reports use pump
time; internal deadlines use board time, so setting the clock never makes a deadline jump.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class PumpClock:
    offset_s: int = 0  # pump time = board time + offset

    def pump_time(self, board_time: int) -> int:
        return board_time + self.offset_s

    def board_time(self, pump_time: int) -> int:
        return pump_time - self.offset_s

    def optional_pump_time(self, board_time: int | None) -> int | None:
        return None if board_time is None else board_time + self.offset_s
