"""The attacker's tools against a pump whose key material came from a Mersenne Twister.

Used by the regression tests (tests/security/test_key_prediction.py) and the attack campaign
(tests/reliability/test_key_prediction_campaign.py).  Each tool is what an attacker with a
recorder on the line and the serial number can do; against the old design it recovered keys.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from protocol.enums import Role
from protocol.events import Reply

SESSION_OPENS = 125  # 125 x (1 + 4) = 625 outputs: one more than the state, to check the clone


def untemper(y: int) -> int:
    """Invert MT19937's output tempering: the state word behind one 32-bit output (each
    xor-shift is undone by iterating it until every bit is fixed)."""
    y ^= y >> 18
    y ^= (y << 15) & 0xEFC60000
    x = y
    for _ in range(32):
        x = y ^ ((x << 7) & 0x9D2C5680)
    x &= 0xFFFFFFFF
    z = x
    for _ in range(32):
        z = x ^ (z >> 11)
    return z & 0xFFFFFFFF


def clone_mersenne_twister(outputs: list[int]) -> random.Random:
    """A generator in the state that follows 624 consecutive outputs (the last ones given)."""
    state = [untemper(y) for y in outputs[-624:]]
    clone = random.Random()
    clone.setstate((3, (*state, 624), None))
    return clone


def words_of(data: bytes) -> list[int]:
    """The 32-bit generator outputs behind ``randbytes``: little-endian words, first word first."""
    return [int.from_bytes(data[i : i + 4], "little") for i in range(0, len(data), 4)]


def public_of(private: bytes) -> bytes:
    return (
        X25519PrivateKey.from_private_bytes(private)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )


def observed_outputs(session_open: Callable[[], Reply]) -> list[int]:
    """What 125 SESSION_OPEN replies give away: session id and device nonce as outputs."""
    outputs: list[int] = []
    for _ in range(SESSION_OPENS):
        body = session_open().body
        outputs += words_of(int(body["session_id"]).to_bytes(4, "big"))
        outputs += words_of(bytes(body["device_nonce"]))
    return outputs


def predicted_pairing_key(outputs: list[int]) -> tuple[bool, bytes]:
    """Clone from the first 624 outputs; (did it predict output 625?, next pairing's public)."""
    clone = clone_mersenne_twister(outputs[:624])
    predicts_next = clone.getrandbits(32) == outputs[624]
    return predicts_next, public_of(clone.randbytes(32))


def seed_stream_hit(serial: str, nonce: bytes, private_of: bytes) -> bool:
    """The serial-number attack: is the nonce in the seed's stream, its private key before it?"""
    stream = random.Random(int(serial.split("-")[1])).randbytes(1 << 16)
    at = stream.find(nonce)
    return at >= 32 and public_of(stream[at - 32 : at]) == private_of


def pair_begin_body() -> dict[str, object]:
    """A PAIR_BEGIN any attacker can send: a fixed key pair, a zero nonce."""
    private = bytes(range(32))
    return {
        "role": int(Role.CLINICIAN),
        "programmer_public": public_of(private),
        "programmer_nonce": bytes(16),
        "programmer_id": 0,
    }
