"""Every ``pumpctl`` command against a real ``vpump serve``, as scripts call it (``--json``).

Each test drives the real console script in a subprocess (no terminal, so ``--yes`` is given
where the command changes the pump) and checks the exit code, the public JSON keys and what the
pump then reports - over the protocol, or the truth on the bench where the protocol cannot tell.
"""

from __future__ import annotations

import json
import stat
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from .harness import ServedPump

pytestmark = pytest.mark.integration

STATUS_KEYS = {
    "mode",
    "daily_dose_mcg",
    "rate_ml_per_day",
    "concentration_mcg_per_ml",
    "reservoir_ml",
    "reservoir_capacity_ml",
    "low_reservoir_alarm_ml",
    "days_to_low_reservoir",
    "alarms",
    "battery",
    "pump_time",
}
ALARM_NAMES = {
    "low_reservoir",
    "reservoir_empty",
    "elective_replacement",
    "end_of_service",
    "motor_stall",
    "low_battery_reset",
    "memory_error",
    "pump_stopped",
    "refill_reminder",
}


def ok(pump: ServedPump, *args: str) -> dict[str, Any]:
    result = pump.pumpctl("--json", "--yes", *args)
    assert result.code == 0, result
    doc = result.json
    assert doc["ok"] is True
    return doc


def status(pump: ServedPump) -> dict[str, Any]:
    return ok(pump, "status")


def test_identify_needs_no_pairing_and_names_the_pump(pump: ServedPump) -> None:
    doc = ok(pump, "identify")
    assert doc["serial_number"] == pump.identity["serial_number"]
    assert doc["model"] == "VP-20"
    assert doc["pairing_window_open"] is False
    assert doc["paired_with_this_programmer"] is False
    assert {"firmware_version", "protocol", "capabilities", "paired_keys"} <= set(doc)


def test_pair_stores_a_private_key_under_the_xdg_config_directory(pump: ServedPump) -> None:
    refused = pump.pumpctl("--json", "pair")
    assert refused.code == 3, refused  # the wand is not over the pump
    assert "PAIRING_WINDOW_CLOSED" in refused.json["message"]

    doc = pump.pair().json
    keystore = Path(pump.env["XDG_CONFIG_HOME"]) / "intrathecal-pump" / "keys.json"
    assert doc["keystore"] == str(keystore)
    assert doc["role"] == "clinician" and doc["serial_number"] == pump.identity["serial_number"]
    assert stat.S_IMODE(keystore.stat().st_mode) == 0o600
    assert doc["serial_number"] in json.loads(keystore.read_text())["pumps"]
    assert ok(pump, "identify")["paired_with_this_programmer"] is True


def test_a_patient_key_reads_but_cannot_program(pump: ServedPump) -> None:
    clinic = str(pump.workdir / "clinic-keys.json")  # the clinician's programmer
    pump.pair("clinician", "--keystore", clinic)
    ok(pump, "--keystore", clinic, "pairings", "authorize-patient")
    pump.pair("patient")  # the patient's remote
    assert status(pump)["mode"] == "stopped"
    refused = pump.pumpctl("--json", "--yes", "program", "continuous", "--dose", "400mcg/day")
    assert refused.code == 3, refused
    assert "ROLE_NOT_PERMITTED" in refused.json["message"]


def test_unpair_makes_the_pump_and_the_key_store_forget(paired_pump: ServedPump) -> None:
    doc = ok(paired_pump, "unpair")
    assert doc["unpaired"] is True and "finish" in doc
    after = paired_pump.pumpctl("--json", "status")
    assert after.code == 3, after
    assert paired_pump.bench("hw-status")["paired_keys"] == 0


def test_status_json_has_every_contract_key_with_its_type(filled_pump: ServedPump) -> None:
    doc = status(filled_pump)
    assert set(doc) >= STATUS_KEYS
    assert isinstance(doc["mode"], str)
    for key in ("daily_dose_mcg", "rate_ml_per_day", "reservoir_ml", "reservoir_capacity_ml"):
        assert isinstance(doc[key], float), key
    assert isinstance(doc["concentration_mcg_per_ml"], int)
    assert {"eri", "eos", "replace_by"} <= set(doc["battery"])
    assert doc["battery"]["eri"] is False and doc["battery"]["eos"] is False
    assert doc["pump_time"].endswith("Z")
    filled_pump.advance("71d")  # the refill reminder and then the low-reservoir alarm
    filled_pump.advance("2d")
    alarms = status(filled_pump)["alarms"]
    assert alarms, "expected alarms after 73 days"
    for alarm in alarms:
        assert {"name", "critical"} <= set(alarm)
        assert alarm["name"] in ALARM_NAMES
        assert isinstance(alarm["critical"], bool)


def test_program_flex_then_stop_program_and_continuous_again(filled_pump: ServedPump) -> None:
    doc = ok(
        filled_pump,
        "program",
        "flex",
        "--step",
        "00:00=400mcg/day",
        "--step",
        "07:00=500mcg/day",
    )
    assert doc["finish"]["new"]["therapy"].startswith("flex")
    assert status(filled_pump)["mode"] == "flex"

    ok(filled_pump, "program", "stop")
    stopped = status(filled_pump)
    assert stopped["mode"] == "stopped" and stopped["rate_ml_per_day"] == 0
    assert {"name": "pump_stopped", "critical": True}.items() <= stopped["alarms"][0].items()

    ok(filled_pump, "program", "continuous", "--dose", "450mcg/day")
    running = status(filled_pump)
    assert running["mode"] == "continuous" and running["daily_dose_mcg"] == 450


def test_stop_and_resume_keep_the_prescription(filled_pump: ServedPump) -> None:
    doc = ok(filled_pump, "stop")
    assert doc["stopped"] is True
    assert status(filled_pump)["mode"] == "stopped"
    before = filled_pump.bench("hw-status")["strokes"]
    filled_pump.advance("1d")
    assert filled_pump.bench("hw-status")["strokes"] == before  # stopped means no delivery
    assert ok(filled_pump, "resume")["mode"] == "continuous"
    assert status(filled_pump)["daily_dose_mcg"] == 500


def test_bolus_delivers_its_dose_then_returns_to_basal(filled_pump: ServedPump) -> None:
    ok(filled_pump, "bolus", "--dose", "50mcg", "--over", "1h")
    during = status(filled_pump)
    assert during["bolus"]["mode"] == "single_bolus"
    assert during["bolus"]["remaining_mcg"] == pytest.approx(50, abs=0.5)
    filled_pump.advance("1d")
    after = status(filled_pump)
    assert after["bolus"] is None and after["mode"] == "continuous"
    # the bolus hour replaces the basal hour: 50 mcg + 23 h of 500 mcg/day
    assert after["delivered_mcg"] == pytest.approx(50 + 500 * 23 / 24, abs=1.5)


def test_prime_fills_tubing_and_catheter(paired_pump: ServedPump) -> None:
    ok(
        paired_pump,
        "refill",
        "--withdrawn",
        "0mL",
        "--added",
        "20mL",
        "--concentration",
        "500mcg/mL",
    )
    doc = ok(paired_pump, "prime", "--catheter-length", "60cm")
    assert "priming" in doc["action"]
    paired_pump.advance("1d")
    primed_ml = 0.140 + 60 * 0.0026  # pump tubing + catheter (profile figures)
    assert status(paired_pump)["reservoir_ml"] == pytest.approx(20 - primed_ml, abs=0.001)


def test_refill_reports_a_discrepancy_and_a_skipped_bridge_is_programmed_later(
    filled_pump: ServedPump,
) -> None:
    """The refill includes the bridge unless the clinician skips it (``--no-bridge``, logged);
    the catheter it names is stored, so the later ``pumpctl bridge`` needs no length."""
    filled_pump.advance("10d")
    expected_ml = status(filled_pump)["reservoir_ml"]
    withdrawn = f"{expected_ml - 2:.3f}mL"  # 2 mL missing: the pocket-fill signal
    doc = ok(
        filled_pump,
        "refill",
        "--withdrawn",
        withdrawn,
        "--added",
        "18mL",
        "--concentration",
        "1000mcg/mL",
        "--catheter-length",
        "60cm",
        "--no-bridge",
    )
    assert doc["expected_ml"] == pytest.approx(expected_ml)
    assert doc["discrepancy_ml"] == pytest.approx(-2, abs=0.001)
    assert doc["discrepancy_warning"] is True
    assert doc["concentration_changed"] is True and doc["bridge_skipped"] is True
    assert doc["reservoir_ml"] == pytest.approx(18)
    assert status(filled_pump)["concentration_mcg_per_ml"] == 1000
    assert status(filled_pump)["catheter_cm"] == 60
    bridge = ok(filled_pump, "--ack-warnings", "bridge")
    assert "bridge" in bridge["action"]
    assert status(filled_pump)["bolus"]["mode"] == "bridge_bolus"


def test_patient_bolus_is_configured_then_granted_within_limits(filled_pump: ServedPump) -> None:
    # checked like a dose increase: 2 x 25 mcg on a therapy started today is a second increase
    # within 24 h, a warning to acknowledge
    doc = ok(
        filled_pump,
        "--ack-warnings",
        "patient-bolus",
        "config",
        "--dose",
        "25mcg",
        "--over",
        "10min",
        "--max-per-day",
        "2",
        "--lockout",
        "3h",
    )
    assert doc["configured"] is True
    assert status(filled_pump)["patient_bolus_enabled"] is True
    granted = ok(filled_pump, "patient-bolus", "request")
    assert granted["dose_mcg"] == 25
    too_soon = filled_pump.pumpctl("--json", "--yes", "patient-bolus", "request")
    assert too_soon.code == 1, too_soon  # inside the 3 h lockout
    filled_pump.advance("4h")
    assert ok(filled_pump, "patient-bolus", "request")["dose_mcg"] == 25


def test_alarms_list_acknowledge_test_and_configure(filled_pump: ServedPump) -> None:
    ok(filled_pump, "stop")
    listed = ok(filled_pump, "alarms")
    assert [a["name"] for a in listed["alarms"]] == ["pump_stopped"]
    assert listed["low_reservoir_alarm_ml"] == 2.0

    acked = ok(filled_pump, "alarms", "--ack")
    assert acked["acknowledged"] == 1
    assert acked["alarms"][0]["acknowledged"] is True

    tones_before = len(filled_pump.bench("hw-status")["tones"])
    assert ok(filled_pump, "alarms", "--test")["tone_test"] is True
    assert len(filled_pump.bench("hw-status")["tones"]) > tones_before

    ok(filled_pump, "resume")
    configured = ok(
        filled_pump, "alarms", "config", "--low-reservoir", "4mL", "--critical-interval", "5min"
    )
    assert configured["low_reservoir_alarm_ml"] == 4.0 and configured["critical_interval_s"] == 300
    doc = status(filled_pump)
    assert doc["low_reservoir_alarm_ml"] == 4.0
    assert doc["days_to_low_reservoir"] == pytest.approx((20 - 4) / 0.25, abs=0.01)


@pytest.mark.parametrize("which", ["therapy", "alarm", "audit"])
def test_log_download_by_cursor_and_to_a_file(
    filled_pump: ServedPump, which: str, tmp_path: Path
) -> None:
    filled_pump.advance("80d")  # daily totals, alarms raised and cleared
    whole = ok(filled_pump, "log", which)
    records = whole["records"]
    assert whole["count"] == len(records) > 0 and whole["bad_checks"] == 0
    seqs = [r["seq"] for r in records]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    for record in records:
        assert {"seq", "time", "event", "a", "b", "decoded", "check_ok"} <= set(record)

    since = seqs[len(seqs) // 2]
    tail = ok(filled_pump, "log", which, "--since", str(since))
    tail_seqs = [r["seq"] for r in tail["records"]]
    # the audit log grows with every session (SESSION_OPENED), so only the prefix is known
    assert tail_seqs[: len(seqs) - len(seqs) // 2] == seqs[len(seqs) // 2 :]

    out = tmp_path / f"{which}.jsonl"
    saved = ok(filled_pump, "log", which, "--out", str(out))
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert saved["out"] == str(out) and saved["count"] == len(lines)
    assert [r["seq"] for r in lines][: len(seqs)] == seqs


def test_log_text_names_alarm_arguments(filled_pump: ServedPump) -> None:
    filled_pump.advance("73d")
    text = filled_pump.pumpctl("log", "alarm")
    assert text.code == 0, text
    assert "alarm=low_reservoir" in text.out
    assert "a=" not in text.out


def test_watch_streams_telemetry_and_alarm_events_as_time_advances(
    filled_pump: ServedPump,
) -> None:
    import subprocess

    from .harness import PUMPCTL

    filled_pump.advance("71d")  # the next stop on the way: the 2 mL crossing a day later
    argv = [
        *PUMPCTL,
        "--port",
        filled_pump.port,
        "--json",
        "watch",
        "--interval",
        "3600",
        "--count",
        "4",
        "--duration",
        "20",
    ]
    watcher = subprocess.Popen(
        argv,
        env=filled_pump.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while watcher.poll() is None and time.monotonic() < deadline:
            filled_pump.advance("6h")
            try:
                watcher.wait(timeout=0.2)  # the watcher's own pace, not a readiness sleep
            except subprocess.TimeoutExpired:
                continue
        out, err = watcher.communicate(timeout=10)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    assert watcher.returncode == 0, err
    # Specification changed by issue 12: --json watch streams JSON lines, one per event.
    events = [json.loads(line) for line in out.splitlines()]
    assert len(events) == 4
    kinds = {e["type"] for e in events}
    assert "telemetry" in kinds
    for event in events:
        if event["type"] == "telemetry":
            assert {"pump_time", "mode", "rate_ml_per_day", "reservoir_ml"} <= set(event)


def test_clock_sync_sets_the_pump_to_this_computers_time(filled_pump: ServedPump) -> None:
    doc = ok(filled_pump, "clock", "sync")
    assert {"previous_time", "pump_time", "adjusted_s"} <= set(doc)
    shown = datetime.fromisoformat(status(filled_pump)["pump_time"].replace("Z", "+00:00"))
    assert abs(shown.timestamp() - time.time()) < 60
    assert doc["previous_time"] == "2026-01-05T00:00:00Z"  # the factory clock, frozen (lockstep)
