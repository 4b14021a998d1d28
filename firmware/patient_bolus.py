"""Patient bolus: the clinician's settings, checked like a dose increase, and the patient's requests.

Why: a patient bolus is the one delivery the patient starts.  Its configuration raises the
worst day (basal + dose x maximum per 24 h), so it is checked like a dose increase
(``firmware.safety.validate_patient_bolus``: hard limits refuse, soft and titration warnings must
be acknowledged) and an increase enters the titration history.  A request is granted on top of
the basal flow, or refused with a named code and logged (``PATIENT_BOLUS_REFUSED``), which is
also where the status view's "refused in the last 24 h" comes from.

Integers only: ng, nL, s.
"""

from __future__ import annotations

import dataclasses

from firmware import wording
from firmware.clock import PumpClock
from firmware.delivery import TimedBolus
from firmware.eventlog import EventLog
from firmware.prescription import PatientBolusConfig
from firmware.profile import DeviceProfile
from firmware.reports import PatientBolusGrant, PatientBolusSummary
from firmware.safety import (
    SafetyContext,
    TitrationEntry,
    TitrationKind,
    record_titration,
    validate_patient_bolus,
    warning_text,
)
from firmware.status_figures import PatientBolusUse, patient_bolus_use
from firmware.therapy import ActiveBolus, TherapyEngine
from firmware.timeline import TimeLine
from firmware.units import DAY_S, volume_nl_for_mass
from protocol.catalog import StageWarning
from protocol.enums import AlarmId, LogEvent, LogId, TherapyMode
from protocol.errors import ErrorCode, Refusal


class PatientBolusDesk:
    """The patient-bolus settings and requests, on the pump's own parts."""

    def __init__(
        self,
        profile: DeviceProfile,
        clock: PumpClock,
        time: TimeLine,
        engine: TherapyEngine,
        log: EventLog,
    ) -> None:
        self._profile = profile
        self._clock = clock
        self._time = time
        self._engine = engine
        self._log = log

    def use(self, now: int) -> PatientBolusUse:
        """The settings' use over the last 24 h (given, refused, left, lockout end in pump time)."""
        cfg = self._time.settings.patient_bolus
        # refusals are counted in the therapy log, which holds each one (no counter to persist)
        refused = self._log.rings[LogId.THERAPY].count_recent(
            LogEvent.PATIENT_BOLUS_REFUSED, self._clock.pump_time(now) - DAY_S
        )
        use = patient_bolus_use(cfg, self._time.pb_grants, refused, now)
        lockout_end = (
            None if use.lockout_end is None else self._clock.optional_pump_time(use.lockout_end)
        )
        return dataclasses.replace(use, lockout_end=lockout_end)

    def configure(
        self,
        cfg: PatientBolusConfig,
        ctx: SafetyContext,
        now: int,
        ack_warnings: StageWarning,
        preview: bool,
    ) -> PatientBolusSummary:
        """Set the patient's bolus: dose, duration, maximum per 24 h, lockout.

        Checked like a dose increase (firmware/safety.py): hard limits refuse; the worst day's
        soft-limit and titration warnings must all be in ``ack_warnings``.  ``preview`` returns
        the summary and writes nothing.  An increase of the worst day is recorded in the
        titration history (so a basal increase within 24 h is a second increase)."""
        check = validate_patient_bolus(cfg, ctx, self._profile)
        drug = self._profile.drug
        summary = PatientBolusSummary(
            daily_dose_ng=check.daily_dose_ng,
            allowance_ng=check.allowance_ng,
            worst_day_ng=check.worst_day_ng,
            current_worst_day_ng=check.current_worst_day_ng,
            baseline_ng=check.baseline_ng,
            change_permille=check.change_permille,
            titration_limit_pct=drug.titration_soft_increase_pct,
            soft_limit_ng=drug.soft_max_daily_dose_ng,
            hard_limit_ng=drug.hard_max_daily_dose_ng,
            warnings=check.warnings,
        )
        if preview:
            return summary
        missing = check.warnings & ~ack_warnings
        if missing:
            names = warning_text(
                missing, check.worst_day_ng, check.baseline_ng, check.change_permille, self._profile
            )
            raise Refusal(ErrorCode.WARNINGS_NOT_ACKNOWLEDGED, names)
        titration = self._time.settings.titration
        if check.increase:
            entry = TitrationEntry(now, check.daily_dose_ng, TitrationKind.INCREASE)
            titration = record_titration(titration, entry, drug.titration_window_s)
        self._time.set_settings(
            dataclasses.replace(self._time.settings, patient_bolus=cfg, titration=titration)
        )
        self._time.commit_point(now)
        self._log.append(
            LogEvent.PATIENT_BOLUS_CONFIGURED,
            self._clock.pump_time(now),
            cfg.dose_ng,
            cfg.max_per_day,
        )
        return summary

    def request(self, now: int) -> PatientBolusGrant:
        """A patient asks for a bolus; granted on top of basal flow, or refused (logged)."""
        try:
            timed = self._check(now)
        except Refusal as refusal:
            self._log.append(
                LogEvent.PATIENT_BOLUS_REFUSED, self._clock.pump_time(now), refusal.code
            )
            self._time.after_change(now, config_changed=False)
            raise
        cfg = self._time.settings.patient_bolus
        conc = self._engine.reservoir.concentration_mcg_per_ml
        bolus = ActiveBolus(TherapyMode.PATIENT_BOLUS, timed, cfg.dose_ng, conc)
        self._engine.patient_bolus = bolus
        self._time.pb_grants.append(now)
        self._log.append(
            LogEvent.BOLUS_STARTED,
            self._clock.pump_time(now),
            TherapyMode.PATIENT_BOLUS,
            cfg.dose_ng,
        )
        self._time.commit_point(now)
        left = patient_bolus_use(cfg, self._time.pb_grants, 0, now).left
        return PatientBolusGrant(
            cfg.dose_ng, cfg.duration_s, self._clock.pump_time(timed.end), left
        )

    def _check(self, now: int) -> TimedBolus:
        cfg, engine = self._time.settings.patient_bolus, self._engine
        res = engine.reservoir
        if not cfg.enabled:
            raise Refusal(ErrorCode.PATIENT_BOLUS_NOT_CONFIGURED, "patient bolus is not enabled")
        if engine.end_of_service:
            raise Refusal(ErrorCode.END_OF_SERVICE, "battery end of service")
        if engine.stalled:
            raise Refusal(ErrorCode.MOTOR_FAULT, "motor stall alarm is active")
        if not res.is_filled or res.is_empty or engine.safe_reason is AlarmId.RESERVOIR_EMPTY:
            raise Refusal(ErrorCode.RESERVOIR_EMPTY, "the reservoir is empty")
        if engine.bolus is not None or engine.patient_bolus is not None:
            raise Refusal(ErrorCode.BOLUS_IN_PROGRESS, "a bolus is already running")
        if engine.basal_stopped or engine.safe_reason is not None:
            raise Refusal(
                ErrorCode.THERAPY_NOT_RUNNING, "patient bolus needs running basal therapy"
            )
        use = patient_bolus_use(cfg, self._time.pb_grants, 0, now)  # the status view's figures
        if use.lockout_end is not None:
            wait = use.lockout_end - now
            raise Refusal(
                ErrorCode.PATIENT_BOLUS_LOCKOUT, f"lockout: try again in {wording.duration(wait)}"
            )
        if use.left == 0:
            raise Refusal(
                ErrorCode.PATIENT_BOLUS_DAILY_MAXIMUM,
                f"{cfg.max_per_day} patient boluses already given in the last 24 h",
            )
        volume = volume_nl_for_mass(cfg.dose_ng, res.concentration_mcg_per_ml)
        if volume <= 0 or volume > res.estimate_nl:
            raise Refusal(ErrorCode.RESERVOIR_EMPTY, "not enough drug for the bolus")
        basal_rate = engine.basal_rate_at(now)[0]
        if volume * DAY_S > (self._profile.max_rate_nl_per_day - basal_rate) * cfg.duration_s:
            raise Refusal(ErrorCode.BOLUS_DURATION_INVALID, "bolus would exceed the maximum rate")
        return TimedBolus(volume, now, cfg.duration_s)
