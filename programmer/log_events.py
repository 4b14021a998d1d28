"""Log record arguments in words: ``alarm_raised alarm=refill_reminder`` instead of ``a=9 b=0``.

Why: every log record carries two bare signed integers whose meaning depends on its event (an
alarm id, a change kind, nanolitres, an error code...).  A clinician reading ``pumpctl log`` must
not have to look those numbers up, so each event's arguments are named and converted to the
units people read (mcg, mL, seconds) here, in one table.  Raw ``a`` and ``b`` stay in the JSON
output for scripts; this is an addition, never a replacement.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

from protocol.audit import WriteAudit, WriteChoice
from protocol.catalog import MsgType, StageWarning
from protocol.enums import AlarmId, ChangeKind, LogEvent, ResetCause, Role, TherapyMode, enum_label
from protocol.errors import ErrorCode
from protocol.units import format_utc_offset, mcg, ml

from .views import iso_time

Decoder = Callable[[int, int], dict[str, Any]]


def _name(kind: type[enum.IntEnum], value: int) -> str:
    return enum_label(kind, value, kind.__name__.lower() + "_{value}").lower()


def _therapy_changed(a: int, b: int) -> dict[str, Any]:
    kind = _name(ChangeKind, a)
    if a in (ChangeKind.STOPPED, ChangeKind.CONTINUOUS, ChangeKind.FLEX):
        return {"change": kind, "daily_dose_mcg": mcg(b)}
    return {"change": kind, "dose_mcg": mcg(b)}


_DECODERS: dict[LogEvent, Decoder] = {
    LogEvent.RESET: lambda a, b: {"cause": enum_label(ResetCause, a, "cause_{value}").lower()},
    LogEvent.THERAPY_CHANGED: _therapy_changed,
    LogEvent.BOLUS_STARTED: lambda a, b: {"mode": _name(TherapyMode, a), "dose_mcg": mcg(b)},
    LogEvent.BOLUS_COMPLETED: lambda a, b: {
        "mode": _name(TherapyMode, a),
        "delivered_mcg": mcg(b),
    },
    LogEvent.REFILL: lambda a, b: {"added_ml": ml(a), "discrepancy_ml": ml(b)},
    LogEvent.PUMP_STOPPED: lambda a, b: {},
    LogEvent.PUMP_RESUMED: lambda a, b: {},
    LogEvent.CLOCK_CHANGED: lambda a, b: {
        "change_s": a,
        **({"previous_time": _time(b)} if b else {}),
    },
    LogEvent.PATIENT_BOLUS_CONFIGURED: lambda a, b: {"dose_mcg": mcg(a), "max_per_day": b},
    LogEvent.PATIENT_BOLUS_REFUSED: lambda a, b: {"error": _name(ErrorCode, a)},
    LogEvent.SAFE_MINIMUM_ENTERED: lambda a, b: {"cause": _name(AlarmId, a)},
    LogEvent.DAILY_TOTAL: lambda a, b: {"delivered_mcg": mcg(a), "programmed_mcg": mcg(b)},
    LogEvent.UTC_OFFSET_CHANGED: lambda a, b: {
        "utc_offset": format_utc_offset(a),
        "previous_utc_offset": format_utc_offset(b),
    },
    LogEvent.MOTOR_STALLED: lambda a, b: {"strokes_missed": a},
    LogEvent.MOTOR_RECOVERED: lambda a, b: {"stalled_s": a, "trial_strokes": b},
    LogEvent.BRIDGE_SKIPPED: lambda a, b: {
        "skipped_by": {1: "clinician", 2: "one_shot_refill"}.get(a, f"reason_{a}"),
        "old_concentration_mcg_per_ml": b,
    },
    LogEvent.CATHETER_SET: lambda a, b: {"catheter_cm": a / 10},
    LogEvent.ALARM_RAISED: lambda a, b: {"alarm": _name(AlarmId, a)},
    LogEvent.ALARM_CLEARED: lambda a, b: {"alarm": _name(AlarmId, a)},
    LogEvent.ALARM_ACKNOWLEDGED: lambda a, b: {"alarm": _name(AlarmId, a)},
    LogEvent.ALARM_TEST: lambda a, b: {},
    LogEvent.ALARM_CONFIG_CHANGED: lambda a, b: {
        "low_reservoir_ml": ml(a),
        "critical_interval_s": b,
    },
    LogEvent.PAIRED: lambda a, b: {"key_id": _key_id(a), "role": _name(Role, b)},
    LogEvent.UNPAIRED: lambda a, b: {
        "key_id": _key_id(a),
        **({"role": _name(Role, b)} if b else {}),
    },
    LogEvent.SESSION_OPENED: lambda a, b: {"key_id": _key_id(a), "session_id": _key_id(b)},
    LogEvent.AUTH_FAILURE: lambda a, b: {"error": _name(ErrorCode, a), "message": _msg(b)},
    LogEvent.PAIRING_REFUSED: lambda a, b: {"error": _name(ErrorCode, a)},
    LogEvent.LOCKOUT_STARTED: lambda a, b: {"lockout_s": a},
    LogEvent.REQUEST_REFUSED: lambda a, b: {"error": _name(ErrorCode, a), "message": _msg(b)},
    LogEvent.REJECTIONS_SUPPRESSED: lambda a, b: {"error": _name(ErrorCode, a), "count": b},
    LogEvent.NVM_RECOVERED: lambda a, b: {"bank": a},
    LogEvent.PAIRING_REJECTED: lambda a, b: {"role": _name(Role, a), "error": _name(ErrorCode, b)},
    LogEvent.PATIENT_PAIRING_AUTHORIZED: lambda a, b: {"key_id": _key_id(a), "valid_s": b},
}


def write_accepted(a: int, b: int, flags: int) -> dict[str, Any]:
    """WRITE_ACCEPTED: who (key id, role) carried out which request, with its change kind,
    the warnings acknowledged (by name) and the bridge choice, when there is one."""
    write = WriteAudit.from_record(a, b, flags)
    doc: dict[str, Any] = {
        "key_id": _key_id(write.key_id),
        "role": _name(Role, write.role) if write.role else "none",
        "message": _msg(write.msg),
    }
    if write.msg == MsgType.COMMIT_PRESCRIPTION:
        doc["change"] = _name(ChangeKind, write.detail)
    if write.acknowledged or write.msg == MsgType.COMMIT_PRESCRIPTION:
        doc["acknowledged"] = (
            ",".join(str(w.name).lower() for w in StageWarning if w & write.acknowledged) or "none"
        )
    if write.choice:
        doc["choice"] = _name(WriteChoice, write.choice)
    return doc


def _time(value: int) -> str | None:
    """A pump time the log carries in a signed argument (its 32 bits); None for 0."""
    return iso_time(value & 0xFFFFFFFF)


def _key_id(value: int) -> str:
    """Key and session ids are unsigned 32-bit on the pump; the log stores them signed."""
    return f"{value & 0xFFFFFFFF:#010x}"


def _msg(value: int) -> str:
    return _name(MsgType, value) if value else "none"


def decode_arguments(event: int, a: int, b: int, flags: int = 0) -> dict[str, Any]:
    """The named arguments of one log record (an empty dict for an event without any).

    An unknown event keeps its raw numbers as ``{"a": a, "b": b}``.  ``flags`` matters to
    WRITE_ACCEPTED only (the warnings acknowledged).
    """
    if event == LogEvent.WRITE_ACCEPTED:
        return write_accepted(a, b, flags)
    try:
        decoder = _DECODERS[LogEvent(event)]
    except (ValueError, KeyError):
        return {"a": a, "b": b}
    return decoder(a, b)


def arguments_text(arguments: dict[str, Any]) -> str:
    """``alarm=refill_reminder``, ``added_ml=20 discrepancy_ml=0``..."""
    return " ".join(
        f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
        for key, value in arguments.items()
    )
