"""Exact stroke accounting: programmed flow becomes whole motor strokes with nothing lost.

Why: the pump moves drug in fixed strokes, the prescription is a rate in nL/day and time moves in
whole seconds.  Accumulating ``rate_nl_per_day * seconds`` in integer "nL*s/day" units and turning
every ``stroke_volume_nl * 86400`` of it into one stroke, with the remainder carried, makes the
strokes delivered over any period equal the programmed integral to within one stroke, forever.

A bolus of ``volume_nl`` over ``duration_s`` contributes ``volume_nl * 86400 * e // duration_s``
after ``e`` seconds: a cumulative floor, so its increments telescope to exactly the bolus volume
at its end, without a second remainder to carry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from firmware.units import DAY_S, ceil_div


@dataclass(slots=True)
class StrokeAccumulator:
    """Carried remainder of programmed volume that has not yet made a whole stroke."""

    stroke_volume_nl: int
    remainder: int = 0  # nL*s/day, 0 <= remainder < unit

    @property
    def unit(self) -> int:
        """One stroke in nL*s/day."""
        return self.stroke_volume_nl * DAY_S

    def add(self, amount: int) -> int:
        """Accumulate ``amount`` (nL*s/day); returns the whole strokes now due."""
        total = self.remainder + amount
        strokes, self.remainder = divmod(total, self.stroke_volume_nl * DAY_S)
        return strokes

    def amount_until_strokes(self, strokes: int) -> int:
        """Accumulation still needed before ``strokes`` more strokes are due."""
        return strokes * self.stroke_volume_nl * DAY_S - self.remainder


@dataclass(frozen=True, slots=True)
class TimedBolus:
    """A bolus of fixed volume spread evenly over its duration (board time)."""

    volume_nl: int
    start: int
    duration_s: int

    @property
    def end(self) -> int:
        return self.start + self.duration_s

    def cumulative(self, now: int) -> int:
        """Programmed amount (nL*s/day) of this bolus from its start up to ``now``."""
        elapsed = min(max(now - self.start, 0), self.duration_s)
        return self.volume_nl * DAY_S * elapsed // self.duration_s


class Segment(NamedTuple):
    """Delivery between two wakeups: a constant basal rate plus, optionally, a timed bolus
    (a tuple: the time line makes one at every wakeup, at a fraction of a frozen dataclass's
    cost)."""

    start: int
    rate_nl_per_day: int
    bolus: TimedBolus | None

    def increment(self, until: int) -> int:
        """Programmed amount (nL*s/day) from the segment start up to ``until``."""
        amount = self.rate_nl_per_day * (until - self.start)
        if self.bolus is not None:
            amount += self.bolus.cumulative(until) - self.bolus.cumulative(self.start)
        return amount

    def time_to_reach(self, amount: int, limit: int) -> int | None:
        """First time in (start, limit] at which ``increment`` reaches ``amount``, else None."""
        if amount <= 0:
            return self.start
        if self.bolus is None:
            if self.rate_nl_per_day <= 0:
                return None
            at = self.start + ceil_div(amount, self.rate_nl_per_day)
            return at if at <= limit else None
        if self.increment(limit) < amount:
            return None
        low, high = self.start, limit  # increment(low) < amount <= increment(high)
        while high - low > 1:
            middle = (low + high) // 2
            if self.increment(middle) >= amount:
                high = middle
            else:
                low = middle
        return high
