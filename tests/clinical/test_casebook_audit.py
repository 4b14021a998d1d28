"""Casebook: an audit trail a device needs (issue 11, item 13).

Every write the pump carries out leaves a WRITE_ACCEPTED record in the audit log: who (the
session's key id and role), what (the message, and for a commit the kind of change), and the
warnings the clinician acknowledged.  The daily totals have a ring of their own, so years of them,
zeros after end of service included, never push the implant and refill records out of the
therapy log.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hw_sim.link.loopback import Loopback
from hw_sim.scenarios.scenario import parse_scenario
from hw_sim.scenarios.scenario_runner import ScenarioRunner
from programmer import PumpClient, therapy
from programmer.commands.log_cmds import record_document
from protocol import LogId
from protocol.enums import LogEvent
from tests.clinical.visit import clinic_visit

pytestmark = pytest.mark.timeout(120)

DAY = 86_400


@pytest.fixture(params=["vp20", "vp40"])
def visit(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Loopback, PumpClient]]:
    with clinic_visit(request.param, "VP20-000079", tmp_path / "keys") as pair:
        yield pair


def _audit(client: PumpClient) -> list[dict[str, Any]]:
    return [record_document(r) for r in client.log_read(LogId.AUDIT)]


def _writes(client: PumpClient) -> list[dict[str, Any]]:
    return [d["decoded"] for d in _audit(client) if d["event"] == "write_accepted"]


def test_a_commit_is_audited_with_its_key_role_and_acknowledged_warnings(
    visit: tuple[Loopback, PumpClient],
) -> None:
    """Fill 20 mL of 2000 mcg/mL, start 100 mcg/day, and two days later raise it to 200 mcg/day:
    +100 % is above the 30 % titration limit, so the commit acknowledges
    TITRATION_INCREASE_OVER_LIMIT.  The audit log names the paired clinician key (the same id
    as its PAIRED record) on the refill and on both commits, the second with the warning."""
    loop, client = visit
    client.refill(0, 20_000_000, 2000)
    staged = client.stage(therapy.continuous(100_000))
    client.commit(staged, staged.warnings)
    loop.advance(2 * DAY)
    staged = client.stage(therapy.continuous(200_000))
    assert staged.warnings == 2  # TITRATION_INCREASE_OVER_LIMIT
    client.commit(staged, staged.warnings)
    records = _audit(client)
    key_id = next(d["decoded"]["key_id"] for d in records if d["event"] == "paired")
    writes = _writes(client)
    assert writes == [
        {"key_id": key_id, "role": "clinician", "message": "refill"},
        {
            "key_id": key_id,
            "role": "clinician",
            "message": "commit_prescription",
            "change": "continuous",
            "acknowledged": "none",
        },
        {
            "key_id": key_id,
            "role": "clinician",
            "message": "commit_prescription",
            "change": "continuous",
            "acknowledged": "titration_increase_over_limit",
        },
    ]
    last = next(d for d in reversed(records) if d["event"] == "write_accepted")
    assert last["flags"] == 2  # the acknowledged warnings travel in the record's flags


def test_stop_resume_alarm_settings_and_patient_bolus_settings_are_audited(
    visit: tuple[Loopback, PumpClient],
) -> None:
    """On 500 mcg/day: stop, resume, move the low-reservoir alarm to 3 mL, configure a 50 mcg
    patient bolus, set the clock.  Each write leaves one record naming the clinician key; a
    refused write (a resume while running) leaves a REQUEST_REFUSED record and no write."""
    _loop, client = visit
    client.refill(0, 20_000_000, 2000)
    staged = client.stage(therapy.continuous(500_000))
    client.commit(staged, staged.warnings)
    client.stop()
    client.resume()
    with pytest.raises(Exception, match="refused"):
        client.resume()
    client.configure_alarms(3_000_000, 600)
    # 3 x 50 mcg on 500 mcg/day is a second increase within 24 h: acknowledged like one
    check = client.configure_patient_bolus(50_000, 600, 3, 7200, preview=True)
    client.configure_patient_bolus(50_000, 600, 3, 7200, ack_warnings=check["warnings"])
    client.set_clock(int(client.status()["pump_time"]))
    messages = [w["message"] for w in _writes(client)]
    assert messages == [
        "refill",
        "commit_prescription",
        "stop",
        "resume",
        "alarms_config",
        "patient_bolus_config",
        "set_clock",
    ]
    assert {w["role"] for w in _writes(client)} == {"clinician"}
    refused = [d for d in _audit(client) if d["event"] == "request_refused"]
    assert [d["decoded"]["message"] for d in refused] == ["resume"]


@pytest.mark.parametrize("name", ["vp20", "vp40"])
def test_seven_years_to_end_of_service_keep_the_implant_and_refill_records(name: str) -> None:
    """Implant: fill at 1000 mcg/mL, 100 mcg/day (0.1 mL/day), refilled whenever below 2.5 mL.
    The battery reaches ERI after 2,434 days (6.66 years: 1.9332e12 nAs / (777,600,000 + 400 x
    41,806) nAs a day = 2,433.8, docs/CLINICAL.md "Battery life") and end of service 90 days
    later; the pump then stays implanted two more years (730 days), writing a zero daily total
    every day.  About 2,525 + 730 = 3,255 daily totals: more than the therapy ring's 2,048,
    fewer than the daily ring's 4,096.  So the therapy log still starts at record 1 (RESET, the implant fill,
    the first program) and holds every refill, and the daily ring holds every day, the last
    ones zero (nothing is delivered after end of service)."""
    scenario = parse_scenario(
        {
            "seed": 1,
            "profile": name,
            "action": [
                {"at": "0d", "do": "refill", "concentration": 1000},
                {"at": "1h", "do": "continuous", "mcg_per_day": 100},
            ],
            "refill_rule": {"below_ml": 2.5},
        }
    )
    runner = ScenarioRunner(scenario)
    report = runner.run()
    assert 6.6 <= report["eri_day"] / 365.25 <= 6.7
    board = runner.board
    board.run_until(board.now + 730 * DAY)
    fw = runner.firmware
    therapy_log = fw.log_read(LogId.THERAPY, 0, 100_000)
    assert fw.log_info(LogId.THERAPY).first_seq == 1
    assert [LogEvent(r.event) for r in therapy_log[:3]] == [
        LogEvent.RESET,
        LogEvent.REFILL,
        LogEvent.THERAPY_CHANGED,
    ]
    refills = [r for r in therapy_log if r.event == LogEvent.REFILL]
    assert len(refills) == len(report["refills"])  # the implant fill and every refill
    assert all(r.event != LogEvent.DAILY_TOTAL for r in therapy_log)
    daily = fw.log_read(LogId.DAILY, 0, 100_000)
    days = int(report["eos_day"]) + 730
    assert days > 2_048
    assert fw.log_info(LogId.DAILY).first_seq == 1
    assert len(daily) >= days
    # day 0 runs from the 01:00 start: 100 x 23/24 = 95.8 mcg; day 1 is a whole 100 mcg
    assert daily[0].a == pytest.approx(95_833, abs=300)
    assert daily[1].a == pytest.approx(100_000, abs=300)
    assert [r.a for r in daily[-700:]] == [0] * 700  # after end of service: nothing
