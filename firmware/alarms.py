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
- The repeats are the buzzer's (``firmware.hal.Buzzer.repeat``): at each wakeup the firmware
  hands it the repeats up to its next wakeup and sleeps through them, so an alarm that sounds
  for weeks costs no wakeups.  The firmware plays a tone itself only when it is awake at that
  second (a raise, a wakeup that falls on a repeat, the end of a silence); ``catch_up`` moves
  each alarm's ``next_tone`` past the repeats the buzzer sounded, so the state (and what is
  persisted) is what it would be had the firmware woken for every tone.
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
from firmware.hal import Buzzer, TonePattern, ToneRepeat
from protocol.enums import CRITICAL_ALARMS, AlarmId, LogEvent

CRITICAL_SILENCE_S = 24 * 3600
NO_TONE = -1  # ``next_tone_time`` cache: no silence to wake for
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
        #: What the buzzer repeats (``program``): the alarms with their periods, the repeats
        #: handed over (None: unknown, as after a reset) and the times they cover, after
        #: ``_repeat_after`` and before ``_repeat_until``.
        self._repeating: list[tuple[ActiveAlarm, int]] = []
        self._repeats: tuple[ToneRepeat, ...] | None = None
        self._repeat_after = 0
        self._repeat_until = 0

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
        """The next tone the firmware must wake for: the end of an acknowledged alarm's silence
        (the other alarms' repeats are the buzzer's, see ``program``)."""
        if not self.active:
            return None  # no alarm, no silence: the common case, once per wakeup
        if self._next_tone_cache is None:
            silenced = [a.next_tone for a in self.active.values() if a.silenced_until is not None]
            self._next_tone_cache = min(silenced) if silenced else NO_TONE
        return None if self._next_tone_cache == NO_TONE else self._next_tone_cache

    def catch_up(self, now: int) -> None:
        """The buzzer sounded its repeats up to ``now`` (those before the wakeup that ends
        them): move each repeating alarm's next tone past them, as if it had woken for each."""
        if not self._repeating:
            return  # nothing repeats: the common case, once per wakeup
        limit = min(now, self._repeat_until - 1)
        if limit <= self._repeat_after:
            return
        for alarm, period in self._repeating:
            if alarm.next_tone <= limit:
                alarm.next_tone += ((limit - alarm.next_tone) // period + 1) * period
        self._repeat_after = limit

    def program(self, buzzer: Buzzer, now: int, until: int) -> None:
        """Hand the buzzer the repeats of the sounding (not silenced) alarms after ``now`` and
        before ``until``, the firmware's next wakeup (called after ``due_tones(now)``)."""
        self._repeat_after, self._repeat_until = now, until
        if not self.active and self._repeats == ():
            self._repeating = []
            return  # no alarm, and the buzzer knows it: the common case
        critical_s, noncritical_s = self.critical_interval_s, self.noncritical_interval_s
        repeating: list[tuple[ActiveAlarm, int]] = []
        two_tone: list[int] = []
        single: list[int] = []
        for alarm_id, alarm in self.active.items():
            if alarm.silenced_until is not None:
                continue
            if alarm_id in CRITICAL_ALARMS:
                repeating.append((alarm, critical_s))
                two_tone.append(alarm.next_tone)
            else:
                repeating.append((alarm, noncritical_s))
                single.append(alarm.next_tone)
        self._repeating = repeating
        if not repeating and self._repeats == ():
            return  # nothing repeats, and the buzzer knows it
        repeats: list[ToneRepeat] = []
        for pattern, period, firsts in (
            (TonePattern.TWO_TONE, critical_s, two_tone),
            (TonePattern.SINGLE, noncritical_s, single),
        ):
            phases: set[int] = set()
            for first in sorted(firsts):
                if first % period not in phases:  # alarms in step sound one tone, as when due
                    phases.add(first % period)
                    repeats.append(ToneRepeat(pattern, first, period))
        self._repeats = tuple(repeats)
        buzzer.repeat(self._repeats, now, until)

    def due_tones(self, now: int) -> list[TonePattern]:
        """Patterns to play at ``now`` (critical first); schedules each alarm's next repeat."""
        if not self.active:  # no alarm: the common case, once per wakeup
            self._next_tone_cache = None
            return []
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
