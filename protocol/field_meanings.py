"""What each payload field means: units, enumerations and notes, next to the catalog.

Why: construct layouts carry types, not meanings.  The meaning of a field is part of the
protocol's definition, so it lives here in protocol/, as data: docs/PROTOCOL.md's tables and the
Wireshark dissector (both rendered by docs/tools/) read it, and a new field without a meaning is
caught by a test (``undocumented_fields`` in docs/tools/doc_tables.py).

The unit of a field comes from its name (``_nl`` nanolitres, ``_ng`` nanograms, ``_s`` seconds,
``_time`` pump time...) through ``UNIT_SUFFIXES``; the few names without a unit suffix are
explained in ``FIELD_NOTES``, meanings that depend on the message in ``CONTEXT_NOTES``.
"""

from __future__ import annotations

import enum

from .catalog import Capability, MsgType, RefillFlag, RequestState, StageWarning
from .enums import AlarmId, ChangeKind, LogEvent, LogId, Role, TherapyMode
from .errors import ErrorCode
from .log_record import LOG_RECORD_SIZE

#: Units read from a field name's suffix, longest suffix first.
UNIT_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("_nl_per_day", "nL/day"),
    ("_mcg_per_ml", "mcg/mL"),
    ("_time", "pump time: s since 1970-01-01T00:00:00 UTC; 0 = none"),
    ("_minute", "minutes after the clinic's local midnight (0-1439; local = UTC + utc_offset_s)"),
    ("_ppm", "parts per million"),
    ("_nl", "nL"),
    ("_ng", "ng"),
    ("_mm", "mm"),
    ("_s", "s (duration)"),
)

#: Enumerations carried in u8/u16/u32 fields, by field name.
ENUM_FIELDS: dict[str, type[enum.Enum]] = {
    "mode": TherapyMode,
    "bolus_mode": TherapyMode,
    "kind": ChangeKind,
    "role": Role,
    "alarm": AlarmId,
    "log": LogId,
    "event": LogEvent,
    "state": RequestState,
    "msg_type": MsgType,
    "status": ErrorCode,
    "warnings": StageWarning,
    "ack_warnings": StageWarning,
    "flags": RefillFlag,
    "capabilities": Capability,
}

#: Meanings of fields whose name has no unit suffix (or whose suffix needs more words).
FIELD_NOTES: dict[str, str] = {
    "request_id": "idempotency key chosen by the programmer, non-zero; the same on every resend "
    "after a lost reply, a new one for a new attempt",
    "daily_dose_ng": "ng/day",
    "dose_ng": "ng per bolus",
    "pump_time": "pump time: s since 1970-01-01T00:00:00 UTC (the clinic's local time is "
    "pump_time + utc_offset_s)",
    "previous_time": "pump time before the change (s)",
    "change_permille": "(value - baseline) / baseline in 0.1 %, rounded toward zero; 0 = none",
    "titration_limit_pct": "increase over the titration baseline that needs acknowledgement (%)",
    "preview": "true: check and return the summary, write nothing",
    "utc_offset_s": "s: the clinic's local time minus UTC, set with the clock (UTC+01:00 = 3600, "
    "UTC-05:00 = -18000; 0 for a pump never told its zone); flex steps and the midnight of the "
    "daily totals run on local time; SET_CLOCK accepts -43200..50400 in quarter hours "
    "(CLOCK_INVALID)",
    "previous_utc_offset_s": "s: the clinic's UTC offset before the change",
    "clock_drift_warning_s": "s: a programmer warns when the pump's local time differs from its "
    "own local time by more than this (profile [clock] drift_warning_s): a drifting clock or a "
    "daylight-saving change",
    "time": "pump time (s)",
    "raised_at": "pump time (s) the alarm was raised",
    "silenced_until": "pump time (s) until which the tone is silenced; 0 = sounding",
    "model": "device model, e.g. VP-20",
    "serial_number": "ASCII; bound into the pairing transcript",
    "firmware_version": "free text, e.g. 1.0.0",
    "protocol_min": "lowest protocol version spoken",
    "protocol_max": "highest protocol version spoken",
    "max_payload": "largest payload the pump accepts and sends (bytes)",
    "pairing_window_open": "true while the wand window is open (pairing possible)",
    "paired_keys": "number of stored pairings",
    "messages": "MsgType of every request the pump answers",
    "programmer_public": "X25519 public key A",
    "programmer_nonce": "16 random bytes from the programmer",
    "device_public": "X25519 public key B",
    "device_nonce": "16 random bytes from the pump",
    "programmer_proof": "HMAC-SHA256(confirm_key, 'programmer' || th)[:16]",
    "device_proof": "the pump's proof (see the message)",
    "key_id": "31-bit pairing key id",
    "programmer_id": "random u64 naming the programmer (kept in its key store); a new pairing "
    "with the same non-zero id replaces that programmer's key; 0 = anonymous",
    "max_pairings": "pairing keys the pump can hold",
    "pairings": "the stored pairing keys, one entry each",
    "paired_time": "pump time (s) the key was stored; 0 = before the pump recorded it",
    "valid_until_time": "pump time (s) until which one patient pairing may begin",
    "session_id": "random, non-zero; appears in the header of every session frame",
    "prescription_version": "version of the active prescription (increments on every commit)",
    "version": "prescription version",
    "active_version": "prescription version in force when the change was staged",
    "staged_hash": "opaque 16-byte name of the staged change; echo it in the commit",
    "concentration_mcg_per_ml": "mcg/mL; 0 until the first fill",
    "strokes": "motor strokes since manufacture",
    "battery_ppm": "remaining battery charge, parts per million",
    "critical": "true for a critical alarm (two-tone; drug no longer flowing as programmed)",
    "acknowledged": "true once acknowledged (silenced)",
    "raised": "true: raised; false: cleared",
    "alarms": "active alarms",
    "bolus_mode": "of the running bolus: SINGLE_BOLUS, PRIMING_BOLUS or BRIDGE_BOLUS (the basal "
    "pauses while it runs) or PATIENT_BOLUS (on top of the basal); 0 = no bolus running (0 is "
    "never a bolus mode here, although TherapyMode 0 is STOPPED: read `mode` for that)",
    "alarm_bits": "bit (AlarmId - 1) set while that alarm is active",
    "patient_bolus_enabled": "patient bolus configured and enabled",
    "delivering": "true while drug reaches the patient: false when stopped, halted or the "
    "reservoir is empty (the motor may still run at the safe minimum, pushing no drug)",
    "patient_bolus_max_per_day": "patient boluses allowed per rolling 24 h",
    "patient_boluses_given": "patient boluses granted in the rolling 24 h",
    "patient_boluses_refused": "patient-bolus requests refused in the rolling 24 h",
    "patient_boluses_left": "patient boluses still allowed in the rolling 24 h",
    "catheter_length_mm": "mm: the implanted catheter's length; 0xFFFF = the one the pump knows "
    "(request) or unknown (reply)",
    "bridge": "1 = run the bridge bolus the pump computes if the concentration changes; 0 = "
    "skip it (the pump logs BRIDGE_SKIPPED)",
    "enabled": "patient bolus allowed",
    "max_per_day": "patient boluses allowed per rolling 24 h",
    "remaining_today": "patient boluses left in the rolling 24 h",
    "day_programs": "1-7 day programs, each used by a weekday; 1-13 steps, start_minute "
    "strictly increasing from 0",
    "day_programs[]": "one day program: its steps (step i runs until step i+1 starts)",
    "weekday_program": "index into day_programs for Monday..Sunday",
    "discrepancy_nl": "nL, signed: withdrawn - expected (pocket-fill / over-infusion signal)",
    "cursor": "sequence number of the first record wanted",
    "max_count": "most records wanted in this stream",
    "records": f"{LOG_RECORD_SIZE}-byte log records (layout in 'Log records')",
    "next_cursor": "cursor to send next: one past the last record in this frame; for an empty "
    "list, the cursor sent raised to first_seq and capped at next_seq",
    "first_seq": "sequence number of the oldest record held (= next_seq when empty)",
    "next_seq": "sequence number the next record will get",
    "count": "records held",
    "capacity": "records the ring holds before the oldest is dropped",
    "record_size": f"bytes per record ({LOG_RECORD_SIZE})",
    "interval_s": "s between TELEMETRY events; 0 stops them",
    "reply": "the original reply body (the bytes after the status)",
    "seq": "record sequence number, per log, never reused",
    "a": "first argument (meaning by event)",
    "b": "second argument (meaning by event)",
    "check": "CRC-32C of the 20 bytes before it",
    "drug_name": "drug name (UTF-8)",
    "soft_increase_pct": "percent",
    "max_flex_steps": "steps per day program",
    "max_per_day_limit": "boluses per 24 h",
}

#: Meanings that depend on the message: (message, "request.<path>" or "reply.<path>") -> text.
_LIMITS = MsgType.DEVICE_LIMITS
CONTEXT_NOTES: dict[tuple[MsgType, str], str] = {
    (_LIMITS, "reply.drug.drug_name"): "the drug of the pump's library, e.g. baclofen",
    (_LIMITS, "reply.drug.concentrations_mcg_per_ml"): "mcg/mL: the concentrations REFILL "
    "accepts (CONCENTRATION_NOT_IN_LIBRARY otherwise)",
    (_LIMITS, "reply.drug.hard_max_daily_dose_ng"): "ng/day: no basal day total (flex: the "
    "largest), nor basal plus the enabled patient boluses, may exceed it "
    "(DOSE_ABOVE_HARD_LIMIT; cannot be acknowledged)",
    (_LIMITS, "reply.drug.soft_max_daily_dose_ng"): "ng/day: a day total above it raises "
    "SOFT_DOSE_LIMIT, to acknowledge in the commit",
    (_LIMITS, "reply.drug.max_bolus_ng"): "ng: largest single bolus, and cap of a patient bolus "
    "(BOLUS_ABOVE_LIMIT)",
    (_LIMITS, "reply.drug.min_bolus_duration_s"): "s: shortest single bolus "
    "(BOLUS_DURATION_INVALID)",
    (_LIMITS, "reply.drug.max_bolus_duration_s"): "s: longest single bolus "
    "(BOLUS_DURATION_INVALID)",
    (_LIMITS, "reply.titration.soft_increase_pct"): "percent: a basal increase above this over "
    "the dose in force within window_s raises TITRATION_INCREASE_OVER_LIMIT",
    (_LIMITS, "reply.titration.window_s"): "s: the titration window (a second increase within "
    "it raises SECOND_INCREASE_WITHIN_24H)",
    (_LIMITS, "reply.delivery.min_rate_nl_per_day"): "nL/day: slowest basal flow of any step "
    "(RATE_BELOW_MINIMUM)",
    (_LIMITS, "reply.delivery.max_rate_nl_per_day"): "nL/day: fastest flow of any step or bolus "
    "(RATE_ABOVE_MAXIMUM, BOLUS_DURATION_INVALID); priming runs at it",
    (_LIMITS, "reply.delivery.safe_rate_nl_per_day"): "nL/day: the flow of SAFE_MINIMUM (after a "
    "low-battery reset or with an empty reservoir)",
    (_LIMITS, "reply.delivery.reservoir_capacity_nl"): "nL: most the reservoir holds "
    "(REFILL_OVER_CAPACITY)",
    (_LIMITS, "reply.delivery.max_flex_steps"): "most steps in one flex day program "
    "(INVALID_SCHEDULE)",
    (_LIMITS, "reply.delivery.max_catheter_length_mm"): "mm: longest catheter a priming or "
    "bridge bolus may name (INVALID_ARGUMENT)",
    (_LIMITS, "reply.patient_bolus.max_dose_ng"): "ng: largest patient bolus (also at most "
    "drug.max_bolus_ng; BOLUS_ABOVE_LIMIT)",
    (_LIMITS, "reply.patient_bolus.min_duration_s"): "s: shortest patient bolus "
    "(BOLUS_DURATION_INVALID)",
    (_LIMITS, "reply.patient_bolus.max_duration_s"): "s: longest patient bolus "
    "(BOLUS_DURATION_INVALID)",
    (_LIMITS, "reply.patient_bolus.max_per_day_limit"): "the largest max_per_day a clinician "
    "may configure (INVALID_ARGUMENT)",
    (_LIMITS, "reply.patient_bolus.min_lockout_s"): "s: shortest lockout (INVALID_ARGUMENT)",
    (_LIMITS, "reply.patient_bolus.max_lockout_s"): "s: longest lockout (INVALID_ARGUMENT)",
    (_LIMITS, "reply.alarms.low_reservoir_min_nl"): "nL: lowest low-reservoir threshold "
    "(ALARM_CONFIG_OUT_OF_RANGE)",
    (_LIMITS, "reply.alarms.low_reservoir_max_nl"): "nL: highest low-reservoir threshold "
    "(ALARM_CONFIG_OUT_OF_RANGE)",
    (_LIMITS, "reply.alarms.critical_interval_min_s"): "s: shortest critical repeat interval "
    "(ALARM_CONFIG_OUT_OF_RANGE)",
    (_LIMITS, "reply.alarms.critical_interval_max_s"): "s: longest critical repeat interval "
    "(ALARM_CONFIG_OUT_OF_RANGE)",
    (_LIMITS, "reply.clock.earliest_time"): "earliest pump time SET_CLOCK accepts, included "
    "(CLOCK_INVALID)",
    (_LIMITS, "reply.clock.latest_time"): "latest pump time SET_CLOCK accepts, included "
    "(CLOCK_INVALID)",
    (MsgType.PAIR_CONFIRM, "reply.device_proof"): "HMAC-SHA256(confirm_key, 'device' || th)[:16]",
    (MsgType.SESSION_OPEN, "reply.device_proof"): "HMAC-SHA256(pairing_key, 'ITBP open' || "
    "u32 key_id || u32 session_id || nonce_p || nonce_d || u8 role)[:16]",
    (MsgType.SESSION_OPEN, "reply.role"): "Role bound to the key at pairing",
    (MsgType.UNPAIR, "request.key_id"): "key to forget; 0 = the key of this session",
    (MsgType.ALARMS_ACK, "request.alarms"): "AlarmId values to acknowledge; empty = all",
    (MsgType.ALARMS_ACK, "reply.acknowledged"): "number of alarms acknowledged",
    (
        MsgType.REQUEST_STATUS,
        "reply.msg_type",
    ): "MsgType of the original request (0 if UNKNOWN or EVICTED)",
    (
        MsgType.REQUEST_STATUS,
        "reply.status",
    ): "ErrorCode of the original reply (0 unless COMPLETED)",
    (MsgType.TELEMETRY_SUBSCRIBE, "reply.interval_s"): "s between events as granted by the pump",
    (MsgType.STATUS, "reply.mode"): "TherapyMode in force: during a SINGLE_BOLUS, PRIMING_BOLUS "
    "or BRIDGE_BOLUS the bolus's mode (the basal is paused and resumes when it ends); "
    "PATIENT_BOLUS while a patient bolus runs on top of the basal",
    (MsgType.STATUS, "reply.daily_dose_ng"): "ng/day: the basal dose programmed for now (flex: the "
    "step in force); during a clinician bolus the basal that resumes after it; 0 when stopped",
    (MsgType.STATUS, "reply.rate_nl_per_day"): "nL/day: the flow now in force, basal plus a "
    "running bolus's average flow (during a clinician bolus the bolus alone: the basal is paused)",
    (MsgType.STATUS, "reply.bolus_remaining_ng"): "ng of the running bolus not yet delivered as "
    "programmed (the dose times the share of its duration left, rounded up); 0 = no bolus",
    (MsgType.STATUS, "reply.bolus_end_time"): "pump time the running bolus ends; 0 = no bolus",
    (MsgType.REFILL, "request.concentration_mcg_per_ml"): "mcg/mL of the drug added",
    (MsgType.LOG_INFO, "request.log"): "LogId",
    (MsgType.LOG_READ, "request.log"): "LogId",
}

_BY_KIND = "; by change kind: section 6, 'The stage summary by change kind'"
CONTEXT_NOTES.update(
    {
        (MsgType.STAGE_PRESCRIPTION, "reply.daily_dose_ng"): "ng/day: the basal daily dose in "
        "force after the change" + _BY_KIND,
        (MsgType.STAGE_PRESCRIPTION, "reply.rate_nl_per_day"): "nL/day: the flow the change "
        "starts with if committed now" + _BY_KIND,
        (MsgType.STAGE_PRESCRIPTION, "reply.duration_s"): "s: how long a bolus takes; 0 for a "
        "basal change" + _BY_KIND,
        (MsgType.STAGE_PRESCRIPTION, "reply.next_refill_time"): "pump time the refill is due: "
        "when the estimate would reach the low-reservoir threshold (= low_reservoir_time); 0 = "
        "never at this program",
        (MsgType.STAGE_PRESCRIPTION, "reply.low_reservoir_time"): "pump time the estimate would "
        "reach the low-reservoir threshold if committed now (a bolus, then the basal after it); "
        "the staging time if already at or below it; 0 = never (nothing flows afterwards)",
    }
)

_SR = MsgType.STAGE_REFILL
CONTEXT_NOTES.update(
    {
        (_SR, "reply.expected_nl"): "nL: the pump's reservoir estimate, what it expects back",
        (_SR, "reply.discrepancy_nl"): "nL: withdrawn - expected (signed, saturated to 32 bits)",
        (_SR, "reply.discrepancy_limit_nl"): "nL: above this |discrepancy| the pump sets "
        "DISCREPANCY_WARNING (the profile's threshold: a possible pocket fill)",
        (_SR, "reply.reservoir_nl"): "nL: the reservoir estimate after the refill (added_nl)",
        (_SR, "reply.old_concentration_mcg_per_ml"): "mcg/mL in the reservoir now (0: never "
        "filled), and in the tubing and catheter",
        (_SR, "reply.daily_dose_ng"): "ng/day: the basal program's daily dose (flex: the largest "
        "day total); a refill does not change it",
        (_SR, "reply.day_doses_ng"): "ng: the program's total for each weekday, Monday first",
        (_SR, "reply.day_volumes_nl"): "nL: what each weekday's program draws at the new "
        "concentration, Monday first (rounded down)",
        (_SR, "reply.old_rate_nl_per_day"): "nL/day: the basal flow in force now (the safe rate "
        "while the reservoir is empty)",
        (_SR, "reply.rate_nl_per_day"): "nL/day: the basal flow for the same dose at the new "
        "concentration, now (flex: the step in force); after the bridge if there is one",
        (_SR, "reply.low_reservoir_time"): "pump time the estimate would reach the low-reservoir "
        "threshold after the refill, the bridge included; 0 = never",
        (_SR, "reply.next_refill_time"): "pump time the refill is due (= low_reservoir_time)",
        (_SR, "reply.empty_time"): "pump time the estimate would reach zero; 0 = never",
        (_SR, "reply.bridge_volume_nl"): "nL: tubing + catheter, the old drug the bridge pushes; "
        "0 = no bridge",
        (_SR, "reply.bridge_dose_ng"): "ng: that volume at the old concentration",
        (_SR, "reply.bridge_rate_nl_per_day"): "nL/day: the basal dose in force at the old "
        "concentration (rounded down)",
        (_SR, "reply.bridge_duration_s"): "s: volume x 86400 / rate, rounded up",
        (_SR, "reply.bridge_end_time"): "pump time the bridge would end if committed now; 0 = none",
        (MsgType.COMMIT_REFILL, "reply.bridge_end_time"): "pump time the bridge ends; 0 = none",
    }
)

#: What each field of the stage summary holds, per change kind (docs/PROTOCOL.md section 6).
STAGE_SUMMARY_BY_KIND: dict[ChangeKind, tuple[str, str, str]] = {
    # kind: (daily_dose_ng, rate_nl_per_day, duration_s)
    ChangeKind.STOPPED: ("0", "0", "0"),
    ChangeKind.CONTINUOUS: (
        "the programmed dose",
        "its flow: dose / concentration, rounded down to whole nL/day",
        "0",
    ),
    ChangeKind.FLEX: (
        "the **largest day total** of any weekday: the ng a weekday's program delivers from "
        "midnight to midnight (each step's dose rate times its share of the day), the figure the "
        "hard and soft limits and the titration guard check",
        "the flow of the step in force at the pump time of staging",
        "0",
    ),
    ChangeKind.SINGLE_BOLUS: (
        "the basal dose in force now, which resumes when the bolus ends (0 if the basal is "
        "stopped); the bolus dose is the one requested",
        "the bolus's average flow: its volume x 86400 / duration_s (the basal pauses meanwhile)",
        "the requested duration",
    ),
    ChangeKind.PRIMING_BOLUS: (
        "the basal dose in force now, which resumes when the prime ends (0 if the basal is "
        "stopped or was never programmed)",
        "the priming flow, at most the profile's maximum rate",
        "the catheter volume at the maximum rate, rounded up to whole seconds",
    ),
    ChangeKind.BRIDGE_BOLUS: (
        "the basal dose in force now, which continues at the new concentration after the bridge",
        "the bridge flow: the basal dose in force at the old concentration (so the old drug in "
        "the catheter is pushed out at the prescribed dose)",
        "the catheter volume at the bridge flow, rounded up",
    ),
}

#: Meanings of the log record's fields where they differ from the payload fields of that name.
LOG_RECORD_NOTES: dict[str, str] = {
    "time": "pump time (s) of the event",
    "event": "LogEvent (numbers below)",
    "flags": "reserved, 0",
}

#: What the two arguments of each log event mean (LogEvent numbers are in enums.py).
LOG_EVENT_ARGS: dict[LogEvent, str] = {
    LogEvent.RESET: "a = ResetCause (table above)",
    LogEvent.THERAPY_CHANGED: "a = ChangeKind, b = daily dose ng (or bolus ng)",
    LogEvent.BOLUS_STARTED: "a = TherapyMode, b = dose ng",
    LogEvent.BOLUS_COMPLETED: "a = TherapyMode, b = delivered ng",
    LogEvent.REFILL: "a = added nL, b = discrepancy nL (withdrawn - expected)",
    LogEvent.PUMP_STOPPED: "-",
    LogEvent.PUMP_RESUMED: "-",
    LogEvent.CLOCK_CHANGED: (
        "a = change in s (signed, saturated to 32 bits), b = previous pump time (Unix s, its 32 "
        "bits in the signed field); the record's time is the new pump time"
    ),
    LogEvent.PATIENT_BOLUS_CONFIGURED: "a = dose ng, b = max per day",
    LogEvent.PATIENT_BOLUS_REFUSED: "a = ErrorCode",
    LogEvent.SAFE_MINIMUM_ENTERED: "a = AlarmId that caused it",
    LogEvent.DAILY_TOTAL: (
        "a = delivered ng in the clinic's local day (midnight to midnight local time), b = "
        "programmed ng in that day (in the daily log); the record's time is that local midnight "
        "(in UTC)"
    ),
    LogEvent.UTC_OFFSET_CHANGED: (
        "a = new UTC offset in s (clinic local time - UTC), b = previous UTC offset in s; "
        "written with the CLOCK_CHANGED record of the same SET_CLOCK"
    ),
    LogEvent.MOTOR_STALLED: "a = strokes that did not complete",
    LogEvent.MOTOR_RECOVERED: "a = seconds stalled, b = trial strokes commanded (the last turned)",
    LogEvent.BRIDGE_SKIPPED: (
        "a = who skipped the bridge after a concentration change (1 = the clinician, in the "
        "staged refill; 2 = a one-shot REFILL), b = the old concentration mcg/mL"
    ),
    LogEvent.CATHETER_SET: "a = the implanted catheter's length mm (refill or prime named it)",
    LogEvent.ALARM_RAISED: "a = AlarmId",
    LogEvent.ALARM_CLEARED: "a = AlarmId",
    LogEvent.ALARM_ACKNOWLEDGED: "a = AlarmId",
    LogEvent.ALARM_TEST: "-",
    LogEvent.ALARM_CONFIG_CHANGED: "a = low reservoir nL, b = critical interval s",
    LogEvent.PAIRED: "a = key id, b = Role",
    LogEvent.UNPAIRED: "a = key id, b = Role (revoked, unpaired or replaced by a re-pairing)",
    LogEvent.SESSION_OPENED: "a = key id, b = session id",
    LogEvent.AUTH_FAILURE: "a = ErrorCode, b = message type",
    LogEvent.PAIRING_REFUSED: "a = ErrorCode",
    LogEvent.LOCKOUT_STARTED: "a = lockout s",
    LogEvent.REQUEST_REFUSED: "a = ErrorCode, b = message type",
    LogEvent.NVM_RECOVERED: "a = NVM bank used",
    LogEvent.REJECTIONS_SUPPRESSED: (
        "a = ErrorCode, b = how many refusals with that code were counted instead of written "
        "one by one (over 16 per code in an hour, or unauthenticated requests dropped over the "
        "budget as BUSY; section 2, 'Audit and lockout')"
    ),
    LogEvent.PAIRING_REJECTED: "a = Role asked for, b = ErrorCode (PAIRING_REJECTED: at the pump)",
    LogEvent.PATIENT_PAIRING_AUTHORIZED: "a = clinician key id, b = s it stays valid",
    LogEvent.WRITE_ACCEPTED: (
        "a = key id, b = message type | Role << 8 | detail << 16 | WriteChoice << 24 (detail: "
        "ChangeKind of a committed prescription), flags = StageWarning bits acknowledged"
    ),
}


def field_meaning(name: str) -> str:
    """Unit, enumeration or note for a field name ('' if none is known)."""
    enum_type = ENUM_FIELDS.get(name)
    note = FIELD_NOTES.get(name)
    if enum_type is not None:
        kind = " bits" if issubclass(enum_type, enum.Flag) else ""
        return f"{enum_type.__name__}{kind}" + (f": {note}" if note else "")
    if note is not None:
        return note
    for suffix, unit in UNIT_SUFFIXES:
        if name.endswith(suffix):
            return unit
    return ""
