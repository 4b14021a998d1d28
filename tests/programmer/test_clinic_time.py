"""The programmer's side of clinic time: zone options, offsets for people, the drift warning."""

from __future__ import annotations

import pytest

from programmer.clinic_time import HostTime, drift_warning, host_time, parse_utc_offset
from programmer.errors import UsageError
from protocol.units import format_utc_offset

T = 1_767_571_200  # 2026-01-05T00:00:00Z


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("+01:00", 3600),
        ("-05:00", -18_000),
        ("+0545", 20_700),
        ("UTC+1", 3600),
        ("utc-3:30", -12_600),
        ("Z", 0),
        ("0", 0),
        ("GMT", 0),
    ],
)
def test_utc_offsets_are_read_as_hours_and_minutes(text: str, seconds: int) -> None:
    assert parse_utc_offset(text) == seconds


@pytest.mark.parametrize("text", ["+1:75", "Europe/Paris", "+", "1h", ""])
def test_a_malformed_offset_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError):
        parse_utc_offset(text)


def test_offsets_for_people() -> None:
    assert [format_utc_offset(s) for s in (3600, -18_000, 20_700, 0, -12_600)] == [
        "UTC+01:00",
        "UTC-05:00",
        "UTC+05:45",
        "UTC+00:00",
        "UTC-03:30",
    ]


def test_the_zone_comes_from_one_option_at_most() -> None:
    with pytest.raises(UsageError, match="not both"):
        host_time("+01:00", "Europe/Paris")
    with pytest.raises(UsageError, match="not a time zone name"):
        host_time(tz="Nowhere/Atlantis")
    summer = host_time(tz="America/New_York", utc_s=T + 180 * 86_400)  # 4 July 2026: EDT
    assert summer.utc_offset_s == -4 * 3600 and summer.zone == "America/New_York"


def test_the_warning_says_which_way_and_why() -> None:
    """Pump at UTC+01:00; this computer at UTC+01:00 but 10 min ahead in UTC: the clock is
    slow.  The same UTC but this computer at UTC+02:00: a zone change, 1 h behind.  The
    pump 6 h ahead (a computer at UTC-05:00): steps would run early."""
    slow = drift_warning(T - 600, 3600, HostTime(T, 3600, "test"), 300)
    assert slow is not None and slow.startswith("the pump clock is 10 min behind")
    assert "its clock is 10 min behind in UTC" in slow and "late by this clock" in slow
    dst = drift_warning(T, 3600, HostTime(T, 7200, "Europe/Paris"), 300)
    assert dst is not None and "1 h behind" in dst and "daylight-saving" in dst
    assert "in UTC" not in dst  # the UTC clock is right: only the offset is off
    ahead = drift_warning(T, 3600, HostTime(T, -18_000, "EST"), 300)
    assert ahead is not None and "6 h ahead of" in ahead and "early by this clock" in ahead
    assert drift_warning(T + 300, 3600, HostTime(T, 3600, "test"), 300) is None
