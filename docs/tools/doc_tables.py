"""Markdown tables of the protocol, rendered from the catalog and the error table.

Why: docs/PROTOCOL.md must say exactly what the code does.  Its tables of messages, fields,
error codes, enumerations and constants are not written by hand: they are rendered here from
``CATALOG``, ``ERROR_TABLE``, the enums, the framing constants and the field meanings
(``protocol.field_meanings``), pasted between marker comments by ``regen_protocol_doc.py``, and
compared with this module's output by a test.  Pure functions, no I/O.

``undocumented_fields()`` lists any field that has neither a unit suffix nor a note, so a new
field cannot reach the docs without a meaning (a test keeps the list empty).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import construct as c
import crcmod.predefined

from protocol.audit import (
    AUDIT_BURST,
    AUDIT_WINDOW_S,
    LOCKOUT_COUNTED_FROM,
    LOCKOUT_FAILURES,
    NOT_AUDITED_PER_FRAME,
    PAIRING_REFUSALS,
    audit_event_for,
)
from protocol.catalog import (
    CATALOG,
    Capability,
    MessageKind,
    MessageSpec,
    MsgType,
    RefillFlag,
    RequestState,
    StageWarning,
)
from protocol.crc import CRC_NAME, crc32c
from protocol.enums import (
    CRITICAL_ALARMS,
    RESET_CAUSE_MEANINGS,
    AlarmId,
    ChangeKind,
    LogEvent,
    LogId,
    ResetCause,
    Role,
    TherapyMode,
)
from protocol.errors import ERROR_TABLE, ErrorCategory, ErrorCode, category_of
from protocol.field_meanings import (
    CONTEXT_NOTES,
    ENUM_FIELDS,
    LOG_EVENT_ARGS,
    LOG_RECORD_NOTES,
    STAGE_SUMMARY_BY_KIND,
    field_meaning,
)
from protocol.framing import (
    AUTH_PREFIX_SIZE,
    CRC_SIZE,
    HEADER_SIZE,
    MAX_FRAME,
    MAX_PAYLOAD,
    MIN_FRAME,
    PROTOCOL_VERSION,
    TAG_SIZE,
    DropReason,
    Flags,
    max_encoded_size,
)
from protocol.layouts import prefixed_array_parts, switch_key
from protocol.log_record import LOG_RECORD_SIZE, LogRecordLayout

_INT_TYPES = {
    ">B": "u8",
    ">H": "u16",
    ">I": "u32",
    ">L": "u32",
    ">Q": "u64",
    ">b": "i8",
    ">h": "i16",
    ">i": "i32",
    ">l": "i32",
    ">q": "i64",
}


# -- walking construct layouts -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldRow:
    """One row of a payload table: dotted path, wire type, size in bytes ('var'), meaning."""

    path: str
    wire_type: str
    size: str
    meaning: str
    leaf: str  # the last name on the path (used to look up the meaning)


def wire_type(node: Any) -> str:
    """Short type name of a leaf layout ('u32', 'bytes[16]', 'text' ...)."""
    if isinstance(node, c.Renamed):
        return wire_type(node.subcon)
    if isinstance(node, c.FormatField):
        return _INT_TYPES.get(node.fmtstr, str(node.fmtstr))
    if node is c.Flag:
        return "bool (u8 0/1)"
    if isinstance(node, c.Bytes):
        return f"bytes[{node.length}]"
    if isinstance(node, c.StringEncoded):
        return f"text (u8 length + {node.encoding.upper().replace('UTF8', 'UTF-8')})"
    if node is c.GreedyBytes:
        return "bytes (rest of payload)"
    if isinstance(node, c.Struct):
        return "struct"
    raise TypeError(f"no wire type for {node!r}")


def _size(node: Any) -> str:
    try:
        return str(node.sizeof())
    except Exception:  # variable size: construct raises SizeofError and friends
        return "var"


def layout_rows(layout: Any, prefix: str = "") -> list[FieldRow]:
    """Flattened rows of a construct layout: nested structs, arrays and switch cases expanded."""
    rows: list[FieldRow] = []
    for sub in layout.subcons:
        if sub is c.Terminated or sub.name is None:
            continue
        rows.extend(_rows_for(sub.subcon, f"{prefix}{sub.name}", sub.name))
    return rows


def _rows_for(node: Any, path: str, leaf: str) -> Iterator[FieldRow]:
    array = prefixed_array_parts(node)
    if array is not None or isinstance(node, c.Array):
        if array is not None:
            count, item = array
            shape, size = f"[] ({wire_type(count)} count)", "var"
        else:
            item = node.subcon
            shape, size = f"[{node.count}]", _size(node)
        if _is_leaf(item):
            yield FieldRow(path, f"{wire_type(item)}{shape}", size, field_meaning(leaf), leaf)
            return
        yield FieldRow(path, f"array{shape}", size, field_meaning(leaf), leaf)
        if isinstance(item, c.Struct):
            yield from layout_rows(item, f"{path}[].")
        else:
            yield from _rows_for(item, f"{path}[]", f"{leaf}[]")
        return
    if isinstance(node, c.Switch):
        key = switch_key(node)
        key_enum = ENUM_FIELDS.get(key)
        for value, case in node.cases.items():
            label = key_enum(value).name if key_enum is not None else str(value)
            case_path = f"{path}[{key}={label}]"
            case_rows = layout_rows(case, f"{case_path}.")
            if case_rows:
                yield from case_rows
            else:
                yield FieldRow(case_path, "(empty)", "0", f"when {key} = {value}", leaf)
        return
    if isinstance(node, c.Struct):
        yield from layout_rows(node, f"{path}.")
        return
    yield FieldRow(path, wire_type(node), _size(node), field_meaning(leaf), leaf)


def _is_leaf(node: Any) -> bool:
    return not (
        isinstance(node, (c.Struct, c.Array, c.Switch)) or prefixed_array_parts(node) is not None
    )


def undocumented_fields() -> list[str]:
    """'MSG.request.path' of every catalog field without a unit or meaning (should be empty)."""
    missing = []
    for spec in CATALOG.values():
        for part, layout in _layouts(spec):
            for row in layout_rows(layout):
                if row.wire_type != "(empty)" and not row.meaning:
                    missing.append(f"{spec.name}.{part}.{row.path}")
    for row in layout_rows(LogRecordLayout):
        if not LOG_RECORD_NOTES.get(row.leaf, row.meaning):
            missing.append(f"log record.{row.path}")
    return missing


def _layouts(spec: MessageSpec) -> list[tuple[str, Any]]:
    if spec.kind is MessageKind.EVENT:
        return [("event", spec.request)]
    return [("request", spec.request), ("reply", spec.reply)]


# -- Markdown helpers ----------------------------------------------------------------------------


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines.extend("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows)
    return "\n".join(lines)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _roles(spec: MessageSpec) -> str:
    return ", ".join(r.name.lower() for r in sorted(spec.roles))


def _fields_table(msg: MsgType, part: str, layout: Any) -> str:
    rows = layout_rows(layout)
    if not rows:
        return "_empty payload (0 bytes)_"
    return _table(
        ("field", "type", "bytes", "unit / meaning"),
        (
            (
                f"`{r.path}`",
                r.wire_type,
                r.size,
                CONTEXT_NOTES.get((msg, f"{part}.{r.path}"), r.meaning),
            )
            for r in rows
        ),
    )


# -- the generated sections ----------------------------------------------------------------------


def message_index_table() -> str:
    """One row per message: number, name, kind, auth, state-changing, roles, summary."""
    rows = []
    for spec in sorted(CATALOG.values(), key=lambda s: int(s.msg)):
        kind = "request" if spec.kind is MessageKind.REQUEST else "event"
        rows.append(
            (
                f"`0x{int(spec.msg):02X}`",
                f"[{spec.name}](#{spec.name.lower()})",
                kind,
                _yes(spec.auth),
                _yes(spec.state_changing),
                _roles(spec),
                _yes(spec.streamed),
                spec.summary,
            )
        )
    header = ("type", "name", "kind", "auth", "state-changing", "roles", "streamed", "summary")
    return _table(header, rows)


def message_sections() -> str:
    """A heading per message with its request, reply (or event) field tables."""
    parts: list[str] = []
    for spec in sorted(CATALOG.values(), key=lambda s: int(s.msg)):
        parts.append(f"#### {spec.name}\n")
        if spec.kind is MessageKind.EVENT:
            parts.append(
                f"`0x{int(spec.msg):02X}`, event (pump -> programmer, flags AUTH|EVENT, "
                f"inside a session only): {spec.summary}.\n"
            )
            parts.append(
                "Event payload:\n\n" + _fields_table(spec.msg, "event", spec.request) + "\n"
            )
            continue
        facts = [
            f"`0x{int(spec.msg):02X}`, request (programmer -> pump)",
            "needs a session" if spec.auth else "no session needed",
            "state-changing (request_id first; executed at most once)"
            if spec.state_changing
            else "read-only",
            f"roles: {_roles(spec)}",
        ]
        if spec.streamed:
            facts.append("reply streamed over several frames (MORE)")
        parts.append("; ".join(facts) + f". {spec.summary[:1].upper()}{spec.summary[1:]}.\n")
        parts.append(
            "Request payload:\n\n" + _fields_table(spec.msg, "request", spec.request) + "\n"
        )
        parts.append(
            "Reply body (after `status` = 0):\n\n"
            + _fields_table(spec.msg, "reply", spec.reply)
            + "\n"
        )
    return "\n".join(parts).rstrip() + "\n"


def error_table() -> str:
    """Every error code: number, name, meaning, retryable, certain/uncertain."""
    rows = (
        (
            str(int(s.code)),
            f"`{s.name}`",
            s.meaning,
            _yes(s.retryable),
            "certain" if s.certain else "**uncertain**",
        )
        for s in sorted(ERROR_TABLE.values(), key=lambda s: int(s.code))
    )
    return _table(("code", "name", "meaning", "retryable", "outcome"), rows)


def _enum_table(enum_type: type[enum.Enum], extra: dict[Any, str] | None = None) -> str:
    is_flag = issubclass(enum_type, enum.Flag)
    head = ("bit value" if is_flag else "value", "name") + (("meaning",) if extra else ())
    rows = []
    for member in enum_type:
        value = f"0x{member.value:02X}" if is_flag else str(member.value)
        row = [value, f"`{member.name}`"]
        if extra is not None:
            row.append(extra.get(member, ""))
        rows.append(row)
    return _table(head, rows)


def enum_tables() -> str:
    """The enumerations that travel in payloads, one small table each."""
    critical = {a: "critical" if a in CRITICAL_ALARMS else "non-critical" for a in AlarmId}
    sections: list[tuple[str, str]] = [
        ("Role", _enum_table(Role)),
        ("TherapyMode", _enum_table(TherapyMode)),
        ("ChangeKind", _enum_table(ChangeKind)),
        ("AlarmId", _enum_table(AlarmId, critical)),
        ("LogId", _enum_table(LogId)),
        ("ResetCause (RESET record `a`)", _enum_table(ResetCause, dict(RESET_CAUSE_MEANINGS))),
        ("RequestState", _enum_table(RequestState)),
        ("Capability (bits of HELLO `capabilities`)", _enum_table(Capability)),
        ("StageWarning (bits of `warnings` / `ack_warnings`)", _enum_table(StageWarning)),
        ("RefillFlag (bits of REFILL `flags`)", _enum_table(RefillFlag)),
        ("LogEvent (record `event`; `a`, `b` arguments)", _enum_table(LogEvent, LOG_EVENT_ARGS)),
    ]
    return "\n\n".join(f"**{title}**\n\n{table}" for title, table in sections) + "\n"


def audit_table() -> str:
    """Which refusal is audited as what, and which counts towards the pairing lockout."""

    def names(codes: Iterable[ErrorCode]) -> str:
        return ", ".join(f"`{code.name}`" for code in sorted(codes))

    auth = [
        code
        for code in ErrorCode
        if category_of(code) is ErrorCategory.AUTHENTICATION
        and code not in PAIRING_REFUSALS | NOT_AUDITED_PER_FRAME | LOCKOUT_FAILURES
    ]
    gated = " or ".join(f"`{m.name}`" for m in sorted(LOCKOUT_COUNTED_FROM))
    rows = [
        (
            f"{names(LOCKOUT_FAILURES)} answering {gated}",
            f"`{audit_event_for(ErrorCode.PAIRING_FAILED).name}`",
            "**yes** (the only one)",
        ),
        (names(auth), f"`{LogEvent.AUTH_FAILURE.name}`", "no"),
        (names(PAIRING_REFUSALS), f"`{LogEvent.PAIRING_REFUSED.name}`", "no"),
        (
            names(NOT_AUDITED_PER_FRAME),
            f"none per frame; the decision is written once as `{LogEvent.PAIRING_REJECTED.name}`",
            "no",
        ),
        (
            "any other code with which the protocol layer refuses a frame (frame and message "
            "shape, request cache: e.g. `MALFORMED_PAYLOAD`, `REQUEST_ID_REUSED`)",
            f"`{LogEvent.REQUEST_REFUSED.name}`",
            "no",
        ),
        (
            "any refusal of a state-changing request by the pump's software (clinical codes, "
            "`BUSY`...)",
            f"`{LogEvent.REQUEST_REFUSED.name}`",
            "no",
        ),
        (
            "a refusal of a read-only request by the pump's software (e.g. `UNKNOWN_LOG`)",
            "none",
            "no",
        ),
    ]
    table = _table(
        ("refusal", "audit record (a = ErrorCode, b = MsgType)", "counts towards lockout"), rows
    )
    return (
        table
        + f"\n\nRefused frames are written one by one up to {AUDIT_BURST} per error code in a "
        f"window of {AUDIT_WINDOW_S} s; beyond that they are counted, and the count is written as one "
        f"`{LogEvent.REJECTIONS_SUPPRESSED.name}` record (a = ErrorCode, b = how many were not "
        "written one by one) when the window ends or before any log is read. Unauthenticated "
        "requests dropped unanswered over the pump's budget (section 1) are counted the same "
        "way under code `BUSY`.\n"
    )


def stage_summary_table() -> str:
    """The stage summary's fields for every change kind."""
    rows = [
        (f"`{kind.name}`", dose, rate, duration)
        for kind, (dose, rate, duration) in STAGE_SUMMARY_BY_KIND.items()
    ]
    return _table(("kind", "`daily_dose_ng`", "`rate_nl_per_day`", "`duration_s`"), rows)


def log_record_table() -> str:
    """The 24-byte log record."""
    rows = []
    offset = 0
    for row in layout_rows(LogRecordLayout):
        meaning = LOG_RECORD_NOTES.get(row.leaf, row.meaning)
        rows.append((str(offset), row.size, f"`{row.path}`", row.wire_type, meaning))
        offset += int(row.size)
    assert offset == LOG_RECORD_SIZE
    return _table(("offset", "bytes", "field", "type", "meaning"), rows)


def _reflect(value: int, width: int) -> int:
    return int(f"{value:0{width}b}"[::-1], 2)


def crc_parameters() -> dict[str, str]:
    """CRC-32C in the usual (Rocksoft) parameter notation, from crcmod's own definition."""
    crc = crcmod.predefined.PredefinedCrc(CRC_NAME)
    width = crc.digest_size * 8
    mask = (1 << width) - 1
    init = crc.initCrc ^ crc.xorOut
    if crc.reverse:
        init = _reflect(init, width)
    return {
        "name": "CRC-32C (Castagnoli; crcmod 'crc-32c')",
        "width": str(width),
        "poly": f"0x{crc.poly & mask:08X}",
        "init": f"0x{init:08X}",
        "refin": str(crc.reverse).lower(),
        "refout": str(crc.reverse).lower(),
        "xorout": f"0x{crc.xorOut:08X}",
        "check": f"0x{crc32c(b'123456789'):08X}",
    }


def constants_table() -> str:
    """Sizes and limits of the framing, and the CRC parameters."""
    crc = crc_parameters()
    rows = [
        ("PROTOCOL_VERSION", str(PROTOCOL_VERSION), "header byte 0"),
        ("HEADER_SIZE", str(HEADER_SIZE), "fixed header bytes"),
        ("AUTH_PREFIX_SIZE", str(AUTH_PREFIX_SIZE), "session_id u32 + counter u64, AUTH only"),
        ("TAG_SIZE", str(TAG_SIZE), "HMAC-SHA256 truncated, AUTH only"),
        ("CRC_SIZE", str(CRC_SIZE), "CRC-32C trailer"),
        ("MAX_PAYLOAD", str(MAX_PAYLOAD), "largest payload"),
        ("MAX_FRAME", str(MAX_FRAME), "largest frame before COBS"),
        ("MIN_FRAME", str(MIN_FRAME), "smallest frame before COBS"),
        (
            "MAX_ENCODED",
            str(max_encoded_size(MAX_FRAME)),
            "largest COBS run between delimiters (delimiter excluded)",
        ),
    ]
    rows += [(f"CRC {key}", value, "") for key, value in crc.items()]
    return _table(("name", "value", "note"), rows)


def flags_table() -> str:
    """Header flag bits and decoder drop reasons."""
    flag_rows = [(f"0x{int(f):02X}", f"`{f.name}`") for f in Flags]
    drops = ", ".join(f"`{d.name}`" for d in DropReason)
    return _table(("bit value", "flag"), flag_rows) + f"\n\nDecoder drop reasons: {drops}.\n"


def generated_sections() -> dict[str, str]:
    """Marker name -> Markdown, for every generated block of docs/PROTOCOL.md."""
    return {
        "constants": constants_table() + "\n",
        "flags": flags_table(),
        "message-index": message_index_table() + "\n",
        "messages": message_sections(),
        "errors": error_table() + "\n",
        "enums": enum_tables(),
        "log-record": log_record_table() + "\n",
        "audit": audit_table(),
        "stage-summary": stage_summary_table() + "\n",
    }
