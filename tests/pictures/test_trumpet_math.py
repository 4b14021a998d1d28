"""The trumpet computation on synthetic sample series, with figures worked out by hand."""

from __future__ import annotations

import pytest

from hw_sim.studies.accuracy import (
    AccuracyError,
    mean_error_pct,
    parse_rate,
    trumpet,
    window_errors,
)


def test_a_constant_flow_at_the_programmed_rate_is_zero_error_in_every_window() -> None:
    samples = [10.0] * 240  # two hours of 0.5 min samples
    for point in trumpet(samples, 10.0, (2, 5, 11, 19, 31)):
        assert point.max_pct == 0.0 and point.min_pct == 0.0
    assert mean_error_pct(samples, 10.0) == 0.0


def test_a_constant_flow_10_percent_high_is_plus_10_percent_everywhere() -> None:
    points = trumpet([11.0] * 120, 10.0, (2, 5, 31))
    for point in points:
        assert point.max_pct == pytest.approx(10.0) and point.min_pct == pytest.approx(10.0)


def test_a_single_doubled_sample_gives_known_extremes() -> None:
    # r = 10 per sample; sample 50 delivers 20 (one extra r).  A 2 min window has m = 4 samples:
    # a window holding the spike is (40 + 10 - 40) / 40 = +25 %, the others 0 %.
    samples = [10.0] * 100
    samples[50] = 20.0
    errors = window_errors(samples, 10.0, 4)
    assert len(errors) == 97  # 100 - 4 + 1 windows
    assert max(errors) == pytest.approx(25.0) and min(errors) == 0.0
    assert sum(1 for e in errors if e > 0) == 4  # the four windows that contain sample 50
    # 5 min: m = 10, +10 %; 31 min: m = 62, +100/62 %
    by_window = {p.window_min: p for p in trumpet(samples, 10.0, (5, 31))}
    assert by_window[5].max_pct == pytest.approx(10.0)
    assert by_window[31].max_pct == pytest.approx(100 / 62)
    assert mean_error_pct(samples, 10.0) == pytest.approx(1.0)  # one extra r in 100


def test_a_step_down_gives_known_max_and_min() -> None:
    # 60 samples at r = 8, then 60 at r/2: windows wholly in the second half are -50 %, those
    # wholly in the first half 0 %.  The 31 min window (m = 62) does not fit in one half: its
    # best window is the first, 60 * 8 + 2 * 4 = 488 for 496 expected, -8/496 = -1.6129 %, its
    # worst the last, 2 * 8 + 60 * 4 = 256 for 496, -240/496 = -48.387 %.
    samples = [8.0] * 60 + [4.0] * 60
    for point in trumpet(samples, 8.0, (2, 5, 11, 19)):
        assert point.max_pct == pytest.approx(0.0)
        assert point.min_pct == pytest.approx(-50.0)
    (long,) = trumpet(samples, 8.0, (31,))
    assert long.max_pct == pytest.approx(-100 * 8 / 496)
    assert long.min_pct == pytest.approx(-100 * 240 / 496)
    assert long.windows == 120 - 62 + 1
    assert mean_error_pct(samples, 8.0) == pytest.approx(-25.0)


def test_stroke_quantisation_alternating_samples() -> None:
    # One 250 nL stroke every other sample against r = 125: a 2 min window (4 samples) holds
    # exactly two strokes, 0 % everywhere; a 5 min window (10 samples) holds five.
    samples = [250.0, 0.0] * 60
    points = trumpet(samples, 125.0, (2, 5))
    assert [(p.max_pct, p.min_pct) for p in points] == [(0.0, 0.0), (0.0, 0.0)]
    # r = 100: windows of 4 samples hold 500 for 400 expected: +25 %
    assert {round(e, 6) for e in window_errors(samples, 100.0, 4)} == {25.0}


def test_windows_longer_than_the_series_are_left_out() -> None:
    assert window_errors([1.0] * 3, 1.0, 4) == []
    assert [p.window_min for p in trumpet([1.0] * 30, 1.0, (2, 5, 11, 19, 31))] == [2, 5, 11]


@pytest.mark.parametrize(
    ("text", "nl_per_day"),
    [
        ("0.5mL/day", 500_000),
        ("0.5 ml/day", 500_000),
        ("1mL/h", 24_000_000),
        ("20uL/h", 480_000),
        ("250nL/day", 250),
    ],
)
def test_rates_and_their_units(text: str, nl_per_day: int) -> None:
    assert parse_rate(text) == nl_per_day


@pytest.mark.parametrize("text", ["0.5", "0.5 mL", "fast", "0mL/day", "-1mL/day", "0.1nL/day"])
def test_bad_rates_are_refused_with_a_message(text: str) -> None:
    with pytest.raises(AccuracyError):
        parse_rate(text)
