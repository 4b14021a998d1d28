"""Hex examples and key-derivation vectors for docs/PROTOCOL.md, made by the real endpoints.

Why: an example typed by hand is an example nobody checked.  This module runs one complete
programmer <-> pump conversation through the real ``ProgrammerEndpoint`` and ``DeviceEndpoint``
with fixed private keys, nonces and session id (a scripted entropy source), records every frame
that crossed the line, and renders each as Markdown: the frame before COBS (annotated), the wire
bytes, and a table of its decoded fields.  tests/protocol/test_protocol_doc.py decodes what ends
up in the document, independently of this module.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cobs import cobs
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from protocol import (
    NEED_DATA,
    Capability,
    DeviceEndpoint,
    DeviceInfo,
    Flags,
    FrameDecoder,
    MsgType,
    Notification,
    ProgrammerEndpoint,
    Reply,
    Request,
    Role,
    decode_reply,
    decode_request,
)
from protocol.codec import plain
from protocol.crypto import PairingInitiator, SessionKeys, pairing_transcript, session_open_proof
from protocol.enums import ChangeKind, LogEvent
from protocol.field_meanings import ENUM_FIELDS
from protocol.framing import AUTH_PREFIX_SIZE, CRC_SIZE, HEADER_SIZE, TAG_SIZE
from protocol.log_record import LogRecordLayout, encode_record
from protocol.units import DAY_S

NOW = 1_767_571_200  # 2026-01-05 00:00:00 pump time
SERIAL = "VP20-000042"
ROLE = Role.CLINICIAN
PROGRAMMER_PRIVATE = bytes(range(0xA0, 0xC0))
DEVICE_PRIVATE = bytes(range(0xC0, 0xE0))
PAIR_NONCE_P = bytes(range(0x10, 0x20))
PAIR_NONCE_D = bytes(range(0x20, 0x30))
SESSION_ID = 0x5E55_1D01
OPEN_NONCE_P = bytes(range(0x30, 0x40))
OPEN_NONCE_D = bytes(range(0x40, 0x50))


class ScriptedEntropy:
    """The pump's entropy source, replaying fixed bytes in the order the pump asks for them."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = deque(chunks)

    def __call__(self, size: int) -> bytes:
        chunk = self._chunks.popleft()
        assert len(chunk) == size, f"pump asked for {size} bytes, script has {len(chunk)}"
        return chunk


@dataclass(frozen=True)
class Example:
    name: str
    title: str
    wire: bytes
    key_name: str | None = None  # "key_p2d" or "key_d2p" for authenticated frames
    key: bytes | None = None
    note: str = ""


STATUS_BODY: dict[str, Any] = {
    "pump_time": NOW,
    "mode": 1,
    "prescription_version": 3,
    "daily_dose_ng": 400_000,
    "rate_nl_per_day": 800_000,
    "concentration_mcg_per_ml": 500,
    "reservoir_nl": 18_000_000,
    "reservoir_capacity_nl": 20_000_000,
    "low_reservoir_nl": 2_000_000,
    "low_reservoir_time": NOW + 20 * DAY_S,
    "empty_time": NOW + 22 * DAY_S + 43_200,
    "battery_ppm": 990_000,
    "eri_time": NOW + 6 * 365 * DAY_S,
    "eos_time": NOW + 6 * 365 * DAY_S + 90 * DAY_S,
    "replace_by_time": NOW + 6 * 365 * DAY_S,
    "delivered_ng": 1_000_000,
    "delivered_nl": 2_000_000,
    "strokes": 8_000,
    "bolus_mode": 0,
    "bolus_remaining_ng": 0,
    "bolus_end_time": 0,
    "critical_interval_s": 600,
    "patient_bolus_enabled": False,
    "catheter_length_mm": 0xFFFF,
    "alarms": [],
    "delivering": True,
    "patient_bolus_dose_ng": 0,
    "patient_bolus_duration_s": 0,
    "patient_bolus_max_per_day": 0,
    "patient_bolus_lockout_s": 0,
    "patient_boluses_given": 0,
    "patient_boluses_refused": 0,
    "patient_boluses_left": 0,
    "patient_bolus_lockout_end_time": 0,
    **{f"day_total_{day}_ng": 400_000 for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
    "utc_offset_s": 3600,
    "clock_drift_warning_s": 300,
    "projected_replace_by_time": NOW + 6 * 365 * DAY_S + 90 * DAY_S,
}


class _Conversation:
    """Both endpoints, a scripted pump application, and a recorder of every frame sent."""

    def __init__(self) -> None:
        entropy = ScriptedEntropy(
            [
                DEVICE_PRIVATE,
                PAIR_NONCE_D,
                SESSION_ID.to_bytes(4, "big"),
                OPEN_NONCE_D,
            ]
        )
        info = DeviceInfo("VP-20", SERIAL, "1.0.0", Capability(0x7F))
        self.device = DeviceEndpoint(info, entropy)
        self.programmer = ProgrammerEndpoint()
        self.examples: list[Example] = []
        self.keys: SessionKeys | None = None

    def _record(self, name: str, title: str, wire: bytes, direction: str, note: str) -> None:
        key_name = key = None
        if self.keys is not None and wire and _is_auth(wire):
            key_name = "key_p2d" if direction == "p2d" else "key_d2p"
            key = self.keys.key_p2d if direction == "p2d" else self.keys.key_d2p
        self.examples.append(Example(name, title, wire, key_name, key, note))

    def exchange(
        self, name: str, title: str, wire: bytes, replies: list[Reply] | None = None, note: str = ""
    ) -> list[bytes]:
        """Send ``wire`` to the pump; record it and every frame the pump sends back."""
        self._record(f"{name}-request", f"{title}: request", wire, "p2d", note)
        self.device.receive_data(wire)
        out: list[bytes] = []
        while (event := self.device.next_event(NOW)) is not NEED_DATA:
            if isinstance(event, Request):
                assert replies, f"the script has no answer for {event.msg.name}"
                out += [self.device.data_to_send()] + [self.device.send(r) for r in replies]
        out.append(self.device.data_to_send())
        frames = [frame + b"\x00" for blob in out if blob for frame in blob.split(b"\x00")[:-1]]
        for i, frame in enumerate(frames):
            suffix = f"-{i + 1}" if len(frames) > 1 else ""
            self._record(f"{name}-reply{suffix}", f"{title}: reply{suffix}", frame, "d2p", "")
            self.programmer.receive_data(frame)
        while self.programmer.next_event() is not NEED_DATA:
            pass
        return frames


def _is_auth(wire: bytes) -> bool:
    return bool(cobs.decode(wire[:-1])[1] & Flags.AUTH)


def build_examples() -> list[Example]:
    """Run the conversation and return its frames in order."""
    conv = _Conversation()
    prog, dev = conv.programmer, conv.device
    conv.exchange("hello", "HELLO", prog.send(Request(MsgType.HELLO, {}, 1)))
    conv.exchange(
        "status-unauthenticated",
        "STATUS without a session",
        _plain_frame(MsgType.STATUS, 2),
        note="refused with NOT_AUTHENTICATED in an unauthenticated error reply",
    )
    dev.open_pairing_window(NOW)
    conv.exchange(
        "pair-begin", "PAIR_BEGIN", prog.begin_pairing(ROLE, PROGRAMMER_PRIVATE, PAIR_NONCE_P, 3)
    )
    conv.exchange(
        "pair-confirm-waiting",
        "PAIR_CONFIRM before the code is accepted at the pump",
        prog.confirm_pairing(4),
        note="the proof verified; PAIRING_AWAITING_CONFIRMATION until the person at the pump "
        "accepts the code: the programmer sends PAIR_CONFIRM again (a new seq)",
    )
    pending = dev.pending_pairing(NOW)
    assert pending is not None
    dev.accept_pairing(pending.code, NOW)  # the person at the pump
    conv.exchange("pair-confirm", "PAIR_CONFIRM", prog.confirm_pairing(5))
    ((key_id, pairing),) = dev.pairings.items()
    conv.exchange(
        "session-open",
        "SESSION_OPEN",
        prog.open_session(key_id, pairing.key, OPEN_NONCE_P, 6),
    )
    conv.keys = SessionKeys.derive(pairing.key, SESSION_ID, OPEN_NONCE_P, OPEN_NONCE_D)
    conv.exchange(
        "status",
        "STATUS",
        prog.send(Request(MsgType.STATUS, {}, 7)),
        [Reply(MsgType.STATUS, 7, 0, STATUS_BODY)],
    )
    change = {"kind": int(ChangeKind.CONTINUOUS), "params": {"daily_dose_ng": 400_000}}
    stage = Request(MsgType.STAGE_PRESCRIPTION, {"request_id": 0x1001, "change": change}, 8)
    staged_hash = hashlib.sha256(repr(change).encode()).digest()[:16]
    summary = {
        "staged_hash": staged_hash,
        "active_version": 3,
        "daily_dose_ng": 400_000,
        "rate_nl_per_day": 800_000,
        "duration_s": 0,
        "next_refill_time": NOW + 20 * DAY_S,
        "low_reservoir_time": NOW + 20 * DAY_S,
        "warnings": 0,
        "bolus_dose_ng": 0,
        "to_patient_ng": 0,
        "baseline_ng": 400_000,
        "change_permille": 0,
        "titration_limit_pct": 30,
        "soft_limit_ng": 1_500_000,
        "hard_limit_ng": 3_000_000,
        "worst_day_ng": 400_000,
    }
    conv.exchange(
        "stage-continuous",
        "STAGE_PRESCRIPTION (continuous 400 mcg/day)",
        prog.send(stage),
        [Reply(MsgType.STAGE_PRESCRIPTION, 8, 0, summary)],
    )
    commit = {"request_id": 0x1002, "staged_hash": staged_hash, "active_version": 3}
    conv.exchange(
        "commit",
        "COMMIT_PRESCRIPTION",
        prog.send(Request(MsgType.COMMIT_PRESCRIPTION, {**commit, "ack_warnings": 0}, 9)),
        [Reply(MsgType.COMMIT_PRESCRIPTION, 9, 0, {"version": 4})],
    )
    records = [
        encode_record(41, NOW - 3_600, LogEvent.REFILL, 18_000_000, -150_000),
        encode_record(42, NOW - 600, LogEvent.THERAPY_CHANGED, int(ChangeKind.CONTINUOUS), 400_000),
        encode_record(43, NOW, LogEvent.THERAPY_CHANGED, int(ChangeKind.CONTINUOUS), 400_000),
    ]
    conv.exchange(
        "log-read",
        "LOG_READ",
        prog.send(Request(MsgType.LOG_READ, {"log": 1, "cursor": 41, "max_count": 3}, 10)),
        [Reply(MsgType.LOG_READ, 10, 0, {"records": records, "next_cursor": 44})],
    )
    alarm = {"alarm": 1, "raised": True, "critical": False, "time": NOW + 60}
    wire = dev.send(Notification(MsgType.ALARM_EVENT, 0, alarm))
    conv._record("alarm-event", "ALARM_EVENT (low reservoir raised): event", wire, "d2p", "")
    return conv.examples


def _plain_frame(msg: MsgType, seq: int) -> bytes:
    from protocol import encode_frame

    return encode_frame(msg, seq, b"")


# -- key-derivation vectors ----------------------------------------------------------------------


def pairing_vectors() -> list[tuple[str, Any]]:
    """Every input and intermediate value of the example pairing."""
    a_pub = _public(PROGRAMMER_PRIVATE)
    b_pub = _public(DEVICE_PRIVATE)
    secrets = PairingInitiator(PROGRAMMER_PRIVATE, PAIR_NONCE_P, int(ROLE)).complete(
        b_pub, PAIR_NONCE_D, SERIAL
    )
    shared = X25519PrivateKey.from_private_bytes(PROGRAMMER_PRIVATE).exchange(
        X25519PublicKey.from_public_bytes(b_pub)
    )
    return [
        ("serial", SERIAL),
        ("role", int(ROLE)),
        ("programmer_private", PROGRAMMER_PRIVATE),
        ("programmer_public", a_pub),
        ("programmer_nonce", PAIR_NONCE_P),
        ("device_private", DEVICE_PRIVATE),
        ("device_public", b_pub),
        ("device_nonce", PAIR_NONCE_D),
        (
            "transcript",
            pairing_transcript(SERIAL, int(ROLE), a_pub, b_pub, PAIR_NONCE_P, PAIR_NONCE_D),
        ),
        ("transcript_hash", secrets.transcript_hash),
        ("shared_secret", shared),
        ("pairing_key", secrets.pairing_key),
        ("confirm_key", secrets.confirm_key),
        ("confirmation_code", secrets.confirmation_code),
        ("confirmation_code_shown", secrets.format_code()),
        ("key_id", secrets.key_id),
        ("programmer_proof", secrets.programmer_proof()),
        ("device_proof", secrets.device_proof()),
    ]


def session_vectors() -> list[tuple[str, Any]]:
    """Inputs and outputs of the example session open."""
    pairing = dict(pairing_vectors())
    key = pairing["pairing_key"]
    keys = SessionKeys.derive(key, SESSION_ID, OPEN_NONCE_P, OPEN_NONCE_D)
    proof = session_open_proof(key, pairing["key_id"], SESSION_ID, OPEN_NONCE_P, OPEN_NONCE_D, ROLE)
    return [
        ("pairing_key", key),
        ("key_id", pairing["key_id"]),
        ("session_id", SESSION_ID),
        ("programmer_nonce", OPEN_NONCE_P),
        ("device_nonce", OPEN_NONCE_D),
        ("role", int(ROLE)),
        ("device_proof", proof),
        ("key_p2d", keys.key_p2d),
        ("key_d2p", keys.key_d2p),
    ]


def _public(private: bytes) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = X25519PrivateKey.from_private_bytes(private).public_key()
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


# -- rendering -----------------------------------------------------------------------------------


#: Fields written in hex in the tables (identifiers and bit sets, not quantities).
HEX_FIELDS = frozenset(
    {"session_id", "key_id", "request_id", "msg_type", "flags", "crc", "check", "capabilities"}
)
#: Of those, the 32-bit values written with all eight digits.
WIDE_HEX_FIELDS = frozenset({"session_id", "crc", "check"})


def literal(value: Any, path: str = "") -> str:
    """A value as the doc writes it: hex:... for bytes, a Python literal otherwise."""
    if isinstance(value, bytes | bytearray):
        return f"hex:{bytes(value).hex()}"
    leaf = path.rsplit(".", 1)[-1]
    if isinstance(value, int) and not isinstance(value, bool) and leaf in HEX_FIELDS:
        return f"0x{value:08X}" if leaf in WIDE_HEX_FIELDS else f"0x{value:02X}"
    return repr(value)


def flatten(prefix: str, value: Any) -> list[tuple[str, Any]]:
    """Dotted-path rows of a decoded value; lists of structs get [i] indexes."""
    if isinstance(value, dict):
        rows: list[tuple[str, Any]] = []
        for key, item in value.items():
            rows += flatten(f"{prefix}.{key}", item)
        return rows
    if isinstance(value, list) and value and isinstance(value[0], dict):
        rows = []
        for i, item in enumerate(value):
            rows += flatten(f"{prefix}[{i}]", item)
        return rows
    return [(prefix, value)]


def decoded_rows(wire: bytes) -> list[tuple[str, Any]]:
    """Header, payload and trailer fields of one wire frame, as the doc's table lists them."""
    (frame,) = FrameDecoder().feed(wire)
    raw = cobs.decode(wire[:-1])
    msg = MsgType(frame.msg_type)
    rows: list[tuple[str, Any]] = [
        ("header.version", frame.version),
        ("header.flags", int(frame.flags)),
        ("header.msg_type", frame.msg_type),
        ("header.seq", frame.seq),
        ("header.payload_len", len(frame.payload)),
    ]
    if frame.session_id is not None:
        rows += [("header.session_id", frame.session_id), ("header.counter", frame.counter)]
    if frame.flags & Flags.RESPONSE:
        status, body, reason = decode_reply(msg, frame.payload)
        rows.append(("reply.status", status))
        if status:
            rows.append(("reply.reason", reason))
        rows += flatten("reply", expand_records(msg, body))
    elif frame.flags & Flags.EVENT:
        rows += flatten("event", decode_request(msg, frame.payload))
    else:
        rows += flatten("request", decode_request(msg, frame.payload))
    if frame.tag is not None:
        rows.append(("trailer.tag", frame.tag))
    rows.append(("trailer.crc", int.from_bytes(raw[-CRC_SIZE:], "big")))
    return rows


def expand_records(msg: MsgType, body: dict[str, Any]) -> dict[str, Any]:
    """LOG_READ records (24 raw bytes each) shown as their fields."""
    if msg is not MsgType.LOG_READ or "records" not in body:
        return body
    records = [plain(LogRecordLayout.parse(r)) for r in body["records"]]
    return {**body, "records": records or []}


def _comment(path: str, value: Any) -> str:
    """Human gloss after a value: enum names, flag names, dates."""
    leaf = path.rsplit(".", 1)[-1].split("[")[0]
    if path == "header.flags":
        names = [f.name for f in Flags if value & f]
        return " (" + "\\|".join(n for n in names if n) + ")" if names else ""
    if path == "header.msg_type":
        return f" {MsgType(value).name}"
    enum_type = ENUM_FIELDS.get(leaf)
    if enum_type is not None and isinstance(value, int) and not isinstance(value, bool):
        try:
            member = enum_type(value)
        except ValueError:
            return ""
        return f" {member.name.replace('|', chr(92) + '|')}" if member.name else ""
    return ""


def _hex_lines(data: bytes, label: str) -> list[str]:
    lines = []
    for start in range(0, len(data), 16):
        chunk = data[start : start + 16].hex(" ")
        lines.append(f"{chunk:<48}  # {label}" if start == 0 else chunk)
    return lines


def frame_block(wire: bytes) -> list[str]:
    """The decoded frame (before COBS), one annotated line per part."""
    raw = cobs.decode(wire[:-1])
    auth = bool(raw[1] & Flags.AUTH)
    head_end = HEADER_SIZE + (AUTH_PREFIX_SIZE if auth else 0)
    payload_end = len(raw) - CRC_SIZE - (TAG_SIZE if auth else 0)
    lines = _hex_lines(raw[:HEADER_SIZE], "version flags msg_type seq(2) payload_len(2)")
    if auth:
        lines += _hex_lines(raw[HEADER_SIZE:head_end], "session_id(4) counter(8)")
    if payload_end > head_end:
        lines += _hex_lines(raw[head_end:payload_end], f"payload ({payload_end - head_end} bytes)")
    if auth:
        lines += _hex_lines(raw[payload_end:-CRC_SIZE], "tag")
    lines += _hex_lines(raw[-CRC_SIZE:], "crc32c")
    return lines


def render_example(example: Example) -> str:
    key_attr = f' key="{example.key.hex()}"' if example.key is not None else ""
    out = [f'<!-- example name="{example.name}"{key_attr} -->', f"**{example.title}**"]
    (frame,) = FrameDecoder().feed(example.wire)
    direction = (
        "pump -> programmer"
        if frame.flags & (Flags.RESPONSE | Flags.EVENT)
        else ("programmer -> pump")
    )
    text = f"{direction}"
    if example.key is not None:
        text += (
            f"; session id `0x{frame.session_id:08X}`, counter `{frame.counter}`, "
            f"tag key {example.key_name} `{example.key.hex()}`"
        )
    else:
        text += "; unauthenticated"
    if example.note:
        text += f"; {example.note}"
    out += ["", text + ".", "", "```hex frame", *frame_block(example.wire), "```", ""]
    wire_lines = [example.wire[i : i + 16].hex(" ") for i in range(0, len(example.wire), 16)]
    out += ["```hex wire", *wire_lines, "```", "", "| field | value |", "|---|---|"]
    for path, value in decoded_rows(example.wire):
        out.append(f"| `{path}` | `{literal(value, path)}`{_comment(path, value)} |")
    return "\n".join(out) + "\n"


def render_vectors(name: str, rows: list[tuple[str, Any]]) -> str:
    out = [f'<!-- vectors name="{name}" -->', "| name | value |", "|---|---|"]
    out += [f"| `{key}` | `{literal(value, key)}` |" for key, value in rows]
    return "\n".join(out) + "\n"


def render_all() -> dict[str, str]:
    """Marker name -> Markdown for the generated example and vector blocks."""
    examples = "\n".join(render_example(e) for e in build_examples())
    return {
        "examples": examples,
        "pairing-vectors": render_vectors("pairing", pairing_vectors()),
        "session-vectors": render_vectors("session", session_vectors()),
    }
