"""``vpump serve --capture FILE.pcapng``: everything on the line, both directions, for Wireshark.

Why: a capture taken where the pump sits shows what the pump received (after any line noise the
bench injects) and what it sent, in order, without a spy on the programmer's port.  The blocks
come from ``protocol.pcapng``: one packet per COBS frame with its delimiter, link type USER0,
direction in ``epb_flags`` as seen from the programmer (2 outbound = to the pump, 1 inbound = from
the pump).  Each packet is flushed as it completes, so a capture of a pump that is killed is
readable up to its last frame.

Timestamps: ``pump`` (default) stamps a packet with the pump's clock (board seconds: with
``--lockstep`` a session is then byte-for-byte reproducible, and times match the pump's logs and
STATUS); ``wall`` stamps it with the host's clock (microseconds, for lining up with other
captures).

The file holds what a ``spy://`` trace holds (pairing values, nonces, tags), so like one it is
created mode 0600 and never written through a symbolic link.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import BinaryIO, Literal

from protocol import pcapng

CaptureClock = Literal["pump", "wall"]


def open_private(path: Path) -> BinaryIO:
    """``path`` truncated for writing, mode 0600, refused if it is a symlink or not a file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        os.fchmod(fd, 0o600)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "wb")


class LineCapture:
    """A pcapng file being written: ``to_pump``/``from_pump`` take line bytes as they pass."""

    def __init__(self, path: Path, clock: CaptureClock = "pump", *, source: str = "") -> None:
        self.path = path
        self.clock = clock
        self._file: BinaryIO = open_private(path)
        self._split = {
            pcapng.PacketDirection.TO_PUMP: pcapng.RunSplitter(),
            pcapng.PacketDirection.FROM_PUMP: pcapng.RunSplitter(),
        }
        self._last_us = dict.fromkeys(self._split, 0)
        self.packets = 0
        self._file.write(
            pcapng.file_header("vpump serve", "itbp-line", source or "virtual pump line")
        )
        self._file.flush()

    def _stamp_us(self, pump_now: int) -> int:
        if self.clock == "wall":
            return time.time_ns() // 1000
        return pump_now * pcapng.TS_PER_SECOND

    def _add(self, direction: pcapng.PacketDirection, data: bytes, pump_now: int) -> None:
        if not data:
            return
        stamp = self._stamp_us(pump_now)
        self._last_us[direction] = stamp
        runs = self._split[direction].feed(data)
        for run in runs:
            self._file.write(pcapng.enhanced_packet(stamp, run, direction))
            self.packets += 1
        if runs:
            self._file.flush()

    def to_pump(self, data: bytes, pump_now: int) -> None:
        self._add(pcapng.PacketDirection.TO_PUMP, data, pump_now)

    def from_pump(self, data: bytes, pump_now: int) -> None:
        self._add(pcapng.PacketDirection.FROM_PUMP, data, pump_now)

    def close(self) -> None:
        """Write any run still open (without its delimiter) and close the file."""
        for direction, splitter in self._split.items():
            tail = splitter.flush()
            if tail:
                self._file.write(pcapng.enhanced_packet(self._last_us[direction], tail, direction))
                self.packets += 1
        self._file.close()
