"""In-process virtual boards in a known clinical state, shared by the unit and casebook tests."""

from __future__ import annotations

from firmware.prescription import Continuous
from hw_sim.board.board import VirtualBoard


def start_therapy(
    board: VirtualBoard,
    daily_dose_ng: int = 500_000,
    added_nl: int = 20_000_000,
    concentration_mcg_per_ml: int = 2000,
) -> VirtualBoard:
    """The first visit on a board: power on, fill the reservoir, commit continuous therapy
    (soft-limit warnings acknowledged), all at the board's current time."""
    board.power_on()
    now = board.now
    board.inject(added_nl, concentration_mcg_per_ml, now)
    fw = board.firmware
    fw.refill(0, added_nl, concentration_mcg_per_ml, now)
    staged = fw.stage(Continuous(daily_dose_ng), now)
    fw.commit(staged.staged_hash, staged.active_version, staged.warnings, now)
    return board
