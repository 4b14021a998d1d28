"""Casebook: after a priming bolus the pump goes back to the programmed therapy (issue 11, item 5,
first part).

A prime used to erase the basal program, leaving the pump stopped with no alarm and refusing
``resume``.  Now a prime is a bolus like the others: the basal pauses while it runs and comes back
when it ends.  (The catheter here already holds drug, so the prime also raises the acknowledged
PRIME_INTO_FULL_CATHETER warning: tests/clinical/test_casebook_limits.py; this visit only checks
what follows the prime.)
"""

from __future__ import annotations

import pytest

from firmware.prescription import PrimingBolus
from hw_sim.board.board import VirtualBoard
from hw_sim.profiles.loader import load_profile
from protocol.enums import AlarmId, TherapyMode
from tests.boards import start_therapy

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("name", ["vp20", "vp40"])
def test_after_a_prime_the_programmed_therapy_resumes(name: str) -> None:
    """Continuous 500 mcg/day of 2000 mcg/mL (0.25 mL/day = 250,000 nL/day), then a prime of a
    60 cm catheter.

    By hand (both profiles): volume = tubing 0.140 mL + 600 mm x 0.0026 mL/cm / 10 = 0.140 +
    0.156 = 0.296 mL = 296,000 nL; at the maximum rate of 24 mL/day it takes
    296,000 x 86,400 / 24,000,000 = 1,065.6 -> 1,066 s (17 min 46 s), and moves
    0.296 mL x 2000 mcg/mL = 592 mcg.  The stage summary already says the basal that resumes:
    500 mcg/day.  After 1,066 s the pump is back on continuous 250,000 nL/day, with no
    ``pump_stopped`` alarm and nothing to resume."""
    board = start_therapy(VirtualBoard(load_profile(name), 5))
    fw = board.firmware
    staged = fw.stage(PrimingBolus(600), board.now)
    assert staged.daily_dose_ng == 500_000
    assert staged.bolus_volume_nl == 296_000
    assert staged.bolus_duration_s == 1_066
    assert staged.bolus_dose_ng == 592_000
    fw.commit(staged.staged_hash, staged.active_version, staged.warnings, board.now)
    board.run_until(board.now + 60)
    assert fw.status(board.now).mode is TherapyMode.PRIMING_BOLUS
    board.run_until(board.now + 1_066)
    status = fw.status(board.now)
    assert status.mode is TherapyMode.CONTINUOUS
    assert status.rate_nl_per_day == 250_000
    assert status.daily_dose_ng == 500_000
    assert AlarmId.PUMP_STOPPED not in {a.alarm_id for a in status.alarms}
