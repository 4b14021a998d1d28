"""Command handlers: one function per catalog request the firmware itself answers.

Why: the device endpoint (protocol/device.py) has already checked framing, authentication, role,
freshness and idempotency; what is left is clinical: call the therapy engine's API and turn its
answer, or its ``Refusal``, into a reply body.  A table keyed by message type keeps the mapping
visible and lets a test prove that every request in the catalog has a handler.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from protocol.catalog import CATHETER_STORED, MsgType, RefillFlag, StageWarning
from protocol.enums import AlarmId
from protocol.errors import ErrorCode, Refusal
from protocol.log_record import LOG_RECORD_SIZE, clamp_i32

from .profile import DeviceProfile
from .refill import RefillRequest
from .reports import RefillResult
from .safety import MAX_CATHETER_LENGTH_MM
from .wire_mapping import (
    alarm_to_wire,
    change_from_wire,
    change_to_wire,
    patient_bolus_from_wire,
    patient_bolus_to_wire,
    status_to_wire,
    time_or_zero,
)

if TYPE_CHECKING:
    from .pump import PumpFirmware

Body = dict[str, Any]
Handler = Callable[["PumpFirmware", Body, int], Body]

#: Most records one LOG_READ may ask for.
MAX_RECORDS_PER_READ = 65_535


def _status(fw: PumpFirmware, body: Body, now: int) -> Body:
    return status_to_wire(fw.status(now))


def _read_prescription(fw: PumpFirmware, body: Body, now: int) -> Body:
    p = fw.prescription()
    return {
        "version": p.version,
        "concentration_mcg_per_ml": p.concentration_mcg_per_ml,
        "therapy": change_to_wire(p.program),
        "patient_bolus": patient_bolus_to_wire(p.patient_bolus),
        "low_reservoir_nl": p.low_reservoir_nl,
        "critical_interval_s": p.critical_interval_s,
    }


def _stage(fw: PumpFirmware, body: Body, now: int) -> Body:
    staged = fw.stage(change_from_wire(body["change"]), now)
    return {
        "staged_hash": staged.staged_hash,
        "active_version": staged.active_version,
        "daily_dose_ng": staged.daily_dose_ng,
        "rate_nl_per_day": staged.rate_nl_per_day,
        "duration_s": staged.bolus_duration_s,
        "next_refill_time": time_or_zero(staged.next_refill_time),
        "low_reservoir_time": time_or_zero(staged.low_reservoir_time),
        "warnings": int(staged.warnings),
        "bolus_dose_ng": staged.bolus_dose_ng,
        "to_patient_ng": staged.to_patient_ng,
        "baseline_ng": staged.baseline_ng,
        "change_permille": staged.change_permille,
        "titration_limit_pct": staged.titration_limit_pct,
        "soft_limit_ng": staged.soft_limit_ng,
        "hard_limit_ng": staged.hard_limit_ng,
        "worst_day_ng": min(staged.worst_day_ng, 0xFFFF_FFFF),
    }


def _commit(fw: PumpFirmware, body: Body, now: int) -> Body:
    acknowledged = StageWarning(body["ack_warnings"])
    version = fw.commit(body["staged_hash"], body["active_version"], acknowledged, now)
    return {"version": version}


def _abort(fw: PumpFirmware, body: Body, now: int) -> Body:
    fw.abort(now)
    return {}


def _refill_flags(result: RefillResult) -> RefillFlag:
    flags = RefillFlag(0)
    if result.discrepancy_warning:
        flags |= RefillFlag.DISCREPANCY_WARNING
    if result.concentration_changed:
        flags |= RefillFlag.CONCENTRATION_CHANGED
    if result.bridge_started:
        flags |= RefillFlag.BRIDGE_INCLUDED
    elif result.concentration_changed:
        flags |= RefillFlag.BRIDGE_SKIPPED
    return flags


def _refill(fw: PumpFirmware, body: Body, now: int) -> Body:
    result = fw.refill(
        body["withdrawn_nl"], body["added_nl"], body["concentration_mcg_per_ml"], now
    )
    flags = _refill_flags(result) & (
        RefillFlag.DISCREPANCY_WARNING | RefillFlag.CONCENTRATION_CHANGED
    )
    return {
        "expected_nl": result.expected_nl,
        "discrepancy_nl": clamp_i32(result.discrepancy_nl),
        "flags": int(flags),
        "reservoir_nl": result.reservoir_nl,
        "low_reservoir_time": time_or_zero(result.low_reservoir_time),
    }


def _stage_refill(fw: PumpFirmware, body: Body, now: int) -> Body:
    length = int(body["catheter_length_mm"])
    request = RefillRequest(
        body["withdrawn_nl"],
        body["added_nl"],
        body["concentration_mcg_per_ml"],
        bridge=bool(body["bridge"]),
        catheter_length_mm=None if length == CATHETER_STORED else length,
    )
    s = fw.stage_refill(request, now)
    flags = RefillFlag(0)
    if s.discrepancy_warning:
        flags |= RefillFlag.DISCREPANCY_WARNING
    if s.concentration_changed:
        flags |= RefillFlag.CONCENTRATION_CHANGED
    if s.bridge is not None:
        flags |= RefillFlag.BRIDGE_INCLUDED
    if s.bridge_skipped:
        flags |= RefillFlag.BRIDGE_SKIPPED
    bridge = s.bridge
    return {
        "staged_hash": s.staged_hash,
        "active_version": s.active_version,
        "withdrawn_nl": s.withdrawn_nl,
        "expected_nl": s.expected_nl,
        "discrepancy_nl": clamp_i32(s.discrepancy_nl),
        "discrepancy_limit_nl": s.discrepancy_limit_nl,
        "flags": int(flags),
        "reservoir_nl": s.added_nl,
        "old_concentration_mcg_per_ml": s.concentration_before_mcg_per_ml,
        "concentration_mcg_per_ml": s.concentration_mcg_per_ml,
        "daily_dose_ng": s.daily_dose_ng,
        "day_doses_ng": list(s.day_doses_ng),
        "day_volumes_nl": list(s.day_volumes_nl),
        "old_rate_nl_per_day": s.rate_before_nl_per_day,
        "rate_nl_per_day": s.rate_nl_per_day,
        "low_reservoir_time": time_or_zero(s.low_reservoir_time),
        "next_refill_time": time_or_zero(s.next_refill_time),
        "empty_time": time_or_zero(s.empty_time),
        "catheter_length_mm": (
            CATHETER_STORED if s.catheter_length_mm is None else s.catheter_length_mm
        ),
        "bridge_volume_nl": bridge.volume_nl if bridge else 0,
        "bridge_dose_ng": bridge.dose_ng if bridge else 0,
        "bridge_rate_nl_per_day": bridge.rate_nl_per_day if bridge else 0,
        "bridge_duration_s": bridge.duration_s if bridge else 0,
        "bridge_end_time": time_or_zero(s.bridge_end_time),
    }


def _commit_refill(fw: PumpFirmware, body: Body, now: int) -> Body:
    result = fw.commit_refill(body["staged_hash"], body["active_version"], now)
    return {
        "expected_nl": result.expected_nl,
        "discrepancy_nl": clamp_i32(result.discrepancy_nl),
        "flags": int(_refill_flags(result)),
        "reservoir_nl": result.reservoir_nl,
        "low_reservoir_time": time_or_zero(result.low_reservoir_time),
        "bridge_end_time": time_or_zero(result.bridge_end_time),
    }


def _patient_bolus_config(fw: PumpFirmware, body: Body, now: int) -> Body:
    summary = fw.configure_patient_bolus(
        patient_bolus_from_wire(body["config"]),
        now,
        StageWarning(body["ack_warnings"]),
        bool(body["preview"]),
    )
    return {
        "daily_dose_ng": summary.daily_dose_ng,
        "allowance_ng": summary.allowance_ng,
        "worst_day_ng": summary.worst_day_ng,
        "current_worst_day_ng": summary.current_worst_day_ng,
        "baseline_ng": summary.baseline_ng,
        "change_permille": summary.change_permille,
        "titration_limit_pct": summary.titration_limit_pct,
        "soft_limit_ng": summary.soft_limit_ng,
        "hard_limit_ng": summary.hard_limit_ng,
        "warnings": int(summary.warnings),
    }


def _patient_bolus_request(fw: PumpFirmware, body: Body, now: int) -> Body:
    grant = fw.request_patient_bolus(now)
    return {
        "dose_ng": grant.dose_ng,
        "duration_s": grant.duration_s,
        "end_time": time_or_zero(grant.end_time),
        "remaining_today": min(grant.remaining_today, 255),
    }


def _stop(fw: PumpFirmware, body: Body, now: int) -> Body:
    fw.stop(now)
    return {}


def _resume(fw: PumpFirmware, body: Body, now: int) -> Body:
    fw.resume(now)
    return {}


def _set_clock(fw: PumpFirmware, body: Body, now: int) -> Body:
    previous, previous_offset = fw.status(now).pump_time, fw.utc_offset_s
    fw.set_clock(body["pump_time"], now, body["utc_offset_s"])
    return {"previous_time": time_or_zero(previous), "previous_utc_offset_s": previous_offset}


def _alarms_read(fw: PumpFirmware, body: Body, now: int) -> Body:
    s = fw.status(now)
    return {
        "alarms": [alarm_to_wire(a) for a in fw.alarms(now)],
        "low_reservoir_nl": s.low_reservoir_nl,
        "critical_interval_s": s.critical_interval_s,
    }


def _alarms_ack(fw: PumpFirmware, body: Body, now: int) -> Body:
    ids = body["alarms"]
    try:
        chosen = [AlarmId(i) for i in ids] if ids else None
    except ValueError as exc:
        raise Refusal(ErrorCode.INVALID_ARGUMENT, "unknown alarm id in the list") from exc
    return {"acknowledged": min(fw.acknowledge_alarms(chosen, now), 255)}


def _alarms_test(fw: PumpFirmware, body: Body, now: int) -> Body:
    fw.test_alarm_tones(now)
    return {}


def _alarms_config(fw: PumpFirmware, body: Body, now: int) -> Body:
    fw.configure_alarms(body["low_reservoir_nl"], body["critical_interval_s"], now)
    return {}


def _log_info(fw: PumpFirmware, body: Body, now: int) -> Body:
    info = fw.log_info(body["log"])  # the pump refuses an unknown log (UNKNOWN_LOG)
    return {
        "first_seq": info.first_seq,
        "next_seq": info.next_seq,
        "count": info.count,
        "capacity": info.capacity,
        "record_size": LOG_RECORD_SIZE,
    }


def device_limits_body(profile: DeviceProfile) -> Body:
    """DEVICE_LIMITS: the profile's limits, exactly the numbers the validation code checks."""
    drug, pb, alarms = profile.drug, profile.patient_bolus, profile.alarms
    return {
        "drug": {
            "drug_name": drug.drug_name,
            "concentrations_mcg_per_ml": list(drug.concentrations_mcg_per_ml),
            "hard_max_daily_dose_ng": drug.hard_max_daily_dose_ng,
            "soft_max_daily_dose_ng": drug.soft_max_daily_dose_ng,
            "max_bolus_ng": drug.max_bolus_ng,
            "min_bolus_duration_s": drug.min_bolus_duration_s,
            "max_bolus_duration_s": drug.max_bolus_duration_s,
        },
        "titration": {
            "soft_increase_pct": drug.titration_soft_increase_pct,
            "window_s": drug.titration_window_s,
        },
        "delivery": {
            "min_rate_nl_per_day": profile.min_rate_nl_per_day,
            "max_rate_nl_per_day": profile.max_rate_nl_per_day,
            "safe_rate_nl_per_day": profile.safe_rate_nl_per_day,
            "reservoir_capacity_nl": profile.reservoir_capacity_nl,
            "max_flex_steps": profile.max_flex_steps,
            "max_catheter_length_mm": MAX_CATHETER_LENGTH_MM,
        },
        "patient_bolus": {
            "max_dose_ng": pb.max_dose_ng,
            "min_duration_s": pb.min_duration_s,
            "max_duration_s": pb.max_duration_s,
            "max_per_day_limit": pb.max_per_day_limit,
            "min_lockout_s": pb.min_lockout_s,
            "max_lockout_s": pb.max_lockout_s,
        },
        "alarms": {
            "low_reservoir_min_nl": alarms.low_reservoir_min_nl,
            "low_reservoir_max_nl": alarms.low_reservoir_max_nl,
            "critical_interval_min_s": alarms.critical_interval_min_s,
            "critical_interval_max_s": alarms.critical_interval_max_s,
        },
        "clock": {
            "earliest_time": profile.clock.earliest_pump_time_s,
            "latest_time": profile.clock.latest_pump_time_s,
        },
    }


def _device_limits(fw: PumpFirmware, body: Body, now: int) -> Body:
    return device_limits_body(fw.profile)


HANDLERS: dict[MsgType, Handler] = {
    MsgType.STATUS: _status,
    MsgType.DEVICE_LIMITS: _device_limits,
    MsgType.READ_PRESCRIPTION: _read_prescription,
    MsgType.STAGE_PRESCRIPTION: _stage,
    MsgType.COMMIT_PRESCRIPTION: _commit,
    MsgType.ABORT_PRESCRIPTION: _abort,
    MsgType.REFILL: _refill,
    MsgType.PATIENT_BOLUS_CONFIG: _patient_bolus_config,
    MsgType.PATIENT_BOLUS_REQUEST: _patient_bolus_request,
    MsgType.STOP: _stop,
    MsgType.RESUME: _resume,
    MsgType.SET_CLOCK: _set_clock,
    MsgType.ALARMS_READ: _alarms_read,
    MsgType.ALARMS_ACK: _alarms_ack,
    MsgType.ALARMS_TEST: _alarms_test,
    MsgType.ALARMS_CONFIG: _alarms_config,
    MsgType.LOG_INFO: _log_info,
    MsgType.STAGE_REFILL: _stage_refill,
    MsgType.COMMIT_REFILL: _commit_refill,
}
#: Requests answered by the command link itself (streams, subscriptions) rather than a handler.
LINK_HANDLED = frozenset({MsgType.LOG_READ, MsgType.TELEMETRY_SUBSCRIBE})
