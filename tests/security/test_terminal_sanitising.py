"""Finding 13 of issue 9: the line must not be able to write to the clinician's terminal.

The attack: the pump's serial number, model, firmware version and every refusal reason are text
from the wire, and anyone on the line can forge them.  ``pumpctl`` printed them verbatim, so a
forged error reply carrying ``ESC [1A ESC [2K`` erased "pump refused" and printed a fake
"Done: continuous 400 mcg/day is in force" in its place.

The specification: no control character, escape sequence, C1 control, DEL or bidi override from
the wire reaches stdout or stderr raw, in text or JSON output; it is shown escaped (``\\x1b``),
so the clinician still sees that something odd was sent; JSON output stays valid JSON.  The
forged pump is a real process on a real pseudo-terminal and ``pumpctl`` a real process.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from programmer.terminal import safe_output, safe_text, safe_wire
from tests.integration.harness import START_DEADLINE_S, LineReader, run_pumpctl, xdg_env

from .forged_pump import EVIL_SERIAL

RAW = ("\x1b", "\x07", "\x9b", "\x7f", "\u202e")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return xdg_env(tmp_path)


def _forged(mode: str) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.security.forged_pump", mode],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert process.stdout is not None
    lines = LineReader(process.stdout)
    try:
        line = lines.readline(START_DEADLINE_S)
        assert line.startswith("PORT "), line
        yield line.split(" ", 1)[1]
    finally:
        lines.close()
        process.kill()
        process.wait(timeout=10)
        process.stdout.close()


@pytest.fixture
def refusing_port() -> Iterator[str]:
    yield from _forged("refuse")


@pytest.fixture
def identity_port() -> Iterator[str]:
    yield from _forged("identity")


def _assert_no_raw_controls(text: str) -> None:
    for char in RAW:
        assert char not in text, f"{char!r} reached the terminal raw: {text!r}"


def test_forged_refusal_cannot_erase_pump_refused(refusing_port: str, env: dict[str, str]) -> None:
    result = run_pumpctl(refusing_port, "identify", env=env)
    assert result.code == 1, result
    _assert_no_raw_controls(result.out + result.err)
    assert "pump refused" in result.err
    assert "\\x1b[1A\\x1b[2K\\x0dDone:" in result.err  # shown, but as harmless text


def test_forged_refusal_in_json_stays_valid_json(refusing_port: str, env: dict[str, str]) -> None:
    result = run_pumpctl(refusing_port, "--json", "identify", env=env)
    assert result.code == 1, result
    _assert_no_raw_controls(result.out + result.err)
    doc = result.json
    assert doc["ok"] is False
    assert doc["reason"].startswith("\\x1b[1A")


def test_forged_identity_is_escaped(identity_port: str, env: dict[str, str]) -> None:
    result = run_pumpctl(identity_port, "identify", env=env)
    assert result.code == 0, result
    _assert_no_raw_controls(result.out + result.err)
    assert "VP20-\\x1b]0;owned\\x07\\x1b[2J000001" in result.out
    assert "VP-20\\u202e02-PV\\x9b31m" in result.out
    assert "1.0.0\\x1b[31m\\x7f" in result.out


def test_forged_identity_json(identity_port: str, env: dict[str, str]) -> None:
    result = run_pumpctl(identity_port, "--json", "identify", env=env)
    assert result.code == 0, result
    _assert_no_raw_controls(result.out + result.err)
    assert result.json["serial_number"] == safe_text(EVIL_SERIAL)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain VP20-000001", "plain VP20-000001"),
        ("caf\u00e9 \u00b5L", "caf\u00e9 \u00b5L"),  # printable non-ASCII stays readable
        ("\x1b[2K", "\\x1b[2K"),
        ("a\nb\tc\r", "a\\x0ab\\x09c\\x0d"),
        ("\x85\x9b", "\\x85\\x9b"),  # C1 controls (NEL, CSI)
        ("\u202eevil\u2066\u200b\ufeff", "\\u202eevil\\u2066\\u200b\\ufeff"),  # bidi, zero-width
        ("\u2028\u2029", "\\u2028\\u2029"),  # line and paragraph separators
        ("\U000e0001", "\\U000e0001"),  # a tag character (format)
    ],
)
def test_safe_text_rules(raw: str, shown: str) -> None:
    assert safe_text(raw) == shown
    assert safe_text(shown) == shown  # idempotent: escaping twice changes nothing


def test_safe_output_keeps_the_programmers_own_lines() -> None:
    assert safe_output("line one\n\tline two\x1b[2K") == "line one\n\tline two\\x1b[2K"


def test_safe_wire_walks_bodies() -> None:
    body = {"serial_number": "\x1b[2J", "alarms": [{"x": "\x07"}], "n": 3, "raw": b"\x1b"}
    assert safe_wire(body) == {
        "serial_number": "\\x1b[2J",
        "alarms": [{"x": "\\x07"}],
        "n": 3,
        "raw": b"\x1b",
    }


def test_pumpctl_trace_of_a_forged_capture_prints_no_raw_escapes(
    tmp_path: Path, env: dict[str, str]
) -> None:
    from protocol.catalog import MsgType
    from protocol.framing import Flags, encode_frame

    from .forged_pump import reply_for

    capture = tmp_path / "capture.bin"
    for mode in ("refuse", "identity"):
        frame = encode_frame(MsgType.HELLO, 7, reply_for(mode, MsgType.HELLO), Flags.RESPONSE)
        capture.write_bytes(frame)
        for args in (("trace", str(capture)), ("--json", "trace", str(capture))):
            result = run_pumpctl(None, *args, env=env)
            assert result.code == 0, result
            _assert_no_raw_controls(result.out + result.err)
            if "--json" in args:
                assert result.json["count"] == 1
