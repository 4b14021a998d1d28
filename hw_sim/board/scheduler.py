"""Virtual clock and event scheduler of the board.

Why: simulated time must jump from event to event (years in about a second) and be reproducible.
Time is integer seconds of board time (Unix seconds).  Events due at the same second run in a
fixed order: by ``priority`` (lower first), then by insertion sequence, never by anything that
could vary between runs (hash order, object ids, wall clock).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

EventAction = Callable[[int], None]


@dataclass(order=True, slots=True)
class ScheduledEvent:
    """One pending event; ordering is (time, priority, sequence)."""

    time: int
    priority: int
    sequence: int
    name: str = field(compare=False)
    action: EventAction = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class Scheduler:
    """A min-heap of events over a monotonic integer clock."""

    def __init__(self, now: int) -> None:
        self.now = now
        self._heap: list[ScheduledEvent] = []
        self._sequence = 0

    def schedule(
        self, at: int, action: EventAction, *, priority: int = 0, name: str = ""
    ) -> ScheduledEvent:
        """Run ``action(at)`` when the clock reaches ``at`` (not before ``now``)."""
        if at < self.now:
            raise ValueError(f"cannot schedule {name or 'event'} at {at}, before now ({self.now})")
        event = ScheduledEvent(at, priority, self._sequence, name, action)
        self._sequence += 1
        heapq.heappush(self._heap, event)
        return event

    @staticmethod
    def cancel(event: ScheduledEvent) -> None:
        """Drop a pending event (lazily: it is skipped when it reaches the top)."""
        event.cancelled = True

    def next_time(self) -> int | None:
        """Time of the earliest pending event, or None when nothing is scheduled."""
        heap = self._heap
        while heap and heap[0].cancelled:
            heapq.heappop(heap)
        return heap[0].time if heap else None

    def pop_due(self, until: int) -> ScheduledEvent | None:
        """Remove and return the next event due at or before ``until``, advancing the clock."""
        next_time = self.next_time()
        if next_time is None or next_time > until:
            return None
        event = heapq.heappop(self._heap)
        self.now = event.time
        return event

    def advance_to(self, t: int) -> None:
        """Move the clock forward (never back)."""
        if t < self.now:
            raise ValueError(f"time cannot go back: {t} < {self.now}")
        self.now = t

    def pending(self) -> list[ScheduledEvent]:
        """Pending events in the order they will run (for status displays and tests)."""
        return sorted(e for e in self._heap if not e.cancelled)
