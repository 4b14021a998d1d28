"""The battery drains from time, strokes and bytes; the shipped profiles reach EOS within 5-7
years: at most 7 at the minimum rate, about 5 at the high flow of 2 mL/day."""

from __future__ import annotations

import pytest

from hw_sim.hardware.battery import PrimaryCell
from hw_sim.profiles.loader import load_profile
from protocol.units import DAY_S as DAY

YEAR_DAYS = 365.25


def cell_for(profile_name: str) -> tuple[PrimaryCell, int, int]:
    loaded = load_profile(profile_name)
    hw = loaded.hardware
    cell = PrimaryCell(
        hw.battery_capacity_nas,
        hw.quiescent_current_na,
        hw.charge_per_stroke_nas,
        hw.charge_per_telemetry_byte_nas,
        installed_at=0,
    )
    return cell, loaded.device.stroke_volume_nl, loaded.device.eri_remaining_ppm


def years_to_eri(profile_name: str, flow_nl_per_day: int) -> float:
    cell, stroke_nl, eri_ppm = cell_for(profile_name)
    strokes_per_day = flow_nl_per_day // stroke_nl
    day = 0
    while cell.remaining_ppm(day * DAY) > eri_ppm:
        day += 1
        cell.on_strokes(strokes_per_day)
    return day / YEAR_DAYS


def years_to_eos(profile_name: str, flow_nl_per_day: int) -> float:
    eos_after_eri_days = load_profile(profile_name).device.eos_after_eri_s / DAY
    return years_to_eri(profile_name, flow_nl_per_day) + eos_after_eri_days / YEAR_DAYS


@pytest.mark.parametrize("profile_name", ["vp20", "vp40"])
def test_the_minimum_rate_reaches_eos_within_seven_years(profile_name: str) -> None:
    """The reference: 5-7 years, 7 at most.  At 0.048 mL/day ERI comes on day 2,461 and EOS on
    day 2,551 (6.98 years); 0.1 mL/day ends sooner (ERI 6.66 years)."""
    min_rate = load_profile(profile_name).device.min_rate_nl_per_day
    assert 6.9 <= years_to_eos(profile_name, min_rate) <= 7.0
    assert years_to_eri(profile_name, min_rate) == pytest.approx(2_461 / YEAR_DAYS)
    assert 6.6 <= years_to_eri(profile_name, 100_000) <= 6.7


@pytest.mark.parametrize("profile_name", ["vp20", "vp40"])
def test_high_flow_reaches_eos_near_five_years(profile_name: str) -> None:
    """2 mL/day: ERI on day 1,739, EOS on day 1,829 (5.01 years)."""
    assert 4.95 <= years_to_eos(profile_name, 2_000_000) <= 5.05
    assert years_to_eri(profile_name, 2_000_000) == pytest.approx(1_739 / YEAR_DAYS)


def test_remaining_charge_is_computed_from_elapsed_time_without_ticking() -> None:
    cell = PrimaryCell(1_000_000, 10, 0, 0, installed_at=1_000)
    assert cell.remaining_ppm(1_000) == 1_000_000
    assert cell.remaining_ppm(1_000 + 50_000) == 500_000
    assert cell.remaining_ppm(1_000 + 200_000) == 0


def test_strokes_and_telemetry_bytes_cost_charge() -> None:
    cell = PrimaryCell(1_000_000, 0, 100, 10, installed_at=0)
    cell.on_strokes(1_000)
    cell.on_bytes(10_000)
    assert cell.used_nas(0) == 200_000
    assert cell.remaining_ppm(0) == 800_000


def test_planned_time_of_level_matches_the_gauge() -> None:
    cell, _, eri_ppm = cell_for("vp20")
    eri_at = cell.time_of_level(eri_ppm, 0, strokes_per_day=0)
    assert cell.remaining_ppm(eri_at - DAY) > eri_ppm
    assert cell.remaining_ppm(eri_at + 1) <= eri_ppm
