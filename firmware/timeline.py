"""The pump's time line, boot and persistence: the component the facade (firmware/pump.py) owns.

Why: one object owns the pump's time line.  ``run_until(now)`` does every piece of work due in
(last, now] in time order - strokes, reservoir thresholds, bolus ends, flex steps, tones, daily
housekeeping, persistence - jumping from one due time to the next (``next_wakeup()``), never
second by second.  Clinical calls first catch up to ``now``, then act, then persist before they
return, so a power cut after a reply never loses what the reply confirmed.

Every time handed out is pump time (board time + the clock offset set by the clinic).

State: the clinician's settings are one frozen :class:`~firmware.persistence.Settings` (the
CONFIG record itself); :meth:`TimeLine.set_settings` is the only place their copies in the
engine, the reservoir estimate and the alarm manager are written.  The counters live in those
parts, where delivery changes them, and :meth:`TimeLine.counters` reads them into the COUNTERS
record (``restore_counters`` puts them back at boot).

NVM write failures: when the memory refuses a write (:class:`~firmware.hal.NvmWriteError`, kept
inside :class:`~firmware.nvm_layout.NvmStore`), the pump keeps delivering from what it holds in
RAM, raises MEMORY_ERROR, retries every ``NVM_RETRY_INTERVAL_S`` (and at every state change),
and clears the alarm once everything unsaved has reached the memory again.
"""

from __future__ import annotations

import dataclasses

from firmware.alarms import AlarmManager
from firmware.battery_monitor import BatteryMonitor
from firmware.clock import PumpClock
from firmware.delivery import Segment
from firmware.eventlog import EventLog, LogRing, ring_capacity
from firmware.hal import Hal, ResetCause
from firmware.nvm_layout import NvmStore, RecordId, RecordStatus
from firmware.persistence import Counters, Settings, factory_settings
from firmware.profile import DeviceProfile
from firmware.therapy import NEVER, ActiveBolus, TherapyEngine
from firmware.units import DAY_S, mass_ng_for_volume, start_of_day
from protocol.enums import AlarmId, LogEvent, LogId, TherapyMode

#: While NVM writes fail, unsaved state is written again at least this often (board seconds).
NVM_RETRY_INTERVAL_S = 60


#: Alarm conditions in the order :meth:`TimeLine._update_conditions` evaluates them.
_CONDITION_ORDER = (
    AlarmId.LOW_RESERVOIR,
    AlarmId.RESERVOIR_EMPTY,
    AlarmId.REFILL_REMINDER,
    AlarmId.ELECTIVE_REPLACEMENT,
    AlarmId.END_OF_SERVICE,
    AlarmId.MOTOR_STALL,
    AlarmId.LOW_BATTERY_RESET,
    AlarmId.MEMORY_ERROR,
    AlarmId.PUMP_STOPPED,
)


class TimeLine:
    """Boot, persistence and the event-driven time line of one pump's parts."""

    def __init__(
        self,
        hal: Hal,
        profile: DeviceProfile,
        clock: PumpClock,
        store: NvmStore,
        log: EventLog,
        alarms: AlarmManager,
        engine: TherapyEngine,
        battery: BatteryMonitor,
    ) -> None:
        self._hal = hal
        self.profile = profile
        self._clock = clock
        self._store = store
        self._log = log
        self._alarms = alarms
        self._engine = engine
        self._battery = battery
        alarm_cfg = profile.alarms
        self.settings: Settings
        self.set_settings(
            factory_settings(
                alarm_cfg.low_reservoir_default_nl, alarm_cfg.critical_interval_default_s
            )
        )
        #: Board times of the patient boluses granted in the last 24 h (pruned daily).
        self.pb_grants: list[int] = []
        #: Latched: NVM found corrupt at boot, until a clinician re-establishes therapy.
        self.memory_error = False
        self._nvm_failing = False  # NVM writes refused, unsaved state held in RAM
        self._persisted_seq: dict[LogId, int] = {}
        #: The protocol layer's opaque state, loaded at boot and written by flush().
        self.security_blob = b""
        self._last = 0
        self._last_persist = 0
        self._persisted_amount = 0
        self._conditions: tuple[bool, ...] = ()
        self._next_housekeeping = NEVER
        self._refill_reminder_at: int | None = None
        self._refill_reminder_due = False
        #: The last plan's basal reservoir crossing and what it was computed from (``_crossing``).
        self._crossing_cache: tuple[int, int | None, int, int, int, int, int | None] | None = None
        self._segment = Segment(0, 0, None)
        self._segment_conc = 0
        self._next_wakeup = NEVER
        self._booted = False

    # ------------------------------------------------------------------ what the facade reads
    @property
    def last(self) -> int:
        """Board time the time line has run to."""
        return self._last

    @property
    def booted(self) -> bool:
        return self._booted

    @property
    def nvm_failing(self) -> bool:
        """Writes are being refused and MEMORY_ERROR is raised for it (as last evaluated)."""
        return self._nvm_failing

    # ------------------------------------------------------------------ settings
    def set_settings(self, settings: Settings) -> None:
        """Make ``settings`` the pump's settings; the only writer of their copies in the parts
        (the engine and the estimate compute with them, the alarm manager times tones)."""
        self.settings = settings
        engine, res = self._engine, self._engine.reservoir
        engine.program, engine.suspended = settings.program, settings.suspended
        res.concentration_mcg_per_ml = settings.concentration_mcg_per_ml
        res.filled_nl, res.generation = settings.filled_nl, settings.refill_generation
        self._alarms.critical_interval_s = settings.critical_interval_s

    # ------------------------------------------------------------------ boot and persistence
    def boot(self, now: int, cause: ResetCause) -> None:
        """Load NVM (blank -> factory state), log the reset, enter the safe state if needed."""
        self._last = self._last_persist = now
        config = self._store.load(RecordId.CONFIG)
        counters = self._store.load(RecordId.COUNTERS)
        security = self._store.load(RecordId.SECURITY)
        corrupt = [r for r in (config, counters, security) if r.status is RecordStatus.CORRUPT]
        self.memory_error = bool(corrupt)
        try:
            if config.status is RecordStatus.VALID:
                self.set_settings(Settings.decode(config.payload))
            if counters.status is RecordStatus.VALID:
                self.restore_counters(Counters.decode(counters.payload))
        except ValueError:
            self.memory_error = True
        if counters.status is not RecordStatus.VALID and self._engine.reservoir.is_filled:
            # the volume drawn since the refill is unknown: assume the worst, an empty reservoir
            self._engine.reservoir.drawn_nl = self._engine.reservoir.filled_nl
        self.security_blob = security.payload if security.status is RecordStatus.VALID else b""
        for log_id in LogId:
            ring = LogRing(ring_capacity(self.profile, log_id), self._store.load_log(log_id))
            ring.next_seq = max(ring.next_seq, self._persisted_seq.get(log_id, 1))
            self._log.rings[log_id] = ring
        self._log.set_sink(self._store.save_log_record)
        self._booted = True
        pump_now = self._clock.pump_time(now)
        self._log.append(LogEvent.RESET, pump_now, cause)
        for number, record in enumerate((config, counters, security)):
            if record.other_bank_corrupt:
                self._log.append(LogEvent.NVM_RECOVERED, pump_now, record.bank, number + 1)
        engine = self._engine
        engine.bolus = engine.patient_bolus = None  # a bolus of unknown progress is not resumed
        if cause is ResetCause.LOW_BATTERY:
            engine.safe_reason = AlarmId.LOW_BATTERY_RESET
            self._log.append(LogEvent.SAFE_MINIMUM_ENTERED, pump_now, AlarmId.LOW_BATTERY_RESET)
        self._battery.check(self._hal.battery.remaining_ppm(now), now)
        self._next_housekeeping = self._housekeeping_after(now)
        engine.recompile()
        self.recompute_reminder(now)  # derived from the estimate, so not persisted: re-derive
        self.after_change(now, config_changed=True)

    def restore_counters(self, c: Counters) -> None:
        """Put a COUNTERS record back into the parts (at boot, after the settings)."""
        engine = self._engine
        if c.refill_generation == engine.reservoir.generation:
            engine.reservoir.drawn_nl = c.drawn_nl  # else: the refill is newer, nothing drawn yet
        engine.accumulator.remainder = c.stroke_remainder
        engine.strokes_total, engine.delivered_nl = c.strokes_total, c.delivered_nl
        engine.delivered_pg, engine.programmed_amount = c.delivered_pg, c.programmed_amount
        engine.day_delivered_pg = c.day_delivered_pg
        engine.day_programmed_amount = c.day_programmed_amount
        self._clock.offset_s = c.rtc_offset_s
        self._battery.eri_time, self._battery.eos_reached = c.eri_time, c.eos_reached
        self._battery.last_remaining_ppm = c.battery_ppm
        engine.end_of_service, engine.stalled = c.eos_reached, c.stalled
        engine.safe_reason = c.safe_reason
        rings = (LogId.THERAPY, LogId.ALARM, LogId.AUDIT)
        self._persisted_seq = dict(zip(rings, c.log_next_seq, strict=True))
        self._persisted_seq[LogId.DAILY] = c.daily_log_next_seq
        self.pb_grants = list(c.patient_bolus_grants)
        self._alarms.restore(dict(c.alarms))

    def counters(self) -> Counters:
        """The COUNTERS record of the parts as they are now."""
        engine, rings = self._engine, self._log.rings
        return Counters(
            refill_generation=engine.reservoir.generation,
            drawn_nl=engine.reservoir.drawn_nl,
            stroke_remainder=engine.accumulator.remainder,
            strokes_total=engine.strokes_total,
            delivered_nl=engine.delivered_nl,
            delivered_pg=engine.delivered_pg,
            programmed_amount=engine.programmed_amount,
            day_delivered_pg=engine.day_delivered_pg,
            day_programmed_amount=engine.day_programmed_amount,
            rtc_offset_s=self._clock.offset_s,
            eri_time=self._battery.eri_time,
            eos_reached=self._battery.eos_reached,
            battery_ppm=self._battery.last_remaining_ppm,
            stalled=engine.stalled,
            safe_reason=engine.safe_reason,
            log_next_seq=(
                rings[LogId.THERAPY].next_seq,
                rings[LogId.ALARM].next_seq,
                rings[LogId.AUDIT].next_seq,
            ),
            patient_bolus_grants=tuple(self.pb_grants),
            alarms=tuple(sorted(self._alarms.active.items())),
            daily_log_next_seq=rings[LogId.DAILY].next_seq,
        )

    @property
    def nvm_write_failing(self) -> bool:
        """The memory refused a write and something is still unsaved (MEMORY_ERROR is active)."""
        return self._store.failing

    def _persist_interval(self) -> int:
        interval = self.profile.persist_interval_s
        return min(interval, NVM_RETRY_INTERVAL_S) if self._nvm_failing else interval

    def _persist(self, now: int, config: bool) -> None:
        if self._store.failing:
            self._store.retry()
        if config:
            self._store.save(RecordId.CONFIG, self.settings.encode())
        self._store.save(RecordId.COUNTERS, self.counters().encode())
        self._last_persist = now
        self._persisted_amount = self._engine.programmed_amount

    def flush(self, now: int) -> None:
        """Persist everything (clean shutdown)."""
        self.run_until(now)
        self._persist(self._last, config=True)
        self._store.save(RecordId.SECURITY, self.security_blob)

    # ------------------------------------------------------------------ the time line
    def next_wakeup(self) -> int:
        """Board time of the next thing due (always after the last ``run_until``)."""
        return self._next_wakeup

    def run_until(self, now: int) -> None:
        """Do all work due in (last, now]; calling it again with the same ``now`` does nothing."""
        while self._last < now:
            due = self._next_wakeup
            t = due if due <= now else now
            stalled = self._deliver(t)
            self._alarms.catch_up(t)  # the buzzer's repeats up to t have sounded
            if t == due or stalled:
                self._on_wakeup(t)

    def _deliver(self, t: int) -> bool:
        """Command the strokes programmed over (last, t]; True if the motor stalled."""
        engine = self._engine
        _, due = engine.advance(self._segment, self._last, t)
        self._last = t
        if due <= 0:
            return False
        completed = self._hal.motor.deliver_strokes(due, t)
        engine.account_strokes(completed, self._segment_conc)
        if completed < due:
            engine.stalled = True
            self.cancel_boluses(t)
            return True
        return False

    def _on_wakeup(self, t: int) -> None:
        engine = self._engine
        if engine.bolus is not None or engine.patient_bolus is not None:
            for bolus in (engine.bolus, engine.patient_bolus):
                if bolus is not None and t >= bolus.timed.end:
                    self._finish_bolus(bolus, t)
        if t >= self._next_housekeeping:
            self._housekeeping(t)
        battery = self._battery
        if battery.eri_time is not None:
            eos = battery.eos_time
            if eos is not None and t >= eos and not battery.eos_reached:
                battery.eos_reached = engine.end_of_service = True
                self.cancel_boluses(t)
        if self._refill_reminder_at is not None and t >= self._refill_reminder_at:
            self._refill_reminder_due, self._refill_reminder_at = True, None
        interval = self.profile.persist_interval_s  # _persist_interval, spelled out
        if self._nvm_failing:
            interval = min(interval, NVM_RETRY_INTERVAL_S)
        self.after_change(t, config_changed=False, persist=t - self._last_persist >= interval)

    def after_change(self, now: int, config_changed: bool, persist: bool = True) -> None:
        """Re-evaluate alarm conditions, sound due tones, persist, plan the next wakeup.

        Persistence policy: the counters record is written on every state change and whenever
        the next planned wakeup would leave delivered volume unpersisted for longer than
        ``persist_interval_s``; a dedicated wakeup at the deadline is planned only when delivery
        runs and no other wakeup comes before it.  So a flex step usually carries the write."""
        alarm_count = len(self._alarms.active)
        self._update_conditions(now)
        for pattern in self._alarms.due_tones(now):
            self._hal.buzzer.play(pattern, now)
        natural = self._plan()
        interval = self.profile.persist_interval_s  # _persist_interval, spelled out
        if self._nvm_failing:
            interval = min(interval, NVM_RETRY_INTERVAL_S)
        segment = self._segment
        delivers = segment.rate_nl_per_day > 0 or segment.bolus is not None  # _segment_delivers
        unpersisted = self._engine.programmed_amount != self._persisted_amount
        pending = unpersisted or delivers or self._nvm_failing
        late = natural > self._last_persist + interval and pending
        if persist or config_changed or late or len(self._alarms.active) != alarm_count:
            self._persist(now, config_changed)
        if self._store.failing != self._nvm_failing:  # writes began or stopped failing
            self._nvm_failing = self._store.failing
            self._update_conditions(now)  # MEMORY_ERROR raised or cleared (logged)
            for pattern in self._alarms.due_tones(now):
                self._hal.buzzer.play(pattern, now)
            self._persist(now, config=False)  # the alarm table, if the memory takes it
            natural = self._plan()
            interval = self._persist_interval()
            delivers = self._segment_delivers()
        if natural > now + interval and (delivers or self._nvm_failing):
            natural = now + interval
        earliest = self._last + 1
        self._next_wakeup = natural if natural > earliest else earliest
        self._alarms.program(self._hal.buzzer, now, self._next_wakeup)  # repeats until then

    def _segment_delivers(self) -> bool:
        segment = self._segment
        return segment.rate_nl_per_day > 0 or segment.bolus is not None

    def _plan(self) -> int:
        """Cache the flow from now and return the next wakeup other than persistence."""
        engine, last = self._engine, self._last
        segment, end, conc = engine.segment_at(last)
        self._segment, self._segment_conc = segment, conc
        natural = self._next_housekeeping
        if end is not None and end < natural:
            natural = end
        res = engine.reservoir
        estimate = res.filled_nl - res.drawn_nl  # estimate_nl, when positive
        if estimate > 0 and res.concentration_mcg_per_ml > 0:
            low = self.settings.low_reservoir_nl
            crossing = self._crossing(segment, end, low if estimate > low else 0, estimate)
            if crossing is not None and crossing < natural:
                natural = crossing
        battery = self._battery
        if battery.eri_time is not None and not battery.eos_reached:
            eos = battery.eri_time + battery.eos_after_eri_s  # eos_time
            if eos < natural:
                natural = eos
        reminder = self._refill_reminder_at
        if reminder is not None and reminder < natural:
            natural = reminder
        tone = self._alarms.next_tone_time()
        if tone is not None and tone < natural:
            natural = tone
        return natural

    def _crossing(
        self, segment: Segment, end: int | None, target: int, estimate: int
    ) -> int | None:
        """``engine.crossing_time(segment, end, target)``; on a basal segment, the last plan's
        answer while nothing but that segment's delivery happened since (the daily wakeup).

        Why it is the same second: from the last plan at p to now, delivery at the rate r (no
        bolus) added A = r * (now - p) to the stroke accumulator; k whole strokes of volume v
        left, so the estimate fell by k * v and the remainder became rem + A - k * v * DAY_S.
        The strokes still needed to reach the target fell by k, the amount still needed by
        exactly A, and the crossing p + ceil(needed / r) = now + ceil((needed - A) / r) did not
        move (nor did its bound, the same segment end).  The check is that bookkeeping, so
        anything else that moved the estimate or the remainder (a refill, a stall, a restored
        record) computes it afresh."""
        engine = self._engine
        rate, remainder = segment.rate_nl_per_day, engine.accumulator.remainder
        cached = self._crossing_cache
        if cached is not None and segment.bolus is None:
            c_rate, c_end, c_target, c_start, c_estimate, c_remainder, crossing = cached
            drop = c_estimate - estimate
            if (
                c_rate == rate
                and c_end == end
                and c_target == target
                and drop % engine.accumulator.stroke_volume_nl == 0
                and c_remainder + rate * (segment.start - c_start) == drop * DAY_S + remainder
            ):
                return crossing
        crossing = engine.crossing_time(segment, end, target)
        basal = segment.bolus is None and rate > 0
        self._crossing_cache = (
            (rate, end, target, segment.start, estimate, remainder, crossing) if basal else None
        )
        return crossing

    def clock_changed(self, now: int) -> None:
        """The clinic set the clock: daily housekeeping moves to the new pump midnight."""
        self._next_housekeeping = self._housekeeping_after(now)

    def refill_reminded(self) -> None:
        """A refill answers the reminder until it is due again."""
        self._refill_reminder_due = False

    def commit_point(self, now: int) -> None:
        """After a state change: re-plan, re-predict, persist config and counters."""
        self._engine.recompile()
        self.recompute_reminder(now)
        self.after_change(now, config_changed=True)

    def _housekeeping_after(self, now: int) -> int:
        return self._clock.board_time(start_of_day(self._clock.pump_time(now)) + DAY_S)

    def _housekeeping(self, t: int) -> None:
        engine = self._engine
        conc = engine.reservoir.concentration_mcg_per_ml
        programmed_ng = engine.day_programmed_amount * conc // (DAY_S * 1000)
        self._log.append(
            LogEvent.DAILY_TOTAL,
            self._clock.pump_time(t),
            engine.day_delivered_pg // 1000,
            programmed_ng,
        )
        engine.day_delivered_pg = engine.day_programmed_amount = 0
        self._battery.check(self._hal.battery.remaining_ppm(t), t)
        if self.pb_grants:
            self.pb_grants = [g for g in self.pb_grants if g > t - DAY_S]
        self._next_housekeeping = self._housekeeping_after(t)

    def cancel_bolus(self, bolus: ActiveBolus | None, t: int) -> None:
        """End a bolus early: log what it really delivered up to ``t``, then drop it."""
        if bolus is None:
            return
        engine = self._engine
        delivered_nl = bolus.timed.cumulative(t) // DAY_S
        mass = mass_ng_for_volume(delivered_nl, bolus.concentration_mcg_per_ml)
        self._log.append(LogEvent.BOLUS_COMPLETED, self._clock.pump_time(t), bolus.mode, mass)
        if bolus is engine.bolus:
            engine.bolus = None
        if bolus is engine.patient_bolus:
            engine.patient_bolus = None

    def cancel_boluses(self, t: int) -> None:
        engine = self._engine
        self.cancel_bolus(engine.bolus, t)
        self.cancel_bolus(engine.patient_bolus, t)

    def _finish_bolus(self, bolus: ActiveBolus, t: int) -> None:
        engine = self._engine
        if bolus is engine.bolus:
            engine.bolus = None
            if bolus.mode is TherapyMode.BRIDGE_BOLUS:
                self.set_settings(dataclasses.replace(self.settings, bridge_from_mcg_per_ml=0))
                self._persist(t, config=True)
        else:
            engine.patient_bolus = None
        self._log.append(
            LogEvent.BOLUS_COMPLETED, self._clock.pump_time(t), bolus.mode, bolus.dose_ng
        )
        self.recompute_reminder(t)

    def _update_conditions(self, now: int) -> None:
        engine, alarms = self._engine, self._alarms
        res = engine.reservoir
        filled = res.concentration_mcg_per_ml > 0  # is_filled
        estimate = res.filled_nl - res.drawn_nl  # estimate_nl but for its clamp at 0
        empty = filled and estimate <= 0
        halted = engine.stalled or engine.end_of_service
        if empty and engine.safe_reason is None and not halted:
            engine.safe_reason = AlarmId.RESERVOIR_EMPTY
            self.cancel_boluses(now)
            self._log.append(
                LogEvent.SAFE_MINIMUM_ENTERED, self._clock.pump_time(now), AlarmId.RESERVOIR_EMPTY
            )
        low = filled and not empty and estimate <= self.settings.low_reservoir_nl
        stopped = (
            engine.basal_stopped
            and not halted
            and engine.bolus is None
            and not empty
            and (self.settings.therapy_given or bool(self.settings.titration))
        )
        conditions = (
            low,
            empty,
            self._refill_reminder_due and not low and not empty,
            self._battery.eri_time is not None,
            engine.end_of_service,
            engine.stalled,
            engine.safe_reason is AlarmId.LOW_BATTERY_RESET,
            self.memory_error or self._nvm_failing,
            stopped,
        )
        if conditions == self._conditions:
            return  # nothing changed since the last evaluation: the common case
        self._conditions = conditions
        for alarm_id, active in zip(_CONDITION_ORDER, conditions, strict=True):
            alarms.set_condition(alarm_id, active, now)

    def recompute_reminder(self, now: int) -> None:
        """Refill reminder: ``refill_reminder_default_s`` before the predicted low-reservoir."""
        self._refill_reminder_at = None
        low_time = (
            self._engine.predict_time_to(now, self.settings.low_reservoir_nl)
            if self._engine.reservoir.is_filled
            else None
        )
        if low_time is not None:
            at = low_time - self.profile.alarms.refill_reminder_default_s
            if at <= now:
                self._refill_reminder_due = True
            else:
                self._refill_reminder_at = at
