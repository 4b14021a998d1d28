"""Statistics for population summaries: exact binomial intervals and quantiles, stdlib only.

Why: a risk seen in 0 of 300 virtual patients is not a zero risk; its exact (Clopper-Pearson)
95 % interval still has an upper bound (about 3/N, the rule of three).  Normal approximations
fail exactly where a safety question lives (rare events), so the interval is computed from the
beta quantiles: lower = B(alpha/2; x, n - x + 1), upper = B(1 - alpha/2; x + 1, n - x), each
found by bisection on the regularized incomplete beta function (continued fraction, Numerical
Recipes' ``betacf``, with ``math.lgamma``).  Deterministic: the same inputs give the same bits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

_EPS = 3e-16
_TINY = 1e-300
_BISECTIONS = 200


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


def regularized_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b), the CDF of Beta(a, b) at x (a, b > 0)."""
    if a <= 0 or b <= 0:
        raise ValueError("beta parameters must be > 0")
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def beta_quantile(q: float, a: float, b: float) -> float:
    """The x with I_x(a, b) = q, by bisection (I is increasing in x)."""
    if not 0.0 <= q <= 1.0:
        raise ValueError("quantile level must be in [0, 1]")
    low, high = 0.0, 1.0
    for _ in range(_BISECTIONS):
        mid = (low + high) / 2.0
        if mid in (low, high):
            break
        if regularized_beta(mid, a, b) < q:
            low = mid
        else:
            high = mid
    return (low + high) / 2.0


def clopper_pearson(events: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact two-sided binomial interval for ``events`` of ``n`` (0 events: lower 0)."""
    if n <= 0:
        raise ValueError("n must be > 0")
    if not 0 <= events <= n:
        raise ValueError(f"events must be in [0, n], got {events} of {n}")
    alpha = 1.0 - confidence
    lower = 0.0 if events == 0 else beta_quantile(alpha / 2, events, n - events + 1)
    upper = 1.0 if events == n else beta_quantile(1 - alpha / 2, events + 1, n - events)
    return lower, upper


def proportion(events: int, n: int, confidence: float = 0.95) -> dict[str, object]:
    """A risk as the summary shows it: count, proportion, exact interval, and a plain note."""
    if n == 0:
        return {"events": 0, "n": 0, "proportion": None, "ci95": None, "note": "no patients"}
    lower, upper = clopper_pearson(events, n, confidence)
    note = (
        f"no events in {n} patients: the true proportion is below {upper:.4f} "
        "(exact 95 % upper bound)"
        if events == 0
        else f"{events} of {n} patients"
    )
    return {
        "events": events,
        "n": n,
        "proportion": round(events / n, 6),
        "ci95": [round(lower, 6), round(upper, 6)],
        "method": "Clopper-Pearson exact binomial",
        "note": note,
    }


QUANTILE_LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics (Hyndman-Fan type 7, numpy's default)."""
    if not sorted_values:
        raise ValueError("no values")
    position = (len(sorted_values) - 1) * q
    below = math.floor(position)
    above = min(below + 1, len(sorted_values) - 1)
    fraction = position - below
    return sorted_values[below] + (sorted_values[above] - sorted_values[below]) * fraction


def distribution(values: Sequence[float]) -> dict[str, object]:
    """Count, min, max, mean and the quantiles of ``values`` (3 decimals; empty: count 0)."""
    data = sorted(values)
    if not data:
        return {"count": 0}
    return {
        "count": len(data),
        "min": round(data[0], 3),
        "max": round(data[-1], 3),
        "mean": round(math.fsum(data) / len(data), 3),
        "quantiles": {
            f"p{round(q * 100):02d}": round(quantile(data, q), 3) for q in QUANTILE_LEVELS
        },
    }
