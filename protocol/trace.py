"""Decode a byte capture into readable frames: what crossed the wire in a failing run.

Why: a conformance failure against a device on a cable is argued over bytes.  This module turns
a capture - raw bytes from a logic analyser or ``socat -x``, hex text, or the hexdump that
pyserial's ``spy://`` URL prints (``TX``/``RX`` lines) - into one line per frame: direction,
kind, message, seq, session fields and the decoded payload, or the reason a run of bytes was
dropped.  Pure functions over bytes and text, no I/O, so the CLI, the conformance suite's
failure messages and its golden transcript all render frames the same way.

Trade-off: tags are shown, not verified (a capture rarely comes with the session keys), and a
raw dump has no direction: it is inferred from the flags of each frame and marked ``?``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from . import pcapng
from .catalog import MsgType, StageWarning
from .codec import decode_reply, decode_request
from .enums import AlarmId, ChangeKind, LogEvent, LogId, Role, TherapyMode, enum_label
from .errors import ErrorCode, ProtocolError
from .framing import DELIMITER, DropReason, Flags, Frame, FrameDecoder
from .log_record import LOG_RECORD_SIZE, LogRecordLayout
from .pcapng import PacketDirection

#: A chunk of a capture: who sent the bytes (``UNKNOWN`` where the capture does not say), and them.
Chunk = tuple[PacketDirection, bytes]


@dataclass(frozen=True, slots=True)
class TracedFrame:
    """One delimited run of a capture: a frame, or the reason it was dropped."""

    direction: PacketDirection
    index: int  # position of the run in its direction's stream, from 0
    frame: Frame | None
    dropped: DropReason | None
    wire_size: int  # COBS bytes of the run, delimiter excluded

    @property
    def inferred_direction(self) -> PacketDirection:
        """The known direction, else the one the flags imply (replies and events come from the pump)."""
        if self.direction is not PacketDirection.UNKNOWN or self.frame is None:
            return self.direction
        if self.frame.flags & (Flags.RESPONSE | Flags.EVENT):
            return PacketDirection.FROM_PUMP
        return PacketDirection.TO_PUMP


# -- reading captures ------------------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# spy:// hexdump line: "000003.001 TX   0000  48 45 4C ...  HELLO" (see pyserial protocol_spy)
_SPY_DATA = re.compile(r"^\s*(\d+\.\d+)\s+(TX|RX)\s+([0-9A-Fa-f]{4})  (.*)$")
_HEX_BYTE = re.compile(r"\b[0-9A-Fa-f]{2}\b")
_SPY_HEX_WIDTH = 16 * 3 + 1  # sixteen "XX " groups and the gap after the eighth
_PLAIN_HEX = re.compile(r"^[\s0-9A-Fa-f:,]*$")


def parse_spy_text(text: str) -> list[Chunk]:
    """Chunks of a pyserial ``spy://`` hexdump: TX is what the host sent (to the pump), RX what it
    received.  Control-line and ``<empty>`` lines are skipped; consecutive lines of one direction
    are merged."""
    return [(direction, data) for direction, data, _ in parse_spy_timed(text)]


TimedChunk = tuple[PacketDirection, bytes, float]
#: A spy log taken on the pump's side has TX and RX the other way round.
_SWAPPED = {
    PacketDirection.TO_PUMP: PacketDirection.FROM_PUMP,
    PacketDirection.FROM_PUMP: PacketDirection.TO_PUMP,
}


def parse_spy_timed(text: str) -> list[TimedChunk]:
    """``parse_spy_text`` with each chunk's time: the seconds ``spy://`` printed on its first
    line (since the port was opened)."""
    chunks: list[TimedChunk] = []
    for line in _ANSI.sub("", text).splitlines():
        match = _SPY_DATA.match(line)
        if match is None:
            continue
        stamp, label, _offset, row = match.groups()
        data = bytes(int(h, 16) for h in _HEX_BYTE.findall(row[:_SPY_HEX_WIDTH]))
        direction = PacketDirection.TO_PUMP if label == "TX" else PacketDirection.FROM_PUMP
        if chunks and chunks[-1][0] is direction:
            chunks[-1] = (direction, chunks[-1][1] + data, chunks[-1][2])
        else:
            chunks.append((direction, data, float(stamp)))
    return chunks


def parse_capture_timed(data: bytes | str, *, host_is_programmer: bool = True) -> list[TimedChunk]:
    """``parse_capture`` with times: a ``spy://`` log's own, else 0.0 for the one chunk."""
    text: str | None = data if isinstance(data, str) else None
    if isinstance(data, bytes):
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            text = None
    timed = parse_spy_timed(text) if text is not None else []
    if not timed:
        return [(d, b, 0.0) for d, b in parse_capture(data, host_is_programmer=host_is_programmer)]
    if host_is_programmer:
        return timed
    return [(_SWAPPED[d], b, t) for d, b, t in timed]


def pcapng_from_chunks(chunks: Iterable[TimedChunk], *, application: str, source: str) -> bytes:
    """A pcapng capture of timed chunks: one packet per delimited run (``protocol.pcapng``),
    stamped with the time of the chunk that completed it, direction from the chunk."""
    out = [pcapng.file_header(application, "itbp-line", source)]
    splitters: dict[PacketDirection, pcapng.RunSplitter] = {}
    last: dict[PacketDirection, float] = {}
    for direction, data, stamp in chunks:
        splitter = splitters.setdefault(direction, pcapng.RunSplitter())
        last[direction] = stamp
        for run in splitter.feed(data):
            out.append(_packet(stamp, run, direction))
    for direction, splitter in splitters.items():
        tail = splitter.flush()
        if tail:
            out.append(_packet(last[direction], tail, direction))
    return b"".join(out)


def _packet(stamp: float, run: bytes, direction: PacketDirection) -> bytes:
    return pcapng.enhanced_packet(round(stamp * pcapng.TS_PER_SECOND), run, direction)


def parse_capture(data: bytes | str, *, host_is_programmer: bool = True) -> list[Chunk]:
    """Chunks of any supported capture, detected from its content.

    - ``spy://`` hexdump text (``TX``/``RX`` lines) keeps its directions;
    - text of hex digits (spaces, colons, commas and newlines allowed) is one chunk of unknown
      direction;
    - anything else is a raw binary dump of unknown direction.

    ``host_is_programmer=False`` swaps TX and RX, for a spy log taken on the pump's side.
    """
    if isinstance(data, bytes):
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            return [(PacketDirection.UNKNOWN, data)]
    else:
        text = data
    spy = parse_spy_text(text)
    if spy:
        if host_is_programmer:
            return spy
        return [(_SWAPPED[d], b) for d, b in spy]
    if text.strip() and _PLAIN_HEX.match(text):
        digits = re.sub(r"[\s:,]", "", text)
        if len(digits) % 2 == 0:
            return [(PacketDirection.UNKNOWN, bytes.fromhex(digits))]
    return [(PacketDirection.UNKNOWN, data if isinstance(data, bytes) else data.encode("latin-1"))]


# -- decoding ------------------------------------------------------------------------------------


class _Stream:
    """One direction's decoder plus the bookkeeping to report what it dropped, and where."""

    def __init__(self) -> None:
        self.decoder = FrameDecoder()
        self.index = 0
        self.run_size = 0
        self.oversize_pending = False

    def _feed(self, data: bytes) -> tuple[list[Frame], DropReason | None]:
        before = dict(self.decoder.dropped)
        frames = self.decoder.feed(data)
        changed = [r for r, n in self.decoder.dropped.items() if n != before[r]]
        return frames, (changed[0] if changed else None)

    def feed(self, direction: PacketDirection, data: bytes) -> list[TracedFrame]:
        out: list[TracedFrame] = []
        # Feed run by run so a dropped run is reported where it happened.
        pieces = data.split(DELIMITER)
        tail = pieces.pop()
        for piece in pieces:
            frames, reason = self._feed(piece + DELIMITER)
            size, self.run_size = self.run_size + len(piece), 0
            if self.oversize_pending:
                reason, self.oversize_pending = DropReason.OVERSIZE, False
            if frames:
                out.append(TracedFrame(direction, self.index, frames[0], None, size))
            elif reason is not None:
                out.append(TracedFrame(direction, self.index, None, reason, size))
            else:
                continue  # an empty run: idle or flush bytes
            self.index += 1
        _, reason = self._feed(tail)
        self.run_size += len(tail)
        if reason is DropReason.OVERSIZE:
            self.oversize_pending = True
        return out


def decode_chunks(chunks: Iterable[Chunk]) -> list[TracedFrame]:
    """Every frame and dropped run, in the order the chunks completed them.

    Each direction has its own decoder, so interleaved chunks of the two directions never mix;
    empty runs (idle or flush 0x00 bytes) are skipped, as a receiver does.
    """
    streams: dict[PacketDirection, _Stream] = {}
    out: list[TracedFrame] = []
    for direction, data in chunks:
        stream = streams.setdefault(direction, _Stream())
        out.extend(stream.feed(direction, bytes(data)))
    return out


def decode_capture(data: bytes | str) -> list[TracedFrame]:
    """``decode_chunks(parse_capture(data))``."""
    return decode_chunks(parse_capture(data))


# -- rendering -----------------------------------------------------------------------------------

_FIELD_ENUMS: dict[str, type[enum.IntEnum]] = {
    "mode": TherapyMode,
    "bolus_mode": TherapyMode,
    "kind": ChangeKind,
    "alarm": AlarmId,
    "alarms": AlarmId,  # ALARMS_ACK's list of ids
    "log": LogId,
    "role": Role,
    "event": LogEvent,
}


def _kind(flags: Flags) -> str:
    if flags & Flags.EVENT:
        return "event"
    if flags & Flags.RESPONSE:
        return "reply"
    return "request"


def _value(name: str, value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return value.hex() if value else "''"
    if isinstance(value, bool):
        return "true" if value else "false"
    if name == "bolus_mode" and value == 0:
        return "none"
    if isinstance(value, int) and name in _FIELD_ENUMS:
        return enum_label(_FIELD_ENUMS[name], value)
    if isinstance(value, int) and name == "warnings" and value:
        return f"{value:#x}({StageWarning(value)!s})"
    if isinstance(value, dict):
        return "{" + _fields(value) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_value(name, v) for v in value) + "]"
    return str(value)


def _fields(body: dict[str, Any]) -> str:
    return " ".join(f"{k}={_value(k, v)}" for k, v in body.items())


def _log_records(records: Sequence[bytes]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for raw in records:
        if len(raw) != LOG_RECORD_SIZE:
            out.append({"raw": raw})
            continue
        rec = LogRecordLayout.parse(raw)
        out.append({k: rec[k] for k in ("seq", "time", "event", "a", "b")})
    return out


def describe_payload(frame: Frame) -> str:
    """The payload as ``name=value`` fields, or why it could not be decoded."""
    try:
        msg = MsgType(frame.msg_type)
    except ValueError:
        return "payload=" + (frame.payload.hex() or "''")
    try:
        if frame.flags & Flags.RESPONSE:
            status, body, reason = decode_reply(msg, frame.payload)
            if status != 0:
                return f"status={enum_label(ErrorCode, status)} reason={reason!r}"
            if msg is MsgType.LOG_READ:
                body = {**body, "records": _log_records(body["records"])}
            return "status=OK" + (f" {_fields(body)}" if body else "")
        return _fields(decode_request(msg, frame.payload))
    except ProtocolError as exc:
        return f"undecodable ({exc}) payload={frame.payload.hex()}"


def describe_frame(frame: Frame) -> str:
    """One line: kind, message, seq, flags, session fields, decoded payload."""
    name = enum_label(MsgType, frame.msg_type, "msg_type={value:#04x}")
    parts = [_kind(frame.flags), name, f"seq={frame.seq}"]
    extra = frame.flags & ~(Flags.AUTH | Flags.RESPONSE | Flags.EVENT)
    if extra:
        parts.append(f"flags={int(frame.flags):#04x}")
    if frame.version != 1:
        parts.append(f"version={frame.version}")
        return " ".join([*parts, f"body={frame.payload.hex()}"])
    if frame.flags & Flags.AUTH:
        tag = frame.tag.hex() if frame.tag is not None else "none"
        parts.append(f"auth(session={frame.session_id:#010x} counter={frame.counter} tag={tag})")
    return " ".join(parts) + " | " + describe_payload(frame)


#: How a trace line shows who sent the frame.
_ARROWS = {
    PacketDirection.TO_PUMP: "->",
    PacketDirection.FROM_PUMP: "<-",
    PacketDirection.UNKNOWN: "??",
}


def format_traced(item: TracedFrame, *, show_size: bool = False) -> str:
    """One line for a traced frame or dropped run."""
    arrow = _ARROWS[item.inferred_direction]
    if item.direction is PacketDirection.UNKNOWN:  # inferred: "?>" to the pump, "?<" from it
        arrow = {"->": "?>", "<-": "?<"}.get(arrow, arrow)
    size = f" [{item.wire_size} B]" if show_size else ""
    if item.frame is None:
        reason = item.dropped.name if item.dropped is not None else "unknown"
        return f"{arrow} dropped {reason}{size}"
    return f"{arrow} {describe_frame(item.frame)}{size}"


def format_trace(chunks: Iterable[Chunk], *, show_size: bool = False) -> str:
    """A whole capture as text, one frame per line (the golden transcript's format)."""
    return "\n".join(format_traced(t, show_size=show_size) for t in decode_chunks(chunks)) + "\n"
