"""Framing: the device finds frames in any chunking, drops every malformed shape silently and
resynchronises at the next delimiter, and answers well-formed frames it cannot accept with an
explicit error code instead of silence."""

from __future__ import annotations

import random
import struct

import pytest
from cobs import cobs

from protocol import ErrorCode, Flags, MsgType
from protocol.codec import decode_reply
from protocol.framing import MAX_PAYLOAD, max_encoded_size, seal_frame

from .client import SuiteClient
from .target import PumpUnderTest

HELLO = MsgType.HELLO


def _header(
    seq: int, *, version: int = 1, flags: int = 0, msg: int = HELLO, length: int = 0
) -> bytes:
    return struct.pack(">BBBHH", version, flags, msg, seq, length)


def answers_before_marker(client: SuiteClient, data: bytes) -> list[int]:
    """Send ``data`` then a HELLO marker; the seqs of every reply that came before the marker's.

    The device handles frames in order, so once the marker is answered every answer to ``data``
    has arrived: an empty list proves ``data`` got no reply at all (no phantom frame).
    """
    client.frames.clear()
    client.write(data)
    marker = client.raw(HELLO, b"")
    client.wait_frame(marker)
    seqs = [f.seq for f in client.frames]
    return seqs[: seqs.index(marker)]


def dropped(pump: PumpUnderTest) -> dict[str, int] | None:
    """The virtual bench's drop counters (None on a device without our bench)."""
    if pump.bench is None:
        return None
    counts = pump.bench.hw_status().get("frames_dropped")
    return dict(counts) if isinstance(counts, dict) else None


def test_a_frame_written_one_byte_at_a_time_is_answered(pump: PumpUnderTest) -> None:
    with pump.client() as client:
        seq = client.next_seq()
        for byte in client.encode(HELLO, None, seq):
            client.write(bytes([byte]))
        assert client.wait_reply(HELLO, seq).ok


def test_frames_in_random_splits_and_back_to_back_are_all_answered(
    clinician: SuiteClient,
) -> None:
    """Session requests: a burst of unauthenticated ones may be partly dropped (a pump keeps
    only a few replies to anyone waiting, so a flood cannot delay a session)."""
    rng = random.Random(5)
    client = clinician
    seqs = [client.next_seq() for _ in range(20)]
    stream = b"".join(client.encode(MsgType.STATUS, None, s) for s in seqs)
    cuts = sorted(rng.sample(range(1, len(stream)), 15))
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        client.write(stream[a:b])
    for seq in seqs:
        assert client.wait_reply(MsgType.STATUS, seq).ok


def test_an_authenticated_frame_split_across_writes_is_answered(clinician: SuiteClient) -> None:
    seq = clinician.next_seq()
    wire = clinician.encode(MsgType.STATUS, None, seq)
    for i in range(0, len(wire), 7):
        clinician.write(wire[i : i + 7])
    assert clinician.wait_reply(MsgType.STATUS, seq).ok


def test_noise_before_between_and_after_frames_gets_no_reply(pump: PumpUnderTest) -> None:
    rng = random.Random(11)
    with pump.client() as client:
        for _ in range(5):
            noise = rng.randbytes(rng.randrange(1, 300))
            assert answers_before_marker(client, noise + b"\x00") == []


def test_idle_and_flush_zero_bytes_are_ignored(pump: PumpUnderTest) -> None:
    with pump.client() as client:
        seq = client.next_seq()
        client.write(b"\x00" * 50 + client.encode(HELLO, None, seq) + b"\x00" * 50)
        assert client.wait_reply(HELLO, seq).ok
        assert answers_before_marker(client, b"\x00" * 10) == []


def _bad_crc(seq: int) -> bytes:
    body = _header(seq)
    frame = body + struct.pack(">I", 0xDEADBEEF)
    wire: bytes = cobs.encode(frame) + b"\x00"
    return wire


def _bad_length(seq: int) -> bytes:
    return seal_frame(_header(seq, length=5))  # declares 5 payload bytes, carries none


def _bad_auth_length(seq: int) -> bytes:
    return seal_frame(_header(seq, flags=Flags.AUTH, msg=MsgType.STATUS) + b"\x01" * 8)


def _truncated(seq: int) -> bytes:
    wire: bytes = cobs.encode(b"\x01\x00\x01") + b"\x00"
    return wire


def _bad_cobs(seq: int) -> bytes:
    return b"\x09\x01\x02\x00"  # the code byte promises 8 bytes before the delimiter


def _oversize(seq: int) -> bytes:
    return b"\x01" * (max_encoded_size() + 50) + b"\x00"


def _payload_over_max(seq: int) -> bytes:
    big = MAX_PAYLOAD + 1
    return seal_frame(_header(seq, length=big) + b"\x00" * big)


MALFORMED = {
    "bad_crc": (_bad_crc, "bad_crc"),
    "declared_length_mismatch": (_bad_length, "bad_length"),
    "auth_flag_without_auth_fields": (_bad_auth_length, "bad_length"),
    "truncated_below_header": (_truncated, "truncated"),
    "bad_cobs": (_bad_cobs, "bad_cobs"),
    "oversize_run": (_oversize, "oversize"),
    "payload_above_max": (_payload_over_max, "oversize"),
}


@pytest.mark.parametrize("shape", list(MALFORMED))
def test_malformed_frame_is_dropped_silently_and_the_next_frame_is_answered(
    pump: PumpUnderTest, shape: str
) -> None:
    build, reason = MALFORMED[shape]
    before = dropped(pump)
    with pump.client() as client:
        assert answers_before_marker(client, build(client.next_seq())) == []
    after = dropped(pump)
    if before is not None and after is not None:
        assert after[reason] == before[reason] + 1, f"expected one {reason} drop"


def test_a_corrupted_byte_anywhere_never_yields_a_reply_to_the_corrupted_frame(
    pump: PumpUnderTest,
) -> None:
    rng = random.Random(3)
    with pump.client() as client:
        for _ in range(12):
            seq = client.next_seq()
            wire = bytearray(client.encode(HELLO, None, seq))
            i = rng.randrange(len(wire) - 1)
            wire[i] = rng.choice([b for b in range(1, 256) if b != wire[i]])
            assert seq not in answers_before_marker(client, bytes(wire) + b"\x00")


def _error_of(client: SuiteClient, seq: int) -> int:
    frame = client.wait_frame(seq)
    assert frame.version == 1 and frame.flags & Flags.RESPONSE
    status, _, reason = decode_reply(HELLO, frame.payload)
    assert reason, "every refusal carries a reason"
    return status


def test_unknown_version_is_answered_with_unsupported_version(pump: PumpUnderTest) -> None:
    with pump.client() as client:
        seq = client.next_seq()
        client.write(seal_frame(_header(seq, version=2)))
        assert _error_of(client, seq) == ErrorCode.UNSUPPORTED_VERSION


@pytest.mark.parametrize(
    "flags", [0x10, 0x80, int(Flags.RESPONSE), int(Flags.EVENT), int(Flags.MORE)]
)
def test_invalid_request_flags_are_answered_with_bad_flags(pump: PumpUnderTest, flags: int) -> None:
    with pump.client() as client:
        seq = client.next_seq()
        client.write(seal_frame(_header(seq, flags=flags)))
        assert _error_of(client, seq) == ErrorCode.BAD_FLAGS


def test_unknown_message_type_is_answered_with_unknown_message(pump: PumpUnderTest) -> None:
    with pump.client() as client:
        seq = client.raw(0x7E, b"")
        assert _error_of(client, seq) == ErrorCode.UNKNOWN_MESSAGE


@pytest.mark.parametrize("event", [MsgType.TELEMETRY, MsgType.ALARM_EVENT])
def test_an_event_sent_to_the_device_is_answered_with_wrong_direction(
    pump: PumpUnderTest, event: MsgType
) -> None:
    with pump.client() as client:
        seq = client.raw(event, b"")
        assert _error_of(client, seq) == ErrorCode.WRONG_DIRECTION


def test_a_payload_that_does_not_match_the_layout_is_malformed(pump: PumpUnderTest) -> None:
    with pump.client() as client:
        seq = client.raw(HELLO, b"\x00")  # HELLO's request is empty
        assert _error_of(client, seq) == ErrorCode.MALFORMED_PAYLOAD
        seq = client.raw(MsgType.SESSION_OPEN, b"\x00\x01")  # key id and nonce cut short
        assert _error_of(client, seq) == ErrorCode.MALFORMED_PAYLOAD
