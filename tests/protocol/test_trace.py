"""protocol.trace: captures (raw, hex text, pyserial spy:// hexdump) decoded into readable frames."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st
from serial.urlhandler.protocol_spy import FormatHexdump

from protocol import ErrorCode, Flags, MsgType
from protocol.codec import encode_reply, encode_request
from protocol.framing import encode_frame, max_encoded_size
from protocol.pcapng import PacketDirection
from protocol.trace import (
    decode_capture,
    decode_chunks,
    format_trace,
    parse_capture,
    parse_spy_text,
)

REQUEST = encode_frame(MsgType.HELLO, 7, b"")
REPLY = encode_frame(
    MsgType.LOG_INFO,
    7,
    encode_reply(MsgType.LOG_INFO, ErrorCode.UNKNOWN_LOG, reason="log 9"),
    Flags.RESPONSE,
)
AUTHED = encode_frame(
    MsgType.ALARMS_ACK,
    9,
    encode_request(MsgType.ALARMS_ACK, {"request_id": 5, "alarms": [8]}),
    session_id=0x1234,
    counter=3,
    tag_key=bytes(32),
)


def spy_log(*chunks: tuple[str, bytes]) -> str:
    """What pyserial's spy:// prints for TX/RX chunks (its own formatter)."""
    out = io.StringIO()
    fmt = FormatHexdump(out, color=False)
    for label, data in chunks:
        (fmt.tx if label == "TX" else fmt.rx)(data)
    return out.getvalue()


def test_spy_hexdump_keeps_directions_and_merges_lines() -> None:
    text = spy_log(("TX", REQUEST + AUTHED), ("RX", REPLY))
    assert parse_spy_text(text) == [
        (PacketDirection.TO_PUMP, REQUEST + AUTHED),
        (PacketDirection.FROM_PUMP, REPLY),
    ]


def test_spy_control_lines_and_ansi_colours_are_ignored() -> None:
    text = "\x1b[31m" + spy_log(("TX", REQUEST)) + "000001.000 Q-RX flushInput\n"
    assert parse_capture(text) == [(PacketDirection.TO_PUMP, REQUEST)]


def test_a_decoded_line_names_kind_message_seq_session_and_fields() -> None:
    lines = format_trace(
        [(PacketDirection.TO_PUMP, AUTHED), (PacketDirection.FROM_PUMP, REPLY)]
    ).splitlines()
    assert lines[0].startswith("-> request ALARMS_ACK seq=9 auth(session=0x00001234 counter=3 tag=")
    assert lines[0].endswith("| request_id=5 alarms=[PUMP_STOPPED]")
    assert lines[1] == "<- reply LOG_INFO seq=7 | status=UNKNOWN_LOG reason='log 9'"


def test_a_raw_dump_infers_direction_from_the_flags() -> None:
    text = format_trace(parse_capture(REQUEST + REPLY))
    assert text.splitlines()[0].startswith("?> request HELLO")
    assert text.splitlines()[1].startswith("?< reply LOG_INFO")


def test_hex_text_is_a_capture_too() -> None:
    assert parse_capture(REQUEST.hex(" ")) == [(PacketDirection.UNKNOWN, REQUEST)]


def test_dropped_runs_are_reported_with_their_reason_in_place() -> None:
    bad_crc = bytearray(REQUEST)
    bad_crc[-3] ^= 0x40
    oversize = b"\x01" * (max_encoded_size() + 10) + b"\x00"
    traced = decode_capture(REQUEST + bytes(bad_crc) + oversize + REQUEST)
    kinds = [t.dropped.name if t.dropped else MsgType(t.frame.msg_type).name for t in traced]  # type: ignore[union-attr]
    assert kinds == ["HELLO", "BAD_CRC", "OVERSIZE", "HELLO"]


@given(st.lists(st.integers(1, len(REQUEST + AUTHED) - 1), max_size=6))
def test_any_chunking_decodes_the_same_frames(cuts: list[int]) -> None:
    stream = REQUEST + AUTHED
    points = sorted(set(cuts))
    chunks = [
        (PacketDirection.TO_PUMP, stream[a:b])
        for a, b in zip([0, *points], [*points, len(stream)], strict=True)
    ]
    assert format_trace(chunks) == format_trace([(PacketDirection.TO_PUMP, stream)])


@given(st.binary(max_size=400))
def test_garbage_never_raises(data: bytes) -> None:
    decode_chunks([(PacketDirection.UNKNOWN, data)])
    parse_capture(data)
