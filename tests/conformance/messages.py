"""Request bodies the suite sends: therapy changes in clinic units, and a valid body per message.

Why: the tests read as clinic actions ("fill 20 mL at 500 mcg/mL, program 400 mcg/day"), and
this module turns those into the catalog's integer fields (nL, ng, s) in one place.
"""

from __future__ import annotations

from typing import Any

from protocol import CATALOG, AlarmId, ChangeKind, LogId, MsgType, TherapyMode
from protocol.units import DAY_S

from .client import SuiteClient
from .target import BenchChannel

DAY = DAY_S

ML = 1_000_000  # nL per mL
MCG = 1_000  # ng per mcg
HOUR = 3_600


def continuous(mcg_per_day: int) -> dict[str, Any]:
    return {"kind": int(ChangeKind.CONTINUOUS), "params": {"daily_dose_ng": mcg_per_day * MCG}}


def stopped() -> dict[str, Any]:
    return {"kind": int(ChangeKind.STOPPED), "params": {}}


def flex(steps: list[tuple[int, int]]) -> dict[str, Any]:
    """One day program of (start minute, mcg/day) steps, used on every weekday."""
    day = [{"start_minute": m, "daily_dose_ng": mcg * MCG} for m, mcg in steps]
    return {
        "kind": int(ChangeKind.FLEX),
        "params": {"day_programs": [day], "weekday_program": [0] * 7},
    }


def single_bolus(mcg: int, seconds: int) -> dict[str, Any]:
    return {
        "kind": int(ChangeKind.SINGLE_BOLUS),
        "params": {"dose_ng": mcg * MCG, "duration_s": seconds},
    }


def priming_bolus(catheter_mm: int) -> dict[str, Any]:
    return {"kind": int(ChangeKind.PRIMING_BOLUS), "params": {"catheter_length_mm": catheter_mm}}


def bridge_bolus(catheter_mm: int) -> dict[str, Any]:
    return {"kind": int(ChangeKind.BRIDGE_BOLUS), "params": {"catheter_length_mm": catheter_mm}}


def patient_bolus_config(
    mcg: int = 25, seconds: int = 600, per_day: int = 4, lockout_s: int = 3 * HOUR
) -> dict[str, Any]:
    return {
        "enabled": True,
        "dose_ng": mcg * MCG,
        "duration_s": seconds,
        "max_per_day": per_day,
        "lockout_s": lockout_s,
    }


def minimal_body(msg: MsgType, request_id: int) -> dict[str, Any]:
    """A well-formed body for any request (what it would do is beside the point)."""
    bodies: dict[MsgType, dict[str, Any]] = {
        MsgType.UNPAIR: {"key_id": 0},
        MsgType.STAGE_PRESCRIPTION: {"change": continuous(100)},
        MsgType.COMMIT_PRESCRIPTION: {
            "staged_hash": bytes(16),
            "active_version": 0,
            "ack_warnings": 0,
        },
        MsgType.REFILL: {"withdrawn_nl": 0, "added_nl": 20 * ML, "concentration_mcg_per_ml": 500},
        MsgType.STAGE_REFILL: {
            "withdrawn_nl": 0,
            "added_nl": 20 * ML,
            "concentration_mcg_per_ml": 500,
            "bridge": True,
            "catheter_length_mm": 0xFFFF,
        },
        MsgType.COMMIT_REFILL: {"staged_hash": bytes(16), "active_version": 0},
        MsgType.PATIENT_BOLUS_CONFIG: {
            "config": patient_bolus_config(),
            "ack_warnings": 7,  # checked like a dose increase: the soft-limit warnings
            "preview": False,
        },
        MsgType.SET_CLOCK: {"pump_time": 1_767_571_200, "utc_offset_s": 0},
        MsgType.ALARMS_ACK: {"alarms": []},
        MsgType.ALARMS_CONFIG: {"low_reservoir_nl": 2 * ML, "critical_interval_s": 600},
        MsgType.LOG_INFO: {"log": int(LogId.THERAPY)},
        MsgType.LOG_READ: {"log": int(LogId.THERAPY), "cursor": 0, "max_count": 1},
        MsgType.TELEMETRY_SUBSCRIBE: {"interval_s": 0},
        MsgType.REQUEST_STATUS: {"request_id": request_id},
    }
    body = dict(bodies.get(msg, {}))
    if CATALOG[msg].state_changing:
        body["request_id"] = request_id
    return body


def fill(
    client: SuiteClient, ml: int = 20, conc: int = 500, withdrawn_nl: int = 0
) -> dict[str, Any]:
    """REFILL: withdraw ``withdrawn_nl``, add ``ml`` mL at ``conc`` mcg/mL."""
    return client.ok(
        MsgType.REFILL,
        {"withdrawn_nl": withdrawn_nl, "added_nl": ml * ML, "concentration_mcg_per_ml": conc},
    )


def stage(client: SuiteClient, change: dict[str, Any]) -> dict[str, Any]:
    return client.ok(MsgType.STAGE_PRESCRIPTION, {"change": change})


def commit(client: SuiteClient, staged: dict[str, Any], ack: int | None = None) -> int:
    """Commit what ``stage`` returned, acknowledging its warnings unless ``ack`` says otherwise."""
    body = {
        "staged_hash": staged["staged_hash"],
        "active_version": staged["active_version"],
        "ack_warnings": staged["warnings"] if ack is None else ack,
    }
    return int(client.ok(MsgType.COMMIT_PRESCRIPTION, body)["version"])


def program(client: SuiteClient, change: dict[str, Any]) -> int:
    """Stage and commit ``change`` (acknowledging its warnings); returns the new version."""
    return commit(client, stage(client, change))


BOLUS_MODES = {
    int(TherapyMode.SINGLE_BOLUS),
    int(TherapyMode.PRIMING_BOLUS),
    int(TherapyMode.BRIDGE_BOLUS),
    int(TherapyMode.PATIENT_BOLUS),
}


def quiesce(client: SuiteClient, bench: BenchChannel | None) -> dict[str, Any]:
    """End whatever a previous test left running (boluses, titration windows, a stop).

    With a bench: let a day pass.  Without: stop and resume.  Returns the STATUS after.
    """
    if bench is not None:
        bench.advance(DAY + 1)
    status = client.ok(MsgType.STATUS)
    if status["mode"] in BOLUS_MODES or status["bolus_mode"]:
        client.ok(MsgType.STOP)
        status = client.ok(MsgType.STATUS)
    if status["mode"] == TherapyMode.STOPPED and any(
        a["alarm"] == AlarmId.PUMP_STOPPED for a in status["alarms"]
    ):
        client.request(MsgType.RESUME)  # THERAPY_NOT_RUNNING when nothing was programmed
        status = client.ok(MsgType.STATUS)
    return status


def filled_and_running(client: SuiteClient, mcg_per_day: int = 400, conc: int = 500) -> None:
    """Make sure the pump holds drug and runs a continuous program (refill only if needed)."""
    status = client.ok(MsgType.STATUS)
    if status["concentration_mcg_per_ml"] != conc or status["reservoir_nl"] < 5 * ML:
        fill(client, 20, conc, withdrawn_nl=status["reservoir_nl"])
    program(client, continuous(mcg_per_day))
