"""Frames on the wire: header, optional authentication fields, payload, tag, CRC, COBS.

Why it exists: a serial line delivers bytes with no boundaries, loses some and invents others.
COBS with a 0x00 delimiter lets a receiver find the next frame boundary after any amount of
noise without hunting byte by byte, and the CRC-32C trailer rejects the corrupted runs, so noise
is dropped and counted instead of being read as a phantom message.  The decoder is sans-I/O:
bytes in, frames out, arbitrary chunking, bounded memory, and it never raises.

Trade-off: the decoder checks only what it needs to delimit a frame (COBS, size, CRC, declared
length).  Version, reserved flag bits, the authentication tag and the replay counter belong to
the endpoint, which answers them with explicit error codes instead of silence.

Decoded frame layout (big-endian)::

    version u8 | flags u8 | msg_type u8 | seq u16 | payload_len u16
    [session_id u32 | counter u64]          only if flags & AUTH
    payload (payload_len bytes)
    [tag 16 bytes]                          only if flags & AUTH
    crc32c u32                              over every preceding byte

The tag is HMAC-SHA256(direction key, version..end of payload)[:16] (see protocol.crypto).
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass

from cobs import cobs

from protocol.crc import crc32c
from protocol.crypto import compute_tag
from protocol.errors import ErrorCode, LocalProtocolError, RemoteProtocolError

PROTOCOL_VERSION = 1
HEADER_SIZE = 7
AUTH_PREFIX_SIZE = 12
TAG_SIZE = 16
CRC_SIZE = 4
MAX_PAYLOAD = 1024
MAX_FRAME = HEADER_SIZE + AUTH_PREFIX_SIZE + MAX_PAYLOAD + TAG_SIZE + CRC_SIZE
MIN_FRAME = HEADER_SIZE + CRC_SIZE
DELIMITER = b"\x00"

_cobs_encode: Callable[[bytes], bytes] = cobs.encode
_cobs_decode: Callable[[bytes], bytes] = cobs.decode
_HEADER = struct.Struct(">BBBHH")
_AUTH_PREFIX = struct.Struct(">IQ")
_AUTH_HEADER = struct.Struct(">BBBHHIQ")
_CRC = struct.Struct(">I")
_U16_MAX = 0xFFFF
_U32_MAX = 0xFFFF_FFFF
_U64_MAX = 0xFFFF_FFFF_FFFF_FFFF


class Flags(enum.IntFlag):
    """Header flag bits; bits 4-7 are reserved and must be zero (kept if received)."""

    AUTH = 0x01
    RESPONSE = 0x02
    EVENT = 0x04
    MORE = 0x08


RESERVED_FLAG_BITS = 0xF0
NO_FLAGS = Flags(0)
_FLAGS_BY_BYTE = tuple(Flags(bits) for bits in range(256))  # Flags(int) is slow on the hot path
_AUTH_BIT = int(Flags.AUTH)  # plain ints on the hot path: IntFlag arithmetic costs microseconds


class DropReason(enum.Enum):
    """Why the decoder dropped a run of bytes between two delimiters."""

    OVERSIZE = "oversize"
    BAD_COBS = "bad-cobs"
    TRUNCATED = "truncated"
    BAD_CRC = "bad-crc"
    BAD_LENGTH = "bad-length"


class FrameError(RemoteProtocolError):
    """A run of bytes that is not a frame; ``reason`` says which check failed."""

    def __init__(self, reason: DropReason, message: str) -> None:
        oversize = reason is DropReason.OVERSIZE
        code = ErrorCode.FRAME_TOO_LARGE if oversize else ErrorCode.MALFORMED_PAYLOAD
        super().__init__(f"{reason.name}: {message}", code)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame.

    ``signed`` is every byte from the version through the end of the payload: the input of the
    tag when ``Flags.AUTH`` is set.  For a version other than PROTOCOL_VERSION only the fixed
    7-byte header and the CRC are checked; ``payload`` then holds everything between header and
    CRC and the authentication fields are None, so the endpoint can answer UNSUPPORTED_VERSION.
    """

    version: int
    flags: Flags
    msg_type: int
    seq: int
    session_id: int | None
    counter: int | None
    payload: bytes
    tag: bytes | None
    signed: bytes

    @property
    def reserved_flags(self) -> int:
        """The reserved flag bits that were set (non-zero means the endpoint answers BAD_FLAGS)."""
        return int(self.flags) & RESERVED_FLAG_BITS


def frame_overhead(auth: bool) -> int:
    """Decoded bytes a frame adds around its payload (before COBS and the delimiter)."""
    if auth:
        return HEADER_SIZE + AUTH_PREFIX_SIZE + TAG_SIZE + CRC_SIZE
    return HEADER_SIZE + CRC_SIZE


def max_encoded_size(max_frame: int = MAX_FRAME) -> int:
    """Longest COBS encoding of a decoded frame of ``max_frame`` bytes (delimiter excluded)."""
    return max_frame + max(1, -(-max_frame // 254))


def seal_frame(body: bytes) -> bytes:
    """Append the CRC to ``body``, COBS-encode it and add the delimiter.

    ``encode_frame`` uses it; test and conformance tools use it directly to craft frames the
    strict encoder refuses (unknown versions, reserved flag bits, lying lengths).
    """
    return _cobs_encode(body + _CRC.pack(crc32c(body))) + DELIMITER


def encode_frame(
    msg_type: int,
    seq: int,
    payload: bytes,
    flags: Flags = NO_FLAGS,
    *,
    session_id: int | None = None,
    counter: int | None = None,
    tag_key: bytes | None = None,
) -> bytes:
    """Wire bytes (COBS + delimiter) of one frame.

    AUTH is set iff ``tag_key`` is given; ``session_id`` and ``counter`` are then required and
    the tag is HMAC-SHA256(tag_key, header..payload)[:16].  Raises LocalProtocolError on any
    out-of-range field: we never put a frame on the wire that the peer must reject.
    """
    length = len(payload)
    if length > MAX_PAYLOAD:
        raise LocalProtocolError(f"payload of {length} bytes exceeds MAX_PAYLOAD ({MAX_PAYLOAD})")
    if not 0 <= msg_type <= 0xFF or not 0 <= seq <= _U16_MAX:
        raise LocalProtocolError(f"msg_type {msg_type} or seq {seq} out of range")
    bits = int(flags)
    if bits & RESERVED_FLAG_BITS:
        raise LocalProtocolError(f"reserved flag bits set: {int(flags):#04x}")
    if tag_key is None:
        if bits & _AUTH_BIT or session_id is not None or counter is not None:
            raise LocalProtocolError("AUTH, session_id and counter need a tag_key")
        body = _HEADER.pack(PROTOCOL_VERSION, flags, msg_type, seq, length) + payload
    else:
        if session_id is None or counter is None:
            raise LocalProtocolError("an authenticated frame needs session_id and counter")
        if not 0 <= session_id <= _U32_MAX or not 0 <= counter <= _U64_MAX:
            raise LocalProtocolError(f"session_id {session_id} or counter {counter} out of range")
        body = (
            _AUTH_HEADER.pack(
                PROTOCOL_VERSION, bits | _AUTH_BIT, msg_type, seq, length, session_id, counter
            )
            + payload
        )
        body += compute_tag(tag_key, body)
    return seal_frame(body)


def parse_frame(decoded: bytes, max_frame: int = MAX_FRAME) -> Frame:
    """Parse one COBS-decoded frame; raise FrameError (a RemoteProtocolError) if it is not one.

    Checks, in order: size (OVERSIZE), minimum length (TRUNCATED), CRC (BAD_CRC), declared
    payload length against the actual one (BAD_LENGTH), payload above MAX_PAYLOAD (OVERSIZE).
    """
    size = len(decoded)
    if size > max_frame:
        raise FrameError(DropReason.OVERSIZE, f"{size} bytes exceeds {max_frame}")
    if size < MIN_FRAME:
        raise FrameError(DropReason.TRUNCATED, f"{size} bytes is below {MIN_FRAME}")
    end = size - CRC_SIZE
    if crc32c(decoded[:end]) != _CRC.unpack_from(decoded, end)[0]:
        raise FrameError(DropReason.BAD_CRC, "CRC-32C does not match")
    version, flag_bits, msg_type, seq, length = _HEADER.unpack_from(decoded)
    flags = _FLAGS_BY_BYTE[flag_bits]
    if version != PROTOCOL_VERSION:
        body = decoded[:end]
        return Frame(version, flags, msg_type, seq, None, None, body[HEADER_SIZE:], None, body)
    if flag_bits & _AUTH_BIT:
        payload_end = HEADER_SIZE + AUTH_PREFIX_SIZE + length
        if payload_end + TAG_SIZE != end:
            raise FrameError(DropReason.BAD_LENGTH, f"declared {length}, frame is {size} bytes")
        session_id, counter = _AUTH_PREFIX.unpack_from(decoded, HEADER_SIZE)
        payload = decoded[HEADER_SIZE + AUTH_PREFIX_SIZE : payload_end]
        tag: bytes | None = decoded[payload_end:end]
    else:
        payload_end = HEADER_SIZE + length
        if payload_end != end:
            raise FrameError(DropReason.BAD_LENGTH, f"declared {length}, frame is {size} bytes")
        session_id = counter = tag = None
        payload = decoded[HEADER_SIZE:payload_end]
    if length > MAX_PAYLOAD:
        raise FrameError(DropReason.OVERSIZE, f"payload of {length} bytes exceeds {MAX_PAYLOAD}")
    return Frame(
        version, flags, msg_type, seq, session_id, counter, payload, tag, decoded[:payload_end]
    )


class FrameDecoder:
    """Streaming frame decoder: ``feed(chunk)`` returns the complete valid frames it found.

    Never raises.  Bytes accumulate until a 0x00 delimiter; empty runs (idle or flush bytes)
    are ignored.  A run longer than the COBS encoding of ``max_frame`` is discarded up to the
    next delimiter and counted once as OVERSIZE, so the buffer never holds more than that
    encoded maximum.  Every dropped run is counted in ``dropped`` by reason; ``frames`` counts
    the frames returned.
    """

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self.max_encoded = max_encoded_size(max_frame)
        self.dropped: dict[DropReason, int] = dict.fromkeys(DropReason, 0)
        self.frames = 0
        self._partial = bytearray()
        self._discarding = False

    @property
    def buffered(self) -> int:
        """Bytes of an unfinished run held (always <= max_encoded)."""
        return len(self._partial)

    def feed(self, data: bytes) -> list[Frame]:
        """Take any chunk of wire bytes; return the frames it completed, in order."""
        found: list[Frame] = []
        runs = bytes(data).split(DELIMITER)
        tail = runs.pop()
        for run in runs:
            if self._discarding:
                # The oversize run ends here; it was counted when discarding began.
                self._discarding = False
                continue
            if self._partial:
                self._partial += run
                run = bytes(self._partial)
                self._partial.clear()
            if run:
                self._decode_run(run, found)
        if not self._discarding:
            if len(self._partial) + len(tail) > self.max_encoded:
                self._partial.clear()
                self._discarding = True
                self.dropped[DropReason.OVERSIZE] += 1
            else:
                self._partial += tail
        return found

    def _decode_run(self, run: bytes, found: list[Frame]) -> None:
        if len(run) > self.max_encoded:
            self.dropped[DropReason.OVERSIZE] += 1
            return
        try:
            decoded = _cobs_decode(run)
        except cobs.DecodeError:
            self.dropped[DropReason.BAD_COBS] += 1
            return
        try:
            frame = parse_frame(decoded, self.max_frame)
        except FrameError as error:
            self.dropped[error.reason] += 1
            return
        self.frames += 1
        found.append(frame)
