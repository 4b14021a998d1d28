"""Casebook: a motor stall, transient or not (issue 11, item 7).

An MRI scan's field holds the reference device's rotor until the field is gone.  The firmware
keeps the critical ``motor_stall`` alarm while the stall lasts, tries one stroke every
``motor_retry_interval_s`` (300 s in both shipped profiles: a simulator choice) and, when one
turns, goes back to the programmed therapy by itself; the stall and the recovery are logged
(MOTOR_STALLED a = strokes that did not turn; MOTOR_RECOVERED a = seconds stalled, b = trial
strokes).  Each visit plays through the firmware on a virtual board, on both profiles.

Common arithmetic: 500 mcg/day at 2000 mcg/mL is 0.25 mL/day = 250,000 nL/day, one 250 nL
stroke every 250 x 86,400 / 250,000 = 86.4 s, 1,000 strokes a day.  Therapy starts at 0 s; the
scan starts at 3,600 s, after floor(3,600 / 86.4) = 41 strokes.  The 42nd is due at 42 x 86.4 =
3,628.8 s, i.e. at 3,629 s (the pump counts whole seconds): that is where the firmware finds
the stall (the board wakes it at its first stroke in the field, as a real pump that commands
each stroke would find it).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware.prescription import Continuous
from hw_sim.board.board import VirtualBoard
from hw_sim.link.loopback import Loopback
from hw_sim.profiles.loader import load_profile
from programmer import KeyStore, PumpClient
from programmer.views import status_document, status_text
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
    """The scan runs from 3,600 s to 3,600 + 30 x 60 = 5,400 s.

    The 42nd stroke (3,629 s) does not turn: MOTOR_STALLED with 1 stroke, the critical
    ``motor_stall`` alarm; during the scan (read at 4,200 s) mode stopped, rate 0, 41 strokes.
    Trial strokes every 300 s from 3,629 s: 3,929, 4,229, 4,529, 4,829, 5,129 fail (the field
    is there), 5,429 turns (3,629 + 6 x 300; the scan ended at 5,400).  MOTOR_RECOVERED:
    5,429 - 3,629 = 1,800 s stalled, 6 trial strokes.  The alarm clears and the pump is back at
    250,000 nL/day with no clinician: 41 + 1 (the trial that turned) = 42 strokes."""
    board = _board(name)
    t0 = board.now
    board.motor_stall(t0 + 3_600, until=t0 + 5_400)
    board.run_until(t0 + 4_200)
    status = board.firmware.status(board.now)
    stall = [a for a in status.alarms if a.alarm_id is AlarmId.MOTOR_STALL]
    assert [a.critical for a in stall] == [True]
    assert (status.mode, status.rate_nl_per_day, status.strokes) == (TherapyMode.STOPPED, 0, 41)
    board.run_until(t0 + 5_428)
    assert AlarmId.MOTOR_STALL in _alarm_ids(board)
    board.run_until(t0 + 5_429)
    status = board.firmware.status(board.now)
    assert AlarmId.MOTOR_STALL not in _alarm_ids(board)
    assert (status.mode, status.rate_nl_per_day, status.strokes) == (
        TherapyMode.CONTINUOUS,
        RATE_NL,
        42,
    )
    assert _events(board, t0) == [
        (3_629, LogEvent.MOTOR_STALLED, 1, 0),
        (5_429, LogEvent.MOTOR_RECOVERED, 1_800, 6),
    ]
    assert _stall_alarm_log(board, t0) == [
        (3_629, LogEvent.ALARM_RAISED),
        (5_429, LogEvent.ALARM_CLEARED),
    ]


@pytest.mark.parametrize("name", PROFILES)
def test_the_day_after_an_mri_the_pump_missed_only_the_scan(name: str) -> None:
    """The same scan, the pump read a day later: 1,000 strokes were due in the day; the 42nd did
    not turn, the 1,800 s the pump was halted were not programmed (1,800 / 86.4 = 20.83
    strokes) and the trial stroke that turned counts: 1,000 - 1 - 20.83 + 1 = 979.17, so 979
    strokes, and the rate is 250,000 nL/day again.  No catch-up bolus: the missed 0.21 of a
    day's dose (21 strokes x 250 nL x 2000 mcg/mL = 10.5 mcg) is not made up."""
    board = _board(name)
    t0 = board.now
    board.motor_stall(t0 + 3_600, until=t0 + 5_400)
    board.run_until(t0 + DAY_S)
    status = board.firmware.status(board.now)
    assert (status.strokes, status.rate_nl_per_day) == (979, RATE_NL)
    assert AlarmId.MOTOR_STALL not in {a.alarm_id for a in status.alarms}


@pytest.mark.parametrize("name", PROFILES)
def test_a_field_between_two_strokes_stops_nothing(name: str) -> None:
    """A field from 3,630 s to 3,700 s (70 s) falls between the 42nd stroke (3,629 s) and the
    43rd (43 x 86.4 = 3,715.2 s): no stroke is stopped, so there is no alarm, no log record,
    and a day later all 1,000 strokes were made."""
    board = _board(name)
    t0 = board.now
    board.motor_stall(t0 + 3_630, until=t0 + 3_700)
    board.run_until(t0 + DAY_S)
    assert _events(board, t0) == []
    assert _stall_alarm_log(board, t0) == []
    assert board.firmware.status(board.now).strokes == 1_000


@pytest.mark.parametrize("name", PROFILES)
def test_a_stall_that_persists_keeps_the_alarm_and_keeps_trying(name: str) -> None:
    """A motor that never turns again (a broken gear, not a field).  Found at the 42nd stroke
    (3,629 s), the critical alarm is still raised a day later, nothing more was delivered than
    the 41 strokes before the stall, and the firmware has tried floor((86,400 - 3,629) / 300)
    = 275 trial strokes: 41 + 1 + 275 = 317 strokes commanded, 41 completed.  There is no
    MOTOR_RECOVERED record."""
    board = _board(name)
    t0 = board.now
    board.motor_stall(t0 + 3_600)
    board.run_until(t0 + DAY_S)
    status = board.firmware.status(board.now)
    assert AlarmId.MOTOR_STALL in {a.alarm_id for a in status.alarms}
    assert (status.mode, status.strokes, status.rate_nl_per_day) == (TherapyMode.STOPPED, 41, 0)
    assert (board.motor.strokes_commanded, board.motor.strokes_total) == (317, 41)
    assert _events(board, t0) == [(3_629, LogEvent.MOTOR_STALLED, 1, 0)]


@pytest.mark.parametrize("name", PROFILES)
def test_a_stall_across_a_reset_is_retried_from_the_boot(name: str) -> None:
    """A 2-hour field (3,600 to 10,800 s), found at the 42nd stroke (3,629 s), then a power
    cycle at 4,500 s.  The stall is latched in NVM: the new firmware boots with the alarm raised
    and tries one stroke every 300 s from the boot, at 4,500 + 300 k; the first at or after
    10,800 s is k = (10,800 - 4,500) / 300 = 21.  MOTOR_RECOVERED counts from the boot (the
    stall's start was RAM): 6,300 s and 21 trials; the alarm clears at 10,800 s and the rate is
    250,000 nL/day again."""
    board = _board(name)
    t0 = board.now
    board.motor_stall(t0 + 3_600, until=t0 + 10_800)
    board.run_until(t0 + 4_200)
    board.power_cycle(t0 + 4_500)
    assert AlarmId.MOTOR_STALL in _alarm_ids(board)
    board.run_until(t0 + 10_799)
    assert AlarmId.MOTOR_STALL in _alarm_ids(board)
    board.run_until(t0 + 10_800)
    assert AlarmId.MOTOR_STALL not in _alarm_ids(board)
    assert _events(board, t0) == [
        (3_629, LogEvent.MOTOR_STALLED, 1, 0),
        (10_800, LogEvent.MOTOR_RECOVERED, 6_300, 21),
    ]
    assert board.firmware.status(board.now).rate_nl_per_day == RATE_NL


@pytest.mark.parametrize("name", PROFILES)
def test_pumpctl_status_during_an_mri_says_the_pump_will_resume_by_itself(
    name: str, tmp_path: Path
) -> None:
    """Over the programmer's line: therapy at 500 mcg/day, then ``vpump ctl fault mri 30min``.
    Read 10 minutes into the scan, the pump is stopped with the critical ``motor_stall`` alarm,
    and the banner says it retries the motor and resumes by itself (it is not a stop that needs
    ``pumpctl resume``).  Read 40 minutes after the start of the scan (the 30 minutes plus less
    than one 300 s retry), it is back in continuous mode at 0.25 mL/day."""
    loop = Loopback.fresh(name, serial_number="VP20-000080", auto_accept_pairing=True)
    board = loop.bench.board
    start_therapy_on(board)
    loop.bench.fault("mri", "30min")
    loop.bench.set_wand(True)
    with PumpClient(loop.transport(), KeyStore(tmp_path / "keys"), timeout_s=0.5) as client:
        client.pair()
        loop.advance(600)
        doc = status_document(client.status())
        assert doc["mode"] == "stopped"
        assert [a["name"] for a in doc["alarms"]] == ["motor_stall"]
        text = status_text(doc)
        assert "the pump tries it again regularly and resumes by itself" in text
        assert "no drug is delivered until `pumpctl resume`" not in text
        loop.advance(1_800)
        doc = status_document(client.status())
    assert (doc["mode"], doc["rate_ml_per_day"], doc["alarms"]) == ("continuous", 0.25, [])


def start_therapy_on(board: VirtualBoard) -> None:
    """Fill 20 mL of 2000 mcg/mL and commit 500 mcg/day on a pump already powered."""
    now, fw = board.now, board.firmware
    board.inject(20_000_000, 2000, now)
    fw.refill(0, 20_000_000, 2000, now)
    staged = fw.stage(Continuous(DOSE_NG), now)
    fw.commit(staged.staged_hash, staged.active_version, staged.warnings, now)
    board.run_until(now + 3_600)
