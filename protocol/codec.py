"""Payload codec: catalog rows in, bytes out, and back.

Why: the endpoints and tools encode and decode payloads only through this module, which reads the
layouts from the catalog, so there is one way to turn a message into bytes.  Decoding treats every
byte as hostile: any construct error, trailing byte or out-of-range enum becomes a
``RemoteProtocolError`` with ``MALFORMED_PAYLOAD``; nothing else escapes.

A reply payload is ``status (u16)`` followed by the reply layout when status is 0, or by a short
UTF-8 reason when it is not.  Request and event payloads are the row's ``request`` layout.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any

import construct as c

from .catalog import CATALOG, ERROR_BODY, MessageSpec, MsgType
from .errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from .fastcodec import FlatCodec, flat_codec
from .framing import MAX_PAYLOAD
from .layouts import prefixed_array_parts
from .log_record import LOG_RECORD_SIZE

_STATUS = struct.Struct(">H")
_STATUS_OK = _STATUS.pack(0)
MAX_REASON_BYTES = 200


_COMPILED: dict[int, Any] = {}


def _compiled(layout: Any) -> Any:
    """construct's compiled form of a layout (5-10x faster), built once per layout.

    construct warns that compiled parsers skip some checks; ours are safe because every layout is
    length-prefixed or fixed-size and ends in ``Terminated``, and any exception at all from a parse
    is turned into MALFORMED_PAYLOAD.  The property tests feed random bytes to every layout.
    """
    key = id(layout)
    compiled = _COMPILED.get(key)
    if compiled is None:
        compiled = _COMPILED[key] = layout.compile()
    return compiled


def _spec(msg: MsgType) -> MessageSpec:
    return CATALOG[msg]


_FAST: dict[int, FlatCodec | None] = {}


def _fast(layout: Any) -> FlatCodec | None:
    key = id(layout)
    try:
        return _FAST[key]
    except KeyError:
        codec = _FAST[key] = flat_codec(layout)
        return codec


def _build(layout: Any, body: Mapping[str, Any], what: str | Callable[[], str]) -> bytes:
    try:
        fast = _fast(layout)
        if fast is not None:
            return fast.encode(body)
        return bytes(_compiled(layout).build(body))
    except Exception as exc:  # construct raises many unrelated types on bad input
        raise LocalProtocolError(f"cannot encode {_text(what)}: {exc}") from exc


def _text(what: str | Callable[[], str]) -> str:
    return what if isinstance(what, str) else what()


def _parse(layout: Any, payload: bytes, what: str | Callable[[], str]) -> dict[str, Any]:
    fast = _fast(layout)
    if fast is not None:
        try:
            return fast.decode(payload)
        except (ValueError, struct.error) as exc:
            raise RemoteProtocolError(
                f"malformed {_text(what)}: {exc}", ErrorCode.MALFORMED_PAYLOAD
            ) from exc
    try:
        parsed = _compiled(layout).parse(payload)
    except Exception as exc:  # any failure of a parse is the peer's malformed payload
        reason = f"malformed {_text(what)} ({len(payload)} bytes): {_why(exc)}"
        raise RemoteProtocolError(reason, ErrorCode.MALFORMED_PAYLOAD) from exc
    return plain(parsed)  # type: ignore[no-any-return]


def _why(exc: Exception) -> str:
    """What was wrong, in words for people: never the parser's internal exception name."""
    if isinstance(exc, c.TerminatedError):
        return "bytes left over after the last field"
    if isinstance(exc, c.ExplicitError):  # a Switch's default: a selector value with no layout
        return "a field holds a value the message does not define (e.g. an unknown change kind)"
    if isinstance(exc, c.StreamError | struct.error):  # compiled layouts raise struct.error
        return "the payload ends before the last field"
    return "the payload does not match the message's layout"


def plain(value: Any) -> Any:
    """Construct containers to plain dicts and lists (dropping construct's private keys)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def encode_request(msg: MsgType, body: Mapping[str, Any] | None = None) -> bytes:
    """Request (or event) payload bytes for ``msg``."""
    return _build(_spec(msg).request, body or {}, lambda: f"{msg.name} request")


def decode_request(msg: MsgType, payload: bytes) -> dict[str, Any]:
    """Request (or event) fields from payload bytes; RemoteProtocolError if malformed."""
    return _parse(_spec(msg).request, payload, lambda: f"{msg.name} request")


def encode_reply(
    msg: MsgType,
    status: ErrorCode = ErrorCode.OK,
    body: Mapping[str, Any] | None = None,
    reason: str = "",
) -> bytes:
    """Reply payload: status, then the success body or the failure reason."""
    if not status:
        return _STATUS_OK + _build(CATALOG[msg].reply, body or {}, lambda: f"{msg.name} reply")
    text = reason.encode("utf-8")[:MAX_REASON_BYTES].decode("utf-8", "ignore")
    return _STATUS.pack(int(status)) + _build(ERROR_BODY, {"message": text}, "error reason")


def decode_reply(msg: MsgType, payload: bytes) -> tuple[int, dict[str, Any], str]:
    """(status, body, reason) from reply payload bytes; RemoteProtocolError if malformed.

    ``status`` is returned as a plain int so that a newer peer's unknown code still decodes.
    """
    if len(payload) < _STATUS.size:
        raise RemoteProtocolError(f"{msg.name} reply shorter than its status field")
    (status,) = _STATUS.unpack_from(payload)
    rest = payload[_STATUS.size :]
    if status == 0:
        return 0, _parse(CATALOG[msg].reply, rest, lambda: f"{msg.name} reply"), ""
    return status, {}, str(_parse(ERROR_BODY, rest, "error reason")["message"])


def request_id_of(msg: MsgType, payload: bytes) -> int | None:
    """The request id of a state-changing request, read without decoding the rest."""
    if not _spec(msg).state_changing or len(payload) < 4:
        return None
    return int.from_bytes(payload[:4], "big")


def _log_records_per_frame() -> int:
    """Most log records one LOG_READ reply frame carries: what fits ``MAX_PAYLOAD`` after the
    status and the reply's other fields, and what its count field can say."""
    reply = CATALOG[MsgType.LOG_READ].reply
    (records,) = (sub.subcon for sub in reply.subcons if sub.name == "records")
    parts = prefixed_array_parts(records)
    assert parts is not None, "LOG_READ's records are a length-prefixed array"
    count_max = (1 << (8 * int(parts[0].sizeof()))) - 1
    empty = encode_reply(MsgType.LOG_READ, ErrorCode.OK, {"records": [], "next_cursor": 0})
    return min(count_max, (MAX_PAYLOAD - len(empty)) // LOG_RECORD_SIZE)


#: Records per LOG_READ reply frame, derived from MAX_PAYLOAD and the layouts (not counted by hand).
LOG_RECORDS_PER_FRAME: int = _log_records_per_frame()
