"""Every message of the catalog survives encode -> decode, alone and inside a whole frame.

The values come from strategies built from the catalog's own layouts (strategies.py), so a new
message or field is covered without touching this file.  Hostile bytes into any decoder produce
a RemoteProtocolError (the peer's fault) and nothing else.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import (
    MAX_PAYLOAD,
    ErrorCode,
    Flags,
    FrameDecoder,
    LocalProtocolError,
    MessageSpec,
    MsgType,
    RemoteProtocolError,
    decode_reply,
    decode_request,
    encode_frame,
    encode_reply,
    encode_request,
)
from protocol.codec import MAX_REASON_BYTES
from protocol.crypto import verify_tag

from .strategies import EVENTS, REQUESTS, reply_bodies, request_bodies

EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ALL = REQUESTS + EVENTS


def _name(spec: MessageSpec) -> str:
    return spec.name


keys = st.binary(min_size=32, max_size=32)
session_ids = st.integers(1, 0xFFFF_FFFF)
counters = st.integers(1, 0xFFFF_FFFF_FFFF_FFFF)
seqs = st.integers(0, 0xFFFF)


def test_the_strategies_cover_every_message_of_the_catalog() -> None:
    assert {s.msg for s in ALL} == set(MsgType)


@pytest.mark.parametrize("spec", ALL, ids=_name)
@EXAMPLES
@given(data=st.data())
def test_every_request_and_event_payload_round_trips_through_the_codec(
    spec: MessageSpec, data: st.DataObject
) -> None:
    body = data.draw(request_bodies(spec))
    assert decode_request(spec.msg, encode_request(spec.msg, body)) == body


@pytest.mark.parametrize("spec", REQUESTS, ids=_name)
@EXAMPLES
@given(data=st.data())
def test_every_success_reply_round_trips_through_the_codec(
    spec: MessageSpec, data: st.DataObject
) -> None:
    body = data.draw(reply_bodies(spec))
    assert decode_reply(spec.msg, encode_reply(spec.msg, ErrorCode.OK, body)) == (0, body, "")


@EXAMPLES
@given(
    spec=st.sampled_from(REQUESTS),
    code=st.sampled_from([code for code in ErrorCode if code is not ErrorCode.OK]),
    reason=st.text(max_size=50),
)
def test_every_error_reply_round_trips_with_its_code_and_reason(
    spec: MessageSpec, code: ErrorCode, reason: str
) -> None:
    payload = encode_reply(spec.msg, code, reason=reason)
    assert decode_reply(spec.msg, payload) == (int(code), {}, reason)


def test_a_long_error_reason_is_cut_on_a_character_boundary() -> None:
    reason = "é" * MAX_REASON_BYTES  # two bytes each: twice the limit
    status, body, decoded = decode_reply(
        MsgType.STATUS, encode_reply(MsgType.STATUS, ErrorCode.BUSY, reason=reason)
    )
    assert (status, body) == (ErrorCode.BUSY, {})
    assert reason.startswith(decoded)
    assert len(decoded.encode()) == MAX_REASON_BYTES


def _through_a_frame(
    msg: MsgType, payload: bytes, flags: Flags, key: bytes | None, sid: int, ctr: int, seq: int
) -> bytes:
    if key is None:
        wire = encode_frame(msg, seq, payload, flags)
    else:
        wire = encode_frame(msg, seq, payload, flags, session_id=sid, counter=ctr, tag_key=key)
    decoder = FrameDecoder()
    (frame,) = decoder.feed(wire)
    assert (frame.msg_type, frame.seq) == (msg, seq)
    assert frame.flags & ~Flags.AUTH == flags
    if key is None:
        assert frame.session_id is None and frame.tag is None
    else:
        assert (frame.session_id, frame.counter) == (sid, ctr)
        assert frame.tag is not None and verify_tag(key, frame.signed, frame.tag)
    return frame.payload


@pytest.mark.parametrize("spec", ALL, ids=_name)
@EXAMPLES
@given(data=st.data(), key=keys, sid=session_ids, ctr=counters, seq=seqs)
def test_every_message_round_trips_through_a_whole_frame(
    spec: MessageSpec, data: st.DataObject, key: bytes, sid: int, ctr: int, seq: int
) -> None:
    # Messages that need no session also travel in the clear.
    tag_key: bytes | None = key if spec.auth or data.draw(st.booleans()) else None
    body = data.draw(request_bodies(spec))
    payload = encode_request(spec.msg, body)
    if len(payload) <= MAX_PAYLOAD:
        flags = Flags.EVENT if spec in EVENTS else Flags(0)
        received = _through_a_frame(spec.msg, payload, flags, tag_key, sid, ctr, seq)
        assert decode_request(spec.msg, received) == body
    if spec in EVENTS:
        return
    reply: dict[str, Any] = data.draw(reply_bodies(spec))
    payload = encode_reply(spec.msg, ErrorCode.OK, reply)
    if len(payload) <= MAX_PAYLOAD:
        more = Flags.MORE if spec.streamed and data.draw(st.booleans()) else Flags(0)
        received = _through_a_frame(
            spec.msg, payload, Flags.RESPONSE | more, tag_key, sid, ctr, seq
        )
        assert decode_reply(spec.msg, received) == (0, reply, "")


def _decoders(spec: MessageSpec) -> list[Any]:
    return [decode_request] + ([decode_reply] if spec in REQUESTS else [])


@pytest.mark.parametrize("spec", ALL, ids=_name)
@EXAMPLES
@given(payload=st.binary(max_size=96))
def test_random_bytes_into_any_decoder_raise_only_remote_protocol_error(
    spec: MessageSpec, payload: bytes
) -> None:
    for decode in _decoders(spec):
        try:
            decode(spec.msg, payload)
        except RemoteProtocolError as error:
            assert isinstance(error.code, ErrorCode)


def _mutate(payload: bytes, data: st.DataObject) -> bytes:
    how = data.draw(st.sampled_from(["flip", "truncate", "extend"]))
    if how == "flip" and payload:
        at = data.draw(st.integers(0, len(payload) - 1))
        bit = 1 << data.draw(st.integers(0, 7))
        return payload[:at] + bytes([payload[at] ^ bit]) + payload[at + 1 :]
    if how == "truncate" and payload:
        return payload[: data.draw(st.integers(0, len(payload) - 1))]
    return payload + data.draw(st.binary(min_size=1, max_size=8))


@pytest.mark.parametrize("spec", ALL, ids=_name)
@EXAMPLES
@given(data=st.data())
def test_mutated_payloads_are_refused_or_decode_to_values_that_encode_again(
    spec: MessageSpec, data: st.DataObject
) -> None:
    """Near-valid bytes reach deep into the layouts; whatever decodes must be re-encodable."""
    payload = encode_request(spec.msg, data.draw(request_bodies(spec)))
    mutated = _mutate(payload, data)
    try:
        body = decode_request(spec.msg, mutated)
    except RemoteProtocolError:
        return
    assert decode_request(spec.msg, encode_request(spec.msg, body)) == body
    if spec in REQUESTS:
        reply = encode_reply(spec.msg, ErrorCode.OK, data.draw(reply_bodies(spec)))
        with contextlib.suppress(RemoteProtocolError):
            decode_reply(spec.msg, _mutate(reply, data))


def test_an_array_longer_than_its_count_field_refuses_to_encode() -> None:
    with pytest.raises(LocalProtocolError):
        encode_request(MsgType.ALARMS_ACK, {"request_id": 1, "alarms": [1] * 256})


def test_a_field_out_of_its_range_refuses_to_encode() -> None:
    with pytest.raises(LocalProtocolError):
        encode_request(
            MsgType.SET_CLOCK, {"request_id": 1, "pump_time": 1 << 32, "utc_offset_s": 0}
        )


def test_a_malformed_payload_is_explained_without_internal_exception_names() -> None:
    from protocol.codec import decode_request
    from protocol.errors import RemoteProtocolError

    reasons = []
    for payload in (b"\x01", b"\x00\x00\x00\x01\x09" + bytes(40), bytes(200)):
        with pytest.raises(RemoteProtocolError) as caught:
            decode_request(MsgType.STAGE_PRESCRIPTION, payload)
        reasons.append(str(caught.value))
    assert not any("Error" in r for r in reasons), reasons
    assert "ends before the last field" in reasons[0]
    assert "unknown change kind" in reasons[1]
    assert "left over" in reasons[2]
