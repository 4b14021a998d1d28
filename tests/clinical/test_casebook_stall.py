"""Casebook: a motor stall, transient or not (issue 11, item 7).

An MRI scan's field holds the reference device's rotor until the field is gone.  The firmware
keeps the critical ``motor_stall`` alarm while the stall lasts, tries one stroke every
``motor_retry_interval_s`` (300 s in both shipped profiles: a simulator choice) and, when one
turns, goes back to the programmed therapy by itself; the stall and the recovery are logged
(MOTOR_STALLED a = strokes that did not turn; MOTOR_RECOVERED a = seconds stalled, b = trial
strokes).  Each visit plays through the firmware on a virtual board, on both profiles.

Common arithmetic: 500 mcg/day at 2000 mcg/mL is 0.25 mL/day = 250,000 nL/day, one 250 nL
stroke every 250 x 86,400 / 250,000 = 86.4 s, 1,000 strokes a day.  Therapy starts at 0 s; the
scan starts at 3,600 s.  The bench runs the pump up to the scan's start, so the firmware has
commanded the floor(3,600 / 86.4) = 41 strokes due by then.  The firmware commands strokes in
batches at its wakeups (a programmer's read is one; otherwise every 4 h while it delivers),
spread evenly over the batch's interval; the strokes that fall in the field do not turn, and
the firmware sees the stall at that batch.
"""

from __future__ import annotations

import pytest

from hw_sim.board.board import VirtualBoard
from hw_sim.profiles.loader import load_profile
from protocol.enums import AlarmId, LogEvent, LogId, TherapyMode
from protocol.units import DAY_S
from tests.boards import start_therapy

pytestmark = pytest.mark.timeout(120)

PROFILES = ["vp20", "vp40"]
DOSE_NG = 500_000  # 500 mcg/day
RATE_NL = 250_000  # at 2000 mcg/mL
RETRY_S = 300


def _board(name: str) -> VirtualBoard:
    board = start_therapy(VirtualBoard(load_profile(name), 5), DOSE_NG, 20_000_000, 2000)
    assert board.profile.device.motor_retry_interval_s == RETRY_S
    return board


def _alarm_ids(board: VirtualBoard) -> set[AlarmId]:
    return {a.alarm_id for a in board.firmware.status(board.now).alarms}


def _events(board: VirtualBoard, t0: int) -> list[tuple[int, LogEvent, int, int]]:
    """(seconds since t0, event, a, b) of the stall and recovery records of the therapy log."""
    fw = board.firmware
    kinds = (LogEvent.MOTOR_STALLED, LogEvent.MOTOR_RECOVERED)
    offset = fw.status(board.now).pump_time - board.now
    return [
        (r.time - offset - t0, LogEvent(r.event), r.a, r.b)
        for r in fw.log_read(LogId.THERAPY, 0, 500)
        if r.event in kinds
    ]


def _stall_alarm_log(board: VirtualBoard, t0: int) -> list[tuple[int, LogEvent]]:
    fw = board.firmware
    offset = fw.status(board.now).pump_time - board.now
    return [
        (r.time - offset - t0, LogEvent(r.event))
        for r in fw.log_read(LogId.ALARM, 0, 100)
        if r.a == AlarmId.MOTOR_STALL
    ]


@pytest.mark.parametrize("name", PROFILES)
def test_an_mri_of_30_minutes_raises_the_stall_and_therapy_comes_back_by_itself(
    name: str,
) -> None:
    """The scan runs from 3,600 s to 3,600 + 30 x 60 = 5,400 s; the pump is read at 4,200 s.

    The read makes the firmware command the strokes due in (3,600, 4,200]: floor(4,200 / 86.4)
    = 48 in all, 48 - 41 = 7 in this batch, all in the field: MOTOR_STALLED with 7, the critical
    ``motor_stall`` alarm, mode stopped, rate 0, still 41 strokes.  Trial strokes follow every
    300 s: 4,500, 4,800, 5,100 fail (the field is there), 5,400 turns (the scan is over).
    MOTOR_RECOVERED: 5,400 - 4,200 = 1,200 s stalled, 4 trial strokes.  The alarm clears and
    the pump is back at 250,000 nL/day, no clinician needed: 41 + 1 (the trial that turned)
    = 42 strokes.  The missed dose is not made up."""
    board = _board(name)
    t0 = board.now
    board.motor_stall(t0 + 3_600, until=t0 + 5_400)
    status = board.firmware.status(t0 + 4_200)
    board.run_until(t0 + 4_200)
    stall = [a for a in status.alarms if a.alarm_id is AlarmId.MOTOR_STALL]
    assert [a.critical for a in stall] == [True]
    assert (status.mode, status.rate_nl_per_day, status.strokes) == (TherapyMode.STOPPED, 0, 41)
    board.run_until(t0 + 5_399)
    assert AlarmId.MOTOR_STALL in _alarm_ids(board)
    board.run_until(t0 + 5_400)
    status = board.firmware.status(board.now)
    assert AlarmId.MOTOR_STALL not in _alarm_ids(board)
    assert (status.mode, status.rate_nl_per_day, status.strokes) == (
        TherapyMode.CONTINUOUS,
        RATE_NL,
        42,
    )
    assert _events(board, t0) == [
        (4_200, LogEvent.MOTOR_STALLED, 7, 0),
        (5_400, LogEvent.MOTOR_RECOVERED, 1_200, 4),
    ]
    assert _stall_alarm_log(board, t0) == [
        (4_200, LogEvent.ALARM_RAISED),
        (5_400, LogEvent.ALARM_CLEARED),
    ]


@pytest.mark.parametrize("name", PROFILES)
def test_an_mri_nobody_checks_is_found_at_the_next_wakeup_and_recovers(name: str) -> None:
    """The same scan, and nobody reads the pump.  Its next wakeup is the 4-hour persistence
    wakeup at 14,400 s: the batch covers (3,600, 14,400], floor(14,400 / 86.4) - 41 = 166 - 41
    = 125 strokes, the k-th at 3,600 + k x 10,800 / 125 = 3,600 + 86.4 k.  Those before 5,400 s,
    k = 1..20 (86.4 x 20 = 1,728 < 1,800 <= 86.4 x 21), did not turn: MOTOR_STALLED with 20,
    the alarm at 14,400 s.  The first trial at 14,700 s turns: MOTOR_RECOVERED 300 s, 1 trial.
    By the end of the day: 1,000 strokes a day, less the 20 lost in the field, less the 300 s
    the pump was halted (not programmed: 300 / 86.4 = 3.47 strokes), plus the trial stroke that
    turned: 1,000 - 20 - 3.47 + 1 = 977.5, so 977 whole strokes."""
    board = _board(name)
    t0 = board.now
    board.motor_stall(t0 + 3_600, until=t0 + 5_400)
    board.run_until(t0 + DAY_S)
    assert _events(board, t0) == [
        (14_400, LogEvent.MOTOR_STALLED, 20, 0),
        (14_700, LogEvent.MOTOR_RECOVERED, 300, 1),
    ]
    assert _stall_alarm_log(board, t0) == [
        (14_400, LogEvent.ALARM_RAISED),
        (14_700, LogEvent.ALARM_CLEARED),
    ]
    status = board.firmware.status(board.now)
    assert (status.strokes, status.rate_nl_per_day) == (977, RATE_NL)


@pytest.mark.parametrize("name", PROFILES)
def test_a_stall_that_persists_keeps_the_alarm_and_keeps_trying(name: str) -> None:
    """A motor that never turns again (a broken gear, not a field).  Found at the 14,400 s
    wakeup (125 strokes did not turn), the critical alarm is still raised a day later, nothing
    more was delivered than the 41 strokes before the stall, and the firmware has tried
    (86,400 - 14,400) / 300 = 240 trial strokes: 41 + 125 + 240 = 406 strokes commanded, 41
    completed.  There is no MOTOR_RECOVERED record."""
    board = _board(name)
    t0 = board.now
    board.motor_stall(t0 + 3_600)
    board.run_until(t0 + DAY_S)
    status = board.firmware.status(board.now)
    assert AlarmId.MOTOR_STALL in {a.alarm_id for a in status.alarms}
    assert (status.mode, status.strokes, status.rate_nl_per_day) == (TherapyMode.STOPPED, 41, 0)
    assert (board.motor.strokes_commanded, board.motor.strokes_total) == (406, 41)
    assert _events(board, t0) == [(14_400, LogEvent.MOTOR_STALLED, 125, 0)]


@pytest.mark.parametrize("name", PROFILES)
def test_a_stall_across_a_reset_is_retried_from_the_boot(name: str) -> None:
    """A 2-hour field (3,600 to 10,800 s), found by a read at 4,200 s (7 strokes), then a power
    cycle at 4,500 s.  The stall is latched in NVM: the new firmware boots with the alarm raised
    and tries one stroke every 300 s from the boot, at 4,500 + 300 k; the first at or after
    10,800 s is k = (10,800 - 4,500) / 300 = 21.  MOTOR_RECOVERED counts from the boot (the
    stall's start was RAM): 6,300 s and 21 trials; the alarm clears at 10,800 s and the rate is
    250,000 nL/day again."""
    board = _board(name)
    t0 = board.now
    board.motor_stall(t0 + 3_600, until=t0 + 10_800)
    board.firmware.status(t0 + 4_200)
    board.run_until(t0 + 4_200)
    board.power_cycle(t0 + 4_500)
    assert AlarmId.MOTOR_STALL in _alarm_ids(board)
    board.run_until(t0 + 10_799)
    assert AlarmId.MOTOR_STALL in _alarm_ids(board)
    board.run_until(t0 + 10_800)
    assert AlarmId.MOTOR_STALL not in _alarm_ids(board)
    assert _events(board, t0) == [
        (4_200, LogEvent.MOTOR_STALLED, 7, 0),
        (10_800, LogEvent.MOTOR_RECOVERED, 6_300, 21),
    ]
    assert board.firmware.status(board.now).rate_nl_per_day == RATE_NL
