"""Board and firmware together: the motor's strokes equal the programmed integral within one stroke.

The yardstick is ``hw_sim.board.programmed``, written independently of the firmware's accounting.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.prescription import Flex, FlexStep
from hw_sim.board.board import VirtualBoard
from hw_sim.board.programmed import integral
from hw_sim.profiles.loader import load_profile
from hw_sim.scenarios.timeparse import DAY_S, DEFAULT_START_TIME

PROFILE = load_profile("vp40")
CONC = 2_000  # mcg/mL; doses are multiples of 2 ng so each step's rate is exact


@st.composite
def day_programs(draw: st.DrawFn) -> tuple[FlexStep, ...]:
    count = draw(st.integers(1, PROFILE.device.max_flex_steps))
    starts = sorted(draw(st.sets(st.integers(1, 1_439), min_size=count - 1, max_size=count - 1)))
    doses = draw(st.lists(st.integers(100, 1_400), min_size=count, max_size=count))
    return tuple(FlexStep(m, d * 1_000) for m, d in zip([0, *starts], doses, strict=True))


@st.composite
def flex_schedules(draw: st.DrawFn) -> Flex:
    """Up to 3 day programs, each used by at least one weekday (the firmware refuses idle ones)."""
    programs = draw(st.lists(day_programs(), min_size=1, max_size=3))
    weekdays = list(range(len(programs)))
    weekdays += draw(
        st.lists(
            st.integers(0, len(programs) - 1),
            min_size=7 - len(programs),
            max_size=7 - len(programs),
        )
    )
    return Flex(tuple(programs), tuple(draw(st.permutations(weekdays))))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    flex_schedules(),
    st.lists(st.integers(1, 5 * DAY_S), min_size=1, max_size=8),
    st.integers(3_600, 60 * DAY_S),
)
def test_strokes_equal_the_programmed_integral_within_one_stroke(
    flex: Flex, looks: list[int], horizon: int
) -> None:
    t0 = DEFAULT_START_TIME
    board = VirtualBoard(PROFILE, 3, start_time=t0)
    board.power_on(t0)
    firmware = board.firmware
    board.inject(40_000_000, CONC, t0)
    firmware.refill(0, 40_000_000, CONC, t0)
    start = t0 + 600
    staged = firmware.stage(flex, start)
    firmware.commit(staged.staged_hash, staged.active_version, staged.warnings, start)
    end = start + horizon
    for look in sorted(start + x for x in looks if x < horizon):  # status reads must not matter
        board.run_until(look)
        firmware.status(look)
    board.run_until(end)
    programmed_nl = integral(flex, start, end) * 1_000 // CONC // DAY_S
    stroke_nl = PROFILE.device.stroke_volume_nl
    if programmed_nl < 40_000_000 - 2_000_000:  # the reservoir never ran low
        assert abs(board.motor.strokes_total - programmed_nl // stroke_nl) <= 1
    assert board.motor.strokes_total == firmware.status(end).strokes
