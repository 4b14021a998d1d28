"""Running the real tshark with the generated dissector, and what the codec expects it to print.

Why: the dissector is Lua that only Wireshark runs; the only proof that it shows every field right
is Wireshark itself.  ``pdml_fields`` runs ``tshark -T pdml`` and lists every ITBP field it printed,
in order; ``expected_fields`` lists the same from the Python framing and codec (a decoder that
shares nothing with the Lua but the catalog), so a test compares the two lists whole.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import construct as c
from cobs import cobs
from wireshark_lua import message_abbrev

from programmer.commands.trace_cmd import dissector_path
from protocol import decode_reply, decode_request, encode_frame
from protocol.catalog import CATALOG, MessageKind, MsgType
from protocol.crc import crc32c
from protocol.field_meanings import ENUM_FIELDS
from protocol.framing import Flags, parse_frame
from protocol.layouts import prefixed_array_parts, switch_key
from protocol.log_record import LogRecordLayout
from protocol.pcapng import PacketDirection

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
    return bool(show == expected)


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
    array = prefixed_array_parts(node)
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
        key = switch_key(node)
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
        out.append(("itbp.dropped", "BAD_COBS"))
        if direction is not PacketDirection.UNKNOWN:
            out.append(("itbp.direction", names[direction]))
        return out
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
    # a capture without directions: the dissector infers them from the flags
    inferred = "to_pump" if kind == "request" else "from_pump"
    out += [("itbp.direction", names.get(direction, inferred)), ("itbp.kind", kind)]
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
        part = "event" if spec.kind is MessageKind.EVENT else "request"
        body = decode_request(msg, frame.payload)
        out += _walk(spec.request, body, message_abbrev(msg, part), (msg, part))
    if frame.tag is not None:
        out.append(("itbp.tag", frame.tag))
    out += [("itbp.crc", crc), ("itbp.crc.computed", computed), ("itbp.crc.good", good)]
    return out


# -- a frame for every message, every switch case ------------------------------------------------


class _Samples:
    """Distinct, valid values for every field of a layout (a new value at each call)."""

    def __init__(self) -> None:
        self.n = 0

    def _next(self) -> int:
        self.n += 1
        return self.n

    def body(self, layout: Any, case: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for sub in layout.subcons:
            if sub is c.Terminated or sub.name is None:
                continue
            if isinstance(sub.subcon, c.Switch):
                key = switch_key(sub.subcon)
                keys = sorted(sub.subcon.cases)
                out[key] = keys[case % len(keys)]
                out[sub.name] = self.body(sub.subcon.cases[out[key]], case)
            elif sub.name not in out:
                out[sub.name] = self.value(sub.subcon, case)
        return out

    def value(self, node: Any, case: int) -> Any:
        array = prefixed_array_parts(node)
        if array is not None:
            return [self.value(array[1], case) for _ in range(2)]
        if isinstance(node, c.Array):
            return [self.value(node.subcon, case) % 2 for _ in range(int(node.count))]
        if isinstance(node, c.Struct):
            return self.body(node, case)
        if isinstance(node, c.FormatField):
            n = self._next()
            return {
                ">B": n % 200 + 1,
                ">H": 1000 + n,
                ">I": 1_767_571_200 + n,
                ">Q": 0xF234_5678_9ABC_DE00 + n,  # above 2**63: uint64 shown exactly
                ">i": -150_000 - n,
            }[node.fmtstr.replace("L", "I").replace("l", "i")]
        if node is c.Flag:
            return self._next() % 2 == 0
        if isinstance(node, c.Bytes):
            start = self._next()
            return bytes((start + i) % 256 for i in range(int(node.length)))
        if isinstance(node, c.StringEncoded):
            return f"VP20-é{self._next()}"
        if node is c.GreedyBytes:
            return b"\x00\x01\x02"
        raise TypeError(node)


def _cases(layout: Any) -> int:
    count = 1
    for sub in getattr(layout, "subcons", []):
        inner = getattr(sub, "subcon", None)
        if isinstance(inner, c.Switch):
            count = max(count, len(inner.cases))
        elif isinstance(inner, c.Struct):
            count = max(count, _cases(inner))
    return count


def every_message_frames() -> list[tuple[bytes, PacketDirection]]:
    """Wire runs of every message: its request (or event) and success reply in every switch
    case, and a refusal; authenticated where the catalog says so (with a made-up key)."""
    from protocol import encode_reply, encode_request
    from protocol.errors import ErrorCode

    samples, key, counter = _Samples(), bytes(range(32)), 0
    out: list[tuple[bytes, PacketDirection]] = []

    def frame(msg: MsgType, seq: int, payload: bytes, flags: Flags, auth: bool) -> bytes:
        nonlocal counter
        if not auth:
            return encode_frame(msg, seq, payload, flags)
        counter += 1
        return encode_frame(
            msg, seq, payload, flags, session_id=0x5E55_1D01, counter=counter, tag_key=key
        )

    for seq, spec in enumerate(sorted(CATALOG.values(), key=lambda s: int(s.msg)), 1):
        if spec.kind is MessageKind.EVENT:
            for case in range(_cases(spec.request)):
                payload = encode_request(spec.msg, samples.body(spec.request, case))
                wire = frame(spec.msg, seq, payload, Flags.EVENT, True)
                out.append((wire, PacketDirection.FROM_PUMP))
            continue
        for case in range(max(_cases(spec.request), _cases(spec.reply))):
            request = encode_request(spec.msg, samples.body(spec.request, case))
            out.append(
                (frame(spec.msg, seq, request, Flags(0), spec.auth), PacketDirection.TO_PUMP)
            )
            reply = encode_reply(spec.msg, ErrorCode.OK, samples.body(spec.reply, case))
            more = Flags.MORE if spec.streamed and case == 0 else Flags(0)
            wire = frame(spec.msg, seq, reply, Flags.RESPONSE | more, spec.auth)
            out.append((wire, PacketDirection.FROM_PUMP))
        refusal = encode_reply(spec.msg, ErrorCode.MALFORMED_PAYLOAD, None, "malformed: é")
        out.append(
            (frame(spec.msg, seq, refusal, Flags.RESPONSE, False), PacketDirection.FROM_PUMP)
        )
    return out


def read_pcapng(path: Path) -> tuple[int, list[tuple[int, bytes, PacketDirection]]]:
    """(link type, [(timestamp us, data, direction)]) of a little-endian pcapng file."""
    data = path.read_bytes()
    offset, linktype, packets = 0, -1, []
    while offset < len(data):
        block_type, length = struct.unpack_from("<II", data, offset)
        body = data[offset + 8 : offset + length - 4]
        if block_type == 1:
            linktype = struct.unpack_from("<H", body)[0]
        elif block_type == 6:
            _iface, high, low, captured, _orig = struct.unpack_from("<IIIII", body)
            packet = body[20 : 20 + captured]
            options = body[20 + captured + (-captured % 4) :]
            direction = PacketDirection.UNKNOWN
            while options:
                code, size = struct.unpack_from("<HH", options)
                if code == 2:
                    direction = PacketDirection(struct.unpack_from("<I", options, 4)[0] & 3)
                if code == 0:
                    break
                options = options[4 + size + (-size % 4) :]
            packets.append(((high << 32) | low, packet, direction))
        offset += length
    return linktype, packets
