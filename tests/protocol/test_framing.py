"""Framing: golden bytes, round trips, and a decoder that survives any chunking and any noise."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import struct
from dataclasses import dataclass

import pytest
from cobs import cobs
from hypothesis import given
from hypothesis import strategies as st

from protocol.crc import crc32c
from protocol.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from protocol.framing import (
    AUTH_PREFIX_SIZE,
    CRC_SIZE,
    HEADER_SIZE,
    MAX_FRAME,
    MAX_PAYLOAD,
    PROTOCOL_VERSION,
    TAG_SIZE,
    DropReason,
    Flags,
    Frame,
    FrameDecoder,
    FrameError,
    encode_frame,
    frame_overhead,
    max_encoded_size,
    parse_frame,
    seal_frame,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


# --- helpers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """What a test asked encode_frame to send, to compare with what the decoder returns."""

    msg_type: int
    seq: int
    payload: bytes
    flags: Flags
    session_id: int | None = None
    counter: int | None = None
    key: bytes | None = None

    def wire(self) -> bytes:
        return encode_frame(
            self.msg_type,
            self.seq,
            self.payload,
            self.flags,
            session_id=self.session_id,
            counter=self.counter,
            tag_key=self.key,
        )

    def matches(self, frame: Frame) -> bool:
        auth = self.key is not None
        expected_flags = self.flags | Flags.AUTH if auth else self.flags
        expected_tag = _reference_tag(self.key, frame.signed) if auth else None
        return (
            frame.version == PROTOCOL_VERSION
            and frame.flags == expected_flags
            and frame.msg_type == self.msg_type
            and frame.seq == self.seq
            and frame.payload == self.payload
            and frame.session_id == self.session_id
            and frame.counter == self.counter
            and frame.tag == expected_tag
        )


def _reference_tag(key: bytes | None, signed: bytes) -> bytes:
    assert key is not None
    return hmac.new(key, signed, hashlib.sha256).digest()[:16]


def _header(flags: int, msg_type: int, seq: int, length: int, version: int = 1) -> bytes:
    return struct.pack(">BBBHH", version, flags, msg_type, seq, length)


def feed_whole(wire: bytes) -> tuple[list[Frame], FrameDecoder]:
    decoder = FrameDecoder()
    return decoder.feed(wire), decoder


def feed_bytewise(wire: bytes) -> tuple[list[Frame], FrameDecoder]:
    decoder = FrameDecoder()
    frames: list[Frame] = []
    for i in range(len(wire)):
        frames += decoder.feed(wire[i : i + 1])
    return frames, decoder


def feed_split(wire: bytes, cuts: list[int]) -> tuple[list[Frame], FrameDecoder]:
    decoder = FrameDecoder()
    frames: list[Frame] = []
    for chunk in chunks(wire, cuts):
        frames += decoder.feed(chunk)
    return frames, decoder


def chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given positions (taken modulo its length; empty chunks allowed)."""
    bounds = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    return [data[start:end] for start, end in itertools.pairwise(bounds)]


u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
plain_flags = st.sampled_from([Flags(0), Flags.RESPONSE, Flags.EVENT, Flags.RESPONSE | Flags.MORE])


@st.composite
def sent_frames(draw: st.DrawFn, max_payload: int = 80) -> Sent:
    payload = draw(st.binary(max_size=max_payload))
    if draw(st.booleans()):
        return Sent(
            draw(u8),
            draw(u16),
            payload,
            draw(plain_flags),
            draw(st.integers(0, 0xFFFF_FFFF)),
            draw(st.integers(0, 2**64 - 1)),
            draw(st.binary(min_size=32, max_size=32)),
        )
    return Sent(draw(u8), draw(u16), payload, draw(plain_flags))


def _decoded(wire: bytes) -> bytes:
    assert wire.endswith(b"\x00") and wire.count(0) == 1
    return bytes(cobs.decode(wire[:-1]))


# --- constants and golden vectors -------------------------------------------------------------


def test_sizes_follow_the_wire_spec() -> None:
    assert (HEADER_SIZE, AUTH_PREFIX_SIZE, TAG_SIZE, CRC_SIZE) == (7, 12, 16, 4)
    assert MAX_PAYLOAD == 1024
    assert MAX_FRAME == 7 + 12 + 1024 + 16 + 4 == 1063
    assert frame_overhead(auth=False) == 11
    assert frame_overhead(auth=True) == 39
    assert [f.value for f in (Flags.AUTH, Flags.RESPONSE, Flags.EVENT, Flags.MORE)] == [1, 2, 4, 8]


GOLDEN = [
    (Sent(0x01, 1, b"", Flags(0)), "02010201020101054e6dbb7700"),
    (
        Sent(0x02, 0x0102, b"\x00\x01\x02\x00", Flags.RESPONSE),
        "060102020102020403010205b80a227400",
    ),
    (
        Sent(0x10, 0x1234, b"hello\x00pump", Flags.RESPONSE, 0x01020304, 1, KEY),
        "060103101234060a01020304010101010101070168656c6c6f1970756d705b6866919a112fd7fe"
        "241dc7d9d55d6aaa458fd300",
    ),
    (
        Sent(0x40, 7, bytes(60), Flags.EVENT | Flags.MORE, 0xDEADBEEF, 2**40 + 5, KEY),
        "04010d400207063cdeadbeef0102010101010205"
        + "01" * 59
        + "159adf1067bdb669b9e3bf410988bf3fa9c52a6b9200",
    ),
]


@pytest.mark.parametrize(("sent", "golden_hex"), GOLDEN)
def test_encoder_produces_the_pinned_golden_bytes(sent: Sent, golden_hex: str) -> None:
    assert sent.wire().hex() == golden_hex


@pytest.mark.parametrize(("sent", "golden_hex"), GOLDEN)
def test_golden_bytes_follow_the_spec_layout_field_by_field(sent: Sent, golden_hex: str) -> None:
    decoded = _decoded(bytes.fromhex(golden_hex))
    body, crc = decoded[:-4], decoded[-4:]
    assert int.from_bytes(crc, "big") == crc32c(body)
    version, flags, msg_type, seq, length = struct.unpack_from(">BBBHH", body)
    assert (version, msg_type, seq, length) == (1, sent.msg_type, sent.seq, len(sent.payload))
    if sent.key is None:
        assert flags == sent.flags and body[7:] == sent.payload
    else:
        assert flags == sent.flags | Flags.AUTH
        assert struct.unpack_from(">IQ", body, 7) == (sent.session_id, sent.counter)
        signed, tag = body[:-16], body[-16:]
        assert signed[19:] == sent.payload
        assert tag == _reference_tag(sent.key, signed)


@pytest.mark.parametrize(("sent", "golden_hex"), GOLDEN)
def test_decoder_reads_the_golden_bytes_back(sent: Sent, golden_hex: str) -> None:
    frames, decoder = feed_whole(bytes.fromhex(golden_hex))
    assert len(frames) == 1 and sent.matches(frames[0])
    assert decoder.frames == 1 and sum(decoder.dropped.values()) == 0


# --- round trips ------------------------------------------------------------------------------


@given(sent_frames(max_payload=MAX_PAYLOAD))
def test_every_encoded_frame_decodes_to_the_same_fields(sent: Sent) -> None:
    wire = sent.wire()
    frames, _ = feed_whole(wire)
    assert len(frames) == 1 and sent.matches(frames[0])
    overhead = frame_overhead(sent.key is not None)
    assert len(_decoded(wire)) == overhead + len(sent.payload)
    assert len(wire) - 1 <= max_encoded_size()


def test_largest_authenticated_frame_is_exactly_max_frame() -> None:
    wire = encode_frame(1, 1, b"\xff" * MAX_PAYLOAD, session_id=1, counter=1, tag_key=KEY)
    assert len(_decoded(wire)) == MAX_FRAME
    assert len(feed_whole(wire)[0]) == 1


@given(st.integers(0, 4 * MAX_FRAME), st.binary(max_size=64))
def test_max_encoded_size_bounds_every_cobs_encoding(size: int, seed: bytes) -> None:
    worst = len(cobs.encode(b"\x01" * size))
    assert max_encoded_size(size) == worst
    sample = (seed * (size // max(1, len(seed)) + 1))[:size] if seed else bytes(size)
    assert len(cobs.encode(sample)) <= max_encoded_size(size)


def test_signed_bytes_cover_header_through_payload() -> None:
    sent = Sent(9, 9, b"abc", Flags.RESPONSE, 5, 6, KEY)
    frame = feed_whole(sent.wire())[0][0]
    decoded = _decoded(sent.wire())
    assert frame.signed == decoded[: HEADER_SIZE + AUTH_PREFIX_SIZE + 3]
    assert frame.tag == decoded[-CRC_SIZE - TAG_SIZE : -CRC_SIZE]


# --- encoder refuses what the peer would have to reject ---------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"payload": b"x" * (MAX_PAYLOAD + 1)},
        {"msg_type": 256},
        {"msg_type": -1},
        {"seq": 0x10000},
        {"flags": Flags(0x10)},
        {"flags": Flags.AUTH},
        {"session_id": 1, "counter": 1},
        {"tag_key": KEY},
        {"tag_key": KEY, "session_id": 1},
        {"tag_key": KEY, "session_id": 2**32, "counter": 1},
        {"tag_key": KEY, "session_id": 1, "counter": 2**64},
    ],
)
def test_encoder_refuses_out_of_range_or_inconsistent_fields(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"msg_type": 1, "seq": 1, "payload": b""} | kwargs
    with pytest.raises(LocalProtocolError):
        encode_frame(**args)  # type: ignore[arg-type]


def test_tag_key_sets_auth_even_if_flags_omit_it() -> None:
    frame = feed_whole(encode_frame(1, 1, b"", session_id=1, counter=1, tag_key=KEY))[0][0]
    assert Flags.AUTH in frame.flags


# --- the decoder: chunking --------------------------------------------------------------------


@given(st.lists(sent_frames(), max_size=6), st.lists(st.integers(0), max_size=12))
def test_decoder_gives_the_same_frames_whole_bytewise_and_in_random_splits(
    sent: list[Sent], cuts: list[int]
) -> None:
    wire = b"".join(s.wire() for s in sent)
    for frames, decoder in (feed_whole(wire), feed_bytewise(wire), feed_split(wire, cuts)):
        assert len(frames) == len(sent)
        assert all(s.matches(f) for s, f in zip(sent, frames, strict=True))
        assert decoder.frames == len(sent)
        assert sum(decoder.dropped.values()) == 0
        assert decoder.buffered == 0


def test_idle_and_flush_delimiters_are_ignored_not_counted() -> None:
    sent = Sent(3, 4, b"\x00payload\x00", Flags(0))
    wire = b"\x00\x00" + sent.wire() + b"\x00\x00\x00" + b"\x00" + sent.wire() + b"\x00"
    frames, decoder = feed_bytewise(wire)
    assert len(frames) == 2 and all(sent.matches(f) for f in frames)
    assert sum(decoder.dropped.values()) == 0


def test_a_frame_without_its_delimiter_yet_stays_pending() -> None:
    wire = Sent(3, 4, b"abc", Flags(0)).wire()
    decoder = FrameDecoder()
    assert decoder.feed(wire[:-1]) == []
    assert decoder.buffered == len(wire) - 1
    assert len(decoder.feed(b"\x00")) == 1


# --- the decoder: noise -----------------------------------------------------------------------


@st.composite
def corrupted_wire(draw: st.DrawFn) -> bytes:
    """A frame's wire bytes damaged inside its run (never a harmless flush prefix)."""
    body = draw(sent_frames()).wire()[:-1]
    kind = draw(st.sampled_from(["replace", "insert", "delete", "split", "truncate"]))
    at = draw(st.integers(0, len(body) - 1))
    damaged = bytearray(body)
    if kind == "replace":
        damaged[at] = draw(st.integers(1, 255).filter(lambda b: b != body[at]))
    elif kind == "insert":
        damaged.insert(at, draw(st.integers(1, 255)))
    elif kind == "delete":
        del damaged[at]
    elif kind == "split":  # a 0x00 strictly inside cuts the frame into two runs
        damaged.insert(max(1, at), 0)
    else:
        del damaged[max(1, at) :]
    return bytes(damaged) + b"\x00"


noise = st.binary(max_size=120).map(lambda b: b + b"\x00")
stream_items = st.one_of(
    sent_frames().map(lambda s: ("frame", s)),
    corrupted_wire().map(lambda w: ("corrupt", w)),
    noise.map(lambda w: ("noise", w)),
)


@given(st.lists(stream_items, max_size=10), st.lists(st.integers(0), max_size=8))
def test_noise_and_corrupted_frames_are_dropped_and_valid_frames_around_them_survive(
    items: list[tuple[str, object]], cuts: list[int]
) -> None:
    wire = b""
    expected: list[Sent] = []
    corrupted = 0
    for kind, item in items:
        if isinstance(item, Sent):
            wire += item.wire()
            expected.append(item)
        else:
            assert isinstance(item, bytes)
            wire += item
            corrupted += kind == "corrupt"
    for frames, decoder in (feed_whole(wire), feed_bytewise(wire), feed_split(wire, cuts)):
        assert len(frames) == len(expected)
        assert all(s.matches(f) for s, f in zip(expected, frames, strict=True))
        assert sum(decoder.dropped.values()) >= corrupted


def test_garbage_glued_to_a_frame_loses_only_that_frame() -> None:
    first, second = Sent(1, 1, b"one", Flags(0)), Sent(2, 2, b"two", Flags(0))
    frames, decoder = feed_whole(b"\x17\x42garbage" + first.wire() + second.wire())
    assert len(frames) == 1 and second.matches(frames[0])
    assert sum(decoder.dropped.values()) == 1


@given(st.binary(max_size=3000), st.lists(st.integers(0), max_size=10))
def test_decoder_never_raises_and_stays_bounded_on_arbitrary_bytes(
    data: bytes, cuts: list[int]
) -> None:
    decoder = FrameDecoder()
    for chunk in chunks(data, cuts):
        decoder.feed(chunk)
        assert decoder.buffered <= decoder.max_encoded


# --- the decoder: each drop reason ------------------------------------------------------------


def _valid_body(payload: bytes = b"abc") -> bytes:
    return _header(0, 1, 1, len(payload)) + payload


OVERSIZE_ENCODED = b"\x01" * (max_encoded_size() + 1) + b"\x00"
OVERSIZE_DECODED = cobs.encode(bytes(MAX_FRAME + 1)) + b"\x00"  # zeros: short encoding
OVERSIZE_PAYLOAD = seal_frame(_valid_body(b"p" * (MAX_PAYLOAD + 1)))
BAD_COBS = b"\x05ab\x00"
TRUNCATED = cobs.encode(b"\x01\x00\x01\x00\x00\x00\x00\x00\x00\x00") + b"\x00"
BAD_CRC = cobs.encode(_valid_body() + struct.pack(">I", crc32c(_valid_body()) ^ 1)) + b"\x00"
BAD_LENGTH_SHORT = seal_frame(_header(0, 1, 1, 5) + b"abc")
BAD_LENGTH_LONG = seal_frame(_header(0, 1, 1, 2) + b"abc")
BAD_LENGTH_AUTH = seal_frame(_header(1, 1, 1, 3) + bytes(12) + b"abc" + bytes(15))


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        (OVERSIZE_ENCODED, DropReason.OVERSIZE),
        (OVERSIZE_DECODED, DropReason.OVERSIZE),
        (OVERSIZE_PAYLOAD, DropReason.OVERSIZE),
        (BAD_COBS, DropReason.BAD_COBS),
        (TRUNCATED, DropReason.TRUNCATED),
        (BAD_CRC, DropReason.BAD_CRC),
        (BAD_LENGTH_SHORT, DropReason.BAD_LENGTH),
        (BAD_LENGTH_LONG, DropReason.BAD_LENGTH),
        (BAD_LENGTH_AUTH, DropReason.BAD_LENGTH),
    ],
)
def test_each_drop_reason_is_counted_once_and_the_next_frame_still_decodes(
    wire: bytes, reason: DropReason
) -> None:
    good = Sent(7, 7, b"after", Flags(0))
    for frames, decoder in (feed_whole(wire + good.wire()), feed_bytewise(wire + good.wire())):
        assert len(frames) == 1 and good.matches(frames[0])
        assert decoder.dropped == {r: int(r is reason) for r in DropReason}
        assert decoder.frames == 1


def test_parse_frame_names_the_drop_reason_as_a_remote_protocol_error() -> None:
    with pytest.raises(FrameError) as caught:
        parse_frame(cobs.decode(BAD_CRC[:-1]))
    assert isinstance(caught.value, RemoteProtocolError)
    assert caught.value.reason is DropReason.BAD_CRC
    with pytest.raises(FrameError) as caught:
        parse_frame(bytes(MAX_FRAME + 1))
    assert caught.value.reason is DropReason.OVERSIZE
    assert caught.value.code is ErrorCode.FRAME_TOO_LARGE


def test_an_endless_run_without_delimiter_is_one_oversize_and_memory_stays_bounded() -> None:
    decoder = FrameDecoder()
    for _ in range(200):
        assert decoder.feed(b"\x55" * 997) == []
        assert decoder.buffered <= decoder.max_encoded
    good = Sent(1, 2, b"back in sync", Flags(0))
    frames = decoder.feed(b"\x00" + good.wire())
    assert len(frames) == 1 and good.matches(frames[0])
    assert decoder.dropped[DropReason.OVERSIZE] == 1
    assert sum(decoder.dropped.values()) == 1


def test_a_smaller_max_frame_drops_larger_frames_as_oversize() -> None:
    decoder = FrameDecoder(max_frame=64)
    small, large = Sent(1, 1, b"s" * 10, Flags(0)), Sent(1, 2, b"L" * 60, Flags(0))
    frames = decoder.feed(large.wire() + small.wire())
    assert len(frames) == 1 and small.matches(frames[0])
    assert decoder.dropped[DropReason.OVERSIZE] == 1


# --- the decoder leaves version and flags to the endpoint -------------------------------------


def test_unknown_version_is_yielded_with_its_fixed_header_for_an_explicit_refusal() -> None:
    frames, decoder = feed_whole(seal_frame(_header(0x01, 0x21, 0x0BAD, 99, version=2) + b"future"))
    assert decoder.frames == 1
    frame = frames[0]
    assert (frame.version, frame.msg_type, frame.seq) == (2, 0x21, 0x0BAD)
    assert frame.session_id is None and frame.counter is None and frame.tag is None
    assert frame.payload == b"future"


def test_reserved_flag_bits_are_yielded_for_the_endpoint_to_refuse() -> None:
    frames, _ = feed_whole(seal_frame(_header(0x82, 5, 6, 2) + b"ok"))
    assert len(frames) == 1
    assert frames[0].reserved_flags == 0x80
    assert Flags.RESPONSE in frames[0].flags and frames[0].payload == b"ok"


def test_a_tag_made_with_another_key_still_decodes_but_does_not_verify() -> None:
    sent = Sent(1, 1, b"x", Flags(0), 1, 1, OTHER_KEY)
    frame = feed_whole(sent.wire())[0][0]
    assert frame.tag is not None
    assert frame.tag != _reference_tag(KEY, frame.signed)
