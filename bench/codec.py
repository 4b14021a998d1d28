"""Codec benchmark: a whole authenticated message through the wire path, against MAVLink 2.

Why: the pump answers status polls and telemetry all day on a slow line; the cost of a message
must be dominated by the line, not by encoding.  MAVLink 2 with signing is the yardstick: it is
what small authenticated telemetry links commonly use.

Each operation is one message sent and received end to end:
  ours:    payload codec -> frame header + HMAC-SHA256 tag + CRC-32C + COBS + delimiter, then
           streaming decoder (COBS, CRC, length) -> session id, tag, counter -> payload decode.
  MAVLink: MAVLink 2 ATTITUDE pack with signing (SHA-256 signature, link id, timestamp), then
           parse_char on a receiver holding the same key (signature and timestamp verified).
Best of three runs of about 1.5 s each; the last line is the JSON summary.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from pymavlink.dialects.v20 import common as mavlink2

from protocol import (
    ErrorCode,
    MsgType,
    Role,
    decode_reply,
    decode_request,
    encode_reply,
    encode_request,
)
from protocol.crypto import SessionKeys
from protocol.framing import Flags, FrameDecoder
from protocol.session import AuthSession

RUN_SECONDS = 1.5
RUNS = 3

STATUS_BODY: dict[str, Any] = {
    "pump_time": 1_767_571_200,
    "mode": 2,
    "prescription_version": 12,
    "daily_dose_ng": 400_000,
    "rate_nl_per_day": 800_000,
    "concentration_mcg_per_ml": 500,
    "reservoir_nl": 14_250_000,
    "reservoir_capacity_nl": 20_000_000,
    "low_reservoir_nl": 2_000_000,
    "low_reservoir_time": 1_768_900_000,
    "empty_time": 1_769_100_000,
    "battery_ppm": 812_345,
    "eri_time": 1_900_000_000,
    "eos_time": 1_907_776_000,
    "replace_by_time": 1_900_000_000,
    "delivered_ng": 123_456_789,
    "delivered_nl": 246_913_578,
    "strokes": 987_654,
    "bolus_mode": 0,
    "bolus_remaining_ng": 0,
    "bolus_end_time": 0,
    "critical_interval_s": 600,
    "patient_bolus_enabled": True,
    "alarms": [
        {
            "alarm": 1,
            "critical": False,
            "acknowledged": False,
            "raised_at": 1_767_500_000,
            "silenced_until": 0,
        }
    ],
    "delivering": True,
    "patient_bolus_dose_ng": 50_000,
    "patient_bolus_duration_s": 600,
    "patient_bolus_max_per_day": 4,
    "patient_bolus_lockout_s": 7_200,
    "patient_boluses_given": 1,
    "patient_boluses_refused": 0,
    "patient_boluses_left": 3,
    "patient_bolus_lockout_end_time": 1_767_575_000,
    **{f"day_total_{day}_ng": 400_000 for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
    "utc_offset_s": 3_600,
    "clock_drift_warning_s": 300,
    "projected_replace_by_time": 1_900_000_000,
    "catheter_length_mm": 600,
}

#: A flex day of 13 steps (the most a day may have), used for every weekday.
FLEX_DAY = [
    {"start_minute": step * 110, "daily_dose_ng": 300_000 + 10_000 * step} for step in range(13)
]
STAGE_FLEX_BODY: dict[str, Any] = {
    "request_id": 0x0BADC0DE,
    "change": {
        "kind": 2,
        "params": {"day_programs": [FLEX_DAY], "weekday_program": [0] * 7},
    },
}
assert len(FLEX_DAY) == 13


def _session_pair() -> tuple[AuthSession, AuthSession]:
    keys = SessionKeys.derive(bytes(range(32)), 0x5E55_1D01, bytes(16), bytes(range(16)))
    device = AuthSession.for_device(0x5E55_1D01, 0x1234, Role.CLINICIAN, keys)
    programmer = AuthSession.for_programmer(0x5E55_1D01, 0x1234, Role.CLINICIAN, keys)
    return device, programmer


def status_reply_op() -> Callable[[], None]:
    """Pump encodes an authenticated STATUS reply; programmer decodes and verifies it."""
    device, programmer = _session_pair()
    decoder = FrameDecoder()

    def op() -> None:
        wire = device.seal(
            MsgType.STATUS,
            7,
            encode_reply(MsgType.STATUS, ErrorCode.OK, STATUS_BODY),
            Flags.RESPONSE,
        )
        (frame,) = decoder.feed(wire)
        if programmer.open(frame) is not ErrorCode.OK:
            raise AssertionError("tag or counter refused")
        decode_reply(MsgType.STATUS, frame.payload)

    return op


def stage_flex_op() -> Callable[[], None]:
    """Programmer encodes an authenticated 13-step flex STAGE_PRESCRIPTION; pump decodes it."""
    device, programmer = _session_pair()
    decoder = FrameDecoder()

    def op() -> None:
        wire = programmer.seal(
            MsgType.STAGE_PRESCRIPTION,
            8,
            encode_request(MsgType.STAGE_PRESCRIPTION, STAGE_FLEX_BODY),
            Flags(0),
        )
        (frame,) = decoder.feed(wire)
        if device.open(frame) is not ErrorCode.OK:
            raise AssertionError("tag or counter refused")
        decode_request(MsgType.STAGE_PRESCRIPTION, frame.payload)

    return op


def mavlink_signed_attitude_op() -> Callable[[], None]:
    """MAVLink 2 signed ATTITUDE: pack on one link, parse and verify on another."""
    secret = bytes(range(32))
    sender = mavlink2.MAVLink(None, srcSystem=1, srcComponent=1)
    sender.signing.secret_key = secret
    sender.signing.link_id = 1
    sender.signing.timestamp = 1_000_000
    sender.signing.sign_outgoing = True
    receiver = mavlink2.MAVLink(None, srcSystem=255, srcComponent=0)
    receiver.signing.secret_key = secret
    receiver.signing.link_id = 1
    receiver.signing.timestamp = 1_000_000

    def op() -> None:
        message = mavlink2.MAVLink_attitude_message(
            123_456, 0.01, -0.02, 1.57, 0.001, 0.002, -0.003
        )
        wire = message.pack(sender)
        sender.seq = (sender.seq + 1) % 256
        received = receiver.parse_char(wire)
        if received is None or received.get_type() != "ATTITUDE":
            raise AssertionError("MAVLink frame not received")

    return op


def ops_per_second(make_op: Callable[[], Callable[[], None]]) -> float:
    """Best of RUNS runs of about RUN_SECONDS each."""
    op = make_op()
    op()  # warm caches (compiled layouts, keyed HMAC states)
    batch = 1
    while True:  # size a batch to about 50 ms
        start = time.perf_counter()
        for _ in range(batch):
            op()
        if time.perf_counter() - start > 0.05:
            break
        batch *= 2
    best = 0.0
    for _ in range(RUNS):
        op = make_op()  # fresh counters and timestamps each run
        done = 0
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < RUN_SECONDS:
            for _ in range(batch):
                op()
            done += batch
        best = max(best, done / elapsed)
    return best


def main() -> None:
    status = ops_per_second(status_reply_op)
    flex = ops_per_second(stage_flex_op)
    mavlink = ops_per_second(mavlink_signed_attitude_op)
    print(f"authenticated STATUS reply, encode+decode:        {status:10.0f} ops/s")
    print(f"authenticated 13-step flex STAGE, encode+decode:  {flex:10.0f} ops/s")
    print(f"MAVLink 2 signed ATTITUDE (pymavlink), pack+parse: {mavlink:10.0f} ops/s")
    print(f"ratio STATUS / MAVLink signed: {status / mavlink:.2f}")
    summary = {
        "metric": "codec_status_auth_per_s",
        "value": round(status, 1),
        "baseline": round(mavlink, 1),
        "ratio": round(status / mavlink, 3),
        "flex13_per_s": round(flex, 1),
        "unit": "ops/s",
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
