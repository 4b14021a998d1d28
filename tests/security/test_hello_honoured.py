"""Finding 15 of issue 9: the programmer ignored what HELLO announces.

The finding: ``PumpClient.identify`` read HELLO and then used none of it - a pump speaking only
other protocol versions, accepting smaller payloads, or lacking a capability (flex schedules,
patient boluses) or a message was sent the requests anyway, to fail in whatever way the pump
chose, or half-way through a flow.

The specification now: no common protocol version is a clear ``IncompatiblePump``
(UNSUPPORTED_VERSION) at identify; a message the pump does not list, a capability it does not
announce, or a request larger than its ``max_payload`` is refused by the programmer with a
clear ``IncompatiblePump`` before anything is sent (and before a state-changing request is
journalled).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from programmer import therapy
from programmer.client import PumpClient
from programmer.errors import IncompatiblePump, PumpRefused
from programmer.keystore import KeyStore
from protocol import CATALOG, Capability, DeviceInfo, ErrorCode, MessageKind, MsgType, Role
from protocol.codec import encode_reply
from protocol.framing import MAX_PAYLOAD, PROTOCOL_VERSION, Flags, FrameDecoder, encode_frame
from tests.programmer.conftest import SERIAL, ClinicPump, clinic_pump, make_client

ALL_REQUESTS = [int(m) for m, s in CATALOG.items() if s.kind is MessageKind.REQUEST]
ALL_CAPABILITIES = int(Capability(0x7F))


class HelloDouble:
    """A transport whose pump answers HELLO with the given fields and records everything else."""

    def __init__(self, **announce: Any) -> None:
        self.hello: dict[str, Any] = {
            "model": "VP-99",
            "serial_number": "VP99-000001",
            "firmware_version": "9.0",
            "protocol_min": PROTOCOL_VERSION,
            "protocol_max": PROTOCOL_VERSION,
            "max_payload": MAX_PAYLOAD,
            "capabilities": ALL_CAPABILITIES,
            "pairing_window_open": True,
            "paired_keys": 0,
            "messages": ALL_REQUESTS,
            **announce,
        }
        self.decoder = FrameDecoder()
        self.sent: list[int] = []  # message types of every frame after HELLO
        self.pending = b""

    def write(self, data: bytes) -> None:
        for frame in self.decoder.feed(data):
            if frame.msg_type == MsgType.HELLO:
                payload = encode_reply(MsgType.HELLO, ErrorCode.OK, self.hello)
                self.pending += encode_frame(MsgType.HELLO, frame.seq, payload, Flags.RESPONSE)
            else:
                self.sent.append(frame.msg_type)

    def read(self, timeout_s: float) -> bytes:
        out, self.pending = self.pending, b""
        return out

    def close(self) -> None:
        pass


def _client(tmp_path: Path, transport: HelloDouble) -> PumpClient:
    return PumpClient(transport, KeyStore(tmp_path / "keys.json"), timeout_s=0.05, retries=0)


def test_no_common_protocol_version_fails_clearly_at_identify(tmp_path: Path) -> None:
    line = HelloDouble(protocol_min=PROTOCOL_VERSION + 1, protocol_max=PROTOCOL_VERSION + 3)
    client = _client(tmp_path, line)
    with pytest.raises(IncompatiblePump) as caught:
        client.identify()
    assert caught.value.code is ErrorCode.UNSUPPORTED_VERSION
    assert f"{PROTOCOL_VERSION + 1}..{PROTOCOL_VERSION + 3}" in str(caught.value)
    assert isinstance(caught.value, PumpRefused) and caught.value.exit_code == 1
    with pytest.raises(IncompatiblePump):
        client.pair(Role.CLINICIAN)
    assert line.sent == []


def test_a_range_that_includes_our_version_is_accepted(tmp_path: Path) -> None:
    line = HelloDouble(protocol_min=PROTOCOL_VERSION, protocol_max=PROTOCOL_VERSION + 2)
    assert _client(tmp_path, line).identify()["model"] == "VP-99"


@pytest.mark.parametrize(
    ("missing", "call"),
    [
        (
            Capability.FLEX,
            lambda c: c.stage(therapy.flex([therapy.FlexStep(0, 400_000)], range(7), None)),
        ),
        (Capability.PATIENT_BOLUS, lambda c: c.request_patient_bolus()),
        (Capability.PRIMING_BOLUS, lambda c: c.stage(therapy.priming_bolus(500))),
        (Capability.PAIRING, lambda c: c.pair(Role.CLINICIAN)),
    ],
)
def test_a_capability_the_pump_does_not_announce_is_refused_before_anything_is_sent(
    tmp_path: Path, missing: Capability, call: Any
) -> None:
    line = HelloDouble(capabilities=ALL_CAPABILITIES & ~int(missing))
    client = _client(tmp_path, line)
    with pytest.raises(IncompatiblePump, match=missing.name) as caught:
        call(client)
    assert caught.value.code is ErrorCode.UNKNOWN_MESSAGE
    assert line.sent == []  # not even a session open
    assert client.journal.entries() == []  # nothing journalled: it certainly did not happen


def test_a_message_the_pump_does_not_list_is_refused(tmp_path: Path) -> None:
    line = HelloDouble(messages=[m for m in ALL_REQUESTS if m != MsgType.STOP])
    client = _client(tmp_path, line)
    with pytest.raises(IncompatiblePump, match="STOP"):
        client.stop()
    assert line.sent == []


def test_a_request_above_the_pumps_max_payload_is_never_sent(tmp_path: Path) -> None:
    line = HelloDouble(max_payload=8)
    client = _client(tmp_path, line)
    with pytest.raises(IncompatiblePump, match="max_payload") as caught:
        client.stage(therapy.continuous(400_000))  # request id + kind + dose: 9 bytes
    assert caught.value.code is ErrorCode.FRAME_TOO_LARGE
    assert line.sent == []
    assert client.max_payload == 8


# -- a real DeviceEndpoint announcing fewer capabilities ------------------------------------------


@pytest.fixture
def plain_pump() -> Iterator[ClinicPump]:
    server = clinic_pump()
    server.device.info = DeviceInfo("VP20", SERIAL, "1.0.0", Capability.PAIRING)
    yield server


def test_a_pump_without_patient_bolus_never_sees_the_request(
    plain_pump: ClinicPump, tmp_path: Path
) -> None:
    keys = KeyStore(tmp_path / "keys.json")
    plain_pump.open_wand()
    with make_client(plain_pump, keys) as client:
        client.pair(Role.CLINICIAN)
        client.open_session()
        assert client.status()
        with pytest.raises(IncompatiblePump, match="PATIENT_BOLUS"):
            client.configure_patient_bolus(100_000, 600, 4, 3 * 3600)
        with pytest.raises(IncompatiblePump, match="FLEX"):
            client.stage(therapy.flex([therapy.FlexStep(0, 400_000)], range(7), None))
    assert plain_pump.requests_seen[MsgType.PATIENT_BOLUS_CONFIG] == 0
    assert plain_pump.requests_seen[MsgType.STAGE_PRESCRIPTION] == 0
