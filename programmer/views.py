"""Pump replies turned into what people and scripts read: the ``status --json`` document and text.

Why: the JSON keys of ``pumpctl status --json`` are a public contract that scripts and CI parse, so
they are produced in one place, from the pump's integer units, with the unit in every key name
(``daily_dose_mcg``, ``rate_ml_per_day``...).  Floats appear only here, at the user's edge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from protocol.catalog import CATHETER_STORED
from protocol.enums import CRITICAL_ALARMS, AlarmId, ChangeKind, TherapyMode, enum_label
from protocol.units import DAY_S, mcg, ml

from .therapy import WEEKDAYS


def iso_time(unix_s: int) -> str | None:
    """Pump time (Unix seconds, 0 = none) as ISO 8601 UTC, or None."""
    if not unix_s:
        return None
    return datetime.fromtimestamp(unix_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_date(unix_s: int) -> str | None:
    if not unix_s:
        return None
    return datetime.fromtimestamp(unix_s, UTC).strftime("%Y-%m-%d")


def mode_name(mode: int) -> str:
    return enum_label(TherapyMode, mode, "mode_{value}").lower()


def alarm_name(alarm: int) -> str:
    return enum_label(AlarmId, alarm, "alarm_{value}").lower()


def alarm_document(entry: Mapping[str, Any]) -> dict[str, Any]:
    alarm = int(entry["alarm"])
    critical = bool(entry.get("critical", alarm in {int(a) for a in CRITICAL_ALARMS}))
    return {
        "name": alarm_name(alarm),
        "critical": critical,
        "acknowledged": bool(entry.get("acknowledged", False)),
        "raised_at": iso_time(int(entry.get("raised_at", 0))),
        "silenced_until": iso_time(int(entry.get("silenced_until", 0))),
    }


def days_between(start_s: int, end_s: int) -> float | None:
    if not end_s:
        return None
    return round(max(0, end_s - start_s) / DAY_S, 2)


_RESERVOIR_ALARMS = {int(AlarmId.LOW_RESERVOIR), int(AlarmId.RESERVOIR_EMPTY)}


def days_to_low_reservoir(body: Mapping[str, Any]) -> float | None:
    """Days until the estimate reaches the alarm level; 0 once the pump says it is there
    (``low_reservoir`` or ``reservoir_empty`` raised); else None.

    The pump reports no low-reservoir time once the level is passed, so "already low" is told
    apart from "unknown" here by the pump's own alarms: a pump never filled is below the level
    but raises neither, and is not "low now".
    """
    reservoir, level = int(body["reservoir_nl"]), int(body["low_reservoir_nl"])
    if reservoir <= level:
        raised = {int(a["alarm"]) for a in body["alarms"]}
        return 0.0 if raised & _RESERVOIR_ALARMS else None
    return days_between(int(body["pump_time"]), int(body["low_reservoir_time"]))


def status_document(
    body: Mapping[str, Any], prescription: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The ``status --json`` document from a STATUS reply body (and, for the flex steps, a
    READ_PRESCRIPTION body)."""
    now = int(body["pump_time"])
    eri, eos = int(body["eri_time"]), int(body["eos_time"])
    alarms = [alarm_document(a) for a in body["alarms"]]
    names = {a["name"] for a in alarms}
    bolus_mode = int(body["bolus_mode"])
    return {
        "pump_time": iso_time(now),
        "mode": mode_name(int(body["mode"])),
        "prescription_version": int(body["prescription_version"]),
        "daily_dose_mcg": mcg(int(body["daily_dose_ng"])),
        "rate_ml_per_day": ml(int(body["rate_nl_per_day"])),
        "concentration_mcg_per_ml": int(body["concentration_mcg_per_ml"]),
        "reservoir_ml": ml(int(body["reservoir_nl"])),
        "reservoir_capacity_ml": ml(int(body["reservoir_capacity_nl"])),
        "low_reservoir_alarm_ml": ml(int(body["low_reservoir_nl"])),
        "low_reservoir_time": iso_time(int(body["low_reservoir_time"])),
        "days_to_low_reservoir": days_to_low_reservoir(body),
        "empty_time": iso_time(int(body["empty_time"])),
        "days_to_empty": days_between(now, int(body["empty_time"])),
        "alarms": alarms,
        "battery": {
            "remaining_pct": round(int(body["battery_ppm"]) / 10_000, 1),
            "eri": "elective_replacement" in names or (eri != 0 and eri <= now),
            "eos": "end_of_service" in names or (eos != 0 and eos <= now),
            "eri_time": iso_time(eri),
            "eos_time": iso_time(eos),
            "replace_by": iso_date(int(body["replace_by_time"])),
            "projected_replace_by": iso_date(int(body["projected_replace_by_time"])),
        },
        "bolus": None
        if not bolus_mode
        else {
            "mode": mode_name(bolus_mode),
            "remaining_mcg": mcg(int(body["bolus_remaining_ng"])),
            "end_time": iso_time(int(body["bolus_end_time"])),
        },
        "delivered_mcg": mcg(int(body["delivered_ng"])),
        "delivered_ml": ml(int(body["delivered_nl"])),
        "strokes": int(body["strokes"]),
        "critical_interval_s": int(body["critical_interval_s"]),
        "patient_bolus_enabled": bool(body["patient_bolus_enabled"]),
        "delivering": bool(body["delivering"]),
        "patient_bolus": patient_bolus_document(body),
        "week": [
            {"day": day, "total_mcg": mcg(int(body[f"day_total_{day}_ng"]))} for day in WEEKDAYS
        ],
        "flex": flex_document(prescription) if prescription is not None else None,
        "utc_offset_s": int(body["utc_offset_s"]),
        "catheter_cm": _catheter_cm(body),
    }


def _catheter_cm(body: Mapping[str, Any]) -> float | None:
    """The implanted catheter the pump knows (cm), None if it knows none."""
    mm = int(body.get("catheter_length_mm", CATHETER_STORED))
    return None if mm == CATHETER_STORED else mm / 10


def patient_bolus_document(body: Mapping[str, Any]) -> dict[str, Any]:
    """The patient's bolus settings and their use in the last 24 h, from STATUS: given and
    refused are the pump's counts over the window its daily maximum is checked against."""
    now, lockout_end = int(body["pump_time"]), int(body["patient_bolus_lockout_end_time"])
    return {
        "enabled": bool(body["patient_bolus_enabled"]),
        "dose_mcg": mcg(int(body["patient_bolus_dose_ng"])),
        "duration_min": round(int(body["patient_bolus_duration_s"]) / 60, 1),
        "max_per_day": int(body["patient_bolus_max_per_day"]),
        "lockout_min": round(int(body["patient_bolus_lockout_s"]) / 60, 1),
        "given_24h": int(body["patient_boluses_given"]),
        "refused_24h": int(body["patient_boluses_refused"]),
        "left_24h": int(body["patient_boluses_left"]),
        "lockout_until": iso_time(lockout_end),
        "lockout_left_min": round(max(0, lockout_end - now) / 60, 1) if lockout_end else 0.0,
    }


def flex_document(prescription: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The flex week from READ_PRESCRIPTION (None unless the basal program is flex): each
    weekday's steps as the pump holds them."""
    therapy = prescription["therapy"]
    if int(therapy["kind"]) != int(ChangeKind.FLEX):
        return None
    params = therapy["params"]
    programs = params["day_programs"]
    return [
        {
            "day": day,
            "steps": [
                {
                    "start": f"{int(st['start_minute']) // 60:02d}:{int(st['start_minute']) % 60:02d}",
                    "dose_mcg_per_day": mcg(int(st["daily_dose_ng"])),
                }
                for st in programs[int(index)]
            ],
        }
        for day, index in zip(WEEKDAYS, params["weekday_program"], strict=True)
    ]


def _value(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:g} {unit}".strip() if isinstance(value, float) else f"{value} {unit}".strip()


def _replace_by_text(battery: Mapping[str, Any]) -> str:
    """The pump's replacement date: fixed from ERI on, projected by the pump before it."""
    if battery["replace_by"] is not None:
        return str(battery["replace_by"])
    projected = battery.get("projected_replace_by")
    return "-" if projected is None else f"{projected} (projected)"


def status_text(doc: Mapping[str, Any]) -> str:
    """The status document as aligned lines for a terminal."""
    battery = doc["battery"]
    lines = [
        ("pump time", _value(doc["pump_time"])),
        ("mode", doc["mode"]),
        ("daily dose", _value(doc["daily_dose_mcg"], "mcg/day") + _nothing_delivered(doc)),
        ("rate", _value(doc["rate_ml_per_day"], "mL/day") + _motor_only(doc)),
        ("concentration", _value(doc["concentration_mcg_per_ml"], "mcg/mL")),
        (
            "reservoir (estimate)",
            f"{_value(doc['reservoir_ml'], 'mL')} of {_value(doc['reservoir_capacity_ml'], 'mL')}",
        ),
        ("low-reservoir alarm", _value(doc["low_reservoir_alarm_ml"], "mL")),
        ("low reservoir in", _low_reservoir_text(doc)),
        ("catheter", "unknown" if doc["catheter_cm"] is None else _value(doc["catheter_cm"], "cm")),
        (
            "battery",
            f"{battery['remaining_pct']:g} %, replace by {_replace_by_text(battery)}"
            + (" [ERI]" if battery["eri"] else "")
            + (" [EOS]" if battery["eos"] else ""),
        ),
    ]
    if doc.get("bolus"):
        bolus = doc["bolus"]
        lines.append(
            (
                "bolus",
                f"{bolus['mode']}: {bolus['remaining_mcg']:g} mcg left, ends {bolus['end_time']}",
            )
        )
    lines.extend(_week_lines(doc))
    lines.extend(_patient_bolus_lines(doc["patient_bolus"]))
    lines.append(("alarms", alarms_text(doc["alarms"]) or "none"))
    if doc.get("clock"):  # the pump's local time against this computer's (status command)
        clock = doc["clock"]
        lines.append(("local time", f"{clock['pump_local_time']} ({clock['pump_utc_offset']})"))
    width = max(len(k) for k, _ in lines)
    text = "\n".join(f"{k:<{width}}  {v}" for k, v in lines)
    if doc.get("clock") and doc["clock"]["warning"]:
        text += "\nWARNING: " + doc["clock"]["warning"]
    if doc["mode"] == "stopped":
        text += "\nTHE PUMP IS STOPPED: " + _stopped_hint(doc)
    return text


def _nothing_delivered(doc: Mapping[str, Any]) -> str:
    if doc["delivering"] or doc["mode"] == "stopped":
        return ""
    return " (nothing is delivered)"


def _motor_only(doc: Mapping[str, Any]) -> str:
    """The pump reports the motor's flow; on an empty reservoir it pushes no drug."""
    if doc["delivering"] or not doc["rate_ml_per_day"]:
        return ""
    return " of motor flow, no drug (the reservoir is empty)"


def _week_lines(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The flex week, a line per weekday: the pump's day total and its steps."""
    if not doc.get("flex"):
        return []
    lines = []
    for total, day in zip(doc["week"], doc["flex"], strict=True):
        steps = ", ".join(f"{s['start']} {s['dose_mcg_per_day']:g}" for s in day["steps"])
        lines.append((f"flex {day['day']}", f"{total['total_mcg']:g} mcg ({steps} mcg/day)"))
    return lines


def _patient_bolus_lines(pb: Mapping[str, Any]) -> list[tuple[str, str]]:
    if not pb["enabled"]:
        return [("patient bolus", "off")]
    lockout = (
        f"lockout {pb['lockout_left_min']:g} min left (until {pb['lockout_until']})"
        if pb["lockout_until"]
        else "no lockout running"
    )
    return [
        (
            "patient bolus",
            f"{pb['dose_mcg']:g} mcg over {pb['duration_min']:g} min, up to {pb['max_per_day']} "
            f"per 24 h, lockout {pb['lockout_min']:g} min",
        ),
        (
            "patient boluses 24 h",
            f"{pb['given_24h']} given, {pb['refused_24h']} refused, {pb['left_24h']} left; "
            + lockout,
        ),
    ]


def _stopped_hint(doc: Mapping[str, Any]) -> str:
    """What brings delivery back, from the pump's own alarms: the resume hint only where the
    pump accepts a resume."""
    names = {a["name"] for a in doc["alarms"]}
    if doc["battery"]["eos"]:
        return "battery end of service; replace the pump."
    if "motor_stall" in names:
        return (
            "the motor is stalled; the pump tries it again regularly and resumes by itself when"
            " it turns (`pumpctl resume` tries at once)."
        )
    if "pump_stopped" in names:
        return "no drug is delivered until `pumpctl resume`."
    if "reservoir_empty" in names:
        return "the reservoir is empty; refill it (`pumpctl refill`)."
    if doc["reservoir_ml"] == 0:
        return "the reservoir is not filled; fill it (`pumpctl refill`), then program therapy."
    return "no therapy is programmed; program one (`pumpctl program`)."


def _low_reservoir_text(doc: Mapping[str, Any]) -> str:
    days = doc["days_to_low_reservoir"]
    if days == 0:
        return f"now (the estimate is at or below {_value(doc['low_reservoir_alarm_ml'], 'mL')})"
    if days is None:
        if doc["reservoir_ml"] == 0:
            return "- (the reservoir is not filled)"
        return "- (no delivery programmed)"
    return f"{_value(days, 'days')} ({_value(doc['low_reservoir_time'])})"


def alarms_text(alarms: Iterable[Mapping[str, Any]]) -> str:
    parts = []
    for alarm in alarms:
        label = alarm["name"] + (" (CRITICAL)" if alarm["critical"] else "")
        if alarm.get("acknowledged"):
            label += " [acknowledged]"
        parts.append(label)
    return ", ".join(parts)
