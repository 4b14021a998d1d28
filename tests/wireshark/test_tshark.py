"""The generated dissector in the real tshark: every field of a real session, as the codec reads it.

A lock-step ``vpump serve --insecure-test-keys --capture`` session (pairing with its refusals,
a fill, a program, STATUS, a streamed log read) is decoded by tshark with ``itbp.lua``; every ITBP
field tshark prints is compared, in order, with what the Python framing and codec read from the
same packets, and nothing may be missing or extra.  The capture's pcapng structure (link type,
directions, timestamps) is read back with the stdlib.  Skips, saying why, without tshark.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import serial
from cobs import cobs

from protocol import MsgType, encode_frame, pcapng
from protocol.pcapng import LINKTYPE_USER0, PacketDirection

from ..integration.harness import served_pump, xdg_env
from .tshark import (
    LUA,
    TSHARK,
    every_message_frames,
    expected_fields,
    matches,
    pdml_fields,
    read_pcapng,
    run_tshark,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.xdist_group("tshark"),  # one golden session per run, not one per worker
    pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (make sysdeps installs it)"),
]


@pytest.fixture(scope="module")
def golden_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tshark")
    env = xdg_env(root)
    capture = root / "session.pcapng"
    extra = ("--insecure-test-keys", "--capture", str(capture))
    with served_pump(root, env, extra=extra) as pump:
        pump.pair()
        pump.fill_and_program()
        for args in (("--json", "status"), ("--json", "log", "therapy")):
            result = pump.pumpctl(*args)
            assert result.code == 0, result
        # what a stranger's client puts on the line: a plain STATUS (refused by name), noise,
        # and a frame whose CRC was hit on the way
        bad_crc = bytearray(cobs.decode(encode_frame(MsgType.HELLO, 9, b"")[:-1]))
        bad_crc[-1] ^= 0xFF
        with serial.Serial(pump.port, timeout=0.2) as line:
            line.write(encode_frame(MsgType.STATUS, 7, b""))
            line.write(b"\x13\x37garbage\x00" + cobs.encode(bytes(bad_crc)) + b"\x00")
            deadline = time.monotonic() + 10
            answer = b""
            while answer.count(b"\x00") < 1 and time.monotonic() < deadline:
                answer += line.read(256)
        assert answer
    return capture


def test_the_capture_has_one_packet_per_frame_with_direction_pump_time_and_user0(
    golden_capture: Path,
) -> None:
    linktype, packets = read_pcapng(golden_capture)
    assert linktype == LINKTYPE_USER0
    assert packets and all(
        data.endswith(b"\x00") and b"\x00" not in data[:-1] for _, data, _ in packets
    )
    directions = {d for _, _, d in packets}
    assert directions == {PacketDirection.TO_PUMP, PacketDirection.FROM_PUMP}
    # lock-step pump time: the board's clock in whole seconds, from the default start time on
    assert all(ts % 1_000_000 == 0 and ts >= 1_767_225_600 * 1_000_000 for ts, _, _ in packets)


def test_tshark_prints_every_field_of_every_frame_as_the_codec_decodes_it(
    golden_capture: Path,
) -> None:
    _, packets = read_pcapng(golden_capture)
    printed = pdml_fields(golden_capture)
    assert len(printed) == len(packets)
    seen_messages = set()
    for number, ((_, data, direction), rows) in enumerate(zip(packets, printed, strict=True), 1):
        expected = expected_fields(data, direction)
        names = [name for name, _ in expected]
        assert [name for name, _, _ in rows] == names, f"packet {number}"
        for (name, value), (_, show, raw) in zip(expected, rows, strict=True):
            assert matches(value, show, raw), f"packet {number} {name}: {value!r} vs {show!r}"
        seen_messages.add(dict(expected).get("itbp.msg_type"))
    # the session covered pairing, a refusal, state changes, a read and a streamed reply
    assert len(seen_messages - {None}) >= 8


def test_the_summary_lines_name_direction_message_and_refusals(golden_capture: Path) -> None:
    text = run_tshark(golden_capture)
    assert "-> HELLO request" in text and "<- HELLO reply" in text and " OK" in text
    assert "<- STATUS reply seq=7 NOT_AUTHENTICATED" in text
    assert "dropped BAD_COBS" in text and "BAD_CRC" in text
    assert "<- LOG_READ reply" in text and "session=0x" in text


def test_every_message_of_the_catalog_in_every_switch_case_prints_every_field(
    tmp_path: Path,
) -> None:
    frames = every_message_frames()
    capture = tmp_path / "catalog.pcapng"
    blocks = [pcapng.file_header("test", "itbp-line", "every message")]
    # every third packet without a direction (as from a raw dump): the dissector infers it
    frames = [(w, PacketDirection.UNKNOWN if i % 3 == 2 else d) for i, (w, d) in enumerate(frames)]
    blocks += [pcapng.enhanced_packet(i, wire, d) for i, (wire, d) in enumerate(frames)]
    capture.write_bytes(b"".join(blocks))
    printed = pdml_fields(capture)
    assert len(printed) == len(frames)
    covered = set()
    for number, ((wire, direction), rows) in enumerate(zip(frames, printed, strict=True), 1):
        expected = expected_fields(wire, direction)
        assert [name for name, _, _ in rows] == [name for name, _ in expected], f"packet {number}"
        for (name, value), (_, show, raw) in zip(expected, rows, strict=True):
            assert matches(value, show, raw), f"packet {number} {name}: {value!r} vs {show!r}"
        covered |= {name for name, _ in expected}
    # every payload field the dissector declares was printed at least once
    declared = set(re.findall(r'ProtoField\.\w+\("(itbp\.[\w.]+)"', LUA.read_text()))
    containers = {
        n for n in declared if re.search(rf'ProtoField\.none\("{re.escape(n)}"', LUA.read_text())
    }
    assert declared - containers - covered <= {"itbp.dropped"}
