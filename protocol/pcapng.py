"""pcapng blocks for captures of the line: one packet per COBS frame, with its direction.

Why: Wireshark and tshark read pcapng; a capture of our serial line in that format opens with the
generated ITBP dissector (docs/PROTOCOL.md, "Wireshark").  This module only builds bytes (sans-I/O,
stdlib ``struct``): ``vpump serve --capture`` and ``pumpctl trace --pcapng`` write them to files.

What a packet is: one delimited run of the line exactly as it travelled - the COBS-encoded bytes
and the ``0x00`` that ended them - so the dissector sees what the receiver saw and decodes COBS and
checks the CRC itself (a corrupted run is a packet flagged by the dissector, not a gap). Empty runs
(idle or flush ``0x00`` bytes) are not packets. A run still open when the capture ends is written
without its delimiter.

Link type: ``LINKTYPE_USER0`` (147), the first private DLT; the dissector registers itself for it
(``wtap_encap`` table, ``wtap.USER0``). Direction: the Enhanced Packet Block's ``epb_flags``
option, bits 0-1: 1 = inbound (pump -> programmer), 2 = outbound (programmer -> pump), i.e. as
seen from the programmer's side of the line; 0 when the capture does not say.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

LINKTYPE_USER0 = 147
SNAPLEN = 0  # no limit
BYTE_ORDER_MAGIC = 0x1A2B3C4D
_SHB = 0x0A0D0D0A
_IDB = 0x00000001
_EPB = 0x00000006
_OPT_END = 0
_OPT_COMMENT = 1
_SHB_USERAPPL = 4
_IF_NAME = 2
_IF_DESCRIPTION = 3
_IF_TSRESOL = 9
_EPB_FLAGS = 2
#: Timestamps are written in microseconds (``if_tsresol`` 6).
TS_PER_SECOND = 1_000_000


class PacketDirection(enum.IntEnum):
    """``epb_flags`` bits 0-1, from the programmer's side of the line."""

    UNKNOWN = 0
    FROM_PUMP = 1  # inbound
    TO_PUMP = 2  # outbound


def _pad(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + _pad(value)


def _options(options: Iterable[tuple[int, bytes]]) -> bytes:
    body = b"".join(_option(code, value) for code, value in options)
    return body + struct.pack("<HH", _OPT_END, 0) if body else b""


def _block(block_type: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", block_type, total) + body + struct.pack("<I", total)


def section_header(application: str) -> bytes:
    """The Section Header Block (little-endian, version 1.0, section length unknown)."""
    body = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1)
    body += _options([(_SHB_USERAPPL, application.encode())])
    return _block(_SHB, body)


def interface_description(name: str, description: str, linktype: int = LINKTYPE_USER0) -> bytes:
    """The Interface Description Block of interface 0: link type, no snap length, microseconds."""
    body = struct.pack("<HHI", linktype, 0, SNAPLEN)
    body += _options(
        [(_IF_NAME, name.encode()), (_IF_DESCRIPTION, description.encode()), (_IF_TSRESOL, b"\x06")]
    )
    return _block(_IDB, body)


def file_header(application: str, name: str, description: str) -> bytes:
    """What every capture starts with: the section header and interface 0."""
    return section_header(application) + interface_description(name, description)


def enhanced_packet(
    timestamp_us: int, data: bytes, direction: PacketDirection, comment: str | None = None
) -> bytes:
    """One Enhanced Packet Block on interface 0."""
    high, low = divmod(max(0, timestamp_us), 1 << 32)
    body = struct.pack("<IIIII", 0, high & 0xFFFF_FFFF, low, len(data), len(data)) + _pad(data)
    options: list[tuple[int, bytes]] = [(_EPB_FLAGS, struct.pack("<I", int(direction)))]
    if comment:
        options.append((_OPT_COMMENT, comment.encode()))
    return _block(_EPB, body + _options(options))


@dataclass
class RunSplitter:
    """Splits one direction's byte stream into delimited runs (each with its ``0x00``).

    Sans-I/O: ``feed`` returns the runs a chunk completed; ``pending`` is the open run. Empty runs
    (idle bytes) are skipped. A run grows without bound only as fast as the line delivers bytes
    without a delimiter; ``max_run`` cuts it (and the rest up to the next delimiter is a run of
    its own), so a capture of noise stays bounded per packet.
    """

    max_run: int = 4096
    pending: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[bytes]:
        runs: list[bytes] = []
        for byte in _split_keep(bytes(data)):
            if byte.endswith(b"\x00"):
                run = bytes(self.pending) + byte
                self.pending.clear()
                if run != b"\x00":
                    runs.append(run)
            else:
                self.pending += byte
                while len(self.pending) >= self.max_run:
                    runs.append(bytes(self.pending[: self.max_run]))
                    del self.pending[: self.max_run]
        return runs

    def flush(self) -> bytes:
        """The open run, if any (at the end of a capture), and forget it."""
        run = bytes(self.pending)
        self.pending.clear()
        return run


def _split_keep(data: bytes) -> Iterator[bytes]:
    """``data`` cut after every ``0x00`` (the delimiters kept), the tail last."""
    start = 0
    while True:
        end = data.find(b"\x00", start)
        if end < 0:
            if start < len(data):
                yield data[start:]
            return
        yield data[start : end + 1]
        start = end + 1
