"""Clopper-Pearson intervals and quantiles (hw_sim/studies/population_stats.py)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hw_sim.studies.population_stats import (
    beta_quantile,
    clopper_pearson,
    distribution,
    proportion,
    quantile,
    regularized_beta,
)


@pytest.mark.parametrize(
    ("events", "n", "low", "high"),
    [
        (0, 10, 0.0, 0.3085),
        (5, 10, 0.1871, 0.8129),
        (10, 10, 0.6915, 1.0),
        (1, 100, 0.0003, 0.0545),
        (0, 300, 0.0, 0.0122),
        (50, 100, 0.3983, 0.6017),
    ],
)
def test_known_intervals(events: int, n: int, low: float, high: float) -> None:
    lower, upper = clopper_pearson(events, n)
    assert lower == pytest.approx(low, abs=5e-5)
    assert upper == pytest.approx(high, abs=5e-5)


def test_zero_events_upper_bound_is_about_the_rule_of_three() -> None:
    _, upper = clopper_pearson(0, 3000)
    assert upper == pytest.approx(1 - 0.025 ** (1 / 3000), rel=1e-9)
    assert upper == pytest.approx(3 / 3000, rel=0.25)
    risk = proportion(0, 3000)
    ci95 = risk["ci95"]
    assert isinstance(ci95, list)
    assert ci95[0] == 0.0 and "upper bound" in str(risk["note"])


def test_regularized_beta_matches_closed_forms() -> None:
    assert regularized_beta(0.3, 1, 1) == pytest.approx(0.3)
    assert regularized_beta(0.3, 2, 1) == pytest.approx(0.09)
    assert regularized_beta(0.3, 1, 3) == pytest.approx(1 - 0.7**3)
    assert beta_quantile(0.09, 2, 1) == pytest.approx(0.3)


def test_bad_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        clopper_pearson(11, 10)
    with pytest.raises(ValueError):
        clopper_pearson(0, 0)


@given(st.integers(1, 400).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_interval_contains_the_estimate_and_stays_in_bounds(case: tuple[int, int]) -> None:
    events, n = case
    lower, upper = clopper_pearson(events, n)
    assert 0.0 <= lower <= events / n <= upper <= 1.0
    assert (lower == 0.0) == (events == 0)
    assert (upper == 1.0) == (events == n)


@given(st.integers(1, 200).flatmap(lambda n: st.tuples(st.integers(0, n - 1), st.just(n))))
def test_interval_is_symmetric_and_monotone(case: tuple[int, int]) -> None:
    events, n = case
    lower, upper = clopper_pearson(events, n)
    mirror_lower, mirror_upper = clopper_pearson(n - events, n)
    assert lower == pytest.approx(1 - mirror_upper, abs=1e-9)
    assert upper == pytest.approx(1 - mirror_lower, abs=1e-9)
    next_lower, next_upper = clopper_pearson(events + 1, n)
    assert next_lower > lower and next_upper > upper


@given(st.integers(0, 60).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_upper_bound_is_exact_binomial_tail(case: tuple[int, int]) -> None:
    """P(X <= events | p = upper) = 2.5 %: the defining property, by the binomial sum."""
    events, n = case
    if events == n:
        return
    _, upper = clopper_pearson(events, n)
    tail = math.fsum(math.comb(n, k) * upper**k * (1 - upper) ** (n - k) for k in range(events + 1))
    assert tail == pytest.approx(0.025, abs=1e-7)


def test_quantiles_are_numpys_linear_interpolation() -> None:
    data = [1.0, 2.0, 3.0, 4.0]
    assert quantile(data, 0.5) == 2.5
    assert quantile(data, 0.25) == 1.75
    summary = distribution([4.0, 1.0, 3.0, 2.0])
    quantiles = summary["quantiles"]
    assert isinstance(quantiles, dict)
    assert summary["count"] == 4 and quantiles["p50"] == 2.5
    assert distribution([]) == {"count": 0}
