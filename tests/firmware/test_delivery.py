"""Delivery is exact: strokes equal the programmed integral within one stroke."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.delivery import Segment, StrokeAccumulator, TimedBolus
from firmware.prescription import Continuous, Flex, FlexStep, SingleBolus
from firmware.units import DAY_S, rate_nl_per_day, weekday
from protocol.catalog import StageWarning
from tests.firmware.conftest import DAY, HOUR, START, FakeBoard
from tests.firmware.helpers import program


def _minute_integral(flex: Flex, conc: int, start: int, end: int) -> int:
    """Independent reference: sum the rate minute by minute (start, end on minute boundaries).

    Returns nL*s/day."""
    total = 0
    for minute_start in range(start, end, 60):
        steps = flex.day_programs[flex.weekday_program[weekday(minute_start)]]
        minute_of_day = (minute_start % DAY_S) // 60
        dose = [s for s in steps if s.start_minute <= minute_of_day][-1].daily_dose_ng
        total += rate_nl_per_day(dose, conc) * 60
    return total


day_program = st.lists(
    st.tuples(st.integers(1, 1439), st.integers(96_000, 1_000_000)), min_size=0, max_size=12
).map(
    lambda extra: tuple(
        FlexStep(minute, dose) for minute, dose in sorted({0: 100_000, **dict(extra)}.items())
    )
)
flex_schedules = (
    st.lists(day_program, min_size=1, max_size=3)
    .flatmap(
        lambda programs: st.tuples(
            st.just(tuple(programs)),
            st.lists(st.integers(0, len(programs) - 1), min_size=7, max_size=7),
        )
    )
    .map(lambda pair: Flex(pair[0], tuple(pair[1])))
)


@settings(max_examples=25, deadline=None)
@given(
    flex=flex_schedules,
    wakes=st.lists(st.integers(1, 3 * DAY_S - 1), max_size=30),
)
def test_flex_delivery_equals_programmed_integral_within_one_stroke(
    flex: Flex, wakes: list[int]
) -> None:
    bench = FakeBoard()
    pump = bench.pump
    used = set(flex.weekday_program)
    if len(used) != len(flex.day_programs):  # the pump refuses unused day programs
        flex = Flex(tuple(flex.day_programs[i] for i in sorted(used)),
                    tuple(sorted(used).index(i) for i in flex.weekday_program))  # fmt: skip
    pump.refill(0, 20_000_000, 2000, START)
    begin = START + 60
    program(pump, flex, begin)
    for offset in sorted(wakes):  # a clinician's status reads at random times
        bench.run_to(begin + offset)
        pump.status(begin + offset)
    end = begin + 3 * DAY_S
    bench.run_to(end)
    expected_nl = _minute_integral(flex, 2000, begin, end) / DAY_S
    delivered_nl = bench.hal.motor.strokes * bench.profile.stroke_volume_nl
    assert 0 <= expected_nl - delivered_nl < bench.profile.stroke_volume_nl
    assert pump.status(end).strokes == bench.hal.motor.strokes


@settings(max_examples=50, deadline=None)
@given(
    rate=st.integers(0, 24_000_000),
    cuts=st.lists(st.integers(1, 10 * DAY_S), max_size=20),
)
def test_accumulator_carries_remainder_exactly(rate: int, cuts: list[int]) -> None:
    accumulator = StrokeAccumulator(250)
    strokes = 0
    previous = 0
    for t in [*sorted(set(cuts)), 10 * DAY_S]:
        strokes += accumulator.add(rate * (t - previous))
        previous = t
    assert strokes == rate * 10 * DAY_S // (250 * DAY_S)
    assert strokes * 250 * DAY_S + accumulator.remainder == rate * 10 * DAY_S


@given(
    volume=st.integers(1, 5_000_000),
    duration=st.integers(1, DAY_S),
    cuts=st.lists(st.integers(0, DAY_S), max_size=10),
)
def test_bolus_increments_telescope_to_its_volume(
    volume: int, duration: int, cuts: list[int]
) -> None:
    bolus = TimedBolus(volume, 1000, duration)
    points = [1000, *sorted(1000 + c for c in cuts if c < duration), bolus.end]
    total = sum(bolus.cumulative(b) - bolus.cumulative(a) for a, b in itertools.pairwise(points))
    assert total == volume * DAY_S


@given(
    rate=st.integers(0, 10_000_000), volume=st.integers(0, 1_000_000), amount=st.integers(1, 10**12)
)
def test_segment_time_to_reach_is_the_first_second(rate: int, volume: int, amount: int) -> None:
    bolus = TimedBolus(volume, 0, 3600) if volume else None
    segment = Segment(0, rate, bolus)
    limit = 3600
    at = segment.time_to_reach(amount, limit)
    if at is None:
        assert segment.increment(limit) < amount
    else:
        assert segment.increment(at) >= amount
        assert at == 0 or segment.increment(at - 1) < amount


def test_continuous_months_are_exact_and_use_few_wakeups() -> None:
    bench = FakeBoard()
    pump = bench.pump
    pump.refill(0, 20_000_000, 2000, START)
    program(pump, Continuous(300_000), START)
    wakeups = bench.run_to(START + 100 * DAY)
    rate = rate_nl_per_day(300_000, 2000)
    assert bench.hal.motor.strokes == rate * 100 * DAY // (250 * DAY)
    assert wakeups < 100 * 30


def test_single_bolus_delivers_its_volume_then_previous_therapy_resumes() -> None:
    bench = FakeBoard()
    pump = bench.pump
    pump.refill(0, 20_000_000, 500, START)
    program(pump, Continuous(100_000), START)
    staged = pump.stage(SingleBolus(50_000, 3600), START + HOUR)
    assert staged.bolus_volume_nl == 100_000
    pump.commit(staged.staged_hash, staged.active_version, StageWarning(0), START + HOUR)
    status = pump.status(START + HOUR + 1800)
    assert status.bolus is not None and status.mode.name == "SINGLE_BOLUS"
    bench.run_to(START + 3 * HOUR)
    status = pump.status(START + 3 * HOUR)
    assert status.bolus is None and status.mode.name == "CONTINUOUS"
    basal_nl = rate_nl_per_day(100_000, 500) * (2 * HOUR) // DAY
    assert abs(status.delivered_nl - (basal_nl + 100_000)) <= 250
