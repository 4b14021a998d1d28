"""Seeded mutations of captured frames: on the wire, and inside the frame with checks repaired.

Why: random bytes die at the first gate (COBS, CRC).  A mutation fuzzer that starts from real
frames and, half of the time, repairs the CRC and the COBS encoding after changing the header,
payload, counter or tag reaches every later gate - version, flags, catalog, session, tag,
counter, role, payload layout, request cache - which is where the interesting bugs live.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from cobs import cobs

from protocol.crc import crc32c

Mutator = Callable[[random.Random, bytes], bytes]


def _flip_bits(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def _set_bytes(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        if out:
            out[rng.randrange(len(out))] = rng.choice(
                (0x00, 0x01, 0x7F, 0x80, 0xFF, rng.randrange(256))
            )
    return bytes(out)


def _insert(rng: random.Random, data: bytes) -> bytes:
    at = rng.randint(0, len(data))
    return data[:at] + rng.randbytes(rng.randint(1, 16)) + data[at:]


def _delete(rng: random.Random, data: bytes) -> bytes:
    if len(data) < 2:
        return data
    at = rng.randrange(len(data))
    return data[:at] + data[at + rng.randint(1, max(1, len(data) - at)) :]


def _truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def _duplicate_span(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    start = rng.randrange(len(data))
    span = data[start : start + rng.randint(1, 64)]
    at = rng.randint(0, len(data))
    return data[:at] + span * rng.randint(1, 4) + data[at:]


def _header_field(rng: random.Random, data: bytes) -> bytes:
    """Overwrite one header field: version, flags, msg_type, seq, payload_len, session, counter."""
    out = bytearray(data)
    if len(out) < 7:
        return bytes(out)
    field = rng.choice(("version", "flags", "msg", "seq", "len", "session", "counter"))
    if field == "version":
        out[0] = rng.choice((0, 2, 255, rng.randrange(256)))
    elif field == "flags":
        out[1] = rng.randrange(256)
    elif field == "msg":
        out[2] = rng.randrange(256)
    elif field == "seq":
        out[3:5] = rng.randbytes(2)
    elif field == "len":
        out[5:7] = rng.choice((b"\xff\xff", b"\x04\x01", b"\x00\x00", rng.randbytes(2)))
    elif field == "session" and len(out) >= 11:
        out[7:11] = rng.randbytes(4)
    elif field == "counter" and len(out) >= 19:
        counter = int.from_bytes(out[11:19], "big")
        value = rng.choice((counter + 1, counter, max(0, counter - 1), 2**64 - 1, 0))
        out[11:19] = (value % 2**64).to_bytes(8, "big")
    return bytes(out)


WIRE_MUTATORS: Sequence[Mutator] = (
    _flip_bits,
    _set_bytes,
    _insert,
    _delete,
    _truncate,
    _duplicate_span,
)
INNER_MUTATORS: Sequence[Mutator] = (
    _flip_bits,
    _set_bytes,
    _insert,
    _delete,
    _truncate,
    _header_field,
    _header_field,
)


def decoded(wire_frame: bytes) -> bytes | None:
    """The frame inside one wire frame (without CRC), or None if it does not decode."""
    try:
        raw = cobs.decode(wire_frame.rstrip(b"\x00"))
    except cobs.DecodeError:
        return None
    return raw[:-4] if len(raw) >= 4 else None


def encoded(frame_without_crc: bytes) -> bytes:
    """Wire bytes of a frame body with its CRC-32C appended (what a careful forger sends)."""
    body = frame_without_crc + crc32c(frame_without_crc).to_bytes(4, "big")
    wire: bytes = cobs.encode(body) + b"\x00"
    return wire


def mutate(rng: random.Random, corpus: Sequence[bytes]) -> bytes:
    """One mutant of a random corpus frame: wire-level, or inner with CRC and COBS repaired."""
    base = rng.choice(corpus)
    if rng.random() < 0.1:
        other = rng.choice(corpus)  # splice two frames
        cut = rng.randrange(len(base) + 1)
        return base[:cut] + other[rng.randrange(len(other) + 1) :]
    if rng.random() < 0.4:
        out = base
        for _ in range(rng.randint(1, 3)):
            out = rng.choice(WIRE_MUTATORS)(rng, out)
        return out
    inner = decoded(base)
    if inner is None:
        return rng.choice(WIRE_MUTATORS)(rng, base)
    for _ in range(rng.randint(1, 3)):
        inner = rng.choice(INNER_MUTATORS)(rng, inner)
    return encoded(inner)


def carries_genuine_frame(data: bytes, corpus: Sequence[bytes]) -> bool:
    """True if a complete, unmodified corpus frame is among the frames in ``data``.

    Such input is a replay (perhaps wrapped in noise), not a forgery: replays are the attack
    campaign's business, and a pending handshake may rightly complete on one.
    """
    genuine = set(corpus)
    return any(part + b"\x00" in genuine for part in data.split(b"\x00") if part)
