"""Exact crossing times on a constant plus two exponentials, against dense sampling."""

from __future__ import annotations

import itertools

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from patient.crossings import TOLERANCE_H, TwoExponentials, crossings_h, crossings_many_h

coefficient = st.floats(-5.0, 5.0)
rate = st.floats(0.01, 3.0)


@settings(max_examples=200)
@given(c=coefficient, a=coefficient, alpha=rate, b=coefficient, beta=rate, level=coefficient)
def test_crossings_are_exactly_the_sign_changes_of_a_dense_sampling(
    c: float, a: float, alpha: float, b: float, beta: float, level: float
) -> None:
    f = TwoExponentials(c, a, alpha, b, beta)
    t_end = 20.0
    samples = [i * t_end / 4000 for i in range(4001)]
    # a curve that stays on the level (e.g. a = -b, alpha = beta, c = level) has no crossing to
    # find, only rounding noise around it
    assume(max(abs(f.value(t) - level) for t in samples) > 1e-6)
    # nor one that settles on the level (c = level): its tail is within rounding of it, and
    # where rounding gives exactly the level is noise, not a crossing (c=2, a=-2, b=1, rates 2)
    assume(abs(f.value(t_end) - level) > 1e-9)
    found = crossings_h(f, level, t_end)
    assert len(found) <= 2
    assert found == sorted(found)
    for t in found:
        # just before the crossing the old side, at it the new side
        assert (f.value(t) < level) != (f.value(max(0.0, t - 2 * TOLERANCE_H)) < level)
    sides = [f.value(t) < level for t in samples]
    changes = sum(1 for x, y in itertools.pairwise(sides) if x != y)
    # a dense sampling can miss a pair of crossings closer than its step, never invent one
    assert changes <= len(found)
    assert (len(found) - changes) % 2 == 0


def test_many_levels_agree_with_one_at_a_time() -> None:
    f = TwoExponentials(0.2, 1.0, 0.46, -1.2, 0.12)
    levels = (0.05, 0.1, 0.3, 0.9)
    assert crossings_many_h(f, levels, 48.0) == [crossings_h(f, lv, 48.0) for lv in levels]
