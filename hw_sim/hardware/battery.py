"""The primary cell and its fuel gauge, drained lazily from time, strokes and telemetry bytes.

Why: battery life is what ends a pump's service (ERI, then EOS 90 days later), and it depends on
the flow: every motor stroke and every telemetry byte costs charge on top of a quiescent drain.
Charge is integer nanoampere-seconds (nAs).  Nothing ticks: ``remaining_ppm(now)`` computes the
quiescent part from elapsed time on demand, so seven years cost nothing until someone asks.

Calibration (profile constants, docs/SCENARIOS.md, docs/CLINICAL.md "Battery life"): with
596.7 mAh nominal, 9 uA quiescent and 41,806 nAs per 250 nL stroke, the minimum rate of
0.048 mL/day reaches ERI (10 % left) on day 2,461 and EOS 90 days later after 6.98 years (the
reference: 7 at most), 2 mL/day reaches EOS after 5.01 years.
"""

from __future__ import annotations

PPM = 1_000_000


class PrimaryCell:
    """Implements ``firmware.hal.BatteryGauge``."""

    def __init__(
        self,
        capacity_nas: int,
        quiescent_current_na: int,
        charge_per_stroke_nas: int,
        charge_per_byte_nas: int,
        installed_at: int,
    ) -> None:
        if capacity_nas <= 0:
            raise ValueError("capacity must be positive")
        self.capacity_nas = capacity_nas
        self.quiescent_current_na = quiescent_current_na
        self.charge_per_stroke_nas = charge_per_stroke_nas
        self.charge_per_byte_nas = charge_per_byte_nas
        self.installed_at = installed_at
        self.strokes_charged = 0
        self.bytes_charged = 0
        self.extra_drain_nas = 0  # bench adjustments (e.g. an aged cell)

    def on_strokes(self, count: int) -> None:
        self.strokes_charged += count

    def on_bytes(self, count: int) -> None:
        self.bytes_charged += count

    def used_nas(self, now: int) -> int:
        """Charge drawn since installation, as of ``now``."""
        elapsed = max(0, now - self.installed_at)
        return (
            elapsed * self.quiescent_current_na
            + self.strokes_charged * self.charge_per_stroke_nas
            + self.bytes_charged * self.charge_per_byte_nas
            + self.extra_drain_nas
        )

    def remaining_ppm(self, now: int) -> int:
        """Remaining charge in ppm of nominal capacity, rounded down, clamped to 0..1e6."""
        left = self.capacity_nas - self.used_nas(now)
        if left <= 0:
            return 0
        return min(PPM, left * PPM // self.capacity_nas)

    def time_of_level(self, level_ppm: int, now: int, strokes_per_day: int) -> int:
        """When the gauge will read ``level_ppm`` at a constant stroke rate (for planning/tests)."""
        target_used = self.capacity_nas - self.capacity_nas * level_ppm // PPM
        per_day = self.quiescent_current_na * 86_400 + strokes_per_day * self.charge_per_stroke_nas
        missing = target_used - self.used_nas(now)
        return now + max(0, missing) * 86_400 // per_day
