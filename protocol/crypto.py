"""Session cryptography: pairing key agreement, confirmation code, session keys, tags, replay.

Why it exists: the pump must obey only a programmer it was paired with, and must never act on a
forged or replayed frame.  Every derivation of the wire spec lives here as a pure function over
bytes, so the pump, the programmer and the conformance suite compute the same keys from the
same inputs.  No I/O and no entropy source of its own: private keys and nonces come in as bytes
from the caller (the pump's HAL entropy, the programmer's ``os.urandom``), which keeps the
pump's side deterministic for a given seed.

Pairing: X25519 between ephemeral keys, HKDF-SHA256 salted with the SHA-256 of the transcript
(serial, role, both public keys, both nonces), a 6-digit code both sides show, and key
confirmation proofs in both directions.  Sessions: HKDF over the pairing key with both nonces
and the session id, one key per direction, HMAC-SHA256 tags truncated to 128 bits, and a
counter window that only moves forward after the tag has been verified.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from protocol.errors import ErrorCode, LocalProtocolError, RemoteProtocolError

KEY_SIZE = 32
PUBLIC_KEY_SIZE = 32
NONCE_SIZE = 16
TAG_SIZE = 16
PROOF_SIZE = 16
CODE_MODULUS = 1_000_000
COUNTER_MAX = 0xFFFF_FFFF_FFFF_FFFF
#: Largest step a counter may take over the last accepted one.  A sender adds 1 per frame, so a
#: gap is frames lost on the way; a bigger jump (a buggy client sending 2**64 - 1) would leave no
#: counter for the rest of the session, so it is refused (REPLAYED_COUNTER) and the session lives.
MAX_COUNTER_STEP = 1 << 24

PAIRING_LABEL = b"ITBP-pair-v1"
PAIRING_INFO = b"ITBP pairing"
SESSION_INFO = b"ITBP session"
OPEN_LABEL = b"ITBP open"
KEY_ID_LABEL = b"ITBP key id"

_U32 = struct.Struct(">I")
_OPEN_IDS = struct.Struct(">II")


def _require_size(name: str, value: bytes, size: int) -> None:
    if len(value) != size:
        raise LocalProtocolError(f"{name} must be {size} bytes, got {len(value)}")


def _hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.digest(key, message, "sha256")


# --- tags -------------------------------------------------------------------------------------

# HMAC-SHA256 by hand from precomputed inner and outer SHA-256 states (RFC 2104): copying two
# hashlib states per frame skips re-hashing the key pads and is about 40 % faster than a copy
# of a keyed hmac object, which matters on the frame path.  Bounded: a pump or a programmer holds
# two keys per session, so a handful of entries covers every live session.
_SHA256_BLOCK = 64
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))
_KeyedStates = tuple["hashlib._Hash", "hashlib._Hash"]
_KEYED_STATES: dict[bytes, _KeyedStates] = {}
_KEYED_STATES_LIMIT = 16


def _keyed_states(key: bytes) -> _KeyedStates:
    if len(key) > _SHA256_BLOCK:
        key = hashlib.sha256(key).digest()
    block = key.ljust(_SHA256_BLOCK, b"\x00")
    return hashlib.sha256(block.translate(_IPAD)), hashlib.sha256(block.translate(_OPAD))


def compute_tag(key: bytes, signed_bytes: bytes) -> bytes:
    """HMAC-SHA256(key, signed_bytes) truncated to TAG_SIZE (16) bytes."""
    states = _KEYED_STATES.get(key)
    if states is None:
        if len(_KEYED_STATES) >= _KEYED_STATES_LIMIT:
            _KEYED_STATES.clear()
        states = _KEYED_STATES[bytes(key)] = _keyed_states(key)
    inner = states[0].copy()
    inner.update(signed_bytes)
    outer = states[1].copy()
    outer.update(inner.digest())
    return outer.digest()[:TAG_SIZE]


def verify_tag(key: bytes, signed_bytes: bytes, tag: bytes) -> bool:
    """True iff ``tag`` is the full 16-byte tag of ``signed_bytes`` (constant-time compare)."""
    return len(tag) == TAG_SIZE and hmac.compare_digest(compute_tag(key, signed_bytes), tag)


# --- pairing ----------------------------------------------------------------------------------


def _private_key(private_bytes: bytes) -> X25519PrivateKey:
    _require_size("private_bytes", private_bytes, KEY_SIZE)
    return X25519PrivateKey.from_private_bytes(private_bytes)


def _public_bytes(private: X25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _shared_secret(private: X25519PrivateKey, peer_public: bytes) -> bytes:
    if len(peer_public) != PUBLIC_KEY_SIZE:
        raise RemoteProtocolError(
            f"peer public key must be {PUBLIC_KEY_SIZE} bytes", ErrorCode.MALFORMED_PAYLOAD
        )
    try:
        return private.exchange(X25519PublicKey.from_public_bytes(peer_public))
    except ValueError as error:  # low-order point: the shared secret would be all zeros
        raise RemoteProtocolError(
            "peer public key gives no shared secret", ErrorCode.PAIRING_FAILED
        ) from error


def _serial_bytes(serial: str) -> bytes:
    try:
        encoded = serial.encode("ascii")
    except UnicodeEncodeError as error:
        raise LocalProtocolError("serial number must be ASCII") from error
    if len(encoded) > 0xFF:
        raise LocalProtocolError("serial number longer than 255 characters")
    return encoded


def _check_role(role: int) -> None:
    if not 0 <= role <= 0xFF:
        raise LocalProtocolError(f"role {role} is not a u8")


def pairing_transcript(
    serial: str,
    role: int,
    programmer_public: bytes,
    device_public: bytes,
    nonce_p: bytes,
    nonce_d: bytes,
) -> bytes:
    """The bytes both sides hash: label, serial, role, A, B, nonce_p, nonce_d."""
    encoded = _serial_bytes(serial)
    _check_role(role)
    return b"".join(
        (
            PAIRING_LABEL,
            bytes((len(encoded),)),
            encoded,
            bytes((role,)),
            programmer_public,
            device_public,
            nonce_p,
            nonce_d,
        )
    )


def key_id_for(pairing_key: bytes) -> int:
    """31-bit key id naming a pairing key: SHA-256("ITBP key id" || key)[:4] & 0x7FFFFFFF."""
    digest = hashlib.sha256(KEY_ID_LABEL + pairing_key).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFF_FFFF


@dataclass(frozen=True, slots=True)
class PairingSecrets:
    """What a completed pairing yields on either side (identical on both when nobody meddled)."""

    pairing_key: bytes = field(repr=False)
    confirm_key: bytes = field(repr=False)
    transcript_hash: bytes
    confirmation_code: int
    key_id: int
    role: int

    @classmethod
    def derive(cls, shared_secret: bytes, transcript: bytes, role: int) -> PairingSecrets:
        """Key schedule of the wire spec from the X25519 output and the transcript."""
        transcript_hash = hashlib.sha256(transcript).digest()
        okm = HKDF(
            algorithm=hashes.SHA256(), length=64, salt=transcript_hash, info=PAIRING_INFO
        ).derive(shared_secret)
        pairing_key, confirm_key = okm[:32], okm[32:]
        code = int.from_bytes(_hmac_sha256(confirm_key, b"code")[:4], "big") % CODE_MODULUS
        return cls(pairing_key, confirm_key, transcript_hash, code, key_id_for(pairing_key), role)

    def format_code(self) -> str:
        """The confirmation code as both sides show it: "123 456"."""
        digits = f"{self.confirmation_code:06d}"
        return f"{digits[:3]} {digits[3:]}"

    def programmer_proof(self) -> bytes:
        """Carried in PAIR_CONFIRM: HMAC-SHA256(confirm_key, "programmer" || th)[:16]."""
        return _hmac_sha256(self.confirm_key, b"programmer" + self.transcript_hash)[:PROOF_SIZE]

    def device_proof(self) -> bytes:
        """Carried in the PAIR_CONFIRM reply: HMAC-SHA256(confirm_key, "device" || th)[:16]."""
        return _hmac_sha256(self.confirm_key, b"device" + self.transcript_hash)[:PROOF_SIZE]

    def verify_programmer_proof(self, proof: bytes) -> bool:
        """Device side: constant-time check of the programmer's proof."""
        return hmac.compare_digest(self.programmer_proof(), proof)

    def verify_device_proof(self, proof: bytes) -> bool:
        """Programmer side: constant-time check of the device's proof."""
        return hmac.compare_digest(self.device_proof(), proof)


class PairingInitiator:
    """The programmer's half of pairing: sends role, ``public`` and ``nonce`` in PAIR_BEGIN."""

    __slots__ = ("_private", "nonce", "public", "role")

    def __init__(self, private_bytes: bytes, nonce: bytes, role: int) -> None:
        _require_size("nonce", nonce, NONCE_SIZE)
        _check_role(role)
        self._private = _private_key(private_bytes)
        self.public = _public_bytes(self._private)
        self.nonce = bytes(nonce)
        self.role = role

    def complete(self, device_public: bytes, device_nonce: bytes, serial: str) -> PairingSecrets:
        """Secrets from the device's PAIR_BEGIN reply and the serial it announced in HELLO.

        Raises RemoteProtocolError if the device's key or nonce is malformed or degenerate.
        """
        if len(device_nonce) != NONCE_SIZE:
            raise RemoteProtocolError("device nonce must be 16 bytes", ErrorCode.MALFORMED_PAYLOAD)
        shared = _shared_secret(self._private, device_public)
        transcript = pairing_transcript(
            serial, self.role, self.public, device_public, self.nonce, device_nonce
        )
        return PairingSecrets.derive(shared, transcript, self.role)


class PairingResponder:
    """The pump's half of pairing: replies ``public`` and ``nonce`` to PAIR_BEGIN."""

    __slots__ = ("_private", "nonce", "public", "serial")

    def __init__(self, private_bytes: bytes, nonce: bytes, serial: str) -> None:
        _require_size("nonce", nonce, NONCE_SIZE)
        _serial_bytes(serial)
        self._private = _private_key(private_bytes)
        self.public = _public_bytes(self._private)
        self.nonce = bytes(nonce)
        self.serial = serial

    def complete(
        self, programmer_public: bytes, programmer_nonce: bytes, role: int
    ) -> PairingSecrets:
        """Secrets from the programmer's PAIR_BEGIN (role, public key, nonce).

        Raises RemoteProtocolError if the programmer's key, nonce or role is malformed.
        """
        if len(programmer_nonce) != NONCE_SIZE:
            raise RemoteProtocolError(
                "programmer nonce must be 16 bytes", ErrorCode.MALFORMED_PAYLOAD
            )
        if not 0 <= role <= 0xFF:
            raise RemoteProtocolError(f"role {role} is not a u8", ErrorCode.MALFORMED_PAYLOAD)
        shared = _shared_secret(self._private, programmer_public)
        transcript = pairing_transcript(
            self.serial, role, programmer_public, self.public, programmer_nonce, self.nonce
        )
        return PairingSecrets.derive(shared, transcript, role)


# --- session open -----------------------------------------------------------------------------


def _check_session_inputs(
    pairing_key: bytes, session_id: int, nonce_p: bytes, nonce_d: bytes
) -> None:
    _require_size("pairing_key", pairing_key, KEY_SIZE)
    _require_size("nonce_p", nonce_p, NONCE_SIZE)
    _require_size("nonce_d", nonce_d, NONCE_SIZE)
    if not 0 <= session_id <= 0xFFFF_FFFF:
        raise LocalProtocolError(f"session_id {session_id} is not a u32")


def session_open_proof(
    pairing_key: bytes, key_id: int, session_id: int, nonce_p: bytes, nonce_d: bytes, role: int
) -> bytes:
    """Device's proof in the SESSION_OPEN reply; it covers the role, so nobody on the line can
    make a patient programmer believe it holds a clinician session.

    HMAC-SHA256(pairing_key, "ITBP open" || u32 key_id || u32 session_id || nonce_p || nonce_d
    || u8 role)[:16]
    """
    _check_session_inputs(pairing_key, session_id, nonce_p, nonce_d)
    if not 0 <= key_id <= 0xFFFF_FFFF:
        raise LocalProtocolError(f"key_id {key_id} is not a u32")
    _check_role(role)
    message = OPEN_LABEL + _OPEN_IDS.pack(key_id, session_id) + nonce_p + nonce_d + bytes([role])
    return _hmac_sha256(pairing_key, message)[:PROOF_SIZE]


def verify_session_open_proof(
    pairing_key: bytes,
    key_id: int,
    session_id: int,
    nonce_p: bytes,
    nonce_d: bytes,
    role: int,
    proof: bytes,
) -> bool:
    """Programmer side: constant-time check of the SESSION_OPEN reply's proof."""
    expected = session_open_proof(pairing_key, key_id, session_id, nonce_p, nonce_d, role)
    return hmac.compare_digest(expected, proof)


@dataclass(frozen=True, slots=True)
class SessionKeys:
    """One tag key per direction of a session; never reused across sessions or directions."""

    key_p2d: bytes = field(repr=False)
    key_d2p: bytes = field(repr=False)

    @classmethod
    def derive(
        cls, pairing_key: bytes, session_id: int, nonce_p: bytes, nonce_d: bytes
    ) -> SessionKeys:
        """HKDF-SHA256(ikm=pairing_key, salt=nonce_p||nonce_d, info="ITBP session"||u32 id, 64)."""
        _check_session_inputs(pairing_key, session_id, nonce_p, nonce_d)
        okm = HKDF(
            algorithm=hashes.SHA256(),
            length=64,
            salt=nonce_p + nonce_d,
            info=SESSION_INFO + _U32.pack(session_id),
        ).derive(pairing_key)
        return cls(okm[:32], okm[32:])


class ReplayWindow:
    """Last accepted counter of one direction; a frame is fresh only if its counter is above it.

    ``last`` is a plain int so the owner can persist it.  Call ``check`` after the tag verified
    and ``accept`` only after that: a forged frame must never move the window.
    """

    __slots__ = ("last",)

    def __init__(self, last: int = 0) -> None:
        if not 0 <= last <= COUNTER_MAX:
            raise LocalProtocolError(f"last counter {last} is not a u64")
        self.last = last

    def check(self, counter: int) -> bool:
        """True iff ``counter`` is a u64 strictly above the last accepted one, by at most
        ``MAX_COUNTER_STEP``."""
        return self.last < counter <= min(COUNTER_MAX, self.last + MAX_COUNTER_STEP)

    def accept(self, counter: int) -> None:
        """Record ``counter`` as accepted; refuses one that ``check`` would reject."""
        if not self.check(counter):
            raise LocalProtocolError(f"counter {counter} is not above {self.last}")
        self.last = counter

    def __repr__(self) -> str:
        return f"ReplayWindow(last={self.last})"
