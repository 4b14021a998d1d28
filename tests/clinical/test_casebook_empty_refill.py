"""Casebook: a reservoir that ran empty, its refill, and what the pump still remembers (issue 11,
items 1 and 2).

Running empty does not erase the therapy the patient was on: the titration baseline is still the
last dose in force, and a stopped pump that holds drug always sounds ``pump_stopped``.  Each
visit plays through the firmware's public API on a virtual board, on both profiles.

Common arithmetic: first visit 2 mL of 500 mcg/mL at 100 mcg/day, so
100 / 500 = 0.2 mL/day and the 2 mL last 2 / 0.2 = 10 days; on day 11 the reservoir is empty.
The refill then fills the whole reservoir (20 mL on vp20, 40 mL on vp40) at 500 mcg/mL.
"""

from __future__ import annotations

import pytest

from firmware.prescription import Continuous
from hw_sim.board.board import VirtualBoard
from hw_sim.profiles.loader import load_profile
from protocol.catalog import StageWarning
from protocol.enums import AlarmId
from protocol.errors import ErrorCode, Refusal
from protocol.units import DAY_S
from tests.boards import start_therapy

pytestmark = pytest.mark.timeout(120)

PROFILES = ["vp20", "vp40"]
CONCENTRATION = 500  # mcg/mL
FIRST_FILL_NL = 2_000_000  # 2 mL
FIRST_DOSE_NG = 100_000  # 100 mcg/day


def _run_empty_and_refill(name: str) -> VirtualBoard:
    """First visit, eleven days until the reservoir is empty, then a full refill."""
    profile = load_profile(name)
    board = start_therapy(VirtualBoard(profile, 11), FIRST_DOSE_NG, FIRST_FILL_NL, CONCENTRATION)
    board.run_until(board.now + 11 * DAY_S)
    fw = board.firmware
    assert AlarmId.RESERVOIR_EMPTY in {a.alarm_id for a in fw.status(board.now).alarms}
    capacity = profile.device.reservoir_capacity_nl
    board.inject(capacity, CONCENTRATION, board.now)
    fw.refill(0, capacity, CONCENTRATION, board.now)
    return board


@pytest.mark.parametrize("name", PROFILES)
def test_a_pump_refilled_after_running_empty_alarms_when_it_is_stopped(name: str) -> None:
    """The reservoir ran empty on day 10 and was refilled; the clinician then stops the pump.

    It holds 20 mL (vp20) or 40 mL (vp40) of drug and delivers nothing: ``pump_stopped`` must
    sound, as on any pump that was ever programmed, while the rate is 0.  The prescription is
    still 100 mcg/day (nothing changed it), so resuming restores 0.2 mL/day = 200,000 nL/day and
    the alarm stops."""
    board = _run_empty_and_refill(name)
    fw = board.firmware
    fw.stop(board.now)
    board.run_until(board.now + 60)
    status = fw.status(board.now)
    assert AlarmId.PUMP_STOPPED in {a.alarm_id for a in status.alarms}
    assert status.rate_nl_per_day == 0
    fw.resume(board.now)
    board.run_until(board.now + 60)
    status = fw.status(board.now)
    assert AlarmId.PUMP_STOPPED not in {a.alarm_id for a in status.alarms}
    assert status.rate_nl_per_day == 200_000


@pytest.mark.parametrize("name", PROFILES)
def test_a_seven_fold_increase_after_running_empty_still_needs_the_titration_warning(
    name: str,
) -> None:
    """After the refill from empty the clinician programs 700 mcg/day.

    The baseline is the last therapy, 100 mcg/day; the soft increase limit is 30 %, so anything
    above 100 x 1.3 = 130 mcg/day warns: 700 mcg/day is 7 x the baseline (+600 %).  Without the
    acknowledgement the commit is refused; with it, the rate becomes 700 / 500 = 1.4 mL/day =
    1,400,000 nL/day.  (The low-reservoir alarm moves from (20 - 2) / 0.2 = 90 days on vp20 to
    18 / 1.4 = 12.9 days, still beyond the 7-day reminder lead, so no LOW_RESERVOIR_SOON.)"""
    board = _run_empty_and_refill(name)
    fw = board.firmware
    staged = fw.stage(Continuous(700_000), board.now)
    assert StageWarning.TITRATION_INCREASE_OVER_LIMIT in staged.warnings
    assert StageWarning.LOW_RESERVOIR_SOON not in staged.warnings
    with pytest.raises(Refusal) as refused:
        fw.commit(staged.staged_hash, staged.active_version, StageWarning(0), board.now)
    assert refused.value.code is ErrorCode.WARNINGS_NOT_ACKNOWLEDGED
    fw.commit(staged.staged_hash, staged.active_version, staged.warnings, board.now)
    board.run_until(board.now + 60)
    assert fw.status(board.now).rate_nl_per_day == 1_400_000
