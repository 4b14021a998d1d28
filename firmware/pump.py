"""PumpFirmware: the facade the board, the scenario runner and the command handlers call.

Why: the clinical API is the contract other parts code against.  Each call first catches up with
``run_until(now)``, validates the whole request (a refusal raises
:class:`~protocol.errors.Refusal` with a named code and changes nothing), applies it, logs it and
persists before returning.  The facade builds the pump's parts (clock, NVM store, event log,
alarm manager, therapy engine, battery monitor) and owns the :class:`~firmware.timeline.TimeLine`
that runs them; the clinician's settings are the time line's frozen
:class:`~firmware.persistence.Settings` record, changed by replacing it.  Prescriptions are
two-phase: ``stage`` validates and names the change by a hash, ``commit`` swaps it in atomically
if the hash, the active version and the warning acknowledgement all match.  Refills are
two-phase too, with the bridge a concentration change needs (:mod:`firmware.refill`).  Times
in and out: ``now`` is board time; every time returned is pump time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from firmware import wording
from firmware.alarms import AlarmEvent, AlarmManager, AlarmState
from firmware.battery_monitor import BatteryMonitor, program_volume_nl_per_day, projected_replace_by
from firmware.clock import PumpClock, date_text, u32_as_i32, utc_offset_problem
from firmware.delivery import StrokeAccumulator, TimedBolus
from firmware.eventlog import EventLog, LogInfo, LogRecord, LogRing, ring_capacity
from firmware.hal import Hal, ResetCause, TonePattern
from firmware.nvm_layout import SECURITY_BLOB_MAX, NvmLayout, NvmStore, RecordId
from firmware.patient_bolus import PatientBolusDesk
from firmware.persistence import Settings
from firmware.prescription import (
    BasalProgram,
    BridgeBolus,
    Continuous,
    Flex,
    PatientBolusConfig,
    PrimingBolus,
    SingleBolus,
    Stopped,
    TherapyChange,
    change_kind,
    staged_hash,
)
from firmware.profile import DeviceProfile
from firmware.refill import RefillDesk, RefillRequest, StagedRefill
from firmware.reports import (
    ActivePrescription,
    BolusInfo,
    DeviceIdentity,
    PatientBolusGrant,
    PatientBolusSummary,
    PumpStatus,
    RefillResult,
    StagedChange,
)
from firmware.reservoir import ReservoirEstimate
from firmware.safety import (
    SafetyContext,
    TitrationEntry,
    TitrationKind,
    ValidatedChange,
    record_titration,
    validate_change,
    warning_text,
)
from firmware.schedule import program_daily_dose_ng, program_dose_at
from firmware.status_figures import week_day_totals_ng
from firmware.therapy import ActiveBolus, TherapyEngine
from firmware.timeline import TimeLine
from firmware.units import DAY_S, MAX_PUMP_TIME, mass_ng_for_volume
from firmware.write_audit import WriteNote
from protocol.audit import WriteChoice
from protocol.catalog import CATHETER_STORED, StageWarning
from protocol.enums import AlarmId, LogEvent, LogId, TherapyMode
from protocol.errors import ErrorCode, Refusal

__all__ = ["DeviceIdentity", "PumpFirmware"]

_BOLUS_MODES = {
    SingleBolus: TherapyMode.SINGLE_BOLUS,
    PrimingBolus: TherapyMode.PRIMING_BOLUS,
    BridgeBolus: TherapyMode.BRIDGE_BOLUS,
}


def _program_after(
    change: TherapyChange, program: BasalProgram, suspended: bool
) -> tuple[BasalProgram, bool]:
    """The basal program (and the clinician's stop) once ``change`` is committed: a basal change
    replaces both; a bolus (prime, bridge, single) leaves them as they are, so the programmed
    therapy comes back when it ends (docs/CLINICAL.md)."""
    if isinstance(change, Stopped | Continuous | Flex):
        return change, False
    return program, suspended


@dataclass(frozen=True, slots=True)
class Staged:
    staged_hash: bytes
    validated: ValidatedChange


class PumpFirmware:
    """The pump's software: its parts, the time line that runs them, and the clinical API."""

    def __init__(self, hal: Hal, profile: DeviceProfile, identity: DeviceIdentity) -> None:
        self._hal = hal
        self.profile = profile
        self.identity = identity
        self._clock = PumpClock()
        self._store = NvmStore(hal.nvm, NvmLayout(profile.log_capacity, profile.daily_log_capacity))
        self._log = EventLog({log_id: LogRing(ring_capacity(profile, log_id)) for log_id in LogId})
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
        self._time = TimeLine(
            hal,
            profile,
            self._clock,
            self._store,
            self._log,
            self._alarms,
            self._engine,
            self._battery,
        )
        self._staged: Staged | None = None
        self._write_note = WriteNote()  # what the audit record of the current write adds
        self._refill = RefillDesk(profile, self._clock, self._time, self._engine, self._log)
        self._patient = PatientBolusDesk(profile, self._clock, self._time, self._engine, self._log)

    # ------------------------------------------------------------------ the time line
    def boot(self, now: int, cause: ResetCause) -> None:
        """Load NVM (blank -> factory state), log the reset, enter the safe state if needed."""
        self._time.boot(now, cause)

    def next_wakeup(self) -> int:
        """Board time of the next thing due (always after the last ``run_until``)."""
        return self._time.next_wakeup()

    def run_until(self, now: int) -> None:
        """Do all work due in (last, now]; calling it again with the same ``now`` does nothing."""
        self._time.run_until(now)

    def flush(self, now: int) -> None:
        """Persist everything (clean shutdown)."""
        self._time.flush(now)

    def next_stroke_time(self) -> int | None:
        """Board time of the next stroke due (None: none before the next wakeup)."""
        return self._time.next_stroke_time()

    @property
    def nvm_write_failing(self) -> bool:
        """The memory refused a write and something is still unsaved (MEMORY_ERROR is active)."""
        return self._time.nvm_write_failing

    # ------------------------------------------------------------------ small helpers
    @property
    def _settings(self) -> Settings:
        return self._time.settings

    def _catch_up(self, now: int) -> int:
        """Run to ``now`` (never backwards) and return the time the call acts at."""
        if not self._time.booted:
            raise Refusal(ErrorCode.INTERNAL_ERROR, "firmware used before boot()")
        self._time.run_until(now)
        return self._time.last

    def _pump(self, board_time: int | None) -> int | None:
        return self._clock.optional_pump_time(board_time)

    def _context(self, now: int) -> SafetyContext:
        engine = self._engine
        basal_running = not engine.basal_stopped and not engine.halted
        return SafetyContext(
            now=now,
            pump_time=self._clock.pump_time(now),
            concentration_mcg_per_ml=engine.reservoir.concentration_mcg_per_ml,
            reservoir_nl=engine.reservoir.estimate_nl,
            end_of_service=engine.end_of_service,
            motor_fault=engine.stalled,
            clinician_bolus_running=engine.bolus is not None,
            basal_running=basal_running,
            basal_dose_now_ng=program_dose_at(engine.program, self._clock.local_time(now)),
            bridge_from_mcg_per_ml=self._settings.bridge_from_mcg_per_ml,
            start_pending=self._settings.start_pending,
            titration=self._settings.titration,
            patient_bolus_allowance_ng=(
                self._settings.patient_bolus.dose_ng * self._settings.patient_bolus.max_per_day
                if self._settings.patient_bolus.enabled
                else 0
            ),
            basal_daily_ng=program_daily_dose_ng(self._settings.program),
            catheter_full=self._settings.catheter_full,
        )

    def _bolus_info(self, bolus: ActiveBolus | None) -> BolusInfo | None:
        if bolus is None:
            return None
        timed = bolus.timed
        return BolusInfo(
            bolus.mode,
            bolus.dose_ng,
            timed.volume_nl,
            self._clock.pump_time(timed.start),
            self._clock.pump_time(timed.end),
        )

    def _log_now(self, event: LogEvent, now: int, a: int = 0, b: int = 0) -> None:
        self._log.append(event, self._clock.pump_time(now), a, b)

    # ------------------------------------------------------------------ status
    def status(self, now: int) -> PumpStatus:
        """Everything a programmer shows on its summary screen."""
        now = self._catch_up(now)
        engine = self._engine
        res = engine.reservoir
        pump_now = self._clock.pump_time(now)
        low_time = empty_time = None
        if res.is_filled and res.estimate_nl > self._settings.low_reservoir_nl:
            low_time = engine.predict_time_to(now, self._settings.low_reservoir_nl)
        if res.is_filled and res.estimate_nl > 0:
            empty_time = engine.predict_time_to(now, 0)
        segment, _, _ = engine.segment_at(now)
        rate = segment.rate_nl_per_day
        if segment.bolus is not None:
            rate += segment.bolus.volume_nl * DAY_S // segment.bolus.duration_s
        delivering = rate > 0 and res.estimate_nl > 0  # the motor turns and pushes drug
        if engine.halted or engine.basal_stopped or (res.is_filled and res.is_empty):
            basal_dose = 0  # an empty reservoir delivers nothing, whatever the motor does
        elif engine.safe_reason is not None:  # the safe rate, whatever was programmed
            basal_dose = mass_ng_for_volume(rate, res.concentration_mcg_per_ml)
        else:
            basal_dose = program_dose_at(engine.program, self._clock.local_time(now))
        eri = self._battery.eri_time
        battery_ppm = self._hal.battery.remaining_ppm(now)
        return PumpStatus(
            mode=engine.mode(),
            daily_dose_ng=basal_dose,
            rate_nl_per_day=rate,
            concentration_mcg_per_ml=res.concentration_mcg_per_ml,
            reservoir_nl=res.estimate_nl,
            reservoir_capacity_nl=res.capacity_nl,
            low_reservoir_nl=self._settings.low_reservoir_nl,
            low_reservoir_time=self._pump(low_time),
            empty_time=self._pump(empty_time),
            next_refill_time=self._pump(low_time),
            alarms=tuple(self._alarms.states()),
            battery_ppm=battery_ppm,
            eri_time=self._pump(eri),
            eos_time=self._pump(self._battery.eos_time) if self._battery.eos_reached else None,
            replace_by_time=self._pump(self._battery.eos_time),
            pump_time=pump_now,
            delivered_ng=engine.delivered_pg // 1000,
            delivered_nl=engine.delivered_nl,
            strokes=engine.strokes_total,
            programmed_total_nl=engine.programmed_total_nl,
            prescription_version=self._settings.version,
            bolus=self._bolus_info(engine.bolus),
            patient_bolus=self._bolus_info(engine.patient_bolus),
            critical_interval_s=self._settings.critical_interval_s,
            patient_bolus_config=self._settings.patient_bolus,
            suspended=engine.suspended,
            safe_minimum_reason=engine.safe_reason,
            delivering=delivering,
            patient_bolus_use=self._patient.use(now),
            week_day_totals_ng=week_day_totals_ng(engine.program),
            utc_offset_s=self._settings.utc_offset_s,
            clock_drift_warning_s=self.profile.clock.drift_warning_s,
            projected_replace_by_time=self._pump(self._projected_replace_by(battery_ppm, now)),
            catheter_length_mm=self._settings.catheter_length_mm,
        )

    def _projected_replace_by(self, battery_ppm: int, now: int) -> int:
        """End of service at the consumption of the therapy in force (docs/CLINICAL.md,
        "Battery life"): the programmed basal (flex: its weekly mean; a stall is expected to
        end), the safe rate in the safe minimum, nothing but the quiescent drain when stopped."""
        engine = self._engine
        if engine.end_of_service or engine.basal_stopped:
            volume = 0
        elif engine.safe_reason is not None:
            volume = self.profile.safe_rate_nl_per_day
        else:
            conc = engine.reservoir.concentration_mcg_per_ml
            volume = program_volume_nl_per_day(engine.program, conc)
        return projected_replace_by(
            self._battery, self.profile, battery_ppm, volume, self._time.next_housekeeping, now
        )

    def prescription(self) -> ActivePrescription:
        """The committed therapy, its version and the settings that go with it."""
        engine = self._engine
        return ActivePrescription(
            version=self._settings.version,
            program=engine.program,
            mode=engine.mode(),
            daily_dose_ng=program_daily_dose_ng(engine.program),
            concentration_mcg_per_ml=engine.reservoir.concentration_mcg_per_ml,
            low_reservoir_nl=self._settings.low_reservoir_nl,
            critical_interval_s=self._settings.critical_interval_s,
            patient_bolus=self._settings.patient_bolus,
        )

    # ------------------------------------------------------------------ two-phase change
    def stage(self, change: TherapyChange, now: int) -> StagedChange:
        """Validate a whole change and hold it in the staging slot; nothing else changes."""
        now = self._catch_up(now)
        self._staged = None
        change = self._with_known_catheter(change)
        validated = self._validate(change, now)
        digest = staged_hash(change)
        self._staged = Staged(digest, validated)
        preview = self._preview(validated, now)
        low_time = preview.predict_time_to(now, self._settings.low_reservoir_nl)
        if validated.bolus_volume_nl:
            rate = validated.bolus_volume_nl * DAY_S // max(1, validated.bolus_duration_s)
        else:
            rate = preview.basal_rate_at(now)[0]
        return StagedChange(
            staged_hash=digest,
            active_version=self._settings.version,
            kind=change_kind(change),
            daily_dose_ng=validated.daily_dose_ng,
            rate_nl_per_day=rate,
            next_refill_time=self._pump(low_time),
            low_reservoir_time=self._pump(low_time),
            empty_time=self._pump(preview.predict_time_to(now, 0)),
            warnings=validated.warnings,
            bolus_dose_ng=validated.bolus_dose_ng,
            bolus_volume_nl=validated.bolus_volume_nl,
            bolus_duration_s=validated.bolus_duration_s,
            to_patient_ng=validated.to_patient_ng,
            baseline_ng=validated.baseline_ng,
            change_permille=validated.change_permille,
            titration_limit_pct=self.profile.drug.titration_soft_increase_pct,
            soft_limit_ng=self.profile.drug.soft_max_daily_dose_ng,
            hard_limit_ng=self.profile.drug.hard_max_daily_dose_ng,
            worst_day_ng=validated.worst_day_ng,
        )

    def _with_known_catheter(self, change: TherapyChange) -> TherapyChange:
        """A prime or bridge naming ``CATHETER_STORED`` uses the catheter the pump knows."""
        if not isinstance(change, PrimingBolus | BridgeBolus):
            return change
        if change.catheter_length_mm != CATHETER_STORED:
            return change
        known = self._settings.catheter_length_mm
        if known is None:
            raise Refusal(
                ErrorCode.CATHETER_UNKNOWN,
                "the pump knows no catheter length: give the catheter length",
            )
        return dataclasses.replace(change, catheter_length_mm=known)

    def _validate(self, change: TherapyChange, now: int) -> ValidatedChange:
        """The safety checks, plus the warning only a prediction can give: LOW_RESERVOIR_SOON."""
        validated = validate_change(change, self._context(now), self.profile)
        if self._low_reservoir_sooner(validated, now):
            warnings = validated.warnings | StageWarning.LOW_RESERVOIR_SOON
            validated = dataclasses.replace(validated, warnings=warnings)
        return validated

    def _low_reservoir_sooner(self, validated: ValidatedChange, now: int) -> bool:
        """The change brings the low-reservoir alarm from beyond the refill reminder's lead
        (``refill_reminder_default_s``) to within it: the refill is due sooner than the clinic
        would be reminded.  Already within the lead, the refill reminder has said so."""
        engine, threshold = self._engine, self._settings.low_reservoir_nl
        res = engine.reservoir
        if not res.is_filled or res.estimate_nl <= threshold:
            return False  # nothing to predict, or the alarm is already on
        lead = self.profile.alarms.refill_reminder_default_s
        before = engine.predict_time_to(now, threshold)
        if before is not None and before - now < lead:
            return False
        after = self._preview(validated, now).predict_time_to(now, threshold)
        return after is not None and after - now < lead

    def _preview(self, validated: ValidatedChange, now: int) -> TherapyEngine:
        """A copy of the engine with the change applied, for predictions only."""
        engine = self._engine
        preview = dataclasses.replace(engine)
        preview.program, preview.suspended = _program_after(
            validated.change, engine.program, engine.suspended
        )
        self._apply_to_engine(preview, validated, now)
        preview.recompile()
        return preview

    def _apply_to_engine(self, engine: TherapyEngine, validated: ValidatedChange, now: int) -> None:
        """Apply a change's boluses and safe state to ``engine`` (the live one, or a preview
        copy); the program comes with the settings (:func:`_program_after`).  No logging here."""
        change = validated.change
        engine.bolus = None  # a new prescription replaces a running clinician bolus
        if isinstance(change, Stopped):
            engine.patient_bolus = None  # nothing flows: it cannot finish
        if isinstance(change, Stopped | Continuous | Flex):
            if isinstance(change, Continuous | Flex) and engine.safe_reason is not None:
                engine.safe_reason = None  # a clinician re-established therapy
            return
        timed = TimedBolus(validated.bolus_volume_nl, now, validated.bolus_duration_s)
        mode = _BOLUS_MODES[type(change)]
        engine.bolus = ActiveBolus(
            mode, timed, validated.bolus_dose_ng, validated.bolus_concentration_mcg_per_ml
        )
        engine.patient_bolus = None

    def commit(
        self, staged_hash: bytes, active_version: int, ack_warnings: StageWarning, now: int
    ) -> int:
        """Swap the staged change in atomically; returns the new prescription version.

        ``ack_warnings`` names the warnings the clinician acknowledges: it must hold every
        warning the stage raised (the clinician saw those) and every one the change raises now,
        and none may be new since the stage."""
        now = self._catch_up(now)
        staged = self._staged
        if staged is None:
            raise Refusal(ErrorCode.NOTHING_STAGED, "no change is staged: stage one first")
        if staged_hash != staged.staged_hash:
            raise Refusal(ErrorCode.HASH_MISMATCH, "the hash does not name the staged change")
        if active_version != self._settings.version:
            raise Refusal(
                ErrorCode.STALE_VERSION,
                f"active version is {self._settings.version}, commit named {active_version}",
            )
        validated = self._validate(staged.validated.change, now)
        if validated.warnings & ~staged.validated.warnings:
            raise Refusal(
                ErrorCode.WARNINGS_NOT_ACKNOWLEDGED,
                "new warnings appeared since staging: stage the change again",
            )
        missing = (staged.validated.warnings | validated.warnings) & ~ack_warnings
        if missing:
            names = warning_text(
                missing,
                validated.daily_dose_ng,
                validated.baseline_ng,
                validated.change_permille,
                self.profile,
                validated.to_patient_ng,
            )
            raise Refusal(ErrorCode.WARNINGS_NOT_ACKNOWLEDGED, names)
        self._apply(validated, now)
        acknowledged = staged.validated.warnings | validated.warnings
        self.note_write(detail=int(change_kind(validated.change)), acknowledged=int(acknowledged))
        return self._settings.version

    def _apply(self, validated: ValidatedChange, now: int) -> None:
        engine, settings = self._engine, self._settings
        change = validated.change
        self._staged = None
        # boluses the change ends are logged with what they really delivered
        self._time.cancel_bolus(engine.bolus, now)
        if not isinstance(validated.change, Continuous | Flex):
            self._time.cancel_bolus(engine.patient_bolus, now)
        program, suspended = _program_after(change, settings.program, settings.suspended)
        start_pending, titration = settings.start_pending, settings.titration
        catheter = settings.catheter_length_mm
        if isinstance(change, PrimingBolus | BridgeBolus):
            catheter = change.catheter_length_mm  # the catheter it filled is the implanted one
        # drug now flows into the catheter (a bolus, or a basal dose): it holds drug from here on
        delivers = not isinstance(change, Stopped)
        if isinstance(change, Continuous | Flex):
            self._time.memory_error = False  # latched until a clinician re-establishes therapy
            entry = TitrationEntry(now, validated.daily_dose_ng, validated.titration_kind)
            if validated.titration_kind is TitrationKind.START:
                start_pending, titration = False, (entry,)
            else:
                window = self.profile.drug.titration_window_s
                titration = record_titration(titration, entry, window)
        self._time.set_settings(
            dataclasses.replace(
                self._settings,
                version=settings.version + 1,
                program=program,
                suspended=suspended,
                start_pending=start_pending,
                titration=titration,
                catheter_length_mm=catheter,
                catheter_full=settings.catheter_full or delivers,
                therapy_given=settings.therapy_given or delivers,
            )
        )
        self._apply_to_engine(engine, validated, now)
        kind = change_kind(change)
        amount = validated.bolus_dose_ng if validated.bolus_volume_nl else validated.daily_dose_ng
        self._time.commit_point(now)
        self._log_now(LogEvent.THERAPY_CHANGED, now, kind, amount)
        if engine.bolus is not None and validated.bolus_volume_nl:
            self._log_now(LogEvent.BOLUS_STARTED, now, engine.bolus.mode, engine.bolus.dose_ng)
        if catheter != settings.catheter_length_mm and catheter is not None:
            self._log_now(LogEvent.CATHETER_SET, now, catheter)

    def abort(self, now: int) -> None:
        """Drop the staged change."""
        self._catch_up(now)
        if self._staged is None and not self._refill.staged:
            raise Refusal(ErrorCode.NOTHING_STAGED, "no change is staged")
        self._staged = None
        self._refill.drop()

    # ------------------------------------------------------------------ refill
    def stage_refill(self, request: RefillRequest, now: int) -> StagedRefill:
        """Validate a refill (and the bridge a concentration change needs) and hold it; the
        summary carries every figure of its Finish view (:mod:`firmware.refill`)."""
        now = self._catch_up(now)
        return self._refill.stage(request, now)

    def commit_refill(self, staged_hash: bytes, active_version: int, now: int) -> RefillResult:
        """Apply the staged refill and its bridge together, if nothing changed since the stage."""
        now = self._catch_up(now)
        result = self._refill.commit(staged_hash, active_version, now)
        self._staged = None  # a prescription staged before the refill was staged on other drug
        self._note_bridge_choice(result)
        return result

    def refill(
        self, withdrawn_nl: int, added_nl: int, concentration_mcg_per_ml: int, now: int
    ) -> RefillResult:
        """Record a refill at once (no Finish view, never a bridge: a concentration change
        logs ``BRIDGE_SKIPPED`` and leaves a ``BRIDGE_BOLUS`` to the clinician)."""
        now = self._catch_up(now)
        request = RefillRequest(withdrawn_nl, added_nl, concentration_mcg_per_ml, bridge=False)
        result = self._refill.refill_now(request, now)
        self._staged = None
        self._note_bridge_choice(result)
        return result

    def _note_bridge_choice(self, result: RefillResult) -> None:
        """The audit record of the refill says whether its bridge was given or skipped."""
        if result.bridge_started:
            self.note_write(choice=WriteChoice.BRIDGE_PROGRAMMED)
        elif result.concentration_changed:
            self.note_write(choice=WriteChoice.BRIDGE_SKIPPED)

    # ------------------------------------------------------------------ patient bolus
    def configure_patient_bolus(
        self,
        cfg: PatientBolusConfig,
        now: int,
        ack_warnings: StageWarning = StageWarning(0),  # noqa: B008 (an immutable flag value)
        preview: bool = False,
    ) -> PatientBolusSummary:
        """Set the patient's bolus (``firmware.patient_bolus``): checked like a dose increase;
        ``preview`` returns the summary and writes nothing."""
        now = self._catch_up(now)
        return self._patient.configure(cfg, self._context(now), now, ack_warnings, preview)

    def request_patient_bolus(self, now: int) -> PatientBolusGrant:
        """A patient asks for a bolus; granted on top of basal flow, or refused (logged)."""
        return self._patient.request(self._catch_up(now))

    # ------------------------------------------------------------------ stop / resume / clock
    def stop(self, now: int) -> None:
        """Stop delivery at once (cancels boluses); PUMP_STOPPED sounds until resumed."""
        now = self._catch_up(now)
        self._time.cancel_boluses(now)
        self._time.set_settings(dataclasses.replace(self._settings, suspended=True))
        self._time.commit_point(now)
        self._log_now(LogEvent.PUMP_STOPPED, now)

    def resume(self, now: int) -> None:
        """Resume the committed basal program after stop() or a motor stall."""
        now = self._catch_up(now)
        engine = self._engine
        if engine.end_of_service:
            raise Refusal(ErrorCode.END_OF_SERVICE, "battery end of service: cannot resume")
        if engine.stalled:
            engine.stalled = False
        elif self._settings.suspended:
            self._time.set_settings(dataclasses.replace(self._settings, suspended=False))
        elif isinstance(self._settings.program, Stopped):
            raise Refusal(ErrorCode.THERAPY_NOT_RUNNING, "no basal program to resume: program one")
        else:
            raise Refusal(ErrorCode.NOT_STOPPED, "the pump is not stopped")
        self._time.commit_point(now)
        self._log_now(LogEvent.PUMP_RESUMED, now)

    def set_clock(self, pump_time: int, now: int, utc_offset_s: int = 0) -> None:
        """Set the pump's date and time (UTC) and the clinic's UTC offset; deadlines in board
        time do not move.

        Only times within the profile's clock limits and offsets within UTC-12:00 .. UTC+14:00
        in quarter hours are accepted (CLOCK_INVALID otherwise).  Flex steps and the daily-total
        midnight follow the clinic's local time (pump time + ``utc_offset_s``) from now on; the
        offset is a setting (CONFIG record).  The CLOCK_CHANGED record is stamped with the new
        time and carries the change (a) and the previous pump time (b, its 32 bits in the signed
        field), so both stay in the log; a changed offset adds a UTC_OFFSET_CHANGED record
        (new offset, previous offset).
        """
        now = self._catch_up(now)
        limits = self.profile.clock
        if not 0 <= pump_time <= MAX_PUMP_TIME:
            raise Refusal(ErrorCode.CLOCK_INVALID, f"pump time must be 0..{MAX_PUMP_TIME}")
        if pump_time < limits.earliest_pump_time_s:
            raise Refusal(
                ErrorCode.CLOCK_INVALID,
                f"the date {date_text(pump_time)} is before {date_text(limits.earliest_pump_time_s)}"
                ", the earliest this pump accepts: set the clock to today's date and time",
            )
        if pump_time > limits.latest_pump_time_s:
            raise Refusal(
                ErrorCode.CLOCK_INVALID,
                f"the date {date_text(pump_time)} is after {date_text(limits.latest_pump_time_s)}"
                ", the latest this pump accepts: set the clock to today's date and time",
            )
        problem = utc_offset_problem(utc_offset_s)
        if problem is not None:
            raise Refusal(ErrorCode.CLOCK_INVALID, f"{problem}: set the clinic's time zone")
        previous = self._clock.pump_time(now)
        previous_offset = self._settings.utc_offset_s
        delta = pump_time - previous
        self._clock.offset_s = pump_time - now
        if utc_offset_s != previous_offset:
            self._time.set_settings(dataclasses.replace(self._settings, utc_offset_s=utc_offset_s))
        self._time.clock_changed(now)
        self._time.commit_point(now)
        self._log_now(LogEvent.CLOCK_CHANGED, now, delta, u32_as_i32(previous))
        if utc_offset_s != previous_offset:
            self._log_now(LogEvent.UTC_OFFSET_CHANGED, now, utc_offset_s, previous_offset)

    @property
    def utc_offset_s(self) -> int:
        """The clinic's local time minus UTC, as set with the clock (0: never set)."""
        return self._settings.utc_offset_s

    # ------------------------------------------------------------------ alarms
    def alarms(self, now: int) -> list[AlarmState]:
        self._catch_up(now)
        return self._alarms.states()

    def acknowledge_alarms(self, alarm_ids: Iterable[AlarmId] | None, now: int) -> int:
        """Silence repeats of the given (None: all) active alarms; they stay listed."""
        now = self._catch_up(now)
        count = self._alarms.acknowledge(None if alarm_ids is None else list(alarm_ids), now)
        self._time.after_change(now, config_changed=False)
        return count

    def test_alarm_tones(self, now: int) -> None:
        """Play each alarm pattern once so the patient knows them; logs ALARM_TEST."""
        now = self._catch_up(now)
        self._hal.buzzer.play(TonePattern.SINGLE, now)
        self._hal.buzzer.play(TonePattern.TWO_TONE, now)
        self._log_now(LogEvent.ALARM_TEST, now)

    def configure_alarms(self, low_reservoir_nl: int, critical_interval_s: int, now: int) -> None:
        now = self._catch_up(now)
        cfg = self.profile.alarms
        if not cfg.low_reservoir_min_nl <= low_reservoir_nl <= cfg.low_reservoir_max_nl:
            raise Refusal(
                ErrorCode.ALARM_CONFIG_OUT_OF_RANGE,
                f"a low-reservoir alarm at {wording.ml(low_reservoir_nl)} asked; it must be "
                f"{wording.ml(cfg.low_reservoir_min_nl)} to {wording.ml(cfg.low_reservoir_max_nl)}",
            )
        if not cfg.critical_interval_min_s <= critical_interval_s <= cfg.critical_interval_max_s:
            raise Refusal(
                ErrorCode.ALARM_CONFIG_OUT_OF_RANGE,
                f"a critical alarm every {wording.duration(critical_interval_s)} asked; it must "
                f"be {wording.duration(cfg.critical_interval_min_s)} to "
                f"{wording.duration(cfg.critical_interval_max_s)}",
            )
        self._time.set_settings(
            dataclasses.replace(
                self._settings,
                low_reservoir_nl=low_reservoir_nl,
                critical_interval_s=critical_interval_s,
            )
        )
        self._time.commit_point(now)
        self._log_now(LogEvent.ALARM_CONFIG_CHANGED, now, low_reservoir_nl, critical_interval_s)

    def drain_alarm_events(self) -> list[AlarmEvent]:
        """Alarm transitions since the last call, oldest first (for unsolicited events)."""
        return self._alarms.drain_events()

    # ------------------------------------------------------------------ logs and blobs
    def _ring(self, log: LogId | int) -> LogId:
        try:
            return LogId(log)
        except ValueError:
            raise Refusal(
                ErrorCode.UNKNOWN_LOG, f"log {log} is not therapy, alarm, audit or daily"
            ) from None

    def log_info(self, log: LogId | int) -> LogInfo:
        """Sequence range of a log; Refusal UNKNOWN_LOG for a number that is not a log."""
        return self._log.rings[self._ring(log)].info()

    def log_read(self, log: LogId | int, cursor_seq: int, max_count: int) -> list[LogRecord]:
        """Up to ``max_count`` records with ``seq >= cursor_seq``, oldest first."""
        return self._log.rings[self._ring(log)].read(cursor_seq, max_count)

    def audit(self, event: LogEvent, a: int, b: int, now: int, flags: int = 0) -> None:
        """Append a record for the protocol layer (pairing, sessions, auth failures, writes)."""
        now = self._catch_up(now)
        self._log.append(event, self._clock.pump_time(now), a, b, flags)

    def note_write(
        self,
        *,
        detail: int | None = None,
        acknowledged: int | None = None,
        choice: int | None = None,
    ) -> None:
        """Add to the audit record of the write being carried out (``firmware.write_audit``):
        what it changed, the warnings acknowledged, a choice such as the bridge given or
        skipped.  Fields not named keep their value."""
        note = self._write_note
        self._write_note = WriteNote(
            note.detail if detail is None else detail,
            note.acknowledged if acknowledged is None else acknowledged,
            note.choice if choice is None else choice,
        )

    def take_write_note(self) -> WriteNote:
        """The note of the write just carried out; the next write starts from an empty one."""
        note, self._write_note = self._write_note, WriteNote()
        return note

    def get_security_blob(self) -> bytes:
        return self._time.security_blob

    def set_security_blob(self, blob: bytes, now: int) -> None:
        """Store the protocol layer's opaque state (keys, counters) atomically in NVM."""
        self._catch_up(now)
        if len(blob) > SECURITY_BLOB_MAX:
            raise Refusal(ErrorCode.INVALID_ARGUMENT, f"security blob above {SECURITY_BLOB_MAX} B")
        self._time.security_blob = bytes(blob)
        saved = self._store.save(RecordId.SECURITY, self._time.security_blob)
        if not saved or self._time.nvm_failing:  # raise MEMORY_ERROR, or clear it after a retry
            self._time.after_change(self._time.last, config_changed=False)
