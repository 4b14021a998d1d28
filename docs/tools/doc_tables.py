"""Markdown tables of the protocol, rendered from the catalog and the error table.

Why: docs/PROTOCOL.md must say exactly what the code does.  Its tables of messages, fields,
error codes, enumerations and constants are not written by hand: they are rendered here from
``CATALOG``, ``ERROR_TABLE``, the enums and the framing constants, pasted between marker
comments by a docs tool, and compared with this module's output by a test.  Pure functions,
no I/O.

Trade-off: construct layouts carry types, not meanings, so the unit of a field comes from its
name (``_nl`` nanolitres, ``_ng`` nanograms, ``_s`` seconds, ``_time`` pump time...) and the
few names without a unit suffix are explained in ``FIELD_NOTES``.  ``undocumented_fields()``
lists any field that has neither, so a new field cannot reach the docs without a meaning.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import construct as c
import crcmod.predefined

from protocol.audit import (
    AUDIT_BURST,
    AUDIT_WINDOW_S,
    LOCKOUT_COUNTED_FROM,
    LOCKOUT_FAILURES,
    NOT_AUDITED_PER_FRAME,
    PAIRING_REFUSALS,
    audit_event_for,
)
from protocol.catalog import (
    CATALOG,
    Capability,
    Direction,
    MessageSpec,
    MsgType,
    RefillFlag,
    RequestState,
    StageWarning,
)
from protocol.crc import CRC_NAME, crc32c
from protocol.enums import (
    CRITICAL_ALARMS,
    RESET_CAUSE_MEANINGS,
    AlarmId,
    ChangeKind,
    LogEvent,
    LogId,
    ResetCause,
    Role,
    TherapyMode,
)
from protocol.errors import ERROR_TABLE, ErrorCategory, ErrorCode, category_of
from protocol.framing import (
    AUTH_PREFIX_SIZE,
    CRC_SIZE,
    HEADER_SIZE,
    MAX_FRAME,
    MAX_PAYLOAD,
    MIN_FRAME,
    PROTOCOL_VERSION,
    TAG_SIZE,
    DropReason,
    Flags,
    max_encoded_size,
)
from protocol.layouts import LOG_RECORD_SIZE, LogRecordLayout

# -- field meanings ----------------------------------------------------------------------------

#: Units read from a field name's suffix, longest suffix first.
UNIT_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("_nl_per_day", "nL/day"),
    ("_mcg_per_ml", "mcg/mL"),
    ("_time", "pump time: s since 1970-01-01T00:00:00 in pump local time; 0 = none"),
    ("_minute", "minutes after local midnight (0-1439)"),
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
    "pump_time": "pump time: s since 1970-01-01T00:00:00 in pump local time",
    "previous_time": "pump time before the change (s)",
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
    "records": "24-byte log records (layout in 'Log records')",
    "next_cursor": "cursor to send next: one past the last record in this frame; for an empty "
    "list, the cursor sent raised to first_seq and capped at next_seq",
    "first_seq": "sequence number of the oldest record held (= next_seq when empty)",
    "next_seq": "sequence number the next record will get",
    "count": "records held",
    "capacity": "records the ring holds before the oldest is dropped",
    "record_size": "bytes per record (24)",
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
        "0: after priming the pump is STOPPED until a basal program is committed",
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
    LogEvent.DAILY_TOTAL: "a = delivered ng in the day, b = programmed ng in the day",
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
}

_INT_TYPES = {
    ">B": "u8",
    ">H": "u16",
    ">I": "u32",
    ">L": "u32",
    ">Q": "u64",
    ">b": "i8",
    ">h": "i16",
    ">i": "i32",
    ">l": "i32",
    ">q": "i64",
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


# -- walking construct layouts -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldRow:
    """One row of a payload table: dotted path, wire type, size in bytes ('var'), meaning."""

    path: str
    wire_type: str
    size: str
    meaning: str
    leaf: str  # the last name on the path (used to look up the meaning)


def _prefixed_array_parts(node: Any) -> tuple[Any, Any] | None:
    """(count field, item layout) if ``node`` is construct's PrefixedArray, else None."""
    if not isinstance(node, c.FocusedSeq):
        return None
    named = {sub.name: sub for sub in node.subcons}
    if set(named) != {"count", "items"}:
        return None
    count = named["count"].subcon.subcon  # Renamed -> Rebuild -> the count field
    items = named["items"].subcon  # Renamed -> Array(this.count, item)
    return count, items.subcon


def _switch_key(node: Any) -> str:
    return str(node.keyfunc.__getfield__())


def wire_type(node: Any) -> str:
    """Short type name of a leaf layout ('u32', 'bytes[16]', 'text' ...)."""
    if isinstance(node, c.Renamed):
        return wire_type(node.subcon)
    if isinstance(node, c.FormatField):
        return _INT_TYPES.get(node.fmtstr, str(node.fmtstr))
    if node is c.Flag:
        return "bool (u8 0/1)"
    if isinstance(node, c.Bytes):
        return f"bytes[{node.length}]"
    if isinstance(node, c.StringEncoded):
        return f"text (u8 length + {node.encoding.upper().replace('UTF8', 'UTF-8')})"
    if node is c.GreedyBytes:
        return "bytes (rest of payload)"
    if isinstance(node, c.Struct):
        return "struct"
    raise TypeError(f"no wire type for {node!r}")


def _size(node: Any) -> str:
    try:
        return str(node.sizeof())
    except Exception:  # variable size: construct raises SizeofError and friends
        return "var"


def layout_rows(layout: Any, prefix: str = "") -> list[FieldRow]:
    """Flattened rows of a construct layout: nested structs, arrays and switch cases expanded."""
    rows: list[FieldRow] = []
    for sub in layout.subcons:
        if sub is c.Terminated or sub.name is None:
            continue
        rows.extend(_rows_for(sub.subcon, f"{prefix}{sub.name}", sub.name))
    return rows


def _rows_for(node: Any, path: str, leaf: str) -> Iterator[FieldRow]:
    array = _prefixed_array_parts(node)
    if array is not None or isinstance(node, c.Array):
        if array is not None:
            count, item = array
            shape, size = f"[] ({wire_type(count)} count)", "var"
        else:
            item = node.subcon
            shape, size = f"[{node.count}]", _size(node)
        if _is_leaf(item):
            yield FieldRow(path, f"{wire_type(item)}{shape}", size, field_meaning(leaf), leaf)
            return
        yield FieldRow(path, f"array{shape}", size, field_meaning(leaf), leaf)
        if isinstance(item, c.Struct):
            yield from layout_rows(item, f"{path}[].")
        else:
            yield from _rows_for(item, f"{path}[]", f"{leaf}[]")
        return
    if isinstance(node, c.Switch):
        key = _switch_key(node)
        key_enum = ENUM_FIELDS.get(key)
        for value, case in node.cases.items():
            label = key_enum(value).name if key_enum is not None else str(value)
            case_path = f"{path}[{key}={label}]"
            case_rows = layout_rows(case, f"{case_path}.")
            if case_rows:
                yield from case_rows
            else:
                yield FieldRow(case_path, "(empty)", "0", f"when {key} = {value}", leaf)
        return
    if isinstance(node, c.Struct):
        yield from layout_rows(node, f"{path}.")
        return
    yield FieldRow(path, wire_type(node), _size(node), field_meaning(leaf), leaf)


def _is_leaf(node: Any) -> bool:
    return not (
        isinstance(node, (c.Struct, c.Array, c.Switch)) or _prefixed_array_parts(node) is not None
    )


def undocumented_fields() -> list[str]:
    """'MSG.request.path' of every catalog field without a unit or meaning (should be empty)."""
    missing = []
    for spec in CATALOG.values():
        for part, layout in _layouts(spec):
            for row in layout_rows(layout):
                if row.wire_type != "(empty)" and not row.meaning:
                    missing.append(f"{spec.name}.{part}.{row.path}")
    for row in layout_rows(LogRecordLayout):
        if not LOG_RECORD_NOTES.get(row.leaf, row.meaning):
            missing.append(f"log record.{row.path}")
    return missing


def _layouts(spec: MessageSpec) -> list[tuple[str, Any]]:
    if spec.direction is Direction.EVENT:
        return [("event", spec.request)]
    return [("request", spec.request), ("reply", spec.reply)]


# -- Markdown helpers ----------------------------------------------------------------------------


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines.extend("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows)
    return "\n".join(lines)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _roles(spec: MessageSpec) -> str:
    return ", ".join(r.name.lower() for r in sorted(spec.roles))


def _fields_table(msg: MsgType, part: str, layout: Any) -> str:
    rows = layout_rows(layout)
    if not rows:
        return "_empty payload (0 bytes)_"
    return _table(
        ("field", "type", "bytes", "unit / meaning"),
        (
            (
                f"`{r.path}`",
                r.wire_type,
                r.size,
                CONTEXT_NOTES.get((msg, f"{part}.{r.path}"), r.meaning),
            )
            for r in rows
        ),
    )


# -- the generated sections ----------------------------------------------------------------------


def message_index_table() -> str:
    """One row per message: number, name, direction, auth, state-changing, roles, summary."""
    rows = []
    for spec in sorted(CATALOG.values(), key=lambda s: int(s.msg)):
        kind = "request" if spec.direction is Direction.REQUEST else "event"
        rows.append(
            (
                f"`0x{int(spec.msg):02X}`",
                f"[{spec.name}](#{spec.name.lower()})",
                kind,
                _yes(spec.auth),
                _yes(spec.state_changing),
                _roles(spec),
                _yes(spec.streamed),
                spec.summary,
            )
        )
    header = ("type", "name", "kind", "auth", "state-changing", "roles", "streamed", "summary")
    return _table(header, rows)


def message_sections() -> str:
    """A heading per message with its request, reply (or event) field tables."""
    parts: list[str] = []
    for spec in sorted(CATALOG.values(), key=lambda s: int(s.msg)):
        parts.append(f"#### {spec.name}\n")
        if spec.direction is Direction.EVENT:
            parts.append(
                f"`0x{int(spec.msg):02X}`, event (pump -> programmer, flags AUTH|EVENT, "
                f"inside a session only): {spec.summary}.\n"
            )
            parts.append(
                "Event payload:\n\n" + _fields_table(spec.msg, "event", spec.request) + "\n"
            )
            continue
        facts = [
            f"`0x{int(spec.msg):02X}`, request (programmer -> pump)",
            "needs a session" if spec.auth else "no session needed",
            "state-changing (request_id first; executed at most once)"
            if spec.state_changing
            else "read-only",
            f"roles: {_roles(spec)}",
        ]
        if spec.streamed:
            facts.append("reply streamed over several frames (MORE)")
        parts.append("; ".join(facts) + f". {spec.summary[:1].upper()}{spec.summary[1:]}.\n")
        parts.append(
            "Request payload:\n\n" + _fields_table(spec.msg, "request", spec.request) + "\n"
        )
        parts.append(
            "Reply body (after `status` = 0):\n\n"
            + _fields_table(spec.msg, "reply", spec.reply)
            + "\n"
        )
    return "\n".join(parts).rstrip() + "\n"


def error_table() -> str:
    """Every error code: number, name, meaning, retryable, certain/uncertain."""
    rows = (
        (
            str(int(s.code)),
            f"`{s.name}`",
            s.meaning,
            _yes(s.retryable),
            "certain" if s.certain else "**uncertain**",
        )
        for s in sorted(ERROR_TABLE.values(), key=lambda s: int(s.code))
    )
    return _table(("code", "name", "meaning", "retryable", "outcome"), rows)


def _enum_table(enum_type: type[enum.Enum], extra: dict[Any, str] | None = None) -> str:
    is_flag = issubclass(enum_type, enum.Flag)
    head = ("bit value" if is_flag else "value", "name") + (("meaning",) if extra else ())
    rows = []
    for member in enum_type:
        value = f"0x{member.value:02X}" if is_flag else str(member.value)
        row = [value, f"`{member.name}`"]
        if extra is not None:
            row.append(extra.get(member, ""))
        rows.append(row)
    return _table(head, rows)


def enum_tables() -> str:
    """The enumerations that travel in payloads, one small table each."""
    critical = {a: "critical" if a in CRITICAL_ALARMS else "non-critical" for a in AlarmId}
    sections: list[tuple[str, str]] = [
        ("Role", _enum_table(Role)),
        ("TherapyMode", _enum_table(TherapyMode)),
        ("ChangeKind", _enum_table(ChangeKind)),
        ("AlarmId", _enum_table(AlarmId, critical)),
        ("LogId", _enum_table(LogId)),
        ("ResetCause (RESET record `a`)", _enum_table(ResetCause, dict(RESET_CAUSE_MEANINGS))),
        ("RequestState", _enum_table(RequestState)),
        ("Capability (bits of HELLO `capabilities`)", _enum_table(Capability)),
        ("StageWarning (bits of `warnings` / `ack_warnings`)", _enum_table(StageWarning)),
        ("RefillFlag (bits of REFILL `flags`)", _enum_table(RefillFlag)),
        ("LogEvent (record `event`; `a`, `b` arguments)", _enum_table(LogEvent, LOG_EVENT_ARGS)),
    ]
    return "\n\n".join(f"**{title}**\n\n{table}" for title, table in sections) + "\n"


def audit_table() -> str:
    """Which refusal is audited as what, and which counts towards the pairing lockout."""

    def names(codes: Iterable[ErrorCode]) -> str:
        return ", ".join(f"`{code.name}`" for code in sorted(codes))

    auth = [
        code
        for code in ErrorCode
        if category_of(code) is ErrorCategory.AUTHENTICATION
        and code not in PAIRING_REFUSALS | NOT_AUDITED_PER_FRAME | LOCKOUT_FAILURES
    ]
    gated = " or ".join(f"`{m.name}`" for m in sorted(LOCKOUT_COUNTED_FROM))
    rows = [
        (
            f"{names(LOCKOUT_FAILURES)} answering {gated}",
            f"`{audit_event_for(ErrorCode.PAIRING_FAILED).name}`",
            "**yes** (the only one)",
        ),
        (names(auth), f"`{LogEvent.AUTH_FAILURE.name}`", "no"),
        (names(PAIRING_REFUSALS), f"`{LogEvent.PAIRING_REFUSED.name}`", "no"),
        (
            names(NOT_AUDITED_PER_FRAME),
            f"none per frame; the decision is written once as `{LogEvent.PAIRING_REJECTED.name}`",
            "no",
        ),
        (
            "any other code with which the protocol layer refuses a frame (frame and message "
            "shape, request cache: e.g. `MALFORMED_PAYLOAD`, `REQUEST_ID_REUSED`)",
            f"`{LogEvent.REQUEST_REFUSED.name}`",
            "no",
        ),
        (
            "any refusal of a state-changing request by the pump's software (clinical codes, "
            "`BUSY`...)",
            f"`{LogEvent.REQUEST_REFUSED.name}`",
            "no",
        ),
        (
            "a refusal of a read-only request by the pump's software (e.g. `UNKNOWN_LOG`)",
            "none",
            "no",
        ),
    ]
    table = _table(
        ("refusal", "audit record (a = ErrorCode, b = MsgType)", "counts towards lockout"), rows
    )
    return (
        table
        + f"\n\nRefused frames are written one by one up to {AUDIT_BURST} per error code in a "
        f"window of {AUDIT_WINDOW_S} s; beyond that they are counted, and the count is written as one "
        f"`{LogEvent.REJECTIONS_SUPPRESSED.name}` record (a = ErrorCode, b = how many were not "
        "written one by one) when the window ends or before any log is read. Unauthenticated "
        "requests dropped unanswered over the pump's budget (section 1) are counted the same "
        "way under code `BUSY`.\n"
    )


def stage_summary_table() -> str:
    """The stage summary's fields for every change kind."""
    rows = [
        (f"`{kind.name}`", dose, rate, duration)
        for kind, (dose, rate, duration) in STAGE_SUMMARY_BY_KIND.items()
    ]
    return _table(("kind", "`daily_dose_ng`", "`rate_nl_per_day`", "`duration_s`"), rows)


def log_record_table() -> str:
    """The 24-byte log record."""
    rows = []
    offset = 0
    for row in layout_rows(LogRecordLayout):
        meaning = LOG_RECORD_NOTES.get(row.leaf, row.meaning)
        rows.append((str(offset), row.size, f"`{row.path}`", row.wire_type, meaning))
        offset += int(row.size)
    assert offset == LOG_RECORD_SIZE
    return _table(("offset", "bytes", "field", "type", "meaning"), rows)


def _reflect(value: int, width: int) -> int:
    return int(f"{value:0{width}b}"[::-1], 2)


def crc_parameters() -> dict[str, str]:
    """CRC-32C in the usual (Rocksoft) parameter notation, from crcmod's own definition."""
    crc = crcmod.predefined.PredefinedCrc(CRC_NAME)
    width = crc.digest_size * 8
    mask = (1 << width) - 1
    init = crc.initCrc ^ crc.xorOut
    if crc.reverse:
        init = _reflect(init, width)
    return {
        "name": "CRC-32C (Castagnoli; crcmod 'crc-32c')",
        "width": str(width),
        "poly": f"0x{crc.poly & mask:08X}",
        "init": f"0x{init:08X}",
        "refin": str(crc.reverse).lower(),
        "refout": str(crc.reverse).lower(),
        "xorout": f"0x{crc.xorOut:08X}",
        "check": f"0x{crc32c(b'123456789'):08X}",
    }


def constants_table() -> str:
    """Sizes and limits of the framing, and the CRC parameters."""
    crc = crc_parameters()
    rows = [
        ("PROTOCOL_VERSION", str(PROTOCOL_VERSION), "header byte 0"),
        ("HEADER_SIZE", str(HEADER_SIZE), "fixed header bytes"),
        ("AUTH_PREFIX_SIZE", str(AUTH_PREFIX_SIZE), "session_id u32 + counter u64, AUTH only"),
        ("TAG_SIZE", str(TAG_SIZE), "HMAC-SHA256 truncated, AUTH only"),
        ("CRC_SIZE", str(CRC_SIZE), "CRC-32C trailer"),
        ("MAX_PAYLOAD", str(MAX_PAYLOAD), "largest payload"),
        ("MAX_FRAME", str(MAX_FRAME), "largest frame before COBS"),
        ("MIN_FRAME", str(MIN_FRAME), "smallest frame before COBS"),
        (
            "MAX_ENCODED",
            str(max_encoded_size(MAX_FRAME)),
            "largest COBS run between delimiters (delimiter excluded)",
        ),
    ]
    rows += [(f"CRC {key}", value, "") for key, value in crc.items()]
    return _table(("name", "value", "note"), rows)


def flags_table() -> str:
    """Header flag bits and decoder drop reasons."""
    flag_rows = [(f"0x{int(f):02X}", f"`{f.name}`") for f in Flags]
    drops = ", ".join(f"`{d.name}`" for d in DropReason)
    return _table(("bit value", "flag"), flag_rows) + f"\n\nDecoder drop reasons: {drops}.\n"


def generated_sections() -> dict[str, str]:
    """Marker name -> Markdown, for every generated block of docs/PROTOCOL.md."""
    return {
        "constants": constants_table() + "\n",
        "flags": flags_table(),
        "message-index": message_index_table() + "\n",
        "messages": message_sections(),
        "errors": error_table() + "\n",
        "enums": enum_tables(),
        "log-record": log_record_table() + "\n",
        "audit": audit_table(),
        "stage-summary": stage_summary_table() + "\n",
    }
