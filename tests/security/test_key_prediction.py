"""Finding 1 and 5 of the adversarial review: an attacker on the line predicts the pump's keys.

The attack, as reproduced on the pump that drew its key material from the board's
``random.Random(seed)``:

* **The seed is public.** The serial number ``VP20-000042`` names seed 42.  From one recorded
  pairing the attacker finds the pump's 16-byte nonce in that generator's output, and the 32 bytes
  before it are the pump's X25519 private key; the stored clinician key follows.
* **A secret seed does not help.** Every unauthenticated ``SESSION_OPEN`` reply carries a fresh
  session id (one 32-bit output) and device nonce (four outputs).  125 replies give 625
  consecutive Mersenne Twister outputs; untempered, they *are* its state, and the clone predicts
  the next pairing's private key.
* **A power loss repeats the nonces** (finding 5): the restarted pump restored its generator from
  the last save and answered with the same session id and nonce as before the kill, so captured
  frames verified again.

Each attack is first run against an endpoint fed by a Mersenne Twister (the old design), where it
must succeed - so the attack code is proven to work - and then against a real ``vpump serve``,
where it must fail.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from programmer.exchange import Exchange
from programmer.keystore import KeyStore
from programmer.transport import open_transport
from protocol.catalog import Capability, MsgType
from protocol.codec import encode_request
from protocol.device import DeviceEndpoint, DeviceInfo
from protocol.enums import Role
from protocol.errors import ErrorCode
from protocol.events import NEED_DATA, Reply, Request
from protocol.framing import encode_frame
from protocol.programmer import ProgrammerEndpoint
from protocol.security_state import Pairing
from tests.integration.harness import ServedPump, served_pump, xdg_env

from .key_attacks import observed_outputs, pair_begin_body, predicted_pairing_key, seed_stream_hit

pytestmark = pytest.mark.timeout(120)

SEED = 42
SERIAL = "VP20-000042"


# -- the old design, in process: the attacks work ------------------------------------------------
class _InProcessPump:
    """A device endpoint fed by ``random.Random(SEED)``, as the board used to feed it."""

    def __init__(self) -> None:
        info = DeviceInfo("VP-20", SERIAL, "1.0.0", Capability.PAIRING)
        self.device = DeviceEndpoint(info, random.Random(SEED).randbytes)
        self.device.pairings[7] = Pairing(7, Role.CLINICIAN, bytes(32))
        self.device.open_pairing_window(1 << 20)
        self.seq = 0

    def ask(self, msg: MsgType, body: dict[str, object]) -> Reply:
        self.seq += 1
        self.device.receive_data(encode_frame(msg, self.seq, encode_request(msg, body)))
        # one request a second: a patient attacker stays inside any unauthenticated budget
        while self.device.next_event(self.seq) is not NEED_DATA:
            pass  # SessionOpened and the like: the firmware's business, not the attacker's
        programmer = ProgrammerEndpoint()
        programmer.receive_data(self.device.data_to_send())
        reply = programmer.next_event()
        assert isinstance(reply, Reply)
        return reply


def test_the_attacks_work_against_a_mersenne_twister_pump() -> None:
    """Positive control: against the old design both attacks recover the pump's private key."""
    first = _InProcessPump()
    begin = first.ask(MsgType.PAIR_BEGIN, pair_begin_body())
    assert seed_stream_hit(SERIAL, begin.body["device_nonce"], begin.body["device_public"])

    second = _InProcessPump()
    outputs = observed_outputs(
        lambda: second.ask(MsgType.SESSION_OPEN, {"key_id": 7, "programmer_nonce": bytes(16)})
    )
    predicts_next, public = predicted_pairing_key(outputs)
    assert predicts_next
    assert public == second.ask(MsgType.PAIR_BEGIN, pair_begin_body()).body["device_public"]


# -- the real pump: the attacks fail ---------------------------------------------------------------
class _Wire:
    """An attacker's raw programmer endpoint on the pump's line."""

    def __init__(self, port: str) -> None:
        self.endpoint = ProgrammerEndpoint()
        self.link = Exchange(open_transport(port, timeout=0.5), self.endpoint)

    def ask(self, msg: MsgType, body: dict[str, object]) -> Reply:
        seq = self.link.next_seq()
        self.link.send(encode_frame(msg, seq, encode_request(msg, body)))
        reply = self.link.wait_reply(msg, seq, 5.0)
        assert reply is not None, f"no {msg.name} reply"
        return reply

    def close(self) -> None:
        self.link.transport.close()


@pytest.fixture
def pump(tmp_path: Path) -> Iterator[ServedPump]:
    with served_pump(tmp_path, xdg_env(tmp_path), extra=("--seed", str(SEED))) as served:
        yield served


def test_the_serial_number_does_not_give_away_the_pairing_key(pump: ServedPump) -> None:
    """The pump's nonce is nowhere in its seed's stream, and HELLO announces no test mode."""
    assert pump.identity["serial_number"] == SERIAL
    assert not pump.identity["capabilities"] & Capability.INSECURE_TEST_KEYS
    pump.bench("wand", on=True)
    wire = _Wire(pump.port)
    try:
        wire.ask(MsgType.HELLO, {})
        begin = wire.ask(MsgType.PAIR_BEGIN, pair_begin_body())
    finally:
        wire.close()
    assert begin.ok, begin
    assert not seed_stream_hit(SERIAL, begin.body["device_nonce"], begin.body["device_public"])


def test_125_session_open_replies_do_not_predict_the_next_pairing_key(pump: ServedPump) -> None:
    """The attacker harvests 125 SESSION_OPEN replies for the clinician's (recorded) key id,
    clones a Mersenne Twister from them and predicts the next PAIR_BEGIN's key: it fails."""
    key_id = int(pump.pair().json["key_id"])
    wire = _Wire(pump.port)
    try:

        def session_open() -> Reply:
            pump.advance(1)  # one a second: a patient attacker stays inside any budget
            return wire.ask(MsgType.SESSION_OPEN, {"key_id": key_id, "programmer_nonce": bytes(16)})

        outputs = observed_outputs(session_open)
        predicts_next, public = predicted_pairing_key(outputs)
        pump.bench("wand", on=True)
        wire.ask(MsgType.HELLO, {})
        begin = wire.ask(MsgType.PAIR_BEGIN, pair_begin_body())
    finally:
        wire.close()
    assert begin.ok, begin
    assert not predicts_next
    assert public != begin.body["device_public"]


def test_a_power_loss_never_repeats_a_session_id_or_nonce(pump: ServedPump) -> None:
    """Finding 5: the clinician opens a session and sends a request; a recorder keeps the bytes.
    The pump is SIGKILLed and restarted from the same files.  The recorded SESSION_OPEN, sent
    again, gets a new session id and nonce, and the recorded authenticated request is refused
    unauthenticated (its session is unknown) instead of verifying in a repeated session."""
    key_id = int(pump.pair().json["key_id"])
    stored = KeyStore(pump.workdir / "config" / "intrathecal-pump" / "keys.json").get(SERIAL)
    assert stored is not None and stored.key_id == key_id
    clinician = _Wire(pump.port)
    try:
        clinician.ask(MsgType.HELLO, {})
        seq = clinician.link.next_seq()
        recorded_open = clinician.endpoint.open_session(key_id, stored.key, bytes(16), seq)
        clinician.link.send(recorded_open)
        before = clinician.link.wait_reply(MsgType.SESSION_OPEN, seq, 5.0)
        assert before is not None and before.ok and clinician.endpoint.session is not None
        seq = clinician.link.next_seq()
        recorded_request = clinician.endpoint.send(
            Request(MsgType.ALARMS_TEST, {"request_id": 0x5EC0001}, seq)
        )
        clinician.link.send(recorded_request)
        answered = clinician.link.wait_reply(MsgType.ALARMS_TEST, seq, 5.0)
        assert answered is not None and answered.ok and answered.authenticated
    finally:
        clinician.close()

    pump.kill()  # the supply is cut: no flush
    pump.start()
    attacker = _Wire(pump.port)
    try:
        after = attacker.ask(
            MsgType.SESSION_OPEN, {"key_id": key_id, "programmer_nonce": bytes(16)}
        )
        attacker.link.send(recorded_request)
        replayed = attacker.link.wait_reply(MsgType.ALARMS_TEST, seq, 5.0)
    finally:
        attacker.close()
    assert (after.body["session_id"], after.body["device_nonce"]) != (
        before.body["session_id"],
        before.body["device_nonce"],
    )
    assert replayed is not None, "the pump must answer the replayed frame with a refusal"
    assert not replayed.ok and not replayed.authenticated
    assert replayed.status == ErrorCode.UNKNOWN_SESSION
    assert "POWER_LOSS" in {cause for _t, cause in pump.bench("hw-status")["resets"]}


def test_request_helper_is_not_a_programmer_session() -> None:
    """The raw frames above are sent in the clear, as an attacker without a key sends them."""
    frame = ProgrammerEndpoint().send(Request(MsgType.HELLO, {}, 1))
    assert frame == encode_frame(MsgType.HELLO, 1, b"")
