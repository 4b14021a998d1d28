"""Battery monitor: elective replacement indicator (ERI) and end of service (EOS).

Why: the pump's primary cell cannot be recharged; the clinic needs months of warning to schedule
a replacement surgery.  The gauge is read at daily housekeeping (a cheap, bounded cadence); the
first reading at or below ``profile.eri_remaining_ppm`` sets the ERI time, and end of service
follows automatically ``profile.eos_after_eri_s`` later, when the pump stops delivering.
Times here are board time.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class BatteryMonitor:
    eri_remaining_ppm: int
    eos_after_eri_s: int
    eri_time: int | None = None
    eos_reached: bool = False
    last_remaining_ppm: int = 1_000_000

    def check(self, remaining_ppm: int, now: int) -> bool:
        """Record a gauge reading; True when it newly raises ERI."""
        self.last_remaining_ppm = remaining_ppm
        if self.eri_time is None and remaining_ppm <= self.eri_remaining_ppm:
            self.eri_time = now
            return True
        return False

    @property
    def eos_time(self) -> int | None:
        """When end of service happens (or happened); None before ERI."""
        return None if self.eri_time is None else self.eri_time + self.eos_after_eri_s
