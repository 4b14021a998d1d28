"""The pump's time line, boot and persistence (the half of the facade that is not clinical).

Why: one object owns the pump's time line.  ``run_until(now)`` does every piece of work due in
(last, now] in time order - strokes, reservoir thresholds, bolus ends, flex steps, tones, daily
housekeeping, persistence - jumping from one due time to the next (``next_wakeup()``), never
second by second.  Clinical calls first catch up to ``now``, then act, then persist before they
return, so a power cut after a reply never loses what the reply confirmed.

Every time handed out is pump time (board time + the clock offset set by the clinic).

NVM write failures: when the memory refuses a write (:class:`~firmware.hal.NvmWriteError`, kept
inside :class:`~firmware.nvm_layout.NvmStore`), the pump keeps delivering from what it holds in
RAM, raises MEMORY_ERROR, retries every ``NVM_RETRY_INTERVAL_S`` (and at every state change),
and clears the alarm once everything unsaved has reached the memory again.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware.alarms import AlarmManager
from firmware.battery_monitor import BatteryMonitor
from firmware.clock import PumpClock
from firmware.delivery import Segment, StrokeAccumulator
from firmware.eventlog import EventLog, LogRing
from firmware.hal import Hal, ResetCause
from firmware.nvm_layout import NvmLayout, NvmStore, RecordId, RecordStatus
from firmware.persistence import ConfigSnapshot, CountersSnapshot
from firmware.prescription import (
    PATIENT_BOLUS_DISABLED,
)
from firmware.profile import DeviceProfile
from firmware.reports import (
    DeviceIdentity,
)
from firmware.reservoir import ReservoirEstimate
from firmware.safety import (
    TitrationEntry,
    ValidatedChange,
)
from firmware.therapy import NEVER, ActiveBolus, TherapyEngine
from firmware.units import DAY_S, mass_ng_for_volume, start_of_day
from protocol.enums import AlarmId, LogEvent, LogId, TherapyMode

#: While NVM writes fail, unsaved state is written again at least this often (board seconds).
NVM_RETRY_INTERVAL_S = 60


@dataclass(frozen=True, slots=True)
class Staged:
    staged_hash: bytes
    validated: ValidatedChange


#: Alarm conditions in the order :meth:`PumpCore._update_conditions` evaluates them.
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


class PumpCore:
    """Boot, persistence and the event-driven time line; :class:`PumpFirmware` adds the API."""

    def __init__(self, hal: Hal, profile: DeviceProfile, identity: DeviceIdentity) -> None:
        self._hal = hal
        self.profile = profile
        self.identity = identity
        self._clock = PumpClock()
        self._store = NvmStore(hal.nvm, NvmLayout(profile.log_capacity))
        self._log = EventLog({log_id: LogRing(profile.log_capacity) for log_id in LogId})
        alarm_cfg = profile.alarms
        self._alarms = AlarmManager(
            self._log,
            self._clock,
            alarm_cfg.critical_interval_default_s,
            alarm_cfg.noncritical_interval_s,
        )
        self._engine = TherapyEngine(
            profile,
            self._clock,
            ReservoirEstimate(profile.reservoir_capacity_nl),
            StrokeAccumulator(profile.stroke_volume_nl),
        )
        self._battery = BatteryMonitor(profile.eri_remaining_ppm, profile.eos_after_eri_s)
        self._low_reservoir_nl = alarm_cfg.low_reservoir_default_nl
        self._patient_cfg = PATIENT_BOLUS_DISABLED
        self._titration: tuple[TitrationEntry, ...] = ()
        self._start_pending = False
        self._bridge_from = 0
        self._pb_grants: list[int] = []
        self._memory_error = False  # latched: NVM found corrupt at boot
        self._nvm_failing = False  # NVM writes refused, unsaved state held in RAM
        self._staged: Staged | None = None
        self._persisted_seq: dict[LogId, int] = {}
        self._security_blob = b""
        self._last = 0
        self._last_persist = 0
        self._persisted_amount = 0
        self._conditions: tuple[bool, ...] = ()
        self._next_housekeeping = NEVER
        self._refill_reminder_at: int | None = None
        self._refill_reminder_due = False
        self._segment = Segment(0, 0, None)
        self._segment_conc = 0
        self._next_wakeup = NEVER
        self._booted = False

    # ------------------------------------------------------------------ boot and persistence
    def boot(self, now: int, cause: ResetCause) -> None:
        """Load NVM (blank -> factory state), log the reset, enter the safe state if needed."""
        self._last = self._last_persist = now
        config = self._store.load(RecordId.CONFIG)
        counters = self._store.load(RecordId.COUNTERS)
        security = self._store.load(RecordId.SECURITY)
        corrupt = [r for r in (config, counters, security) if r.status is RecordStatus.CORRUPT]
        self._memory_error = bool(corrupt)
        try:
            if config.status is RecordStatus.VALID:
                self._apply_config(ConfigSnapshot.decode(config.payload))
            if counters.status is RecordStatus.VALID:
                self._apply_counters(CountersSnapshot.decode(counters.payload))
        except ValueError:
            self._memory_error = True
        if counters.status is not RecordStatus.VALID and self._engine.reservoir.is_filled:
            # the volume drawn since the refill is unknown: assume the worst, an empty reservoir
            self._engine.reservoir.drawn_nl = self._engine.reservoir.filled_nl
        self._security_blob = security.payload if security.status is RecordStatus.VALID else b""
        for log_id in LogId:
            ring = LogRing(self.profile.log_capacity, self._store.load_log(log_id))
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
        self._recompute_reminder(now)  # derived from the estimate, so not persisted: re-derive
        self._after_change(now, config_changed=True)

    def _apply_config(self, snap: ConfigSnapshot) -> None:
        engine = self._engine
        engine.version, engine.program, engine.suspended = (
            snap.version,
            snap.program,
            snap.suspended,
        )
        res = engine.reservoir
        res.concentration_mcg_per_ml, res.filled_nl, res.generation = (
            snap.concentration_mcg_per_ml,
            snap.filled_nl,
            snap.refill_generation,
        )
        self._bridge_from, self._start_pending = snap.bridge_from_mcg_per_ml, snap.start_pending
        self._low_reservoir_nl = snap.low_reservoir_nl
        self._alarms.critical_interval_s = snap.critical_interval_s
        self._patient_cfg, self._titration = snap.patient_bolus, snap.titration

    def _apply_counters(self, snap: CountersSnapshot) -> None:
        engine = self._engine
        if snap.refill_generation == engine.reservoir.generation:
            engine.reservoir.drawn_nl = (
                snap.drawn_nl
            )  # else: the refill is newer, nothing drawn yet
        engine.accumulator.remainder = snap.stroke_remainder
        engine.strokes_total, engine.delivered_nl, engine.delivered_pg = (
            snap.strokes_total,
            snap.delivered_nl,
            snap.delivered_pg,
        )
        engine.programmed_amount = snap.programmed_amount
        engine.day_delivered_pg, engine.day_programmed_amount = (
            snap.day_delivered_pg,
            snap.day_programmed_amount,
        )
        self._clock.offset_s = snap.rtc_offset_s
        self._battery.eri_time, self._battery.eos_reached = snap.eri_time, snap.eos_reached
        self._battery.last_remaining_ppm = snap.battery_ppm
        engine.end_of_service, engine.stalled, engine.safe_reason = (
            snap.eos_reached,
            snap.stalled,
            snap.safe_reason,
        )
        self._pb_grants = list(snap.patient_bolus_grants)
        self._alarms.restore(dict(snap.alarms))
        self._persisted_seq = dict(zip(LogId, snap.log_next_seq, strict=True))

    def _config_snapshot(self) -> ConfigSnapshot:
        engine, res = self._engine, self._engine.reservoir
        return ConfigSnapshot(
            engine.version,
            engine.program,
            engine.suspended,
            res.concentration_mcg_per_ml,
            res.filled_nl,
            res.generation,
            self._bridge_from,
            self._start_pending,
            self._low_reservoir_nl,
            self._alarms.critical_interval_s,
            self._patient_cfg,
            self._titration,
        )

    def _counters_snapshot(self) -> CountersSnapshot:
        engine = self._engine
        return CountersSnapshot(
            engine.reservoir.generation,
            engine.reservoir.drawn_nl,
            engine.accumulator.remainder,
            engine.strokes_total,
            engine.delivered_nl,
            engine.delivered_pg,
            engine.programmed_amount,
            engine.day_delivered_pg,
            engine.day_programmed_amount,
            self._clock.offset_s,
            self._battery.eri_time,
            self._battery.eos_reached,
            self._battery.last_remaining_ppm,
            engine.stalled,
            engine.safe_reason,
            tuple(self._pb_grants),
            tuple(sorted(self._alarms.active.items())),
            (
                self._log.rings[LogId.THERAPY].next_seq,
                self._log.rings[LogId.ALARM].next_seq,
                self._log.rings[LogId.AUDIT].next_seq,
            ),
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
            self._store.save(RecordId.CONFIG, self._config_snapshot().encode())
        self._store.save(RecordId.COUNTERS, self._counters_snapshot().encode())
        self._last_persist = now
        self._persisted_amount = self._engine.programmed_amount

    def flush(self, now: int) -> None:
        """Persist everything (clean shutdown)."""
        self.run_until(now)
        self._persist(self._last, config=True)
        self._store.save(RecordId.SECURITY, self._security_blob)

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
            self._cancel_boluses(t)
            return True
        return False

    def _on_wakeup(self, t: int) -> None:
        engine = self._engine
        for bolus in (engine.bolus, engine.patient_bolus):
            if bolus is not None and t >= bolus.timed.end:
                self._finish_bolus(bolus, t)
        if t >= self._next_housekeeping:
            self._housekeeping(t)
        eos = self._battery.eos_time
        if eos is not None and t >= eos and not self._battery.eos_reached:
            self._battery.eos_reached = engine.end_of_service = True
            self._cancel_boluses(t)
        if self._refill_reminder_at is not None and t >= self._refill_reminder_at:
            self._refill_reminder_due, self._refill_reminder_at = True, None
        persist_due = t - self._last_persist >= self._persist_interval()
        self._after_change(t, config_changed=False, persist=persist_due)

    def _after_change(self, now: int, config_changed: bool, persist: bool = True) -> None:
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
        interval = self._persist_interval()
        unpersisted = self._engine.programmed_amount != self._persisted_amount
        pending = unpersisted or self._segment_delivers() or self._nvm_failing
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
        if natural > now + interval and (self._segment_delivers() or self._nvm_failing):
            natural = now + interval
        self._next_wakeup = max(self._last + 1, natural)

    def _segment_delivers(self) -> bool:
        segment = self._segment
        return segment.rate_nl_per_day > 0 or segment.bolus is not None

    def _plan(self) -> int:
        """Cache the flow from now and return the next wakeup other than persistence."""
        engine, last = self._engine, self._last
        segment, end, conc = engine.segment_at(last)
        self._segment, self._segment_conc = segment, conc
        candidates = [self._next_housekeeping]
        if end is not None:
            candidates.append(end)
        estimate = engine.reservoir.estimate_nl
        if estimate > 0 and engine.reservoir.is_filled:
            target = self._low_reservoir_nl if estimate > self._low_reservoir_nl else 0
            crossing = engine.crossing_time(segment, end, target)
            if crossing is not None:
                candidates.append(crossing)
        eos = self._battery.eos_time
        if eos is not None and not self._battery.eos_reached:
            candidates.append(eos)
        if self._refill_reminder_at is not None:
            candidates.append(self._refill_reminder_at)
        tone = self._alarms.next_tone_time()
        if tone is not None:
            candidates.append(tone)
        return min(candidates)

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
        self._pb_grants = [g for g in self._pb_grants if g > t - DAY_S]
        self._next_housekeeping = self._housekeeping_after(t)

    def _cancel_bolus(self, bolus: ActiveBolus | None, t: int) -> None:
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

    def _cancel_boluses(self, t: int) -> None:
        engine = self._engine
        self._cancel_bolus(engine.bolus, t)
        self._cancel_bolus(engine.patient_bolus, t)

    def _finish_bolus(self, bolus: ActiveBolus, t: int) -> None:
        engine = self._engine
        if bolus is engine.bolus:
            engine.bolus = None
            if bolus.mode is TherapyMode.BRIDGE_BOLUS:
                self._bridge_from = 0
                self._persist(t, config=True)
        else:
            engine.patient_bolus = None
        self._log.append(
            LogEvent.BOLUS_COMPLETED, self._clock.pump_time(t), bolus.mode, bolus.dose_ng
        )
        self._recompute_reminder(t)

    def _update_conditions(self, now: int) -> None:
        engine, alarms = self._engine, self._alarms
        res = engine.reservoir
        empty = res.is_filled and res.is_empty
        if empty and engine.safe_reason is None and not engine.halted:
            engine.safe_reason = AlarmId.RESERVOIR_EMPTY
            self._cancel_boluses(now)
            self._log.append(
                LogEvent.SAFE_MINIMUM_ENTERED, self._clock.pump_time(now), AlarmId.RESERVOIR_EMPTY
            )
        low = res.is_filled and not empty and res.estimate_nl <= self._low_reservoir_nl
        stopped = (
            engine.basal_stopped
            and not engine.halted
            and engine.bolus is None
            and not empty
            and bool(self._titration)
        )
        conditions = (
            low,
            empty,
            self._refill_reminder_due and not low and not empty,
            self._battery.eri_time is not None,
            engine.end_of_service,
            engine.stalled,
            engine.safe_reason is AlarmId.LOW_BATTERY_RESET,
            self._memory_error or self._nvm_failing,
            stopped,
        )
        if conditions == self._conditions:
            return  # nothing changed since the last evaluation: the common case
        self._conditions = conditions
        for alarm_id, active in zip(_CONDITION_ORDER, conditions, strict=True):
            alarms.set_condition(alarm_id, active, now)

    def _recompute_reminder(self, now: int) -> None:
        """Refill reminder: ``refill_reminder_default_s`` before the predicted low-reservoir."""
        self._refill_reminder_at = None
        low_time = (
            self._engine.predict_time_to(now, self._low_reservoir_nl)
            if self._engine.reservoir.is_filled
            else None
        )
        if low_time is not None:
            at = low_time - self.profile.alarms.refill_reminder_default_s
            if at <= now:
                self._refill_reminder_due = True
            else:
                self._refill_reminder_at = at
