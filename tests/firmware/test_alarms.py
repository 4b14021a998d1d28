"""Every alarm fires at the right simulated time, sounds its pattern, and logs its transitions."""

from __future__ import annotations

from firmware.hal import ResetCause, TonePattern
from firmware.prescription import Continuous, Stopped
from firmware.units import ceil_div, rate_nl_per_day
from protocol.enums import AlarmId, LogEvent, LogId, TherapyMode
from tests.firmware.conftest import DAY, HOUR, START, FakeBoard, make_profile
from tests.firmware.helpers import program

FILL = 20_000_000
DOSE = 200_000  # ng/day at 500 mcg/mL -> 400_000 nL/day
RATE = rate_nl_per_day(DOSE, 500)


def _crossing_time(target_nl: int, start: int = START) -> int:
    """When commanded strokes first bring the estimate to target (fresh accumulator)."""
    strokes = ceil_div(FILL - target_nl, 250)
    return start + ceil_div(strokes * 250 * DAY, RATE)


def _running_bench() -> FakeBoard:
    bench = FakeBoard()
    bench.pump.refill(0, FILL, 500, START)
    program(bench.pump, Continuous(DOSE), START)
    return bench


def _raised_at(bench: FakeBoard, alarm: AlarmId) -> int:
    states = {a.alarm_id: a for a in bench.pump.alarms(bench.pump.next_wakeup() - 1)}
    return states[alarm].raised_at


def test_low_reservoir_alarm_fires_at_programmed_volume() -> None:
    bench = _running_bench()
    expected = _crossing_time(2_000_000)
    bench.run_to(expected - 1)
    assert AlarmId.LOW_RESERVOIR not in {a.alarm_id for a in bench.pump.alarms(expected - 1)}
    bench.run_to(expected)
    low = [a for a in bench.pump.alarms(expected) if a.alarm_id is AlarmId.LOW_RESERVOIR]
    assert low and low[0].raised_at == expected and not low[0].critical
    assert (expected, TonePattern.SINGLE) in bench.hal.buzzer.tones
    assert bench.pump.status(expected).reservoir_nl <= 2_000_000


def test_noncritical_tone_repeats_hourly() -> None:
    bench = _running_bench()
    raised = _crossing_time(2_000_000)
    bench.run_to(raised + 3 * HOUR)
    singles = [t for t, p in bench.hal.buzzer.tones if p is TonePattern.SINGLE and t >= raised]
    assert singles == [raised, raised + HOUR, raised + 2 * HOUR, raised + 3 * HOUR]


def test_refill_reminder_fires_a_week_before_the_low_reservoir_date() -> None:
    bench = _running_bench()
    expected = _crossing_time(2_000_000) - 7 * DAY
    bench.run_to(expected)
    states = {a.alarm_id: a for a in bench.pump.alarms(expected)}
    assert states[AlarmId.REFILL_REMINDER].raised_at == expected


def test_reservoir_empty_is_critical_and_drops_to_safe_rate() -> None:
    bench = _running_bench()
    empty_at = _crossing_time(0)
    assert bench.pump.status(START).empty_time == empty_at
    bench.run_to(empty_at)
    status = bench.pump.status(empty_at)
    assert status.reservoir_nl == 0
    assert status.mode is TherapyMode.SAFE_MINIMUM
    assert status.rate_nl_per_day == bench.profile.safe_rate_nl_per_day
    empty = [a for a in status.alarms if a.alarm_id is AlarmId.RESERVOIR_EMPTY]
    assert empty and empty[0].raised_at == empty_at and empty[0].critical
    bench.run_to(empty_at + 1200)
    two_tones = [t for t, p in bench.hal.buzzer.tones if p is TonePattern.TWO_TONE]
    assert two_tones == [empty_at, empty_at + 600, empty_at + 1200]


def test_acknowledge_silences_repeats_but_keeps_the_alarm_listed() -> None:
    bench = _running_bench()
    empty_at = _crossing_time(0)
    bench.run_to(empty_at + 5)
    assert bench.pump.acknowledge_alarms(None, empty_at + 5) >= 1
    bench.run_to(empty_at + 23 * HOUR)
    assert [t for t, p in bench.hal.buzzer.tones if t > empty_at + 5] == []
    states = {a.alarm_id: a for a in bench.pump.alarms(empty_at + 23 * HOUR)}
    assert states[AlarmId.RESERVOIR_EMPTY].acknowledged
    bench.run_to(empty_at + 5 + DAY)
    assert (empty_at + 5 + DAY, TonePattern.TWO_TONE) in bench.hal.buzzer.tones
    records = bench.pump.log_read(LogId.ALARM, 0, 100)
    assert any(r.event == LogEvent.ALARM_ACKNOWLEDGED for r in records)


def test_refill_clears_reservoir_alarms_and_restores_programmed_rate() -> None:
    bench = _running_bench()
    empty_at = _crossing_time(0)
    bench.run_to(empty_at + HOUR)
    bench.pump.refill(0, FILL, 500, empty_at + HOUR)
    status = bench.pump.status(empty_at + HOUR)
    assert status.alarms == ()
    assert status.mode is TherapyMode.CONTINUOUS and status.rate_nl_per_day == RATE
    cleared = [
        r.a for r in bench.pump.log_read(LogId.ALARM, 0, 100) if r.event == LogEvent.ALARM_CLEARED
    ]
    assert AlarmId.RESERVOIR_EMPTY in cleared


def test_eri_at_housekeeping_then_end_of_service_stops_the_pump() -> None:
    bench = _running_bench()
    eri_level_at = START + 10 * DAY + 5 * HOUR
    bench.hal.battery.schedule = lambda now: 50_000 if now >= eri_level_at else 900_000
    bench.run_to(START + 12 * DAY)
    eri_time = START + 11 * DAY  # the next daily housekeeping (pump midnight)
    status = bench.pump.status(START + 12 * DAY)
    assert status.eri_time == eri_time
    assert status.replace_by_time == eri_time + 90 * DAY and status.eos_time is None
    assert AlarmId.ELECTIVE_REPLACEMENT in {a.alarm_id for a in status.alarms}
    bench.pump.refill(0, FILL, 500, START + 12 * DAY)
    bench.run_to(eri_time + 90 * DAY)
    status = bench.pump.status(eri_time + 90 * DAY)
    assert status.eos_time == eri_time + 90 * DAY
    assert status.mode is TherapyMode.STOPPED and status.rate_nl_per_day == 0
    strokes = bench.hal.motor.strokes
    bench.run_to(eri_time + 91 * DAY)
    assert bench.hal.motor.strokes == strokes


def test_motor_stall_is_critical_and_stops_delivery() -> None:
    bench = _running_bench()
    bench.hal.motor.stall_after = 100
    stall_time = START + ceil_div(101 * 250 * DAY, RATE)
    bench.run_to(START + DAY)
    status = bench.pump.status(START + DAY)
    stall = [a for a in status.alarms if a.alarm_id is AlarmId.MOTOR_STALL]
    # detected when the interval's strokes come back short: within one persist interval
    assert stall and stall[0].critical
    assert stall_time <= stall[0].raised_at <= stall_time + bench.profile.persist_interval_s
    assert status.mode is TherapyMode.STOPPED and bench.hal.motor.strokes == 100


def test_a_stalled_motor_is_retried_and_therapy_resumes_when_it_turns() -> None:
    """firmware/stall.py: a trial stroke every motor_retry_interval_s (300 s) while stalled;
    the first that turns clears MOTOR_STALL, logs MOTOR_RECOVERED (seconds, trials) and the
    programmed rate is back, with no clinician."""
    bench = _running_bench()
    motor = bench.hal.motor
    motor.stall_after = 100
    bench.run_to(START + DAY)
    raised = [a for a in bench.pump.status(START + DAY).alarms if a.alarm_id is AlarmId.MOTOR_STALL]
    assert raised and motor.strokes == 100
    found = bench.pump.alarms(START + DAY)[0].raised_at
    calls = motor.calls
    bench.run_to(START + DAY + 3 * 300)
    assert motor.calls - calls >= 3  # the trials since
    motor.stall_after = None  # the motor turns again
    bench.run_to(START + DAY + 4 * 300)
    status = bench.pump.status(START + DAY + 4 * 300)
    assert AlarmId.MOTOR_STALL not in {a.alarm_id for a in status.alarms}
    assert status.rate_nl_per_day == RATE and motor.strokes >= 101
    records = bench.pump.log_read(LogId.THERAPY, 0, 200)
    stalled = [r for r in records if r.event == LogEvent.MOTOR_STALLED]
    recovered = [r for r in records if r.event == LogEvent.MOTOR_RECOVERED]
    assert len(stalled) == 1 and stalled[0].time == found
    assert len(recovered) == 1 and recovered[0].a == recovered[0].time - found
    assert recovered[0].b == recovered[0].a // 300


def test_low_battery_reset_boots_into_safe_minimum_with_critical_alarm() -> None:
    bench = _running_bench()
    bench.run_to(START + DAY)
    pump = bench.power_cycle(START + DAY + 10, ResetCause.LOW_BATTERY)
    status = pump.status(START + DAY + 10)
    assert status.mode is TherapyMode.SAFE_MINIMUM
    assert status.rate_nl_per_day == bench.profile.safe_rate_nl_per_day
    assert AlarmId.LOW_BATTERY_RESET in {a.alarm_id for a in status.alarms}
    program(pump, Continuous(DOSE), START + DAY + 20)
    assert AlarmId.LOW_BATTERY_RESET not in {a.alarm_id for a in pump.alarms(START + DAY + 20)}


def test_memory_error_when_both_banks_fail_their_checks() -> None:
    bench = _running_bench()
    bench.pump.flush(START + HOUR)
    layout_start = 0  # CONFIG record banks come first
    for offset in range(layout_start, layout_start + 2 * 2048, 7):
        bench.hal.nvm.data[offset] ^= 0x5A
    pump = bench.power_cycle(START + HOUR + 1)
    assert AlarmId.MEMORY_ERROR in {a.alarm_id for a in pump.alarms(START + HOUR + 1)}


def test_pump_stopped_alarm_while_a_programmed_pump_is_stopped() -> None:
    bench = _running_bench()
    bench.pump.stop(START + HOUR)
    states = {a.alarm_id: a for a in bench.pump.alarms(START + HOUR)}
    assert states[AlarmId.PUMP_STOPPED].critical
    bench.pump.resume(START + 2 * HOUR)
    assert bench.pump.alarms(START + 2 * HOUR) == []


def test_factory_pump_is_silent() -> None:
    bench = FakeBoard()
    bench.run_to(START + 3 * DAY)
    assert bench.hal.buzzer.tones == [] and bench.pump.alarms(START + 3 * DAY) == []


def test_alarm_test_plays_each_pattern_and_logs() -> None:
    bench = FakeBoard()
    bench.pump.test_alarm_tones(START + 5)
    assert bench.hal.buzzer.tones == [
        (START + 5, TonePattern.SINGLE),
        (START + 5, TonePattern.TWO_TONE),
    ]
    assert bench.pump.log_read(LogId.ALARM, 0, 10)[-1].event == LogEvent.ALARM_TEST


def test_alarm_events_are_drained_in_order() -> None:
    bench = _running_bench()
    program(bench.pump, Stopped(), START + HOUR)
    bench.pump.stop(START + HOUR)
    events = bench.pump.drain_alarm_events()
    assert [(e.alarm_id, e.raised) for e in events] == [(AlarmId.PUMP_STOPPED, True)]
    assert bench.pump.drain_alarm_events() == []


def test_the_buzzer_sounds_the_repeats_and_the_firmware_sleeps_through_them() -> None:
    bench = FakeBoard(make_profile(persist_interval_s=DAY))
    bench.pump.refill(0, FILL, 500, START)
    program(bench.pump, Continuous(DOSE), START)
    raised = _crossing_time(2_000_000)
    bench.run_to(raised)
    wakeups = bench.run_to(raised + 20 * HOUR)
    singles = [t for t, p in bench.hal.buzzer.tones if p is TonePattern.SINGLE and t > raised]
    assert singles == [raised + k * HOUR for k in range(1, 21)]
    assert wakeups <= 1  # the day's housekeeping at most, not twenty tones
