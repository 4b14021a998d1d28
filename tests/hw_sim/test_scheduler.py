"""The scheduler runs events in time order, same-time events by priority then insertion."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hw_sim.board.scheduler import Scheduler


def drain(scheduler: Scheduler, until: int) -> list[str]:
    ran: list[str] = []
    while (event := scheduler.pop_due(until)) is not None:
        if not event.cancelled:
            ran.append(event.name)
    return ran


def test_same_time_events_run_by_priority_then_insertion_order() -> None:
    scheduler = Scheduler(0)
    for name, priority in [("b1", 1), ("a1", 0), ("b2", 1), ("a2", 0), ("c", -1)]:
        scheduler.schedule(10, lambda t: None, priority=priority, name=name)
    assert drain(scheduler, 10) == ["c", "a1", "a2", "b1", "b2"]


def test_events_after_the_horizon_stay_pending_and_clock_stops_at_last_event() -> None:
    scheduler = Scheduler(100)
    scheduler.schedule(150, lambda t: None, name="early")
    scheduler.schedule(300, lambda t: None, name="late")
    assert drain(scheduler, 200) == ["early"]
    assert scheduler.now == 150
    assert scheduler.next_time() == 300


def test_cancelled_event_is_skipped() -> None:
    scheduler = Scheduler(0)
    doomed = scheduler.schedule(5, lambda t: None, name="doomed")
    scheduler.schedule(6, lambda t: None, name="kept")
    Scheduler.cancel(doomed)
    assert scheduler.next_time() == 6
    assert drain(scheduler, 10) == ["kept"]


def test_scheduling_in_the_past_and_moving_time_back_are_refused() -> None:
    scheduler = Scheduler(50)
    with pytest.raises(ValueError, match="before now"):
        scheduler.schedule(49, lambda t: None)
    with pytest.raises(ValueError, match="cannot go back"):
        scheduler.advance_to(10)


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(-2, 2)), max_size=40))
def test_any_event_set_pops_in_time_priority_sequence_order(items: list[tuple[int, int]]) -> None:
    scheduler = Scheduler(0)
    for index, (at, priority) in enumerate(items):
        scheduler.schedule(at, lambda t: None, priority=priority, name=str(index))
    expected = [str(i) for _, _, i in sorted((a, p, i) for i, (a, p) in enumerate(items))]
    assert drain(scheduler, 50) == expected
