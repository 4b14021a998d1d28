"""Scenario times: durations and UTC dates parse to exact integer seconds."""

from __future__ import annotations

import pytest

from hw_sim.scenarios.timeparse import (
    DEFAULT_START_TIME,
    format_datetime,
    parse_clock,
    parse_datetime,
    parse_duration,
    parse_instant,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("30m", 1_800),
        ("10min", 600),
        ("12h", 43_200),
        ("72d", 72 * 86_400),
        ("1d12h", 129_600),
        ("2w", 14 * 86_400),
        ("7y", 7 * 365 * 86_400),
        ("45", 45),
        (60, 60),
    ],
)
def test_durations_in_every_unit(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "3x", "d", "1.5d", "-1d", "1d 2", "h1"])
def test_malformed_durations_are_refused_with_an_example(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected e\.g\."):
        parse_duration(text)


def test_default_start_is_a_monday_midnight_utc() -> None:
    assert format_datetime(DEFAULT_START_TIME) == "2026-01-05T00:00:00Z"
    assert (DEFAULT_START_TIME // 86_400 + 3) % 7 == 0


def test_instants_are_offsets_from_start_or_absolute_utc_dates() -> None:
    assert parse_instant("30d", DEFAULT_START_TIME) == DEFAULT_START_TIME + 30 * 86_400
    assert (
        parse_instant("2026-01-06T09:00", DEFAULT_START_TIME)
        == DEFAULT_START_TIME + 86_400 + 9 * 3_600
    )
    assert parse_datetime("2026-01-05") == DEFAULT_START_TIME


def test_dates_with_a_utc_offset_are_refused() -> None:
    with pytest.raises(ValueError, match="UTC"):
        parse_datetime("2026-01-05T09:00+02:00")


def test_clock_times_give_minutes_of_the_day() -> None:
    assert parse_clock("07:30") == 450
    with pytest.raises(ValueError, match="HH:MM"):
        parse_clock("24:00")
