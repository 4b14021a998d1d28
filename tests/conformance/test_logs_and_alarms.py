"""Logs by cursor (counts, continuation, the ring's wrap without reusing a sequence number) and
alarms that reach the programmer unasked (low reservoir after time passes)."""

from __future__ import annotations

from typing import Any

import pytest

from protocol import AlarmId, LogEvent, LogId, MsgType, Notification
from protocol.log_record import LogRecordLayout

from .client import SuiteClient
from .messages import DAY, ML, continuous, fill, program
from .target import PumpUnderTest


def read_log(
    client: SuiteClient, log: LogId, cursor: int, max_count: int
) -> tuple[list[Any], int, int]:
    """(records, next_cursor, frames) of one LOG_READ (records are construct Containers)."""
    frames = client.stream(
        MsgType.LOG_READ, {"log": int(log), "cursor": cursor, "max_count": max_count}
    )
    assert all(f.more for f in frames[:-1]) and not frames[-1].more
    records = [LogRecordLayout.parse(r) for f in frames for r in f.body["records"]]
    return records, frames[-1].body["next_cursor"], len(frames)


def pipeline_alarm_tests(client: SuiteClient, count: int, batch: int = 100) -> None:
    """``count`` ALARMS_TEST requests, written ``batch`` at a time without waiting per reply."""
    for start in range(0, count, batch):
        seqs = []
        wire = b""
        for _ in range(min(batch, count - start)):
            seq = client.next_seq()
            seqs.append(seq)
            wire += client.encode(MsgType.ALARMS_TEST, None, seq)
        client.write(wire)
        client.wait_reply(MsgType.ALARMS_TEST, seqs[-1], timeout=30)
        client.inbox.clear()
        client.frames.clear()


def test_log_read_pages_by_cursor_without_gaps_or_repeats(pump: PumpUnderTest) -> None:
    with pump.session() as client:
        pipeline_alarm_tests(client, 100)
        info = client.ok(MsgType.LOG_INFO, {"log": LogId.ALARM})
        seen = []
        cursor = info["first_seq"]
        while cursor < info["next_seq"]:
            records, cursor, _ = read_log(client, LogId.ALARM, cursor, 30)
            assert 0 < len(records) <= 30
            seen += [r.seq for r in records]
        assert seen == list(range(info["first_seq"], info["next_seq"]))
        records, next_cursor, _ = read_log(client, LogId.ALARM, info["next_seq"], 10)
        assert records == [] and next_cursor == info["next_seq"]


def test_a_long_read_streams_in_several_frames(pump: PumpUnderTest) -> None:
    with pump.session() as client:
        pipeline_alarm_tests(client, 120)
        info = client.ok(MsgType.LOG_INFO, {"log": LogId.ALARM})
        records, _, frames = read_log(client, LogId.ALARM, 0, info["count"])
        assert len(records) == info["count"] and frames > 1
        assert all(r.event in iter(LogEvent) for r in records)


@pytest.mark.timeout(90)
def test_the_ring_wraps_dropping_the_oldest_and_never_reusing_a_sequence_number(
    fresh_pump: PumpUnderTest,
) -> None:
    with fresh_pump.session() as client:
        capacity = client.ok(MsgType.LOG_INFO, {"log": LogId.ALARM})["capacity"]
        if capacity > 5000:
            pytest.skip(f"log capacity {capacity} is too large to wrap in a bounded test")
        pipeline_alarm_tests(client, capacity + 50)
        info = client.ok(MsgType.LOG_INFO, {"log": LogId.ALARM})
        assert info["count"] == capacity and info["next_seq"] >= capacity + 51
        assert info["first_seq"] == info["next_seq"] - capacity
        records, _, _ = read_log(client, LogId.ALARM, 1, 5)  # a cursor older than the ring
        assert [r.seq for r in records] == list(range(info["first_seq"], info["first_seq"] + 5))
        tail, _, _ = read_log(client, LogId.ALARM, info["next_seq"] - 3, 10)
        assert [r.seq for r in tail] == list(range(info["next_seq"] - 3, info["next_seq"]))


def test_low_reservoir_alarm_event_arrives_when_the_estimate_crosses_the_threshold(
    fresh_pump: PumpUnderTest,
) -> None:
    bench = fresh_pump.require_bench("advance time")
    with fresh_pump.session() as client:
        fill(client, 4, 500)
        program(client, continuous(500))  # 1 mL/day: 4 mL -> 2 mL in two days
        status = client.ok(MsgType.STATUS)
        crossing = status["low_reservoir_time"] - status["pump_time"]
        assert 0 < crossing <= 3 * DAY
        bench.advance(crossing - 60)
        assert not any(
            a["alarm"] == AlarmId.LOW_RESERVOIR for a in client.ok(MsgType.ALARMS_READ)["alarms"]
        )
        bench.advance(120)
        event: Notification = client.wait_for(
            lambda e: (
                isinstance(e, Notification)
                and e.msg is MsgType.ALARM_EVENT
                and e.body["alarm"] == AlarmId.LOW_RESERVOIR
            ),
            what="LOW_RESERVOIR ALARM_EVENT",
        )
        assert event.body["raised"] and not event.body["critical"]
        assert client.ok(MsgType.STATUS)["reservoir_nl"] <= 2 * ML
