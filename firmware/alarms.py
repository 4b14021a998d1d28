"""Alarms as on the reference device: conditions, tones, acknowledgement.

Why: an empty reservoir or a stopped pump can kill a patient through baclofen withdrawal, so every
condition that stops or threatens delivery must be raised, repeated audibly and logged, and must
not disappear because someone pressed "acknowledge".

Semantics:

- An alarm is *active* while its condition holds.  It is raised once (logged ALARM_RAISED, an
  event queued for the protocol layer) and cleared once when the condition ends (ALARM_CLEARED).
  Latched alarms (MEMORY_ERROR, LOW_BATTERY_RESET, MOTOR_STALL) have conditions that end only on a
  clinician action (a new prescription, or resume for a stall).
- Tones: critical alarms play TWO_TONE when raised and then every ``critical_interval_s``;
  non-critical alarms play SINGLE when raised and then every ``noncritical_interval_s`` (about
  hourly).  When several alarms are due at the same second each pattern plays once.
- Acknowledging silences the repeats, it never clears: the alarm stays listed (``acknowledged``,
  ``silenced_until``) until its condition clears.  A critical alarm re-sounds after
  ``CRITICAL_SILENCE_S`` (24 h) if still active, a non-critical one after ``NONCRITICAL_SILENCE_S``
  (7 days).  If a cleared condition comes back, it is a new alarm and sounds at once.
- Alarm test: each alarm pattern (SINGLE, then TWO_TONE) plays once and ALARM_TEST is logged.

Times inside are board time; the :class:`AlarmState` views handed out are in pump time.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware.clock import PumpClock
from firmware.eventlog import EventLog
from firmware.hal import TonePattern
from protocol.enums import CRITICAL_ALARMS, AlarmId, LogEvent

CRITICAL_SILENCE_S = 24 * 3600
NONCRITICAL_SILENCE_S = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class AlarmState:
    """One active alarm, as reported (times are pump time)."""

    alarm_id: AlarmId
    critical: bool
    raised_at: int
    acknowledged: bool
    silenced_until: int | None


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """An alarm transition for the protocol layer's unsolicited events (pump time)."""

    alarm_id: AlarmId
    raised: bool
    time: int


@dataclass(slots=True)
class ActiveAlarm:
    raised_at: int  # board time
    acknowledged: bool
    silenced_until: int | None  # board time
    next_tone: int  # board time


class AlarmManager:
    def __init__(
        self,
        log: EventLog,
        clock: PumpClock,
        critical_interval_s: int,
        noncritical_interval_s: int,
    ) -> None:
        self._log = log
        self._clock = clock
        self.critical_interval_s = critical_interval_s
        self.noncritical_interval_s = noncritical_interval_s
        self.active: dict[AlarmId, ActiveAlarm] = {}
        self._events: list[AlarmEvent] = []
        self._next_tone_cache: int | None = None

    def raise_alarm(self, alarm_id: AlarmId, now: int) -> None:
        if alarm_id in self.active:
            return
        self.active[alarm_id] = ActiveAlarm(now, False, None, now)
        self._next_tone_cache = None
        pump_now = self._clock.pump_time(now)
        self._log.append(LogEvent.ALARM_RAISED, pump_now, alarm_id)
        self._events.append(AlarmEvent(alarm_id, True, pump_now))

    def clear_alarm(self, alarm_id: AlarmId, now: int) -> None:
        if self.active.pop(alarm_id, None) is None:
            return
        self._next_tone_cache = None
        pump_now = self._clock.pump_time(now)
        self._log.append(LogEvent.ALARM_CLEARED, pump_now, alarm_id)
        self._events.append(AlarmEvent(alarm_id, False, pump_now))

    def set_condition(self, alarm_id: AlarmId, active: bool, now: int) -> None:
        if active:
            self.raise_alarm(alarm_id, now)
        else:
            self.clear_alarm(alarm_id, now)

    def acknowledge(self, alarm_ids: list[AlarmId] | None, now: int) -> int:
        """Silence the given (or all) active alarms; returns how many were acknowledged."""
        wanted = set(self.active) if alarm_ids is None else set(alarm_ids)
        count = 0
        for alarm_id in sorted(wanted & set(self.active)):
            alarm = self.active[alarm_id]
            silence = CRITICAL_SILENCE_S if alarm_id in CRITICAL_ALARMS else NONCRITICAL_SILENCE_S
            alarm.acknowledged = True
            alarm.silenced_until = now + silence
            alarm.next_tone = now + silence
            self._log.append(LogEvent.ALARM_ACKNOWLEDGED, self._clock.pump_time(now), alarm_id)
            count += 1
        self._next_tone_cache = None
        return count

    def next_tone_time(self) -> int | None:
        if self._next_tone_cache is None and self.active:
            self._next_tone_cache = min(a.next_tone for a in self.active.values())
        return self._next_tone_cache if self.active else None

    def due_tones(self, now: int) -> list[TonePattern]:
        """Patterns to play at ``now`` (critical first); schedules each alarm's next repeat."""
        critical = noncritical = False
        for alarm_id in sorted(self.active):
            alarm = self.active[alarm_id]
            if alarm.next_tone > now:
                continue
            if alarm.silenced_until is not None and alarm.silenced_until <= now:
                alarm.acknowledged, alarm.silenced_until = False, None
            is_critical = alarm_id in CRITICAL_ALARMS
            critical |= is_critical
            noncritical |= not is_critical
            interval = self.critical_interval_s if is_critical else self.noncritical_interval_s
            alarm.next_tone = now + interval
        self._next_tone_cache = None
        patterns = []
        if critical:
            patterns.append(TonePattern.TWO_TONE)
        if noncritical:
            patterns.append(TonePattern.SINGLE)
        return patterns

    def states(self) -> list[AlarmState]:
        pump = self._clock.optional_pump_time
        return [
            AlarmState(
                alarm_id,
                alarm_id in CRITICAL_ALARMS,
                self._clock.pump_time(alarm.raised_at),
                alarm.acknowledged,
                pump(alarm.silenced_until),
            )
            for alarm_id, alarm in sorted(self.active.items())
        ]

    def drain_events(self) -> list[AlarmEvent]:
        events, self._events = self._events, []
        return events

    def restore(self, active: dict[AlarmId, ActiveAlarm]) -> None:
        """Reload the persisted table (no log records: nothing changed)."""
        self.active = dict(sorted(active.items()))
        self._next_tone_cache = None
