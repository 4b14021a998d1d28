"""The pump's words for people: exact integer formatting in mcg, mL, min and h."""

from __future__ import annotations

from firmware import wording


def test_doses_volumes_and_rates_read_in_clinical_units() -> None:
    assert wording.mcg(592_000) == "592 mcg"
    assert wording.mcg(416_666) == "416.666 mcg"
    assert wording.mcg(12_500) == "12.5 mcg"
    assert wording.mcg_per_day(3_050_000) == "3050 mcg/day"
    assert wording.ml(296_000) == "0.296 mL"
    assert wording.ml(1_999) == "0.001 mL"  # rounded down, like every firmware conversion
    assert wording.ml_per_day(24_000_000) == "24 mL/day"


def test_durations_and_changes() -> None:
    assert wording.duration(1_800) == "30 min"
    assert wording.duration(5_400) == "1 h 30 min"
    assert wording.duration(1_066) == "17 min 46 s"
    assert wording.duration(0) == "0 s"
    assert wording.percent(400) == "+40 %"
    assert wording.percent(333) == "+33.3 %"
    assert wording.percent(-125) == "-12.5 %"
    assert wording.clock(420) == "07:00"
