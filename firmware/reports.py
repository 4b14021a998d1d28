"""Value types the facade returns: status, prescription, staged change, refill and grants.

Why: the protocol layer encodes these and the scenario runner reports them; keeping them as
frozen dataclasses with explicit units (and pump times, never board times) makes them a stable
contract independent of the engine's internals.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware.alarms import AlarmState
from firmware.prescription import BasalProgram, PatientBolusConfig
from firmware.status_figures import PatientBolusUse
from protocol.catalog import StageWarning
from protocol.enums import ChangeKind, TherapyMode


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    serial_number: str  # e.g. "VP20-000001"


@dataclass(frozen=True, slots=True)
class BolusInfo:
    mode: TherapyMode
    dose_ng: int
    volume_nl: int
    started_at: int  # pump time
    ends_at: int  # pump time


@dataclass(frozen=True, slots=True)
class PumpStatus:
    mode: TherapyMode
    daily_dose_ng: int  # basal dose rate programmed for this moment (0 when stopped)
    rate_nl_per_day: int  # flow in force now, bolus included
    concentration_mcg_per_ml: int
    reservoir_nl: int  # the estimate: what the pump commanded, not a measurement
    reservoir_capacity_nl: int
    low_reservoir_nl: int  # the alarm threshold
    low_reservoir_time: int | None  # pump time the estimate reaches the threshold
    empty_time: int | None
    next_refill_time: int | None
    alarms: tuple[AlarmState, ...]
    battery_ppm: int  # remaining
    eri_time: int | None
    eos_time: int | None  # None until end of service is reached
    replace_by_time: int | None  # ERI + eos_after_eri_s; None before ERI
    pump_time: int
    delivered_ng: int  # since manufacture
    delivered_nl: int
    strokes: int
    programmed_total_nl: int  # exact programmed integral since manufacture (rounded down)
    prescription_version: int
    bolus: BolusInfo | None  # clinician bolus running
    patient_bolus: BolusInfo | None  # patient bolus running
    critical_interval_s: int
    patient_bolus_config: PatientBolusConfig
    suspended: bool  # stopped by a clinician stop command
    safe_minimum_reason: int | None  # AlarmId that put the pump at the safe rate
    delivering: bool  # drug reaches the patient now (False: stopped, halted or empty)
    patient_bolus_use: PatientBolusUse  # last 24 h; lockout end in pump time
    week_day_totals_ng: tuple[int, ...]  # basal drug per day as programmed, Monday first
    utc_offset_s: int  # the clinic's local time - UTC (flex steps run on local time)
    clock_drift_warning_s: int  # profile: a programmer warns beyond this clock difference
    #: End of service projected from the gauge and the therapy in force (after ERI: the real
    #: date), pump time (firmware/battery_monitor.py ``projected_replace_by``).
    projected_replace_by_time: int | None = None
    catheter_length_mm: int | None = None  # the implanted catheter the pump knows


@dataclass(frozen=True, slots=True)
class ActivePrescription:
    version: int
    program: BasalProgram
    mode: TherapyMode
    daily_dose_ng: int  # flex: largest day total
    concentration_mcg_per_ml: int
    low_reservoir_nl: int  # the alarm threshold
    critical_interval_s: int
    patient_bolus: PatientBolusConfig


@dataclass(frozen=True, slots=True)
class StagedChange:
    staged_hash: bytes  # 16 bytes
    active_version: int
    kind: ChangeKind
    daily_dose_ng: int  # basal daily dose after the change (flex: largest day total)
    rate_nl_per_day: int  # flow right after commit (a bolus's own rate)
    next_refill_time: int | None  # pump time
    low_reservoir_time: int | None
    empty_time: int | None
    warnings: StageWarning  # soft-limit warnings the commit must acknowledge
    bolus_dose_ng: int
    bolus_volume_nl: int
    bolus_duration_s: int
    to_patient_ng: int = 0  # drug the bolus brings to the patient
    baseline_ng: int = 0  # titration baseline (0: none, a start)
    change_permille: int = 0  # (daily dose - baseline) / baseline in 0.1 %
    titration_limit_pct: int = 0
    soft_limit_ng: int = 0
    hard_limit_ng: int = 0
    worst_day_ng: int = 0  # largest day: basal + patient boluses + this bolus


@dataclass(frozen=True, slots=True)
class PatientBolusSummary:
    """The pump's summary of a patient-bolus configuration (its Finish view)."""

    daily_dose_ng: int  # basal (flex: largest day total)
    allowance_ng: int  # dose x maximum per 24 h
    worst_day_ng: int
    current_worst_day_ng: int
    baseline_ng: int
    change_permille: int
    titration_limit_pct: int
    soft_limit_ng: int
    hard_limit_ng: int
    warnings: StageWarning


@dataclass(frozen=True, slots=True)
class RefillResult:
    expected_nl: int
    discrepancy_nl: int  # withdrawn - expected
    discrepancy_warning: bool
    reservoir_nl: int
    concentration_changed: bool  # the tubing and catheter hold the old concentration
    low_reservoir_time: int | None
    next_refill_time: int | None
    bridge_started: bool = False  # the refill started the bridge bolus it staged
    bridge_end_time: int | None = None  # pump time


@dataclass(frozen=True, slots=True)
class PatientBolusGrant:
    dose_ng: int
    duration_s: int
    end_time: int  # pump time
    remaining_today: int  # patient boluses still allowed in the last 24 h window
