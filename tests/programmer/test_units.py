"""Units are required, checked against the kind of quantity, and converted exactly."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from programmer import units
from programmer.errors import UnitError
from protocol.units import format_ml


@given(st.integers(min_value=1, max_value=20_000_000))
def test_daily_dose_in_mcg_round_trips_to_nanograms(ng: int) -> None:
    text = f"{Decimal(ng) / 1000}mcg/day"
    assert units.parse_daily_dose(text) == ng


@given(st.integers(min_value=1, max_value=20_000))
def test_daily_dose_in_mg_and_mcg_agree(mcg: int) -> None:
    assert units.parse_daily_dose(f"{mcg / 1000}mg/day") == units.parse_daily_dose(f"{mcg}mcg/day")


@pytest.mark.parametrize("per", ["h", "hr", "min", "s", "week"])
def test_daily_dose_per_anything_but_day_is_refused_by_name(per: str) -> None:
    with pytest.raises(UnitError, match="per day"):
        units.parse_daily_dose(f"60mcg/{per}")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("400", "no unit"),
        ("400mcg", "no time base"),
        ("-400mcg/day", "negative"),
        ("0mcg/day", "zero"),
        ("20001mcg/day", "implausibly large"),
        ("400 bananas/day", "unknown mass unit"),
        ("mcg/day", "cannot read"),
        ("0.0001mcg/day", "finer than"),
    ],
)
def test_bad_daily_doses_are_refused_with_what_was_expected(text: str, why: str) -> None:
    with pytest.raises(UnitError, match=why) as refused:
        units.parse_daily_dose(text)
    assert "mcg/day" in str(refused.value) or "day" in str(refused.value)


@given(st.integers(min_value=1, max_value=100_000), st.sampled_from(["mL", "ml", "uL"]))
def test_volumes_convert_exactly_to_nanolitres(microlitres: int, unit: str) -> None:
    text = f"{microlitres / 1000}{unit}" if unit.lower() == "ml" else f"{microlitres}{unit}"
    assert units.parse_volume(text) == microlitres * 1000


@pytest.mark.parametrize(
    ("text", "nl"), [("20mL", 20_000_000), ("1.8mL", 1_800_000), ("500uL", 500_000)]
)
def test_brief_volume_examples(text: str, nl: int) -> None:
    assert units.parse_volume(text) == nl


@pytest.mark.parametrize("text", ["101mL", "0mL", "-1mL", "20", "20L", "20mg"])
def test_bad_volumes_are_refused(text: str) -> None:
    with pytest.raises(UnitError):
        units.parse_volume(text)


def test_zero_volume_is_allowed_only_where_it_makes_sense() -> None:
    assert units.parse_volume("0mL", zero_ok=True) == 0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30min", 1800), ("1h", 3600), ("3h", 10800), ("2d", 172800), ("1.5h", 5400)],
)
def test_durations(text: str, seconds: int) -> None:
    assert units.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["10", "0s", "-5min", "400d", "3 fortnights"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(UnitError):
        units.parse_duration(text)


def test_bolus_dose_refuses_a_rate() -> None:
    assert units.parse_dose("50mcg") == 50_000
    with pytest.raises(UnitError, match="rate"):
        units.parse_dose("50mcg/h")


def test_concentration_lengths_and_times() -> None:
    assert units.parse_concentration("500mcg/mL") == 500
    assert units.parse_concentration("2mg/mL") == 2000
    assert units.parse_length("60cm") == 600
    assert units.parse_length("600mm") == 600
    assert units.parse_time_of_day("07:00") == 420
    for bad in ("500mcg", "0mcg/mL", "0.5mcg/mL"):
        with pytest.raises(UnitError):
            units.parse_concentration(bad)
    with pytest.raises(UnitError):
        units.parse_time_of_day("24:00")
    with pytest.raises(UnitError):
        units.parse_length("60")


@given(st.integers(min_value=0, max_value=99_999_000))
def test_formatting_millilitres_reads_back_to_the_nearest_microlitre(nl: int) -> None:
    shown = format_ml(nl)
    assert shown.endswith(" mL")
    assert abs(units.parse_volume(shown.replace(" ", ""), zero_ok=True) - nl) <= 500
