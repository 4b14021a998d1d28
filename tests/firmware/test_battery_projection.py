"""The replacement date the firmware projects from its gauge and the therapy in force
(firmware/battery_monitor.py), with the shipped profiles' design figures: 2.148e12 nAs,
9 uA quiescent (777,600,000 nAs a day), 41,806 nAs a 250 nL stroke, ERI at 10 %, EOS 90 days
after ERI."""

from __future__ import annotations

from firmware.battery_monitor import BatteryMonitor, program_volume_nl_per_day, projected_replace_by
from firmware.prescription import Continuous, Flex, FlexStep, Stopped
from firmware.profile import BatteryDesign
from tests.firmware.conftest import DAY, make_profile

PROFILE = make_profile(battery=BatteryDesign(2_148_000_000_000, 9_000, 41_806))


def _monitor() -> BatteryMonitor:
    return BatteryMonitor(PROFILE.eri_remaining_ppm, PROFILE.eos_after_eri_s)


def test_a_flex_program_counts_with_its_weekly_mean() -> None:
    """Weekdays 400 mcg/day, weekend days 100 mcg/day at 2000 mcg/mL: (5 x 400 + 2 x 100) / 7
    = 314.29 mcg/day = 157,142 nL/day (rounded down); continuous 500 mcg/day = 250,000 nL/day;
    stopped and unfilled: nothing."""
    weekday, weekend = (FlexStep(0, 400_000),), (FlexStep(0, 100_000),)
    flex = Flex((weekday, weekend), (0, 0, 0, 0, 0, 1, 1))
    assert program_volume_nl_per_day(flex, 2000) == 157_142
    assert program_volume_nl_per_day(Continuous(500_000), 2000) == 250_000
    assert program_volume_nl_per_day(Stopped(), 2000) == 0
    assert program_volume_nl_per_day(Continuous(500_000), 0) == 0


def test_a_full_cell_at_the_minimum_rate_is_replaced_on_day_2551() -> None:
    """0.048 mL/day: 1.9332e12 / 785,626,752 = 2,460.69 days to the ERI level, ERI at the
    housekeeping of day 2,461 (the first at or after), EOS 90 days later: day 2,551."""
    eos = projected_replace_by(_monitor(), PROFILE, 1_000_000, 48_000, DAY, 0)
    assert eos == 2_551 * DAY


def test_a_stopped_pump_drains_only_the_quiescent_current() -> None:
    """1.9332e12 / 777,600,000 = 2,486.11 days: ERI on day 2,487, EOS on day 2,577."""
    assert projected_replace_by(_monitor(), PROFILE, 1_000_000, 0, DAY, 0) == 2_577 * DAY


def test_after_eri_the_date_is_the_real_one() -> None:
    """Below the ERI level before the housekeeping read it: ERI at the next housekeeping
    (day 5), EOS day 95; once ERI is recorded the date is ERI + 90 days whatever the flow."""
    monitor = _monitor()
    assert projected_replace_by(monitor, PROFILE, 99_000, 48_000, 5 * DAY, 4 * DAY) == 95 * DAY
    monitor.check(99_000, 5 * DAY)
    assert projected_replace_by(monitor, PROFILE, 10_000, 8_000_000, 6 * DAY, 50 * DAY) == (
        95 * DAY
    )
