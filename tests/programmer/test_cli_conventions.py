"""``pumpctl`` as a CLI people already know (issue 12): options in either place, --version,
usage exit codes, --dry-run, the timeout from the line rate, named pumps, environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import serial

from programmer import transport
from programmer.cli import run
from programmer.cli_options import reply_timeout
from programmer.keystore import KeyStore
from protocol import MsgType
from protocol.framing import MAX_FRAME, max_encoded_size

from .conftest import ClinicPump

Result = tuple[int, str, str]


@pytest.fixture
def pumpctl(
    pump: ClinicPump, paired: KeyStore, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Result]:
    def invoke(*args: str) -> Result:
        code = run(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def test_version_and_short_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--version"]) == 0
    assert capsys.readouterr().out.startswith("pumpctl, version ")
    assert run(["-h"]) == 0
    assert "Commands:" in capsys.readouterr().out
    assert run(["status", "-h"]) == 0
    assert "--json" in capsys.readouterr().out


def test_common_options_after_the_subcommand(
    pump: ClinicPump, paired: KeyStore, pumpctl: Callable[..., Result]
) -> None:
    common = ["--port", pump.port, "--keystore", str(paired.path), "--timeout", "0.25"]
    code, out, err = pumpctl("status", *common, "--json")
    assert code == 0, err
    assert json.loads(out)["mode"] == "continuous"
    code, out, err = pumpctl("stop", "--yes", "--json", *common)
    assert code == 0, err
    assert json.loads(out)["stopped"] is True
    code, out, err = pumpctl("-y", "program", "continuous", "--dose", "500mcg/day", *common)
    assert code == 0, err
    assert pump.daily_dose_ng == 500_000


def test_missing_port_is_a_usage_error(
    paired: KeyStore, pumpctl: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PUMP_PORT", raising=False)
    code, out, err = pumpctl("--keystore", str(paired.path), "--json", "status")
    assert code == 2
    assert "--port" in err and "PUMP_PORT" in err
    assert json.loads(out)["exit_code"] == 2


def test_dry_run_shows_the_finish_view_and_commits_nothing(
    pump: ClinicPump, paired: KeyStore, pumpctl: Callable[..., Result]
) -> None:
    common = ["--port", pump.port, "--keystore", str(paired.path), "--timeout", "0.25"]
    code, out, err = pumpctl(
        *common, "--json", "program", "continuous", "--dose", "600mcg/day", "--dry-run"
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["dry_run"] is True and doc["committed"] is False
    assert doc["finish"]["new"]["daily_dose_mcg"] == 600.0
    assert "nothing was written" in err
    assert pump.requests_seen[MsgType.COMMIT_PRESCRIPTION] == 0
    assert pump.staged is None and pump.daily_dose_ng == 400_000
    code, out, err = pumpctl(*common, "--dry-run", "stop")
    assert code == 0, err
    assert "Finish: stop the pump" in out
    assert pump.executed[MsgType.STOP] == 0
    code, out, _err = pumpctl(
        *common,
        "refill",
        "--withdrawn",
        "1mL",
        "--added",
        "20mL",
        "--concentration",
        "500mcg/mL",
        "--dry-run",
    )
    assert code == 0 and "Finish:" in out
    assert pump.executed[MsgType.REFILL] == pump.executed[MsgType.COMMIT_REFILL] == 0
    assert not pump.firmware._refill.staged  # the staged refill is dropped


def test_reply_timeout_follows_the_line_rate() -> None:
    frame = max_encoded_size(MAX_FRAME)
    assert reply_timeout(115200, frame) == 1.0  # a pty or a fast line: the floor
    slow = reply_timeout(1200, frame)
    assert slow > 2 * frame * 10 / 1200  # a request and a reply of the largest frame fit
    assert reply_timeout(9600, frame) < slow


def test_timeout_and_keystore_from_the_environment(
    pump: ClinicPump,
    paired: KeyStore,
    pumpctl: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PUMP_PORT", pump.port)
    monkeypatch.setenv("PUMP_KEYSTORE", str(paired.path))
    monkeypatch.setenv("PUMP_TIMEOUT", "0.25")
    code, _out, err = pumpctl("status", "--json")
    assert code == 0, err
    monkeypatch.setenv("PUMP_TIMEOUT", "soon")
    code, _out, err = pumpctl("status")
    assert code == 2 and "PUMP_TIMEOUT" in err


def test_named_pump_from_the_config_file(
    pump: ClinicPump,
    paired: KeyStore,
    pumpctl: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.delenv("PUMP_PORT", raising=False)
    config = tmp_path / "xdg"
    (config / "intrathecal-pump").mkdir(parents=True)
    (config / "intrathecal-pump" / "pumps.toml").write_text(
        f'[pumps.bench1]\nport = "{pump.port}"\nkeystore = "{paired.path}"\ntimeout = 0.25\n'
    )
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    code, out, err = pumpctl("--pump", "bench1", "--json", "status")
    assert code == 0, err
    assert json.loads(out)["serial_number"]
    code, _out, err = pumpctl("status", "--pump", "bench2")
    assert code == 2 and "bench1" in err


def test_help_version_and_completion_load_no_crypto_codec_or_catalog() -> None:
    code = (
        "import sys\n"
        "from programmer.cli import run\n"
        "for args in (['--help'], ['--version'], ['no-such-command']):\n"
        "    run(args)\n"
        "from click.shell_completion import BashComplete\n"
        "from programmer.cli import cli\n"
        "done = BashComplete(cli, {}, 'pumpctl', '_X').get_completions([], 'st')\n"
        "assert [c.value for c in done] == ['status', 'stop'], done\n"
        "heavy = {'cryptography', 'construct', 'protocol', 'serial'}\n"
        "print('HEAVY', *sorted({m.split('.')[0] for m in sys.modules} & heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ},
    )
    assert out.stdout.strip().splitlines()[-1] == "HEAVY"


def _common(pump: ClinicPump, paired: KeyStore) -> list[str]:
    return ["--port", pump.port, "--keystore", str(paired.path), "--timeout", "0.25"]


def test_log_out_in_a_missing_directory_is_refused_before_downloading(
    pump: ClinicPump, paired: KeyStore, pumpctl: Callable[..., Result]
) -> None:
    code, _out, err = pumpctl(
        *_common(pump, paired), "log", "therapy", "--out", "/nonexistent/a.jsonl"
    )
    assert code == 2
    assert "/nonexistent" in err and "does not exist" in err and "Traceback" not in err
    assert pump.requests_seen[MsgType.LOG_READ] == 0


def test_log_since_takes_a_date_a_duration_or_a_sequence_number(
    pump: ClinicPump, paired: KeyStore, pumpctl: Callable[..., Result]
) -> None:
    common = [*_common(pump, paired), "--json", "log", "therapy", "--since"]
    code, out, err = pumpctl(*common, "2026-01-04T23:20Z")
    assert code == 0, err
    assert [r["seq"] for r in json.loads(out)["records"]] == list(range(60, 101))
    # the pump's time is the newest record's (00:00)
    code, out, err = pumpctl(*common, "10min")
    assert code == 0, err
    assert [r["seq"] for r in json.loads(out)["records"]] == list(range(90, 101))
    code, out, err = pumpctl(*common, "95")
    assert [r["seq"] for r in json.loads(out)["records"]] == list(range(95, 101))
    code, _out, err = pumpctl(*common, "last tuesday")
    assert code == 2 and "7d" in err


def test_the_daily_totals_are_a_log_of_their_own(
    pump: ClinicPump, paired: KeyStore, pumpctl: Callable[..., Result]
) -> None:
    """The clinic pump was filled a day before 2026-01-05: its daily totals (the midnights of
    2026-01-04 and 2026-01-05) are in ``log daily``, none in ``log therapy``."""
    code, out, err = pumpctl(*_common(pump, paired), "--json", "log", "daily")
    assert code == 0, err
    records = json.loads(out)["records"]
    assert [r["event"] for r in records] == ["daily_total", "daily_total"]
    assert records[-1]["time"] == "2026-01-05T00:00:00Z"
    code, out, err = pumpctl(*_common(pump, paired), "--json", "log", "therapy")
    assert code == 0, err
    assert "daily_total" not in {r["event"] for r in json.loads(out)["records"]}


def test_nothing_past_the_cursor_is_not_an_empty_log(
    pump: ClinicPump, paired: KeyStore, pumpctl: Callable[..., Result]
) -> None:
    code, out, err = pumpctl(*_common(pump, paired), "log", "therapy", "--since", "2026-02-01")
    assert code == 0, err
    assert "is empty" not in out
    assert "no therapy log records since 2026-02-01" in out and "100 record(s)" in out


def test_log_alarms_and_alarm_are_both_accepted(
    pump: ClinicPump, paired: KeyStore, pumpctl: Callable[..., Result]
) -> None:
    code, out, err = pumpctl(*_common(pump, paired), "--json", "log", "alarms")
    assert code == 0, err
    assert json.loads(out)["log"] == "alarm"
    code, out, err = pumpctl(*_common(pump, paired), "--json", "alarm")
    assert code == 0, err
    assert "alarms" in json.loads(out)


def test_log_jsonl_prints_one_record_per_line(
    pump: ClinicPump, paired: KeyStore, pumpctl: Callable[..., Result]
) -> None:
    code, out, err = pumpctl(*_common(pump, paired), "log", "therapy", "--since", "91", "--jsonl")
    assert code == 0, err
    assert [json.loads(line)["seq"] for line in out.splitlines()] == list(range(91, 101))
    assert "10 therapy log record(s)" in err


def test_watch_jsonl_streams_one_object_per_event(
    pump: ClinicPump, paired: KeyStore, pumpctl: Callable[..., Result]
) -> None:
    code, out, _err = pumpctl(*_common(pump, paired), "watch", "--count", "2", "--jsonl")
    assert code == 0
    assert [json.loads(line)["type"] for line in out.splitlines()] == ["telemetry"] * 2


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            serial.SerialException(2, "could not open port /dev/ttyX: [Errno 2] No such file"),
            "no such port",
        ),
        (
            serial.SerialException(11, "Could not exclusively lock port /dev/ttyX: [Errno 11]"),
            "in use by another program",
        ),
        (serial.SerialException(13, "could not open port: [Errno 13] Permission"), "dialout"),
        (
            serial.SerialException(5, "could not open port: [Errno 5] Input/output error"),
            "nothing answers",
        ),
    ],
)
def test_pyserial_open_errors_say_what_happened_and_what_to_do(
    raw: Exception, expected: str
) -> None:
    assert expected in transport._open_failure("/dev/ttyX", raw)
    assert "[Errno" not in transport._open_failure("/dev/ttyX", raw)


def test_a_vanished_device_is_explained() -> None:
    raw = serial.SerialException(
        "device reports readiness to read but returned no data "
        "(device disconnected or multiple access on port?)"
    )
    said = transport.link_failure(raw)
    assert "readiness" not in said and "the pump stopped" in said


def test_a_missing_port_exits_4_without_pyserial_text(
    paired: KeyStore, pumpctl: Callable[..., Result], tmp_path: Path
) -> None:
    code, _out, err = pumpctl(
        "--port", str(tmp_path / "ttyGone"), "--keystore", str(paired.path), "status"
    )
    assert code == 4
    assert "no such port" in err and "[Errno" not in err and "Traceback" not in err


def test_a_usage_error_with_json_after_the_subcommand_is_a_json_document(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = run(["program", "continuous", "--dose", "60mcg/h", "--json"])
    assert code == 2
    assert json.loads(capsys.readouterr().out)["exit_code"] == 2


def test_an_eagerly_added_command_gets_the_common_options_and_is_listed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import click

    from programmer.cli import cli
    from programmer.cli_options import LazyGroup

    group = LazyGroup(name="g", lazy={})

    @click.command()
    def extra() -> None:
        """An extra command.

        Example: g extra --json
        """

    group.add_command(extra)
    assert {"--json", "--yes", "--port", "--timeout", "--keystore"} <= {
        o for p in extra.params for o in getattr(p, "opts", [])
    }
    with click.Context(group) as ctx:
        assert "An extra command." in group.get_help(ctx)
    assert isinstance(cli, LazyGroup)
