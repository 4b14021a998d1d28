"""Campaign 7 - predicting the pump's keys from what crosses the line: never once.

The adversarial review broke every published attack figure with one observation: the pump drew
its keys and nonces from the board's seeded Mersenne Twister.  This campaign repeats that attack
on many pumps (in-process, the real firmware on a ``VirtualBoard``): per round a fresh pump of
another seed is paired by the clinician; the attacker reads the seed off the serial number and
looks for the pump's pairing nonce in that seed's stream, then harvests 125 SESSION_OPEN replies
for the clinician's key id, clones a Mersenne Twister from the 625 outputs they give away and
predicts the private key of the next pairing.  Success is any hit: a nonce found in the seed's
stream, a clone that predicts the next output, or a predicted public key equal to the pump's.
The tools are proven to work against a Mersenne-Twister pump in tests/security.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

import pytest

from hw_sim.bench.bench import BenchPump
from protocol import MsgType
from protocol.codec import encode_request
from protocol.events import Reply
from protocol.framing import encode_frame
from protocol.programmer import ProgrammerEndpoint
from tests.security.key_attacks import (
    observed_outputs,
    pair_begin_body,
    predicted_pairing_key,
    seed_stream_hit,
)

from .harness import campaign_seed, campaign_size, report_figures
from .inprocess import InProcessProgrammer, make_pump

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


class _Attacker:
    """Cleartext frames at an in-process pump, replies decoded as the attacker sees them."""

    def __init__(self, pump: BenchPump) -> None:
        self.pump = pump
        self.seq = 0

    def ask(self, msg: MsgType, body: dict[str, object]) -> Reply:
        self.seq += 1
        self.pump.advance_to(self.pump.now + 1)  # one a second: inside any unauthenticated budget
        self.pump.receive(encode_frame(msg, self.seq, encode_request(msg, body)), self.pump.now)
        reader = ProgrammerEndpoint()
        reader.receive_data(self.pump.take_output())
        event = reader.next_event()
        assert isinstance(event, Reply), event
        return event


def one_round(seed: int, rng: random.Random) -> dict[str, int]:
    """A fresh pump of ``seed``, paired by the clinician; both attacks; their hits."""
    pump = make_pump(seed)
    clinician = InProcessProgrammer(pump, seed)
    clinician.pair()
    attacker = _Attacker(pump)
    serial = str(attacker.ask(MsgType.HELLO, {}).body["serial_number"])
    outputs = observed_outputs(
        lambda: attacker.ask(
            MsgType.SESSION_OPEN,
            {"key_id": clinician.key_id, "programmer_nonce": rng.randbytes(16)},
        )
    )
    predicts_next, predicted_public = predicted_pairing_key(outputs)
    pump.set_wand(True)
    begin = attacker.ask(MsgType.PAIR_BEGIN, pair_begin_body())
    assert begin.ok, begin
    public, nonce = begin.body["device_public"], begin.body["device_nonce"]
    return {
        "outputs_harvested": len(outputs),
        "clones_predicting_next_output": int(predicts_next),
        "pairing_keys_predicted": int(predicted_public == public),
        "seed_stream_hits": int(seed_stream_hit(serial, nonce, public)),
    }


def test_no_observed_traffic_predicts_a_key(
    record_property: Callable[[str, object], None],
) -> None:
    rounds = campaign_size("key_prediction", bounded=2, full=20)
    seed = campaign_seed(1729)
    rng = random.Random(seed)
    figures: Counter[str] = Counter()
    for _ in range(rounds):
        figures.update(one_round(rng.randrange(1_000_000), rng))
    report_figures(record_property, "key_prediction", {"rounds": rounds, "seed": seed, **figures})
    assert figures["outputs_harvested"] == rounds * 625
    assert figures["seed_stream_hits"] == 0
    assert figures["clones_predicting_next_output"] == 0
    assert figures["pairing_keys_predicted"] == 0
