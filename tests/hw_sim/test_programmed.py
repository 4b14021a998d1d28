"""The programmed-dose ledger integrates basal programs over pump time, independently of firmware."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from firmware.prescription import Continuous, Flex, FlexStep, Stopped
from hw_sim.board.programmed import ProgrammedLedger, integral
from hw_sim.scenarios.timeparse import DAY_S, DEFAULT_START_TIME

MONDAY = DEFAULT_START_TIME

weekday_flex = Flex(
    (
        (FlexStep(0, 100_000), FlexStep(360, 400_000), FlexStep(1_200, 200_000)),
        (FlexStep(0, 50_000),),
    ),
    (0, 0, 0, 0, 0, 1, 1),
)


def test_continuous_dose_integrates_linearly() -> None:
    assert integral(Continuous(480_000), 0, DAY_S // 2) // DAY_S == 240_000


def test_flex_week_uses_the_weekday_program_map() -> None:
    weekday_total = 100_000 * 6 * 3600 + 400_000 * 14 * 3600 + 200_000 * 4 * 3600
    weekend_total = 50_000 * DAY_S
    week = integral(weekday_flex, MONDAY, MONDAY + 7 * DAY_S)
    assert week == 5 * weekday_total + 2 * weekend_total


def test_partial_day_counts_only_the_steps_it_covers() -> None:
    six_am = MONDAY + 6 * 3600
    assert integral(weekday_flex, six_am, six_am + 3600) == 400_000 * 3600


@given(st.integers(0, 30 * DAY_S), st.integers(0, 30 * DAY_S), st.integers(0, 30 * DAY_S))
def test_integral_is_additive_over_any_split(a: int, b: int, c: int) -> None:
    lo, mid, hi = sorted((a, b, c))
    whole = integral(weekday_flex, MONDAY + lo, MONDAY + hi)
    parts = integral(weekday_flex, MONDAY + lo, MONDAY + mid) + integral(
        weekday_flex, MONDAY + mid, MONDAY + hi
    )
    assert whole == parts


def test_ledger_pauses_for_a_stop_and_a_single_bolus_replaces_basal() -> None:
    ledger = ProgrammedLedger(MONDAY)
    ledger.set_basal(MONDAY, Continuous(864_000))  # 10 ng per second
    ledger.pause(MONDAY + 1_000)
    ledger.resume(MONDAY + 2_000)
    ledger.replace_basal_for(MONDAY + 3_000, 500, 7_000)
    assert ledger.total_ng(MONDAY + 4_000) == 10 * (1_000 + 1_000 + 500) + 7_000
    assert isinstance(ledger.basal, Continuous)


def test_ledger_follows_a_clock_change_for_flex_boundaries() -> None:
    ledger = ProgrammedLedger(MONDAY)
    ledger.set_basal(MONDAY, weekday_flex)
    ledger.set_pump_offset(MONDAY, 6 * 3600)  # pump clock now reads 06:00 at board midnight
    assert ledger.total_ng(MONDAY + 3600) == 400_000 * 3600 // DAY_S
    assert isinstance(ProgrammedLedger(MONDAY).basal, Stopped)
