"""docs/PROTOCOL.md says what the code does: every hex example decodes, every table is current.

Each example in the document is an HTML comment ``<!-- example name="..." [key="hex"] -->``
followed by a ``hex frame`` block (the frame before COBS), a ``hex wire`` block (the bytes on
the line) and a table of decoded fields.  This test decodes the wire bytes with the real
FrameDecoder and codec, verifies the tag with the key the text names, checks every stated field
(and that no decoded field is left unstated), and re-encodes the fields to the same bytes.  The
key-derivation vectors are recomputed here from the formulas as the document writes them, with
hashlib/hmac/cryptography directly, not through protocol.crypto.
"""

from __future__ import annotations

import ast
import hashlib
import hmac
import re
from pathlib import Path
from typing import Any

import pytest
from cobs import cobs
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from doc_tables import crc_parameters, generated_sections, undocumented_fields

from protocol import (
    ErrorCode,
    Flags,
    FrameDecoder,
    MsgType,
    decode_reply,
    decode_request,
    encode_frame,
    encode_reply,
    encode_request,
)
from protocol.crc import crc32c
from protocol.crypto import verify_tag
from protocol.log_record import LogRecordLayout

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "PROTOCOL.md"
DOC = DOC_PATH.read_text(encoding="utf-8")

EXAMPLE = re.compile(r'<!-- example name="(?P<name>[\w-]+)"(?: key="(?P<key>[0-9a-f]+)")? -->')
VECTORS = re.compile(r'<!-- vectors name="(?P<name>[\w-]+)" -->')
HEX_BLOCK = re.compile(r"```hex (?P<kind>frame|wire)\n(?P<body>.*?)```", re.DOTALL)
ROW = re.compile(r"^\| `(?P<path>[^`]+)` \| `(?P<value>[^`]*)`.*\|$", re.MULTILINE)
GENERATED = re.compile(
    r"<!-- BEGIN GENERATED: (?P<name>[\w-]+) -->\n\n(?P<body>.*?)\n<!-- END GENERATED: (?P=name) -->",
    re.DOTALL,
)


def _value(text: str) -> Any:
    return bytes.fromhex(text[4:]) if text.startswith("hex:") else ast.literal_eval(text)


def _hex(body: str) -> bytes:
    return bytes.fromhex(" ".join(line.split("#", 1)[0] for line in body.splitlines()))


def _sections(pattern: re.Pattern[str]) -> list[tuple[re.Match[str], str]]:
    """Each marker with the document text up to the next example or vectors marker."""
    starts = sorted(
        [m.start() for m in EXAMPLE.finditer(DOC)] + [m.start() for m in VECTORS.finditer(DOC)]
    )
    found = []
    for match in pattern.finditer(DOC):
        later = [s for s in starts if s > match.start()]
        end = later[0] if later else DOC.find("<!-- END GENERATED", match.end())
        found.append((match, DOC[match.end() : end]))
    return found


EXAMPLES = _sections(EXAMPLE)
VECTOR_TABLES = {m["name"]: dict(ROW.findall(text)) for m, text in _sections(VECTORS)}


def _flatten(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(f"{prefix}.{key}", item))
        return out
    if isinstance(value, list) and value and isinstance(value[0], dict):
        out = {}
        for i, item in enumerate(value):
            out.update(_flatten(f"{prefix}[{i}]", item))
        return out
    return {prefix: value}


def _records_as_fields(raw_records: list[bytes]) -> list[dict[str, Any]]:
    """LOG_READ records as their fields, each record's check verified on the way."""
    fields = []
    for raw in raw_records:
        assert crc32c(raw[:20]) == int.from_bytes(raw[20:], "big"), "record check fails"
        fields.append({k: v for k, v in LogRecordLayout.parse(raw).items() if k != "_io"})
    return fields


def test_the_document_has_every_required_example() -> None:
    names = {m["name"] for m, _ in EXAMPLES}
    required = {
        "hello-request",
        "hello-reply",
        "pair-begin-request",
        "session-open-request",
        "status-request",
        "status-reply",
        "stage-continuous-request",
        "status-unauthenticated-reply",
        "log-read-reply",
    }
    assert required <= names
    assert len(names) == len(EXAMPLES), "example names must be unique"


def test_every_hex_block_in_the_document_belongs_to_an_example() -> None:
    blocks = HEX_BLOCK.findall(DOC)
    assert len(blocks) == 2 * len(EXAMPLES)
    assert DOC.count("```hex") == len(blocks)


@pytest.mark.parametrize(("example", "text"), EXAMPLES, ids=[m["name"] for m, _ in EXAMPLES])
def test_hex_example_decodes_to_the_fields_stated_next_to_it(
    example: re.Match[str], text: str
) -> None:
    blocks = {m["kind"]: _hex(m["body"]) for m in HEX_BLOCK.finditer(text)}
    frame_bytes, wire = blocks["frame"], blocks["wire"]
    assert cobs.encode(frame_bytes) + b"\x00" == wire
    decoder = FrameDecoder()
    (frame,) = decoder.feed(wire)
    assert decoder.frames == 1 and not any(decoder.dropped.values())

    key = bytes.fromhex(example["key"]) if example["key"] else None
    if frame.flags & Flags.AUTH:
        assert key is not None, "an authenticated example must name its key"
        assert example["key"] in text, "the key must be given in the text too"
        assert f"0x{frame.session_id:08X}" in text and f"counter `{frame.counter}`" in text
        assert frame.tag is not None and verify_tag(key, frame.signed, frame.tag)
    else:
        assert key is None

    msg = MsgType(frame.msg_type)
    decoded: dict[str, Any] = {
        "header.version": frame.version,
        "header.flags": int(frame.flags),
        "header.msg_type": frame.msg_type,
        "header.seq": frame.seq,
        "header.payload_len": len(frame.payload),
        "trailer.crc": int.from_bytes(frame_bytes[-4:], "big"),
    }
    if frame.session_id is not None:
        decoded |= {"header.session_id": frame.session_id, "header.counter": frame.counter}
        decoded["trailer.tag"] = frame.tag
    if frame.flags & Flags.RESPONSE:
        status, body, reason = decode_reply(msg, frame.payload)
        decoded["reply.status"] = status
        if status:
            decoded["reply.reason"] = reason
        shown = dict(body)
        if msg is MsgType.LOG_READ:
            shown["records"] = _records_as_fields(body["records"])
        decoded |= _flatten("reply", shown)
        payload = encode_reply(msg, ErrorCode(status), body, reason)
    else:
        body = decode_request(msg, frame.payload)
        decoded |= _flatten("event" if frame.flags & Flags.EVENT else "request", body)
        payload = encode_request(msg, body)

    stated = {path: _value(value) for path, value in ROW.findall(text)}
    assert stated == decoded

    if key is None:
        again = encode_frame(msg, frame.seq, payload, frame.flags)
    else:
        again = encode_frame(
            msg,
            frame.seq,
            payload,
            frame.flags & ~Flags.AUTH,
            session_id=frame.session_id,
            counter=frame.counter,
            tag_key=key,
        )
    assert again == wire


def _v(table: str, name: str) -> Any:
    return _value(VECTOR_TABLES[table][name])


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=64, salt=salt, info=info).derive(ikm)


def _public(private: bytes) -> bytes:
    key = X25519PrivateKey.from_private_bytes(private).public_key()
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def test_pairing_vectors_follow_the_formulas_the_document_gives() -> None:
    a, b = _v("pairing", "programmer_private"), _v("pairing", "device_private")
    big_a, big_b = _public(a), _public(b)
    assert (big_a, big_b) == (_v("pairing", "programmer_public"), _v("pairing", "device_public"))
    serial = _v("pairing", "serial").encode("ascii")
    transcript = (
        b"ITBP-pair-v1"
        + bytes([len(serial)])
        + serial
        + bytes([_v("pairing", "role")])
        + big_a
        + big_b
        + _v("pairing", "programmer_nonce")
        + _v("pairing", "device_nonce")
    )
    assert transcript == _v("pairing", "transcript")
    th = hashlib.sha256(transcript).digest()
    assert th == _v("pairing", "transcript_hash")
    shared = X25519PrivateKey.from_private_bytes(a).exchange(
        X25519PublicKey.from_public_bytes(big_b)
    )
    assert shared == _v("pairing", "shared_secret")
    okm = _hkdf(shared, th, b"ITBP pairing")
    pairing_key, confirm_key = okm[:32], okm[32:]
    assert (pairing_key, confirm_key) == (
        _v("pairing", "pairing_key"),
        _v("pairing", "confirm_key"),
    )
    code = int.from_bytes(_hmac(confirm_key, b"code")[:4], "big") % 1_000_000
    assert code == _v("pairing", "confirmation_code")
    assert f"{code:06d}"[:3] + " " + f"{code:06d}"[3:] == _v("pairing", "confirmation_code_shown")
    key_id = int.from_bytes(hashlib.sha256(b"ITBP key id" + pairing_key).digest()[:4], "big")
    assert key_id & 0x7FFF_FFFF == _v("pairing", "key_id")
    assert _hmac(confirm_key, b"programmer" + th)[:16] == _v("pairing", "programmer_proof")
    assert _hmac(confirm_key, b"device" + th)[:16] == _v("pairing", "device_proof")


def test_session_vectors_follow_the_formulas_the_document_gives() -> None:
    key = _v("session", "pairing_key")
    assert key == _v("pairing", "pairing_key")
    sid, key_id = _v("session", "session_id"), _v("session", "key_id")
    nonce_p, nonce_d = _v("session", "programmer_nonce"), _v("session", "device_nonce")
    ids = key_id.to_bytes(4, "big") + sid.to_bytes(4, "big")
    proof = _hmac(key, b"ITBP open" + ids + nonce_p + nonce_d + bytes([_v("session", "role")]))[:16]
    assert proof == _v("session", "device_proof")
    okm = _hkdf(key, nonce_p + nonce_d, b"ITBP session" + sid.to_bytes(4, "big"))
    assert (okm[:32], okm[32:]) == (_v("session", "key_p2d"), _v("session", "key_d2p"))


def test_the_examples_use_the_keys_of_the_vectors() -> None:
    keys = {bytes.fromhex(m["key"]) for m, _ in EXAMPLES if m["key"]}
    assert keys == {_v("session", "key_p2d"), _v("session", "key_d2p")}


def test_generated_tables_equal_what_the_catalog_renders_now() -> None:
    in_doc = {m["name"]: m["body"] for m in GENERATED.finditer(DOC)}
    for name, rendered in generated_sections().items():
        assert name in in_doc, f"PROTOCOL.md lacks the generated block {name!r}"
        assert in_doc[name] == rendered, f"block {name!r} is stale: run regen_protocol_doc.py"


def test_every_field_of_the_catalog_and_the_log_record_has_a_unit_or_a_meaning() -> None:
    assert undocumented_fields() == [], "add them to protocol/field_meanings.py"


def _crc_from_parameters(data: bytes) -> int:
    """A bitwise CRC from the parameters the document states (reflected form)."""
    params = crc_parameters()
    assert params["refin"] == params["refout"] == "true"
    poly = int(f"{int(params['poly'], 16):032b}"[::-1], 2)
    register = int(params["init"], 16)
    for byte in data:
        register ^= byte
        for _ in range(8):
            register = (register >> 1) ^ (poly if register & 1 else 0)
    return register ^ int(params["xorout"], 16)


def test_the_crc_parameters_in_the_document_define_the_crc_the_code_uses() -> None:
    stated = dict(re.findall(r"^\| CRC (\w+) \| ([^|]+) \|", DOC, re.MULTILINE))
    assert {k: v.strip() for k, v in stated.items()} == crc_parameters()
    assert int(stated["check"], 16) == _crc_from_parameters(b"123456789")
    for data in (b"", b"\x00" * 7, bytes(range(256))):
        assert _crc_from_parameters(data) == crc32c(data)
