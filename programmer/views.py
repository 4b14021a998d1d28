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
from protocol.enums import CRITICAL_ALARMS, AlarmId, TherapyMode, enum_label
from protocol.units import DAY_S, mcg, ml


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


def status_document(body: Mapping[str, Any]) -> dict[str, Any]:
    """The ``status --json`` document from a STATUS reply body."""
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
        "catheter_cm": _catheter_cm(body),
    }


def _catheter_cm(body: Mapping[str, Any]) -> float | None:
    """The implanted catheter the pump knows (cm), None if it knows none."""
    mm = int(body.get("catheter_length_mm", CATHETER_STORED))
    return None if mm == CATHETER_STORED else mm / 10


def _value(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:g} {unit}".strip() if isinstance(value, float) else f"{value} {unit}".strip()


def status_text(doc: Mapping[str, Any]) -> str:
    """The status document as aligned lines for a terminal."""
    battery = doc["battery"]
    lines = [
        ("pump time", _value(doc["pump_time"])),
        ("mode", doc["mode"]),
        ("daily dose", _value(doc["daily_dose_mcg"], "mcg/day")),
        ("rate", _value(doc["rate_ml_per_day"], "mL/day")),
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
            f"{battery['remaining_pct']:g} %, replace by {_value(battery['replace_by'])}"
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
    lines.append(("alarms", alarms_text(doc["alarms"]) or "none"))
    width = max(len(k) for k, _ in lines)
    text = "\n".join(f"{k:<{width}}  {v}" for k, v in lines)
    if doc["mode"] == "stopped":
        text += "\nTHE PUMP IS STOPPED: " + _stopped_hint(doc)
    return text


def _stopped_hint(doc: Mapping[str, Any]) -> str:
    """What brings delivery back, from the pump's own alarms: the resume hint only where the
    pump accepts a resume."""
    names = {a["name"] for a in doc["alarms"]}
    if doc["battery"]["eos"]:
        return "battery end of service; replace the pump."
    if names & {"pump_stopped", "motor_stall"}:
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
