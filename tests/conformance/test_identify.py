"""HELLO: what any peer, paired or not, may learn about the device - and nothing more."""

from __future__ import annotations

from protocol import CATALOG, MAX_PAYLOAD, PROTOCOL_VERSION, MessageKind, MsgType

from .target import PumpUnderTest


def test_hello_answers_an_unpaired_peer_with_identity_and_limits(pump: PumpUnderTest) -> None:
    with pump.client() as client:
        hello = client.hello()
    assert hello["model"] and hello["serial_number"] and hello["firmware_version"]
    assert hello["protocol_min"] <= PROTOCOL_VERSION <= hello["protocol_max"]
    assert 0 < hello["max_payload"] <= MAX_PAYLOAD


def test_hello_announces_every_core_request_and_no_event(pump: PumpUnderTest) -> None:
    announced = set(pump.hello["messages"])
    events = {int(m) for m, s in CATALOG.items() if s.kind is MessageKind.EVENT}
    core = {MsgType.HELLO, MsgType.SESSION_OPEN, MsgType.SESSION_CLOSE, MsgType.STATUS}
    assert {int(m) for m in core} <= announced
    assert not announced & events
    assert announced <= {int(m) for m in MsgType}


def test_hello_reply_is_plain_and_echoes_seq(pump: PumpUnderTest) -> None:
    with pump.client() as client:
        seq = client.raw(MsgType.HELLO, b"")
        reply = client.wait_reply(MsgType.HELLO, seq)
    assert reply.ok and not reply.authenticated and reply.seq == seq
