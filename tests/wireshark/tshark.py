"""Running the real tshark with the generated dissector, and what the codec expects it to print.

Why: the dissector is Lua that only Wireshark runs; the only proof that it shows every field right
is Wireshark itself.  ``pdml_fields`` runs ``tshark -T pdml`` and lists every ITBP field it printed,
in order; ``expected_fields`` lists the same from the Python framing and codec (a decoder that
shares nothing with the Lua but the catalog), so a test compares the two lists whole.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import construct as c
from cobs import cobs

from programmer.commands.trace_cmd import dissector_path
from protocol import decode_reply, decode_request
from protocol.catalog import CATALOG, Direction, MsgType
from protocol.crc import crc32c
from protocol.doc_tables import ENUM_FIELDS, _prefixed_array_parts, _switch_key
from protocol.framing import Flags, parse_frame
from protocol.layouts import LogRecordLayout
from protocol.pcapng import PacketDirection
from protocol.wireshark_lua import message_abbrev

TSHARK = shutil.which("tshark")
LUA = dissector_path()

#: (abbrev, value): ints, bools, bytes or str
Field = tuple[str, Any]


def run_tshark(capture: Path, *args: str) -> str:
    assert TSHARK is not None
    done = subprocess.run(
        [TSHARK, "-r", str(capture), "-X", f"lua_script:{LUA}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "TZ": "UTC", "LC_ALL": "C"},
    )
    assert done.returncode == 0, done.stderr
    lua_errors = [line for line in done.stderr.splitlines() if "Lua" in line or "lua" in line]
    assert not lua_errors, done.stderr
    return done.stdout


def tshark_version() -> str:
    assert TSHARK is not None
    out = subprocess.run([TSHARK, "--version"], capture_output=True, text=True, timeout=30)
    return out.stdout.splitlines()[0]


def _show(field: ET.Element) -> Any:
    return field.get("show", ""), field.get("value", "")


def pdml_fields(capture: Path) -> list[list[tuple[str, str, str]]]:
    """Per packet, every ``itbp.*`` field tshark printed: (name, show, value), in tree order.
    Subtree headers without a value (``ProtoField.none``: arrays, structs) are left out."""
    root = ET.fromstring(run_tshark(capture, "-T", "pdml"))
    packets = []
    for packet in root.iter("packet"):
        rows = []
        for proto in packet.iter("proto"):
            if proto.get("name") != "itbp":
                continue
            for field in proto.iter("field"):
                name = field.get("name", "")
                if not name.startswith("itbp.") or (
                    field.get("show") == "" and field.get("value") == ""
                ):
                    continue
                rows.append((name, field.get("show", ""), field.get("value", "")))
        packets.append(rows)
    return packets


def matches(expected: Any, show: str, value: str) -> bool:
    """Does one printed field say ``expected``?"""
    if isinstance(expected, bool):
        return show == ("1" if expected else "0")
    if isinstance(expected, int):
        return int(show, 0) == expected
    if isinstance(expected, bytes):
        return value == expected.hex()
    return show == expected


# -- what the Python side says ---------------------------------------------------------------------


def _walk(
    layout: Any, value: dict[str, Any], abbrev: str, here: tuple[MsgType, str]
) -> list[Field]:
    out: list[Field] = []
    for sub in layout.subcons:
        if sub is c.Terminated or sub.name is None:
            continue
        out += _node(sub.subcon, value[sub.name], f"{abbrev}.{sub.name}", sub.name, here, value)
    return out


def _node(
    node: Any, value: Any, abbrev: str, name: str, here: tuple[MsgType, str], parent: dict[str, Any]
) -> list[Field]:
    array = _prefixed_array_parts(node)
    if array is not None or isinstance(node, c.Array):
        item = array[1] if array is not None else node.subcon
        out: list[Field] = []
        for entry in value:
            if here == (MsgType.LOG_READ, "reply") and name == "records":
                parsed = dict(LogRecordLayout.parse(entry))
                out += _walk(LogRecordLayout, parsed, abbrev, here)
            elif isinstance(item, c.Struct):
                out += _walk(item, entry, abbrev, here)
            else:
                out += _node(item, entry, f"{abbrev}.item", f"{name}[]", here, parent)
        return out
    if isinstance(node, c.Switch):
        key = _switch_key(node)
        kind = ENUM_FIELDS[key](parent[key]).name.lower()
        return _walk(node.cases[parent[key]], value, f"{abbrev}.{kind}", here)
    if isinstance(node, c.Struct):
        return _walk(node, value, abbrev, here)
    return [(abbrev, value)]


def expected_fields(run: bytes, direction: PacketDirection) -> list[Field]:
    """Every field the dissector should print for one delimited run, from the Python codec."""
    out: list[Field] = [("itbp.wire_len", len(run)), ("itbp.delimited", run.endswith(b"\x00"))]
    names = {PacketDirection.TO_PUMP: "to_pump", PacketDirection.FROM_PUMP: "from_pump"}
    try:
        decoded = cobs.decode(run.rstrip(b"\x00"))
    except cobs.DecodeError:
        return [*out, ("itbp.dropped", "BAD_COBS"), ("itbp.direction", names[direction])]
    crc = int.from_bytes(decoded[-4:], "big")
    computed = crc32c(decoded[:-4])
    good = crc == computed
    # the Python framer refuses a bad CRC: parse the rest as if it were good, to compare fields
    frame = parse_frame(decoded if good else decoded[:-4] + computed.to_bytes(4, "big"))
    kind = (
        "event"
        if frame.flags & Flags.EVENT
        else "reply"
        if frame.flags & Flags.RESPONSE
        else "request"
    )
    out += [("itbp.direction", names[direction]), ("itbp.kind", kind)]
    flags = int(frame.flags)
    out += [
        ("itbp.version", frame.version),
        ("itbp.flags", flags),
        ("itbp.flags.auth", bool(flags & Flags.AUTH)),
        ("itbp.flags.response", bool(flags & Flags.RESPONSE)),
        ("itbp.flags.event", bool(flags & Flags.EVENT)),
        ("itbp.flags.more", bool(flags & Flags.MORE)),
        ("itbp.flags.reserved", flags & 0xF0),
        ("itbp.msg_type", frame.msg_type),
        ("itbp.seq", frame.seq),
        ("itbp.payload_len", len(frame.payload)),
    ]
    if frame.flags & Flags.AUTH:
        out += [("itbp.session_id", frame.session_id), ("itbp.counter", frame.counter)]
    if not good:
        out.append(("itbp.dropped", "BAD_CRC"))
    if frame.payload:
        out.append(("itbp.payload", frame.payload))
    msg = MsgType(frame.msg_type)
    spec = CATALOG[msg]
    if kind == "reply":
        status, body, reason = decode_reply(msg, frame.payload)
        out.append(("itbp.status", status))
        if status:
            out.append(("itbp.reason", reason))
        else:
            out += _walk(spec.reply, body, message_abbrev(msg, "reply"), (msg, "reply"))
    else:
        part = "event" if spec.direction is Direction.EVENT else "request"
        body = decode_request(msg, frame.payload)
        out += _walk(spec.request, body, message_abbrev(msg, part), (msg, part))
    if frame.tag is not None:
        out.append(("itbp.tag", frame.tag))
    out += [("itbp.crc", crc), ("itbp.crc.computed", computed), ("itbp.crc.good", good)]
    return out
