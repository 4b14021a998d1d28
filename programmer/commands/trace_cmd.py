"""``trace FILE``: a captured exchange as readable frames, one per line.

Why: when a session with a pump goes wrong on a cable, the evidence is bytes - a ``spy://``
hexdump (``pumpctl --port 'spy:///dev/ttyUSB0?file=trace.txt' ...``), a raw capture or hex text.
This command decodes them offline with ``protocol.trace`` (no pump, no key needed): direction,
message, seq, session fields and payload, or why a run of bytes was dropped.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import click

from protocol.catalog import MsgType
from protocol.enums import enum_label
from protocol.framing import Flags
from protocol.pcapng import PacketDirection
from protocol.trace import (
    TracedFrame,
    decode_chunks,
    describe_payload,
    format_traced,
    parse_capture,
    parse_capture_timed,
    pcapng_from_chunks,
)

from ..cli_support import emit


def _write_private(path: Path, data: bytes) -> None:
    """Write a capture as a ``spy://`` trace is written: mode 0600, never through a symlink."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        raise click.UsageError(f"--pcapng {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "wb") as out:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise click.UsageError(f"--pcapng {path} is not a regular file")
        os.fchmod(fd, 0o600)
        out.write(data)


def dissector_path() -> Path:
    """The generated Lua dissector (package data of ``programmer``)."""
    return Path(__file__).resolve().parents[1] / "wireshark" / "itbp.lua"


def traced_document(item: TracedFrame) -> dict[str, Any]:
    """One frame (or dropped run) of a trace as a JSON object."""
    doc: dict[str, Any] = {
        "direction": {
            PacketDirection.TO_PUMP: "to_pump",
            PacketDirection.FROM_PUMP: "from_pump",
            PacketDirection.UNKNOWN: "unknown",
        }[item.inferred_direction],
        "direction_inferred": item.direction is PacketDirection.UNKNOWN,
        "index": item.index,
        "wire_bytes": item.wire_size,
        "text": format_traced(item),
    }
    frame = item.frame
    if frame is None:
        doc["dropped"] = item.dropped.name.lower() if item.dropped is not None else "unknown"
        return doc
    message = enum_label(MsgType, frame.msg_type, "msg_type_{value}")
    doc.update(
        {
            "kind": "event"
            if frame.flags & Flags.EVENT
            else "reply"
            if frame.flags & Flags.RESPONSE
            else "request",
            "message": message,
            "seq": frame.seq,
            "authenticated": bool(frame.flags & Flags.AUTH),
            "session_id": frame.session_id,
            "counter": frame.counter,
            "more": bool(frame.flags & Flags.MORE),
            "payload": describe_payload(frame),
        }
    )
    return doc


@click.command()
@click.argument(
    "capture", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--pump-side",
    is_flag=True,
    help="The capture was taken on the pump's side (a spy:// log there): swap TX and RX.",
)
@click.option("--sizes", is_flag=True, help="Show each frame's size on the wire.")
@click.option(
    "--pcapng",
    "pcapng_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write the capture as pcapng for Wireshark: one packet per COBS frame, direction "
    "in epb_flags, link type USER0 (147); open it with the dissector printed by "
    "`pumpctl trace --dissector`.",
)
@click.option(
    "--dissector",
    is_flag=True,
    help="Print the path of the Wireshark Lua dissector shipped with this package and exit.",
)
def trace(
    capture: Path | None, pump_side: bool, sizes: bool, pcapng_path: Path | None, dissector: bool
) -> None:
    """Decode a capture (spy:// hexdump, hex text or raw bytes) into frames, one per line.

    Needs no pump and no key: tags are shown, not verified.

    \b
    Example:
      pumpctl --port 'spy:///dev/pts/3?file=trace.txt' status
      pumpctl trace trace.txt
      pumpctl trace trace.txt --pcapng trace.pcapng
      wireshark -X lua_script:"$(pumpctl trace --dissector)" trace.pcapng
    """
    if dissector:
        click.echo(str(dissector_path()))
        return
    if capture is None:
        raise click.UsageError("give a CAPTURE file (or --dissector)")
    data = capture.read_bytes()
    if pcapng_path is not None:
        chunks = parse_capture_timed(data, host_is_programmer=not pump_side)
        data_out = pcapng_from_chunks(chunks, application="pumpctl trace", source=str(capture))
        _write_private(pcapng_path, data_out)
    items = decode_chunks(parse_capture(data, host_is_programmer=not pump_side))
    frames = [traced_document(item) for item in items]
    dropped = sum(1 for f in frames if "dropped" in f)
    text = "\n".join(format_traced(item, show_size=sizes) for item in items) or (
        f"(no frames in {capture})"
    )
    emit(
        {
            "capture": str(capture),
            "frames": frames,
            "count": len(frames) - dropped,
            "dropped": dropped,
            "pcapng": str(pcapng_path) if pcapng_path is not None else None,
        },
        text,
    )
