"""Exact event times on the closed-form solution: when a concentration crosses a level.

Why: between two input changes every concentration of the model is a constant plus at most two
decaying exponentials, ``f(t) = c + a exp(-alpha t) + b exp(-beta t)``.  Its derivative is a sum
of two exponentials, which has at most one zero, found in closed form; so ``[0, T]`` splits into
at most two monotone pieces, each holding at most one crossing of any level.  A crossing is then
bracketed by a sign change and found by bisection, bounded (``MAX_BISECTIONS`` halvings or a
bracket narrower than ``TOLERANCE_H``), and deterministic: the same floats give the same time.
No time steps, no tolerance-driven integrator.
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

#: Bisection stops when the bracket is narrower than this (3.6 microseconds) ...
TOLERANCE_H = 1e-9
#: ... or after this many halvings (2**-100 of any interval is below a float's resolution).
MAX_BISECTIONS = 100


class TwoExponentials(NamedTuple):
    """``f(t) = constant + a exp(-alpha t) + b exp(-beta t)`` for t >= 0 (t in hours)."""

    constant: float
    a: float
    alpha_per_h: float
    b: float
    beta_per_h: float

    def value(self, t_h: float) -> float:
        """f(t)."""
        return (
            self.constant
            + self.a * math.exp(-self.alpha_per_h * t_h)
            + self.b * math.exp(-self.beta_per_h * t_h)
        )

    def stationary_time_h(self) -> float | None:
        """The one t > 0 where f'(t) = 0, or None (f is monotone on t >= 0)."""
        da = self.alpha_per_h * self.a
        db = self.beta_per_h * self.b
        if da == 0 or db == 0 or self.alpha_per_h == self.beta_per_h:
            return None
        ratio = -db / da  # f' = 0  <=>  exp((beta - alpha) t) = -(beta b) / (alpha a)
        if ratio <= 0:
            return None
        t = math.log(ratio) / (self.beta_per_h - self.alpha_per_h)
        return t if t > 0 else None

    def maximum_h(self, t_end_h: float) -> tuple[float, float]:
        """(time, value) of the largest f on [0, t_end]."""
        candidates = [0.0, t_end_h]
        stationary = self.stationary_time_h()
        if stationary is not None and stationary < t_end_h:
            candidates.append(stationary)
        best = max(candidates, key=self.value)
        return best, self.value(best)


def crossings_h(f: TwoExponentials, level: float, t_end_h: float) -> list[float]:
    """Times in (0, t_end] where ``f(t) < level`` changes truth value, ascending.

    Each returned time is the first instant (within ``TOLERANCE_H``) of the new side.
    """
    return crossings_many_h(f, (level,), t_end_h)[0]


def crossings_many_h(
    f: TwoExponentials, levels: tuple[float, ...], t_end_h: float
) -> list[list[float]]:
    """``crossings_h`` for several levels of one curve, sharing its monotone pieces."""
    # exp(-x t) lies in (0, 1]: a cheap bound that settles most intervals without an exp
    floor = f.constant + min(f.a, 0.0) + min(f.b, 0.0)
    ceiling = f.constant + max(f.a, 0.0) + max(f.b, 0.0)
    if all(level <= floor or level > ceiling for level in levels):
        return [[] for _ in levels]
    stationary = f.stationary_time_h()
    if stationary is not None and stationary < t_end_h:
        breaks: tuple[float, ...] = (0.0, stationary, t_end_h)
    else:
        breaks = (0.0, t_end_h)
    values = [f.value(t) for t in breaks]
    lowest, highest = min(values), max(values)
    result: list[list[float]] = []
    for level in levels:
        found: list[float] = []
        # on monotone pieces f stays between its break values: no crossing outside them
        if lowest < level <= highest:
            below = [v < level for v in values]
            for (lo, hi), (below_lo, below_hi) in zip(
                itertools.pairwise(breaks), itertools.pairwise(below), strict=True
            ):
                if below_lo != below_hi:
                    found.append(_bisect(f, level, lo, hi, below_lo))
        result.append(found)
    return result


def _bisect(f: TwoExponentials, level: float, lo: float, hi: float, below_lo: bool) -> float:
    for _ in range(MAX_BISECTIONS):
        if hi - lo <= TOLERANCE_H:
            break
        mid = 0.5 * (lo + hi)
        if (f.value(mid) < level) == below_lo:
            lo = mid
        else:
            hi = mid
    return hi
