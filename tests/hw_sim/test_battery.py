"""The battery drains from time, strokes and bytes; the shipped profiles reach ERI at 5-7 years."""

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


@pytest.mark.parametrize("profile_name", ["vp20", "vp40"])
def test_low_flow_reaches_eri_near_seven_years(profile_name: str) -> None:
    assert 6.8 <= years_to_eri(profile_name, 100_000) <= 7.05


@pytest.mark.parametrize("profile_name", ["vp20", "vp40"])
def test_high_flow_reaches_eri_near_five_years(profile_name: str) -> None:
    assert 4.9 <= years_to_eri(profile_name, 2_000_000) <= 5.1


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
