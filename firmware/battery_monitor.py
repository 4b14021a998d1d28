"""Battery monitor: elective replacement indicator (ERI) and end of service (EOS).

Why: the pump's primary cell cannot be recharged; the clinic needs months of warning to schedule
a replacement surgery.  The gauge is read at daily housekeeping (a cheap, bounded cadence); the
first reading at or below ``profile.eri_remaining_ppm`` sets the ERI time, and end of service
follows automatically ``profile.eos_after_eri_s`` later, when the pump stops delivering.
Times here are board time.

The replacement date is projected from the start, not only after ERI
(:func:`projected_replace_by`): the charge left above the ERI level (gauge x nominal capacity)
divided by the consumption of the therapy in force (quiescent drain + strokes per day x charge
per stroke, from the design figures in ``profile.battery``) gives the day the gauge reaches ERI;
ERI is raised at the first daily housekeeping from then, and EOS follows ``eos_after_eri_s``
later.  After ERI the date is the real one.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware.prescription import BasalProgram, Continuous, Flex
from firmware.profile import DeviceProfile
from firmware.schedule import day_total_ng
from firmware.units import DAY_S, ceil_div, volume_nl_for_mass

PPM = 1_000_000


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


def program_volume_nl_per_day(program: BasalProgram, concentration_mcg_per_ml: int) -> int:
    """Mean daily volume of a basal program (flex: the week's mean), rounded down."""
    if concentration_mcg_per_ml <= 0:
        return 0
    if isinstance(program, Continuous):
        return volume_nl_for_mass(program.daily_dose_ng, concentration_mcg_per_ml)
    if isinstance(program, Flex):
        week_ng = sum(day_total_ng(program.day_programs[i]) for i in program.weekday_program)
        return volume_nl_for_mass(week_ng, concentration_mcg_per_ml) // 7
    return 0


def projected_replace_by(
    monitor: BatteryMonitor,
    profile: DeviceProfile,
    remaining_ppm: int,
    volume_nl_per_day: int,
    next_housekeeping: int,
    now: int,
) -> int:
    """Board time of end of service (the date to replace the pump by) at the flow in force.

    ``consumption = quiescent_current_na x 86,400 + volume / stroke_volume x charge_per_stroke``
    (nAs/day); ``left = (remaining_ppm - eri_remaining_ppm) x capacity / 1e6`` (nAs); the gauge
    reaches ERI ``left / consumption`` days from ``now``, ERI is raised at the first daily
    housekeeping at or after that, and EOS ``eos_after_eri_s`` later.  Telemetry is not counted
    (a few bytes a visit)."""
    if monitor.eri_time is not None:
        return monitor.eri_time + monitor.eos_after_eri_s
    design = profile.battery
    per_day = (
        design.quiescent_current_na * DAY_S
        + volume_nl_per_day * design.charge_per_stroke_nas // profile.stroke_volume_nl
    )
    left_nas = (remaining_ppm - monitor.eri_remaining_ppm) * design.capacity_nas // PPM
    crossing = now + max(0, left_nas) * DAY_S // max(1, per_day)
    eri = next_housekeeping
    if crossing > eri:
        eri += ceil_div(crossing - eri, DAY_S) * DAY_S
    return eri + monitor.eos_after_eri_s
