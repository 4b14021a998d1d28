"""Titration guard, soft limits and the bridge bolus after a concentration change."""

from __future__ import annotations

import pytest

from firmware.prescription import BridgeBolus, Continuous
from firmware.units import rate_nl_per_day
from protocol.catalog import StageWarning
from protocol.enums import TherapyMode
from protocol.errors import ErrorCode, Refusal
from tests.firmware.conftest import DAY, HOUR, START, FakeBoard
from tests.firmware.helpers import program


def _started(dose: int = 100_000) -> FakeBoard:
    bench = FakeBoard()
    bench.pump.refill(0, 20_000_000, 500, START)
    assert bench.pump.stage(Continuous(dose), START).warnings == StageWarning(0)  # a start
    program(bench.pump, Continuous(dose), START)
    return bench


def test_first_prescription_after_fill_from_empty_is_a_start() -> None:
    bench = FakeBoard()
    bench.pump.refill(0, 20_000_000, 500, START)
    assert bench.pump.stage(Continuous(400_000), START).warnings == StageWarning(0)


def test_increase_within_24h_of_the_start_is_a_second_increase() -> None:
    bench = _started()
    warnings = bench.pump.stage(Continuous(110_000), START + 12 * HOUR).warnings
    assert warnings == StageWarning.SECOND_INCREASE_WITHIN_24H


def test_increase_over_30_percent_after_24h_warns() -> None:
    bench = _started()
    assert bench.pump.stage(Continuous(130_000), START + DAY).warnings == StageWarning(0)
    assert bench.pump.stage(Continuous(131_000), START + DAY).warnings == (
        StageWarning.TITRATION_INCREASE_OVER_LIMIT
    )


def test_two_increases_within_24h_warn_even_when_small() -> None:
    bench = _started()
    program(bench.pump, Continuous(110_000), START + DAY)
    warnings = bench.pump.stage(Continuous(115_000), START + DAY + HOUR).warnings
    assert StageWarning.SECOND_INCREASE_WITHIN_24H in warnings


def test_decrease_never_warns() -> None:
    bench = _started()
    assert bench.pump.stage(Continuous(50_000), START + HOUR).warnings == StageWarning(0)


def test_soft_dose_limit_warns_and_needs_acknowledgement() -> None:
    bench = FakeBoard()
    bench.pump.refill(0, 20_000_000, 2000, START)
    assert bench.pump.stage(Continuous(1_600_000), START).warnings == StageWarning.SOFT_DOSE_LIMIT


def test_refill_with_new_concentration_advises_bridge_and_bridge_uses_old_rate() -> None:
    bench = _started(200_000)
    pump = bench.pump
    bench.run_to(START + 30 * DAY)
    result = pump.refill(17_000_000, 20_000_000, 1000, START + 30 * DAY)
    assert result.concentration_changed
    assert (
        StageWarning.CONCENTRATION_CHANGED_NEEDS_BRIDGE
        in pump.stage(Continuous(200_000), START + 30 * DAY).warnings
    )
    staged = pump.stage(BridgeBolus(500), START + 30 * DAY)
    dead_volume = 140_000 + 500 * 2_600 // 10
    old_rate = rate_nl_per_day(200_000, 500)
    assert staged.bolus_volume_nl == dead_volume
    assert staged.rate_nl_per_day == dead_volume * DAY // staged.bolus_duration_s
    assert abs(staged.rate_nl_per_day - old_rate) <= old_rate // 1000 + 1
    pump.commit(staged.staged_hash, staged.active_version, StageWarning(0), START + 30 * DAY)
    assert pump.status(START + 30 * DAY + 60).mode is TherapyMode.BRIDGE_BOLUS
    bench.run_to(START + 32 * DAY)
    status = pump.status(START + 32 * DAY)
    assert status.mode is TherapyMode.CONTINUOUS
    assert status.rate_nl_per_day == rate_nl_per_day(200_000, 1000)
    assert pump.stage(Continuous(200_000), START + 32 * DAY).warnings == StageWarning(0)


def test_refill_discrepancy_warns_above_profile_limit() -> None:
    bench = _started()
    pump = bench.pump
    bench.run_to(START + 10 * DAY)
    expected = pump.status(START + 10 * DAY).reservoir_nl
    result = pump.refill(expected - 1_500_000, 20_000_000, 500, START + 10 * DAY)
    assert result.expected_nl == expected
    assert result.discrepancy_nl == -1_500_000 and result.discrepancy_warning
    bench.run_to(START + 20 * DAY)
    ok = pump.refill(pump.status(START + 20 * DAY).reservoir_nl + 900_000, 20_000_000, 500,
                     START + 20 * DAY)  # fmt: skip
    assert not ok.discrepancy_warning and ok.reservoir_nl == 20_000_000


def test_a_change_that_brings_the_low_reservoir_alarm_within_the_reminder_lead_warns() -> None:
    """LOW_RESERVOIR_SOON: with the change the low-reservoir alarm (2 mL) comes within the
    refill reminder's 7 days; the commit must name it.  Already within them, no warning."""
    bench = FakeBoard()
    pump = bench.pump
    pump.refill(0, 5_000_000, 500, START)  # 3 mL above the alarm
    assert pump.stage(Continuous(200_000), START).warnings == StageWarning(0)  # 0.4 mL/day: 7.5 d
    staged = pump.stage(Continuous(300_000), START)  # 0.6 mL/day: 5 days
    assert staged.warnings == StageWarning.LOW_RESERVOIR_SOON
    assert staged.low_reservoir_time is not None
    assert staged.low_reservoir_time - START == 5 * DAY
    with pytest.raises(Refusal) as refused:
        pump.commit(staged.staged_hash, staged.active_version, StageWarning(0), START)
    assert refused.value.code is ErrorCode.WARNINGS_NOT_ACKNOWLEDGED
    assert "LOW_RESERVOIR_SOON" in refused.value.message
    pump.commit(staged.staged_hash, staged.active_version, staged.warnings, START)
    # a decrease that still leaves the alarm within 7 days: the refill reminder has said it
    assert pump.stage(Continuous(250_000), START + HOUR).warnings == StageWarning(0)


def test_a_commit_must_acknowledge_every_warning_the_stage_showed_even_if_it_lapsed() -> None:
    """The clinician saw LOW_RESERVOIR_SOON at the stage; a commit that leaves it out is refused
    even when, a day later, the re-check no longer raises it.

    3 mL above the 2 mL alarm: at 0.4 mL/day the alarm is 7.5 days away, at 0.6 mL/day 5 days
    (warning: from beyond the 7-day reminder lead to within it).  A day on, the current therapy
    has used 0.4 mL: 6.5 days away, already within the lead, so the re-check is silent; the
    acknowledgement still has to name what the stage showed."""
    bench = FakeBoard()
    pump = bench.pump
    pump.refill(0, 5_000_000, 500, START)
    program(pump, Continuous(200_000), START)
    staged = pump.stage(Continuous(300_000), START)
    assert StageWarning.LOW_RESERVOIR_SOON in staged.warnings  # beside the titration ones
    later = START + DAY
    others = staged.warnings & ~StageWarning.LOW_RESERVOIR_SOON
    with pytest.raises(Refusal) as refused:
        pump.commit(staged.staged_hash, staged.active_version, others, later)
    assert refused.value.code is ErrorCode.WARNINGS_NOT_ACKNOWLEDGED
    pump.commit(staged.staged_hash, staged.active_version, staged.warnings, later)
