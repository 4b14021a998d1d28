"""Session crypto: both pairing sides agree, proofs and tags reject every change, replays fail.

The key schedule is checked two ways: against pinned known-answer vectors, and against a
straight transcription of the wire spec written here with the primitives alone.
"""

from __future__ import annotations

import hashlib
import hmac
import struct

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given
from hypothesis import strategies as st

from protocol.crypto import (
    MAX_COUNTER_STEP,
    PairingInitiator,
    PairingResponder,
    PairingSecrets,
    ReplayWindow,
    SessionKeys,
    compute_tag,
    session_open_proof,
    verify_session_open_proof,
    verify_tag,
)
from protocol.enums import Role
from protocol.errors import ErrorCode, LocalProtocolError, RemoteProtocolError

PROGRAMMER_PRIVATE = bytes(range(0x40, 0x60))
DEVICE_PRIVATE = bytes(range(0x80, 0xA0))
NONCE_P = bytes(range(16))
NONCE_D = bytes(range(16, 32))
SERIAL = "ITB-000123"
SESSION_ID = 0x0A0B0C0D
OPEN_NONCE_P = bytes(range(0x20, 0x30))
OPEN_NONCE_D = bytes(range(0x30, 0x40))

keys32 = st.binary(min_size=32, max_size=32)
nonces = st.binary(min_size=16, max_size=16)
serials = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=24)
roles = st.sampled_from(list(Role))
session_ids = st.integers(1, 0xFFFF_FFFF)


def pair(
    programmer_private: bytes = PROGRAMMER_PRIVATE,
    device_private: bytes = DEVICE_PRIVATE,
    nonce_p: bytes = NONCE_P,
    nonce_d: bytes = NONCE_D,
    serial: str = SERIAL,
    role: int = Role.CLINICIAN,
) -> tuple[PairingSecrets, PairingSecrets]:
    """Run both halves of pairing over an honest channel; (programmer's, device's) secrets."""
    programmer = PairingInitiator(programmer_private, nonce_p, role)
    device = PairingResponder(device_private, nonce_d, serial)
    device_side = device.complete(programmer.public, programmer.nonce, role)
    programmer_side = programmer.complete(device.public, device.nonce, serial)
    return programmer_side, device_side


# --- the spec, transcribed with the primitives alone ------------------------------------------


def _raw_public(private: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()


def spec_pairing(
    a: bytes, b: bytes, nonce_p: bytes, nonce_d: bytes, serial: str, role: int
) -> dict[str, object]:
    big_a, big_b = _raw_public(a), _raw_public(b)
    serial_ascii = serial.encode("ascii")
    transcript = (
        b"ITBP-pair-v1"
        + bytes([len(serial_ascii)])
        + serial_ascii
        + bytes([role])
        + big_a
        + big_b
        + nonce_p
        + nonce_d
    )
    th = hashlib.sha256(transcript).digest()
    shared = X25519PrivateKey.from_private_bytes(a).exchange(
        X25519PublicKey.from_public_bytes(big_b)
    )
    okm = HKDF(hashes.SHA256(), 64, th, b"ITBP pairing").derive(shared)
    pairing_key, confirm_key = okm[:32], okm[32:]
    code_mac = hmac.new(confirm_key, b"code", hashlib.sha256).digest()
    key_digest = hashlib.sha256(b"ITBP key id" + pairing_key).digest()
    return {
        "pairing_key": pairing_key,
        "confirm_key": confirm_key,
        "transcript_hash": th,
        "confirmation_code": int.from_bytes(code_mac[:4], "big") % 1_000_000,
        "key_id": int.from_bytes(key_digest[:4], "big") & 0x7FFFFFFF,
        "programmer_proof": hmac.new(confirm_key, b"programmer" + th, hashlib.sha256).digest()[:16],
        "device_proof": hmac.new(confirm_key, b"device" + th, hashlib.sha256).digest()[:16],
    }


def spec_session(
    pairing_key: bytes, key_id: int, session_id: int, nonce_p: bytes, nonce_d: bytes, role: int
) -> tuple[bytes, bytes, bytes]:
    ids = struct.pack(">II", key_id, session_id)
    message = b"ITBP open" + ids + nonce_p + nonce_d + bytes([role])
    proof = hmac.new(pairing_key, message, hashlib.sha256).digest()
    info = b"ITBP session" + struct.pack(">I", session_id)
    okm = HKDF(hashes.SHA256(), 64, nonce_p + nonce_d, info).derive(pairing_key)
    return proof[:16], okm[:32], okm[32:]


@given(keys32, keys32, nonces, nonces, serials, roles)
def test_pairing_follows_the_wire_spec_key_schedule(
    a: bytes, b: bytes, nonce_p: bytes, nonce_d: bytes, serial: str, role: Role
) -> None:
    programmer_side, device_side = pair(a, b, nonce_p, nonce_d, serial, role)
    expected = spec_pairing(a, b, nonce_p, nonce_d, serial, role)
    for secrets in (programmer_side, device_side):
        assert secrets.pairing_key == expected["pairing_key"]
        assert secrets.confirm_key == expected["confirm_key"]
        assert secrets.transcript_hash == expected["transcript_hash"]
        assert secrets.confirmation_code == expected["confirmation_code"]
        assert secrets.key_id == expected["key_id"]
        assert secrets.programmer_proof() == expected["programmer_proof"]
        assert secrets.device_proof() == expected["device_proof"]
        assert secrets.role == role


@given(keys32, st.integers(0, 0x7FFF_FFFF), session_ids, nonces, nonces, roles)
def test_session_open_follows_the_wire_spec(
    pairing_key: bytes, key_id: int, session_id: int, nonce_p: bytes, nonce_d: bytes, role: Role
) -> None:
    proof, key_p2d, key_d2p = spec_session(pairing_key, key_id, session_id, nonce_p, nonce_d, role)
    assert session_open_proof(pairing_key, key_id, session_id, nonce_p, nonce_d, role) == proof
    assert SessionKeys.derive(pairing_key, session_id, nonce_p, nonce_d) == SessionKeys(
        key_p2d, key_d2p
    )


# --- pinned known-answer vectors --------------------------------------------------------------


def test_pairing_known_answer_vector() -> None:
    programmer_side, device_side = pair()
    assert programmer_side == device_side
    assert PairingInitiator(PROGRAMMER_PRIVATE, NONCE_P, Role.CLINICIAN).public.hex() == (
        "79a631eede1bf9c98f12032cdeadd0e7a079398fc786b88cc846ec89af85a51a"
    )
    assert PairingResponder(DEVICE_PRIVATE, NONCE_D, SERIAL).public.hex() == (
        "493e82fc74464a59268817623d2053c5eb8e2cc4a988b4fee179ec6b010d531d"
    )
    assert programmer_side.transcript_hash.hex() == (
        "bdd96a5f62c0a55895dfef384edf16b95270505d3a8f3dd97435f0aa0bf4ac81"
    )
    assert programmer_side.pairing_key.hex() == (
        "259b316a92dd1b3438b7c64bc144c5277eebee1a8c32ea0699f791328e606145"
    )
    assert programmer_side.confirm_key.hex() == (
        "099fdc9c461ed11abc21c28235376e6e5e1689f75fdca7aecdd821b3b12aa40c"
    )
    assert programmer_side.confirmation_code == 998177
    assert programmer_side.format_code() == "998 177"
    assert programmer_side.key_id == 0x4F86EC05
    assert programmer_side.programmer_proof().hex() == "8f517c7ac1f384598e1375d80ede446e"
    assert programmer_side.device_proof().hex() == "ceea60aa22054e2d3db1525dc3540b5c"


def test_session_known_answer_vector() -> None:
    secrets, _ = pair()
    proof = session_open_proof(
        secrets.pairing_key, secrets.key_id, SESSION_ID, OPEN_NONCE_P, OPEN_NONCE_D, Role.CLINICIAN
    )
    assert proof.hex() == "ee3fdda0386f44bff9bf48f2dfd82f15"
    keys = SessionKeys.derive(secrets.pairing_key, SESSION_ID, OPEN_NONCE_P, OPEN_NONCE_D)
    assert keys.key_p2d.hex() == "3dc1607c1e3d48b2b44b012df193529c6fe713470af73c71bdcf1532a8696780"
    assert keys.key_d2p.hex() == "ec38a964b515868a366e2a33eecb5a74a8fe147d278854060ab98144cd7e9b4c"


# --- pairing behaviour ------------------------------------------------------------------------


@given(keys32, keys32, nonces, nonces, serials, roles)
def test_both_pairing_sides_derive_identical_secrets_and_the_same_six_digit_code(
    a: bytes, b: bytes, nonce_p: bytes, nonce_d: bytes, serial: str, role: Role
) -> None:
    programmer_side, device_side = pair(a, b, nonce_p, nonce_d, serial, role)
    assert programmer_side == device_side
    assert 0 <= programmer_side.confirmation_code < 1_000_000
    shown = programmer_side.format_code()
    assert len(shown) == 7 and shown[3] == " " and shown.replace(" ", "").isdigit()
    assert int(shown.replace(" ", "")) == device_side.confirmation_code
    assert device_side.verify_programmer_proof(programmer_side.programmer_proof())
    assert programmer_side.verify_device_proof(device_side.device_proof())
    assert 0 <= programmer_side.key_id <= 0x7FFF_FFFF


def test_small_codes_are_shown_with_leading_zeros() -> None:
    secrets, _ = pair()
    small = PairingSecrets(
        secrets.pairing_key, secrets.confirm_key, secrets.transcript_hash, 42, 1, Role.PATIENT
    )
    assert small.format_code() == "000 042"


@given(st.integers(0, 16 * 8 - 1))
def test_a_proof_with_any_flipped_bit_is_rejected(bit: int) -> None:
    programmer_side, device_side = pair()
    for proof, verify in (
        (programmer_side.programmer_proof(), device_side.verify_programmer_proof),
        (device_side.device_proof(), programmer_side.verify_device_proof),
    ):
        forged = bytearray(proof)
        forged[bit // 8] ^= 1 << (bit % 8)
        assert not verify(bytes(forged))
        assert not verify(proof[:15])
        assert verify(proof)


def test_a_proof_is_not_accepted_in_the_other_direction() -> None:
    programmer_side, device_side = pair()
    assert not device_side.verify_programmer_proof(device_side.device_proof())
    assert not programmer_side.verify_device_proof(programmer_side.programmer_proof())


@pytest.mark.parametrize(
    "change",
    [
        {"serial": "ITB-000124"},
        {"role": Role.PATIENT},
        {"nonce_p": bytes(16)},
        {"nonce_d": bytes(16)},
        {"device_private": bytes(range(0xA0, 0xC0))},
    ],
)
def test_proofs_from_a_different_pairing_fail(change: dict[str, object]) -> None:
    honest, _ = pair()
    other, _ = pair(**change)  # type: ignore[arg-type]
    assert other.pairing_key != honest.pairing_key
    assert not honest.verify_programmer_proof(other.programmer_proof())
    assert not honest.verify_device_proof(other.device_proof())


def test_a_substituted_public_key_gives_each_side_different_secrets() -> None:
    programmer = PairingInitiator(PROGRAMMER_PRIVATE, NONCE_P, Role.CLINICIAN)
    device = PairingResponder(DEVICE_PRIVATE, NONCE_D, SERIAL)
    attacker = PairingInitiator(bytes(range(0xC0, 0xE0)), NONCE_P, Role.CLINICIAN)
    device_side = device.complete(attacker.public, NONCE_P, Role.CLINICIAN)
    programmer_side = programmer.complete(device.public, NONCE_D, SERIAL)
    assert device_side.pairing_key != programmer_side.pairing_key
    assert device_side.confirmation_code != programmer_side.confirmation_code
    assert not device_side.verify_programmer_proof(programmer_side.programmer_proof())


def test_a_degenerate_peer_public_key_fails_pairing_as_the_peers_fault() -> None:
    device = PairingResponder(DEVICE_PRIVATE, NONCE_D, SERIAL)
    with pytest.raises(RemoteProtocolError) as caught:
        device.complete(bytes(32), NONCE_P, Role.CLINICIAN)  # the all-zero low-order point
    assert caught.value.code is ErrorCode.PAIRING_FAILED


@pytest.mark.parametrize(
    ("public", "nonce", "role"),
    [(bytes(31), NONCE_P, 1), (bytes(33), NONCE_P, 1), (None, bytes(15), 1), (None, NONCE_P, 256)],
)
def test_malformed_peer_values_are_the_peers_fault(
    public: bytes | None, nonce: bytes, role: int
) -> None:
    programmer = PairingInitiator(PROGRAMMER_PRIVATE, NONCE_P, Role.CLINICIAN)
    device = PairingResponder(DEVICE_PRIVATE, NONCE_D, SERIAL)
    with pytest.raises(RemoteProtocolError):
        device.complete(public or programmer.public, nonce, role)
    if role <= 0xFF:
        with pytest.raises(RemoteProtocolError):
            programmer.complete(public or device.public, nonce, SERIAL)


def test_bad_local_arguments_are_our_fault() -> None:
    with pytest.raises(LocalProtocolError):
        PairingInitiator(bytes(31), NONCE_P, Role.CLINICIAN)
    with pytest.raises(LocalProtocolError):
        PairingInitiator(PROGRAMMER_PRIVATE, bytes(8), Role.CLINICIAN)
    with pytest.raises(LocalProtocolError):
        PairingResponder(DEVICE_PRIVATE, NONCE_D, "pompe-n°1")
    with pytest.raises(LocalProtocolError):
        PairingResponder(DEVICE_PRIVATE, NONCE_D, "x" * 256)


def test_secrets_do_not_show_keys_in_their_repr() -> None:
    secrets, _ = pair()
    keys = SessionKeys.derive(secrets.pairing_key, SESSION_ID, OPEN_NONCE_P, OPEN_NONCE_D)
    for key in (secrets.pairing_key, secrets.confirm_key, keys.key_p2d, keys.key_d2p):
        assert repr(key) not in repr(secrets) + repr(keys)
        assert key.hex() not in repr(secrets) + repr(keys)


# --- session open -----------------------------------------------------------------------------


def test_session_keys_differ_per_direction_nonce_and_session_id() -> None:
    secrets, _ = pair()
    base = SessionKeys.derive(secrets.pairing_key, SESSION_ID, OPEN_NONCE_P, OPEN_NONCE_D)
    assert base.key_p2d != base.key_d2p
    variants = [
        SessionKeys.derive(secrets.pairing_key, SESSION_ID + 1, OPEN_NONCE_P, OPEN_NONCE_D),
        SessionKeys.derive(secrets.pairing_key, SESSION_ID, bytes(16), OPEN_NONCE_D),
        SessionKeys.derive(secrets.pairing_key, SESSION_ID, OPEN_NONCE_P, bytes(16)),
        SessionKeys.derive(bytes(32), SESSION_ID, OPEN_NONCE_P, OPEN_NONCE_D),
    ]
    seen = {base.key_p2d, base.key_d2p}
    for keys in variants:
        assert keys.key_p2d not in seen and keys.key_d2p not in seen
        seen |= {keys.key_p2d, keys.key_d2p}
    assert SessionKeys.derive(secrets.pairing_key, SESSION_ID, OPEN_NONCE_P, OPEN_NONCE_D) == base


def test_session_open_proof_verifies_only_for_its_exact_inputs() -> None:
    secrets, _ = pair()
    args = (secrets.pairing_key, secrets.key_id, SESSION_ID, OPEN_NONCE_P, OPEN_NONCE_D, 2)
    proof = session_open_proof(*args)
    assert verify_session_open_proof(*args, proof)
    assert not verify_session_open_proof(*args, proof[:15])
    assert not verify_session_open_proof(bytes(32), *args[1:], proof)
    assert not verify_session_open_proof(args[0], args[1] ^ 1, *args[2:], proof)
    assert not verify_session_open_proof(args[0], args[1], SESSION_ID + 1, *args[3:], proof)
    assert not verify_session_open_proof(*args[:3], OPEN_NONCE_D, OPEN_NONCE_P, 2, proof)
    assert not verify_session_open_proof(*args[:5], 1, proof)  # a forged role does not verify


def test_session_inputs_of_the_wrong_size_are_refused() -> None:
    with pytest.raises(LocalProtocolError):
        SessionKeys.derive(bytes(31), 1, OPEN_NONCE_P, OPEN_NONCE_D)
    with pytest.raises(LocalProtocolError):
        SessionKeys.derive(bytes(32), 1, OPEN_NONCE_P, bytes(15))
    with pytest.raises(LocalProtocolError):
        session_open_proof(bytes(32), 1, 2**32, OPEN_NONCE_P, OPEN_NONCE_D, 1)


# --- tags -------------------------------------------------------------------------------------


signed_inputs = st.binary(min_size=1, max_size=200)


@given(keys32, signed_inputs)
def test_tag_is_hmac_sha256_truncated_to_128_bits(key: bytes, signed: bytes) -> None:
    tag = compute_tag(key, signed)
    assert tag == hmac.new(key, signed, hashlib.sha256).digest()[:16]
    assert verify_tag(key, signed, tag)


@given(keys32, signed_inputs, st.integers(0))
def test_tag_fails_on_any_single_flipped_bit_of_the_signed_bytes(
    key: bytes, signed: bytes, where: int
) -> None:
    bit = where % (len(signed) * 8)
    forged = bytearray(signed)
    forged[bit // 8] ^= 1 << (bit % 8)
    assert not verify_tag(key, bytes(forged), compute_tag(key, signed))


@given(keys32, signed_inputs, st.integers(0, 16 * 8 - 1))
def test_tag_fails_on_any_single_flipped_bit_of_the_tag(
    key: bytes, signed: bytes, bit: int
) -> None:
    forged = bytearray(compute_tag(key, signed))
    forged[bit // 8] ^= 1 << (bit % 8)
    assert not verify_tag(key, signed, bytes(forged))


@given(keys32, signed_inputs, st.integers(0, 15))
def test_truncated_or_extended_tag_fails(key: bytes, signed: bytes, length: int) -> None:
    tag = compute_tag(key, signed)
    assert not verify_tag(key, signed, tag[:length])
    assert not verify_tag(key, signed, tag + b"\x00")
    assert not verify_tag(key, signed, hmac.new(key, signed, hashlib.sha256).digest())


@given(st.binary(max_size=150), st.binary(max_size=100))
def test_tag_matches_hmac_for_keys_of_any_length(key: bytes, signed: bytes) -> None:
    # Keys longer than the SHA-256 block are hashed first (RFC 2104); shorter ones are padded.
    assert compute_tag(key, signed) == hmac.new(key, signed, hashlib.sha256).digest()[:16]


def test_tag_from_the_other_direction_key_fails() -> None:
    secrets, _ = pair()
    keys = SessionKeys.derive(secrets.pairing_key, SESSION_ID, OPEN_NONCE_P, OPEN_NONCE_D)
    assert not verify_tag(keys.key_d2p, b"frame", compute_tag(keys.key_p2d, b"frame"))


def test_tags_stay_correct_across_many_keys() -> None:
    # More keys than any cache the implementation may keep, interleaved, twice over.
    keys = [hashlib.sha256(bytes([i])).digest() for i in range(40)]
    for _ in range(2):
        for key in keys:
            assert compute_tag(key, b"same") == hmac.new(key, b"same", hashlib.sha256).digest()[:16]


# --- replay window ----------------------------------------------------------------------------


def test_replay_window_rejects_equal_and_lower_counters() -> None:
    window = ReplayWindow()
    assert window.last == 0
    assert not window.check(0)
    assert window.check(1)
    window.accept(5)
    assert not window.check(5)
    assert not window.check(4)
    assert not window.check(1)
    assert window.check(6)
    with pytest.raises(LocalProtocolError):
        window.accept(5)
    assert window.last == 5


@given(st.lists(st.integers(0, 2**64 - 1), max_size=30))
def test_replay_window_accepts_exactly_the_strictly_increasing_counters(
    counters: list[int],
) -> None:
    window = ReplayWindow()
    highest = 0
    for counter in counters:
        fresh = highest < counter <= highest + MAX_COUNTER_STEP
        assert window.check(counter) is fresh
        if fresh:
            window.accept(counter)
            highest = counter
        assert window.last == highest


def test_replay_window_persists_as_a_plain_int() -> None:
    window = ReplayWindow()
    window.accept(41)
    restored = ReplayWindow(window.last)
    assert not restored.check(41) and restored.check(42)


def test_replay_window_stays_within_u64() -> None:
    window = ReplayWindow(2**64 - 2)
    assert window.check(2**64 - 1)
    assert not window.check(2**64)
    window.accept(2**64 - 1)
    assert not window.check(2**64 - 1)
    with pytest.raises(LocalProtocolError):
        ReplayWindow(-1)


@given(st.integers(0, 2**64 - 1), st.integers(1, 2**64 - 1))
def test_replay_window_refuses_a_jump_above_the_documented_step(last: int, step: int) -> None:
    window = ReplayWindow(last)
    assert window.check(last + step) is (step <= MAX_COUNTER_STEP and last + step < 2**64)
