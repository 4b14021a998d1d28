"""``pumpctl trace``: a spy:// capture or raw bytes decoded into frames, offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from programmer.cli import run
from programmer.commands.trace_cmd import dissector_path
from protocol import DeviceEndpoint, DeviceInfo, ErrorCode, MsgType, Reply
from protocol.catalog import Capability
from protocol.pcapng import PacketDirection

from ..wireshark.tshark import read_pcapng
from .conftest import InProcessPump


def trace_json(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    capsys.readouterr()
    assert run(["--json", "trace", *extra, str(path)]) == 0
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return doc


def test_a_spy_capture_of_identify_decodes_into_request_and_reply(
    pump: InProcessPump, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = tmp_path / "trace.txt"
    keys = tmp_path / "keys.json"
    url = f"spy://{pump.port}?file={capture}"
    assert run(["--port", url, "--keystore", str(keys), "--timeout", "0.5", "identify"]) == 0

    doc = trace_json(capture, capsys)
    frames = doc["frames"]
    assert doc["count"] == 2 and doc["dropped"] == 0
    assert [(f["direction"], f["kind"], f["message"]) for f in frames] == [
        ("to_pump", "request", "HELLO"),
        ("from_pump", "reply", "HELLO"),
    ]
    assert frames[0]["seq"] == frames[1]["seq"]
    assert "serial_number=VP20-000042" in frames[1]["payload"]

    swapped = trace_json(capture, capsys, "--pump-side")
    assert [f["direction"] for f in swapped["frames"]] == ["from_pump", "to_pump"]


def test_a_raw_capture_with_noise_reports_dropped_runs_and_infers_directions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    device = DeviceEndpoint(DeviceInfo("VP20", "VP20-000042", "1.0.0", Capability(0x7F)), bytes)
    reply = device.send(
        Reply(MsgType.STATUS, 7, int(ErrorCode.NOT_AUTHENTICATED), {}, "no session")
    )
    capture = tmp_path / "raw.bin"
    capture.write_bytes(b"\x13\x37garbage\x00" + reply)

    doc = trace_json(capture, capsys)
    assert doc["dropped"] == 1 and doc["count"] == 1
    decoded = doc["frames"][1]
    assert decoded["direction"] == "from_pump" and decoded["direction_inferred"] is True
    assert decoded["message"] == "STATUS" and decoded["seq"] == 7

    capsys.readouterr()
    assert run(["trace", str(capture)]) == 0
    text = capsys.readouterr().out.splitlines()
    assert " dropped " in text[0]
    assert "reply STATUS seq=7" in text[1] and "NOT_AUTHENTICATED" in text[1]


def test_trace_of_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    assert run(["trace", str(tmp_path / "nothing.txt")]) == 2


def test_pumpctl_trace_writes_a_spy_capture_as_pcapng_with_its_directions_and_times(
    pump: InProcessPump, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = tmp_path / "trace.txt"
    keys = tmp_path / "keys.json"
    url = f"spy://{pump.port}?file={capture}"
    assert run(["--port", url, "--keystore", str(keys), "--timeout", "0.5", "identify"]) == 0
    out = tmp_path / "trace.pcapng"
    capsys.readouterr()
    assert run(["--json", "trace", "--pcapng", str(out), str(capture)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["pcapng"] == str(out)
    assert out.stat().st_mode & 0o777 == 0o600  # like the spy trace: pairing values and tags
    linktype, packets = read_pcapng(out)
    assert linktype == 147
    assert [d for _, _, d in packets] == [PacketDirection.TO_PUMP, PacketDirection.FROM_PUMP]
    assert packets[0][0] <= packets[1][0] < 60 * 1_000_000  # seconds since the port opened
    assert all(data.endswith(b"\x00") for _, data, _ in packets)


def test_pumpctl_trace_prints_the_dissector_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["trace", "--dissector"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == dissector_path() and path.name == "itbp.lua" and path.is_file()


def test_a_raw_capture_becomes_pcapng_without_times_or_directions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    device = DeviceEndpoint(DeviceInfo("VP20", "VP20-000042", "1.0.0", Capability(0x7F)), bytes)
    reply = device.send(Reply(MsgType.STATUS, 7, int(ErrorCode.NOT_AUTHENTICATED), {}, "no"))
    capture = tmp_path / "raw.bin"
    capture.write_bytes(b"\x13\x37garbage\x00\x00" + reply + b"\x02")
    out = tmp_path / "raw.pcapng"
    trace_json(capture, capsys, "--pcapng", str(out))
    _, packets = read_pcapng(out)
    assert packets == [
        (0, b"\x13\x37garbage\x00", PacketDirection.UNKNOWN),
        (0, reply, PacketDirection.UNKNOWN),
        (0, b"\x02", PacketDirection.UNKNOWN),  # the open run at the end, without a delimiter
    ]
