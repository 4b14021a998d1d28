"""Casebook: battery life, ERI and EOS at the rate extremes, the projected replacement date
(issue 11, item 8), and a low battery reset.

The reference device lasts 5-7 years, 7 at most.  The shipped profiles' cell (simulator
choices): 596.7 mAh = 2,148,000,000,000 nAs nominal, 9 uA quiescent = 9,000 x 86,400 =
777,600,000 nAs a day, 41,806 nAs a 250 nL stroke; ERI when the gauge reads 10 % (the charge
used reaches 0.9 x 2.148e12 = 1,933,200,000,000 nAs), read at the daily housekeeping (pump
midnight); EOS 90 days after ERI.  Therapy starts at midnight (day 0).

- Minimum rate, 0.048 mL/day = 192 strokes/day: 777,600,000 + 192 x 41,806 = 785,626,752 nAs a
  day; 1.9332e12 / 785,626,752 = 2,460.69 days, so ERI at the housekeeping of day 2,461 (6.74
  years) and EOS on day 2,551 (6.98 years: within 7).
- High flow, 2 mL/day = 8,000 strokes/day: 777,600,000 + 334,448,000 = 1,112,048,000 nAs a day;
  1.9332e12 / 1,112,048,000 = 1,738.41 days: ERI on day 1,739 (4.76 years), EOS on day 1,829
  (5.01 years).

The pump projects the replacement date (its EOS) from the start with the same arithmetic, from
its gauge and the therapy in force; no telemetry here (a few bytes a visit would cost 2,000 nAs
each).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware.hal import ResetCause
from firmware.prescription import Continuous
from firmware.wire_mapping import status_to_wire
from hw_sim.board.board import VirtualBoard
from hw_sim.link.loopback import Loopback
from hw_sim.profiles.loader import load_profile
from programmer import KeyStore, PumpClient
from programmer.views import status_document, status_text
from protocol.enums import AlarmId, TherapyMode
from protocol.units import DAY_S
from tests.boards import start_therapy

pytestmark = pytest.mark.timeout(300)

PROFILES = ["vp20", "vp40"]
MIN_RATE_DOSE_NG = 96_000  # 96 mcg/day at 2000 mcg/mL = 0.048 mL/day
HIGH_FLOW_DOSE_NG = 1_000_000  # 1000 mcg/day at 500 mcg/mL = 2 mL/day


def _run_to_eos(board: VirtualBoard, concentration: int, refill_every_days: int) -> list[int]:
    """Refill the whole reservoir every ``refill_every_days`` until EOS; (ERI, EOS) days."""
    fw, t0 = board.firmware, board.now
    capacity = board.profile.device.reservoir_capacity_nl
    while True:
        board.run_until(board.now + refill_every_days * DAY_S)
        status = board.firmware.status(board.now)
        if status.eos_time is not None:
            break
        fw = board.firmware
        withdrawn = board.aspirate(board.now)
        board.inject(capacity, concentration, board.now)
        fw.refill(withdrawn, capacity, concentration, board.now)
    assert status.eri_time is not None
    offset = status.pump_time - board.now
    return [(status.eri_time - offset - t0) // DAY_S, (status.eos_time - offset - t0) // DAY_S]


@pytest.mark.parametrize("name", PROFILES)
def test_at_the_minimum_rate_eos_comes_within_seven_years(name: str) -> None:
    """0.048 mL/day (96 mcg/day at 2000 mcg/mL), refilled every 300 days: ERI on day 2,461,
    EOS on day 2,551 = 6.98 years (<= 7), and then the pump stops: mode stopped, rate 0,
    ``end_of_service`` raised.  (Before: ERI 7.08 years, EOS 7.33.)"""
    board = start_therapy(VirtualBoard(load_profile(name), 3), MIN_RATE_DOSE_NG)
    assert board.firmware.status(board.now).rate_nl_per_day == 48_000
    assert _run_to_eos(board, 2000, 300) == [2_461, 2_551]
    assert pytest.approx(6.984, abs=1e-3) == 2_551 / 365.25
    status = board.firmware.status(board.now)
    assert (status.mode, status.rate_nl_per_day) == (TherapyMode.STOPPED, 0)
    assert AlarmId.END_OF_SERVICE in {a.alarm_id for a in status.alarms}


@pytest.mark.parametrize("name", PROFILES)
def test_at_high_flow_eos_comes_after_five_years(name: str) -> None:
    """2 mL/day (1000 mcg/day at 500 mcg/mL), the reservoir refilled every 9 days (20 mL last
    10 days): ERI on day 1,739 (4.76 years), EOS on day 1,829 (5.01 years)."""
    board = start_therapy(
        VirtualBoard(load_profile(name), 3), HIGH_FLOW_DOSE_NG, concentration_mcg_per_ml=500
    )
    assert board.firmware.status(board.now).rate_nl_per_day == 2_000_000
    assert _run_to_eos(board, 500, 9) == [1_739, 1_829]


@pytest.mark.parametrize("name", PROFILES)
def test_the_replacement_date_is_projected_on_day_one_and_it_comes_true(name: str) -> None:
    """On the day of the first visit (minimum rate) the pump already says when to replace it:
    day 0 + 2,551 days, in STATUS (``projected_replace_by_time``) and in both views; the fixed
    ``replace_by`` comes only with ERI.  At 2 mL/day the same pump projects day 1,829.  Run to
    the end, the real EOS is the projected day (the projection is exact at a constant rate)."""
    board = start_therapy(VirtualBoard(load_profile(name), 3), MIN_RATE_DOSE_NG)
    status = board.firmware.status(board.now)
    assert status.replace_by_time is None
    assert status.projected_replace_by_time == status.pump_time + 2_551 * DAY_S
    doc = status_document(status_to_wire(status))
    assert doc["battery"]["replace_by"] is None
    assert doc["battery"]["projected_replace_by"] == "2032-12-30"  # 2026-01-05 + 2,551 days
    assert "replace by 2032-12-30 (projected)" in status_text(doc)
    fw = board.firmware
    staged = fw.stage(Continuous(4 * MIN_RATE_DOSE_NG), board.now)
    fw.commit(staged.staged_hash, staged.active_version, staged.warnings, board.now)
    # 384 mcg/day at 2000 mcg/mL = 0.192 mL/day = 768 strokes/day: 777,600,000 + 768 x 41,806
    # = 809,707,008 nAs/day; 1.9332e12 / 809,707,008 = 2,387.51 days: ERI day 2,388, EOS 2,478
    status = fw.status(board.now)
    assert status.projected_replace_by_time == status.pump_time + 2_478 * DAY_S


def test_the_projected_date_in_pumpctl_status_comes_from_the_pump(tmp_path: Path) -> None:
    """Over the programmer's line (vp20 from the factory, filled and programmed at 0.048 mL/day
    on the bench): ``status --json`` has ``battery.projected_replace_by`` 2032-12-30 and the
    text says "replace by 2032-12-30 (projected)"; the programmer computed nothing."""
    loop = Loopback.fresh("vp20", serial_number="VP20-000078", auto_accept_pairing=True)
    board = loop.bench.board
    now = board.now
    board.inject(20_000_000, 2000, now)
    fw = board.firmware
    fw.refill(0, 20_000_000, 2000, now)
    staged = fw.stage(Continuous(MIN_RATE_DOSE_NG), now)
    fw.commit(staged.staged_hash, staged.active_version, staged.warnings, now)
    loop.bench.set_wand(True)
    with PumpClient(loop.transport(), KeyStore(tmp_path / "keys"), timeout_s=0.5) as client:
        client.pair()
        doc = status_document(client.status())
    assert doc["battery"]["replace_by"] is None
    assert doc["battery"]["projected_replace_by"] == "2032-12-30"
    assert "replace by 2032-12-30 (projected)" in status_text(doc)


@pytest.mark.parametrize("name", PROFILES)
def test_a_low_battery_reset_runs_at_the_safe_rate_and_projects_from_it(name: str) -> None:
    """A supply dip resets the pump on day 10 of 500 mcg/day at 2000 mcg/mL (0.25 mL/day).
    The pump reboots into the safe minimum: 0.048 mL/day, ``low_battery_reset`` (critical)
    raised, mode safe minimum.  The projection now uses the safe rate: 10 days at 1,000
    strokes/day used 10 x (777,600,000 + 41,806,000) = 8,194,060,000 nAs; what is left above
    ERI, 1.9332e12 - 8.19406e9 = 1,925,005,940,000 nAs, lasts 1,925,005,940,000 / 785,626,752
    = 2,450.27 days at the safe rate: ERI at the housekeeping of day 10 + 2,451 = 2,461, EOS
    on day 2,551 from the start."""
    board = start_therapy(VirtualBoard(load_profile(name), 3), 500_000)
    t0 = board.now
    board.run_until(t0 + 10 * DAY_S)
    board.low_battery_reset(board.now)
    assert board.resets[-1][1] is ResetCause.LOW_BATTERY
    status = board.firmware.status(board.now)
    assert status.mode is TherapyMode.SAFE_MINIMUM
    assert status.rate_nl_per_day == 48_000
    assert AlarmId.LOW_BATTERY_RESET in {a.alarm_id for a in status.alarms}
    offset = status.pump_time - board.now
    assert status.projected_replace_by_time is not None
    projected_day = (status.projected_replace_by_time - offset - t0) // DAY_S
    assert projected_day == 2_551
