"""The buzzer: records every tone with its board time, so tests and reports can check alarms.

Why: the firmware's only audible output; the patient hears it, the simulator keeps a list.  An
alarm's repeats are the buzzer's own (``firmware.hal.Buzzer.repeat``): the firmware hands over
the series up to its next wakeup and sleeps.  Weeks of hourly tones are kept as a few series
and written out only when someone asks (``tones``, ``counts``), up to the board's time: the
same tones, at the same seconds, in the same order as if the firmware had woken for each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from firmware.hal import TonePattern, ToneRepeat


@dataclass(slots=True)
class _Window:
    """Repeats programmed at ``after``: they sound after it and before ``until``."""

    after: int
    until: int  # cut short by the next ``repeat`` call
    repeats: tuple[ToneRepeat, ...]


def _first_after(r: ToneRepeat, after: int) -> int:
    """The first time of the series later than ``after``."""
    if r.first > after:
        return r.first
    return r.first + ((after - r.first) // r.period_s + 1) * r.period_s


class RecordingBuzzer:
    """Implements ``firmware.hal.Buzzer``: the tones played, and the repeats programmed.

    ``clock`` gives the time the recording runs to (the board's); it is never less than the
    latest time the firmware called at.
    """

    def __init__(self, clock: Callable[[], int] | None = None) -> None:
        self.clock = clock
        self._played: list[tuple[int, TonePattern]] = []
        self._windows: list[_Window] = []
        self._latest = 0

    def play(self, pattern: TonePattern, now: int) -> None:
        self._played.append((now, TonePattern(pattern)))
        if now > self._latest:
            self._latest = now

    def repeat(self, repeats: tuple[ToneRepeat, ...], now: int, until: int) -> None:
        windows = self._windows
        if windows and windows[-1].until > now + 1:
            windows[-1].until = now + 1  # its tones up to now have sounded, the rest are replaced
        if repeats and until > now + 1:
            windows.append(_Window(now, until, repeats))
        if now > self._latest:
            self._latest = now

    def _end(self) -> int:
        """Repeats sound before this time (the recording's horizon, plus one)."""
        horizon = self._latest if self.clock is None else max(self._latest, self.clock())
        return horizon + 1

    def _repeated(self) -> Iterator[tuple[int, int, TonePattern]]:
        """(time, order at that second, pattern) of every repeat sounded so far."""
        end = self._end()
        for window in self._windows:
            stop = min(window.until, end)
            for order, r in enumerate(window.repeats):
                t = _first_after(r, window.after)
                while t < stop:
                    yield t, order, r.pattern
                    t += r.period_s

    @property
    def tones(self) -> list[tuple[int, TonePattern]]:
        """Every tone so far as (board time, pattern), in the order they sounded."""
        keyed = [(t, 0, order, p) for t, order, p in self._repeated()]
        keyed += [(t, 1, i, p) for i, (t, p) in enumerate(self._played)]
        keyed.sort()  # by time, repeats before played tones, then their order
        return [(t, p) for t, _, _, p in keyed]

    def counts(self) -> dict[TonePattern, int]:
        """How many times each pattern sounded, in the order each first sounded (counted per
        series, not tone by tone)."""
        end = self._end()
        totals: dict[TonePattern, int] = {}
        first: dict[TonePattern, tuple[int, int, int]] = {}
        for window in self._windows:
            stop = min(window.until, end)
            for order, r in enumerate(window.repeats):
                t = _first_after(r, window.after)
                if t >= stop:
                    continue
                totals[r.pattern] = totals.get(r.pattern, 0) + (stop - 1 - t) // r.period_s + 1
                first[r.pattern] = min(first.get(r.pattern, (t, 0, order)), (t, 0, order))
        for i, (t, p) in enumerate(self._played):
            totals[p] = totals.get(p, 0) + 1
            first[p] = min(first.get(p, (t, 1, i)), (t, 1, i))
        return {p: totals[p] for p in sorted(totals, key=lambda p: first[p])}

    def count(self, pattern: TonePattern) -> int:
        """How many times ``pattern`` sounded."""
        return self.counts().get(TonePattern(pattern), 0)
