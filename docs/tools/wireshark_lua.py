"""The Wireshark dissector for ITBP, rendered as Lua from the message catalog.

Why: a dissector written by hand drifts from the protocol the first time a field is added (the
MAVLink one broke on new Wireshark versions and on signed packets).  This module renders the whole
dissector from ``CATALOG``, the enums, the error table and the framing constants, so every message
and every field (with its unit and meaning from ``protocol.field_meanings``) is in it by construction.  Pure
function, no I/O: ``docs/tools/regen_wireshark.py`` writes the result to
``programmer/wireshark/itbp.lua`` (shipped as package data) and a test compares the two.

What the Lua does with one packet (one delimited COBS run, see ``protocol.pcapng``): decodes COBS
(a "COBS-decoded" data source in Wireshark), checks the CRC-32C (bad: an expert error, the frame
still shown), shows the header, flags, seq, the session id, counter and tag of an authenticated
frame (the tag is shown, never verified: a capture does not carry the keys), then the payload by
the catalog: request, event, or reply (status by name; the reason text of a refusal; the body of a
success). The Lua keeps to the long-standing API (Proto, ProtoField, ProtoExpert, ByteArray, the
wtap_encap table) and to Lua 5.2 (``bit32``, or 5.3+ operators where it is gone); tested with
tshark 4.0.
"""

from __future__ import annotations

import enum
from typing import Any

import construct as c
from wireshark_engine import LUA_ENGINE

from protocol.catalog import CATALOG, MessageKind, MsgType
from protocol.errors import ErrorCode
from protocol.field_meanings import ENUM_FIELDS, field_meaning
from protocol.framing import (
    AUTH_PREFIX_SIZE,
    CRC_SIZE,
    HEADER_SIZE,
    MAX_PAYLOAD,
    PROTOCOL_VERSION,
    TAG_SIZE,
    Flags,
)
from protocol.layouts import prefixed_array_parts, switch_key
from protocol.log_record import LogRecordLayout
from protocol.pcapng import LINKTYPE_USER0

#: Short units for the value's label, read from the field name's suffix (longest first).
UNITS: tuple[tuple[str, str], ...] = (
    ("_nl_per_day", "nL/day"),
    ("_mcg_per_ml", "mcg/mL"),
    ("_minute", "min after midnight"),
    ("_ppm", "ppm"),
    ("_nl", "nL"),
    ("_ng", "ng"),
    ("_mm", "mm"),
    ("_s", "s"),
)
#: Field names whose unit is not their suffix's.
UNIT_OVERRIDES: dict[str, str] = {"daily_dose_ng": "ng/day", "dose_ng": "ng"}
#: Pump-time fields (shown with the date; 0 = none) other than those ending in ``_time``.
TIME_FIELDS = frozenset({"time", "raised_at", "silenced_until"})

_INTS = {
    ">B": ("uint8", 1),
    ">H": ("uint16", 2),
    ">I": ("uint32", 4),
    ">L": ("uint32", 4),
    ">Q": ("uint64", 8),
    ">i": ("int32", 4),
    ">l": ("int32", 4),
}

#: A LOG_READ record is 24 opaque bytes in the catalog; the dissector shows its fields.
_LOG_RECORDS = (MsgType.LOG_READ, "reply", "records")


def unit_of(name: str) -> str:
    """The short unit shown after a value ('' if the name has none)."""
    if name in UNIT_OVERRIDES:
        return UNIT_OVERRIDES[name]
    if name.endswith("_time") or name in TIME_FIELDS:
        return ""
    for suffix, unit in UNITS:
        if name.endswith(suffix):
            return unit
    return ""


def is_time(name: str) -> bool:
    return name.endswith("_time") or name in TIME_FIELDS


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


class _Fields:
    """ProtoField declarations, one per distinct abbreviation, in order of first use."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: list[str] = []
        self._by_abbrev: dict[str, str] = {}

    def add(self, abbrev: str, declaration: str) -> str:
        var = self._by_abbrev.get(abbrev)
        if var is None:
            var = f"F[{len(self.names) + 1}]"
            self._by_abbrev[abbrev] = var
            self.names.append(abbrev)
            self.lines.append(f"{var} = {declaration}")
        return var


def _enum_table_name(enum_type: type[enum.Enum]) -> str:
    return f"VS_{enum_type.__name__.upper()}"


def _value_table(enum_type: type[enum.Enum]) -> str:
    items = ", ".join(f"[{int(m.value)}] = {_lua_string(m.name)}" for m in enum_type)
    return f"local {_enum_table_name(enum_type)} = {{ {items} }}"


class _Renderer:
    def __init__(self) -> None:
        self.fields = _Fields()
        self.enums: dict[str, type[enum.Enum]] = {}

    def leaf(self, node: Any, abbrev: str, name: str, meaning: str) -> str:
        """A Lua descriptor of one leaf field."""
        enum_type = ENUM_FIELDS.get(name.removesuffix("[]"))
        if ".records." in abbrev and name == "flags":  # a log record's flags are reserved
            enum_type = None
        if name == "alarms[]":
            enum_type = ENUM_FIELDS["alarm"]
        desc = _lua_string(meaning or field_meaning(name))
        label = _lua_string(name.removesuffix("[]"))
        extra = ""
        if isinstance(node, c.FormatField):
            lua_type, size = _INTS[node.fmtstr]
            valuestring = "nil"
            base = "base.DEC"
            if enum_type is not None and issubclass(enum_type, enum.Flag):
                self.enums[enum_type.__name__] = enum_type
                base = "base.HEX"
                extra = f", bits = {_enum_table_name(enum_type)}"
            elif enum_type is not None:
                self.enums[enum_type.__name__] = enum_type
                valuestring = _enum_table_name(enum_type)
            elif name in {"session_id", "check"}:
                base = "base.HEX"
            var = self.fields.add(
                abbrev,
                f"ProtoField.{lua_type}({_lua_string(abbrev)}, {label}, {base}, {valuestring}, nil, {desc})",
            )
            unit = unit_of(name)
            if unit:
                extra += f", unit = {_lua_string(unit)}"
            if is_time(name):
                extra += ", time = true"
            if lua_type == "int32":
                extra += ", signed = true"
            return f'{{ k = "int", name = {label}, size = {size}, f = {var}{extra} }}'
        if node is c.Flag:
            var = self.fields.add(
                abbrev,
                f"ProtoField.bool({_lua_string(abbrev)}, {label}, base.NONE, nil, nil, {desc})",
            )
            return f'{{ k = "bool", f = {var} }}'
        if isinstance(node, c.Bytes):
            var = self.fields.add(
                abbrev, f"ProtoField.bytes({_lua_string(abbrev)}, {label}, base.NONE, {desc})"
            )
            return f'{{ k = "bytes", size = {int(node.length)}, f = {var} }}'
        if isinstance(node, c.StringEncoded):
            var = self.fields.add(
                abbrev, f"ProtoField.string({_lua_string(abbrev)}, {label}, base.UNICODE, {desc})"
            )
            return f'{{ k = "text", f = {var} }}'
        if node is c.GreedyBytes:
            var = self.fields.add(
                abbrev, f"ProtoField.bytes({_lua_string(abbrev)}, {label}, base.NONE, {desc})"
            )
            return f'{{ k = "rest", f = {var} }}'
        raise TypeError(f"no Lua rendering for {node!r} ({abbrev})")

    def struct(self, layout: Any, abbrev: str, context: tuple[MsgType, str, str]) -> str:
        """A Lua list of descriptors for the named fields of a construct Struct."""
        items = []
        for sub in layout.subcons:
            if sub is c.Terminated or sub.name is None:
                continue
            items.append(self.node(sub.subcon, f"{abbrev}.{sub.name}", sub.name, context))
        return "{ " + ", ".join(items) + " }"

    def node(self, node: Any, abbrev: str, name: str, context: tuple[MsgType, str, str]) -> str:
        msg, part, path = context
        here = (msg, part, f"{path}{name}")
        meaning = field_meaning(name) or field_meaning(name.removesuffix("[]"))
        array = prefixed_array_parts(node)
        if array is not None or isinstance(node, c.Array):
            if array is not None:
                count_node, item = array
                count = f"count = {_INTS[count_node.fmtstr][1]}"
            else:
                item = node.subcon
                count = f"fixed = {int(node.count)}"
            tree = self.fields.add(
                abbrev,
                f"ProtoField.none({_lua_string(abbrev)}, {_lua_string(name)}, {_lua_string(meaning)})",
            )
            if here == _LOG_RECORDS:
                item_desc = (
                    f'{{ k = "struct", label = "record", '
                    f"items = {self.struct(LogRecordLayout, abbrev, (msg, part, ''))} }}"
                )
            elif isinstance(item, c.Struct):
                item_desc = (
                    f'{{ k = "struct", label = {_lua_string(name)}, '
                    f"items = {self.struct(item, abbrev, (msg, part, f'{path}{name}[].'))} }}"
                )
            else:
                item_desc = self.node(item, f"{abbrev}.item", f"{name}[]", context)
            return f'{{ k = "array", {count}, f = {tree}, item = {item_desc} }}'
        if isinstance(node, c.Switch):
            key = switch_key(node)
            key_enum = ENUM_FIELDS.get(key)
            cases = []
            for value, case in node.cases.items():
                label = key_enum(value).name.lower() if key_enum is not None else str(value)
                cases.append(
                    f"[{int(value)}] = "
                    + self.struct(case, f"{abbrev}.{label}", (msg, part, f"{path}{name}."))
                )
            return f'{{ k = "switch", key = {_lua_string(key)}, cases = {{ {", ".join(cases)} }} }}'
        if isinstance(node, c.Struct):
            tree = self.fields.add(
                abbrev,
                f"ProtoField.none({_lua_string(abbrev)}, {_lua_string(name)}, {_lua_string(meaning)})",
            )
            items = self.struct(node, abbrev, (msg, part, f"{path}{name}."))
            return f'{{ k = "struct", label = {_lua_string(name)}, f = {tree}, items = {items} }}'
        return self.leaf(node, abbrev, name, meaning)


def message_abbrev(msg: MsgType, part: str) -> str:
    """The filter prefix of a message's fields, e.g. ``itbp.status.reply``."""
    return f"itbp.{msg.name.lower()}.{part}"


def render_dissector() -> str:
    """The complete Lua dissector."""
    r = _Renderer()
    messages = []
    for spec in sorted(CATALOG.values(), key=lambda s: int(s.msg)):
        parts = [("request", spec.request)] if spec.kind is MessageKind.REQUEST else []
        if spec.kind is MessageKind.EVENT:
            parts = [("event", spec.request)]
        else:
            parts.append(("reply", spec.reply))
        rendered = []
        for part, layout in parts:
            items = r.struct(layout, message_abbrev(spec.msg, part), (spec.msg, part, ""))
            rendered.append(f"{part} = {items}")
        streamed = "true" if spec.streamed else "false"
        auth = "true" if spec.auth else "false"
        messages.append(
            f"MSG[{int(spec.msg)}] = {{ name = {_lua_string(spec.name)}, "
            f"summary = {_lua_string(spec.summary)}, auth = {auth}, streamed = {streamed}, "
            + ", ".join(rendered)
            + " }"
        )
    enum_tables = [_value_table(MsgType), _value_table(ErrorCode)]
    enum_tables += [_value_table(e) for name, e in sorted(r.enums.items()) if name != "MsgType"]
    enum_tables = list(dict.fromkeys(enum_tables))
    constants = {
        "PROTOCOL_VERSION": PROTOCOL_VERSION,
        "HEADER_SIZE": HEADER_SIZE,
        "AUTH_PREFIX_SIZE": AUTH_PREFIX_SIZE,
        "TAG_SIZE": TAG_SIZE,
        "CRC_SIZE": CRC_SIZE,
        "MAX_PAYLOAD": MAX_PAYLOAD,
        "LINKTYPE": LINKTYPE_USER0,
        "FLAG_AUTH": int(Flags.AUTH),
        "FLAG_RESPONSE": int(Flags.RESPONSE),
        "FLAG_EVENT": int(Flags.EVENT),
        "FLAG_MORE": int(Flags.MORE),
    }
    head = "\n".join(f"local {k} = {v}" for k, v in constants.items())
    return (
        _PREAMBLE
        + head
        + "\n\n"
        + "\n".join(enum_tables)
        + "\n\nlocal F = {}\n"
        + "\n".join(r.fields.lines)
        + "\n\nlocal MSG = {}\n"
        + "\n".join(messages)
        + "\n"
        + LUA_ENGINE
    )


_PREAMBLE = """\
-- ITBP (intrathecal pump telemetry protocol) dissector for Wireshark.
-- GENERATED from protocol/catalog.py by docs/tools/wireshark_lua.py: do not edit; run
-- docs/tools/regen_wireshark.py.  Load it with:
--   wireshark -X lua_script:itbp.lua capture.pcapng     (or copy it to the personal plugins folder)
-- Packets: one COBS run with its 0x00 delimiter per packet, link type USER0 (147).
-- Direction: pcapng epb_flags (1 inbound = from the pump, 2 outbound = to the pump).
-- Tags are shown, not verified: a capture does not carry the session keys.

"""
