"""``pumpctl`` as scripts see it: exit codes, one JSON document, confirmation rules."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import click
import pytest

from programmer.cli import cli, run
from programmer.errors import (
    AuthenticationError,
    LinkError,
    PumpRefused,
    UncertainOutcome,
    UsageError,
    exit_code_for,
    refusal,
)
from programmer.keystore import KeyStore
from protocol import ErrorCode, MsgType

from .conftest import ClinicPump

Result = tuple[int, str, str]
RunCli = Callable[..., Result]

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


@pytest.fixture
def pumpctl(pump: ClinicPump, paired: KeyStore, capsys: pytest.CaptureFixture[str]) -> RunCli:
    def invoke(*args: str, port: str | None = None) -> Result:
        base = ["--port", port or pump.port, "--keystore", str(paired.path), "--timeout", "0.25"]
        code = run([*base, *args])
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def test_exit_codes_follow_the_documented_table() -> None:
    assert exit_code_for(PumpRefused(ErrorCode.DOSE_ABOVE_HARD_LIMIT, "too much")) == 1
    assert exit_code_for(UsageError("bad")) == 2
    assert exit_code_for(AuthenticationError("who?")) == 3
    assert exit_code_for(LinkError("gone")) == 4
    assert exit_code_for(UncertainOutcome("maybe", 1, "STOP")) == 5
    assert isinstance(refusal(int(ErrorCode.UNKNOWN_KEY), "x"), AuthenticationError)
    assert isinstance(refusal(int(ErrorCode.REFILL_OVER_CAPACITY), "x"), PumpRefused)


def test_status_json_is_one_document_on_stdout_with_the_contract_keys(pumpctl: RunCli) -> None:
    code, out, _err = pumpctl("--json", "status")
    assert code == 0
    doc = json.loads(out)
    assert set(doc) >= STATUS_KEYS
    assert doc["daily_dose_mcg"] == 400.0 and doc["rate_ml_per_day"] == 0.8
    assert {"eri", "eos", "replace_by", "remaining_pct"} <= set(doc["battery"])
    assert doc["pump_time"] == "2026-01-05T00:00:00Z"


def test_alarm_names_are_lower_case_with_a_critical_flag(pump: ClinicPump, pumpctl: RunCli) -> None:
    assert pumpctl("--yes", "stop")[0] == 0
    doc = json.loads(pumpctl("--json", "status")[1])
    assert doc["alarms"][0]["name"] == "pump_stopped"
    assert doc["alarms"][0]["critical"] is True


def test_change_without_terminal_or_yes_shows_the_finish_view_then_refuses(
    pump: ClinicPump, pumpctl: RunCli
) -> None:
    # Specification changed by issue 12: the Finish view is shown before the refusal, so the
    # change is staged (and aborted) but never committed.
    code, _out, err = pumpctl("program", "continuous", "--dose", "500mcg/day")
    assert code == 2
    assert "--yes" in err
    assert "Finish: program continuous 500 mcg/day" in _out
    assert pump.requests_seen[MsgType.COMMIT_PRESCRIPTION] == 0
    assert pump.staged is None and pump.daily_dose_ng == 400_000


def test_per_hour_dose_is_a_usage_error_that_says_per_day(pumpctl: RunCli) -> None:
    code, _out, err = pumpctl("--yes", "program", "continuous", "--dose", "60mcg/h")
    assert code == 2
    assert "per day" in err


def test_program_continuous_commits_after_the_finish_view(
    pump: ClinicPump, pumpctl: RunCli
) -> None:
    code, out, err = pumpctl("--yes", "--json", "program", "continuous", "--dose", "0.5mg/day")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["version"] == 4
    assert doc["finish"]["new"]["daily_dose_mcg"] == 500.0
    assert "Finish:" in err  # the view goes to stderr when stdout is JSON
    assert pump.daily_dose_ng == 500_000


def test_soft_warnings_need_ack_warnings_and_are_aborted_otherwise(
    pump: ClinicPump, pumpctl: RunCli
) -> None:
    # 1600 mcg/day is above the pump's soft limit of 1500: it warns SOFT_DOSE_LIMIT itself
    code, out, _err = pumpctl("--yes", "--json", "program", "continuous", "--dose", "1600mcg/day")
    assert code == 1
    assert json.loads(out)["code"] == "WARNINGS_NOT_ACKNOWLEDGED"
    assert pump.staged is None and pump.executed[MsgType.ABORT_PRESCRIPTION] == 1
    code, _out, _err = pumpctl(
        "--yes", "program", "continuous", "--dose", "1600mcg/day", "--ack-warnings"
    )
    assert code == 0
    assert pump.daily_dose_ng == 1_600_000


def test_pump_refusal_exits_1_with_the_error_code_in_json(
    pump: ClinicPump, pumpctl: RunCli
) -> None:
    code, out, _err = pumpctl(
        "--yes",
        "--json",
        "refill",
        "--withdrawn",
        "1mL",
        "--added",
        "30mL",
        "--concentration",
        "500mcg/mL",
    )
    assert code == 1
    assert json.loads(out)["code"] == "REFILL_OVER_CAPACITY"


def test_unpaired_programmer_exits_3(pump: ClinicPump, tmp_path: Path) -> None:
    code = run(["--port", pump.port, "--keystore", str(tmp_path / "none.json"), "status"])
    assert code == 3


def test_missing_or_unopenable_port_exits_4(pumpctl: RunCli, tmp_path: Path) -> None:
    assert pumpctl("status", port=str(tmp_path / "no-such-tty"))[0] == 4


def test_uncertain_outcome_exits_5_and_the_next_command_reports_it(
    pump: ClinicPump, pumpctl: RunCli
) -> None:
    pump.faults.drop_replies[MsgType.STOP] = 99
    pump.faults.drop_replies[MsgType.REQUEST_STATUS] = 99
    code, out, err = pumpctl("--yes", "--json", "stop")
    assert code == 5
    assert json.loads(out)["error"] == "UncertainOutcome"
    assert "pumpctl status" in err
    pump.faults.drop_replies.clear()
    code, out, err = pumpctl("--json", "status")
    assert code == 0
    resolved = json.loads(out)["resolved_requests"]
    assert [(r["message"], r["executed"]) for r in resolved] == [("STOP", True)]
    assert "DID take effect" in err
    assert pump.executed[MsgType.STOP] == 1


def test_stop_warns_that_therapy_stays_stopped_until_resume(pumpctl: RunCli) -> None:
    code, _out, err = pumpctl("--yes", "stop")
    assert code == 0
    assert "until `pumpctl resume`" in err


def test_log_out_writes_json_lines(pump: ClinicPump, pumpctl: RunCli, tmp_path: Path) -> None:
    target = tmp_path / "therapy.jsonl"
    code, out, _err = pumpctl("--json", "log", "therapy", "--since", "41", "--out", str(target))
    assert code == 0
    assert json.loads(out)["count"] == 60
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["seq"] for r in lines] == list(range(41, 101))


def test_watch_count_ends_after_n_events(pump: ClinicPump, pumpctl: RunCli) -> None:
    # Specification changed by issue 12: --json watch streams JSON lines, one object per event.
    # telemetry at once, after 60 s and after 120 s; at 140 s the motor stalls (an alarm at the
    # next stroke, well before the fourth telemetry)
    pump.at(pump.bench.now + 140, lambda: pump.bench.fault("motor-stall"))
    code, out, _err = pumpctl("--json", "watch", "--count", "4")
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["type"] for e in events] == ["telemetry"] * 3 + ["alarm"]


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        found.append((prefix + name, command))
        if isinstance(command, click.Group):
            found += _commands(command, prefix + name + " ")
    return found


@pytest.mark.parametrize(("name", "command"), _commands(cli))
def test_every_command_teaches_with_an_example(name: str, command: click.Command) -> None:
    assert "Example" in (command.help or ""), f"{name} --help has no example"


def test_limits_json_gives_the_pumps_integers_and_text_gives_clinical_units(
    pumpctl: RunCli,
) -> None:
    code, out, _err = pumpctl("--json", "limits")
    assert code == 0
    doc = json.loads(out)
    assert set(doc["limits"]) == {
        "drug",
        "titration",
        "delivery",
        "patient_bolus",
        "alarms",
        "clock",
    }
    assert doc["limits"]["drug"]["hard_max_daily_dose_ng"] > 0
    code, out, _err = pumpctl("limits")
    assert code == 0 and "hard limit" in out and "mcg/day" in out
