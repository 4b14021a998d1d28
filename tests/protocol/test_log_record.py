"""The log record has one declaration: the dataclass, its packing and the frame count follow it."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from protocol import MAX_PAYLOAD, ErrorCode, MsgType, encode_reply
from protocol.codec import LOG_RECORDS_PER_FRAME
from protocol.crc import crc32c
from protocol.log_record import (
    LOG_RECORD_FIELDS,
    LOG_RECORD_SIZE,
    LogRecord,
    LogRecordLayout,
    encode_record,
)

u32s = st.integers(0, 0xFFFF_FFFF)
i32s = st.integers(-(2**31), 2**31 - 1)


def test_the_record_type_has_the_fields_of_the_layout_in_wire_order() -> None:
    assert tuple(f.name for f in dataclasses.fields(LogRecord)) == LOG_RECORD_FIELDS
    assert LOG_RECORD_SIZE == LogRecordLayout.sizeof() == 24


@given(seq=u32s, time=u32s, event=st.integers(0, 0xFFFF), a=i32s, b=i32s)
def test_encode_record_packs_what_the_layout_builds_with_the_check_over_the_rest(
    seq: int, time: int, event: int, a: int, b: int
) -> None:
    raw = encode_record(seq, time, event, a, b)
    fields = {"seq": seq, "time": time, "event": event, "flags": 0, "a": a, "b": b}
    body = LogRecordLayout.build({**fields, "check": 0})[:-4]
    assert raw == LogRecordLayout.build({**fields, "check": crc32c(body)})
    assert LogRecord.unpack(raw) == LogRecord(**fields, check=crc32c(body))


def _log_read_reply(records: int) -> bytes:
    body = {"records": [bytes(LOG_RECORD_SIZE)] * records, "next_cursor": 0}
    return encode_reply(MsgType.LOG_READ, ErrorCode.OK, body)


def test_a_log_read_frame_carries_as_many_records_as_fit_the_payload_limit() -> None:
    assert len(_log_read_reply(LOG_RECORDS_PER_FRAME)) <= MAX_PAYLOAD
    assert len(_log_read_reply(LOG_RECORDS_PER_FRAME + 1)) > MAX_PAYLOAD


def test_create_packed_is_create_then_pack() -> None:
    """The log's write path packs once: the same record and bytes, saturation included."""
    for args in [(1, 100, 3, 7, -9), (2**32 - 1, 2**33, 65, 2**40, -(2**40)), (5, -4, 1, 0, 0)]:
        record, data = LogRecord.create_packed(*args)
        assert record == LogRecord.create(*args)
        assert data == record.pack()
