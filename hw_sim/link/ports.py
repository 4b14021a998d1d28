"""The pump's end of the serial line: a fresh pseudo-terminal, or any pyserial URL.

Why: a pty is not a UART.  A new slave starts in cooked mode (0x03 would become ^C, 0x0A could
be rewritten), so it is set raw at once; the slave stays open in this process so that a client
can come and go without the master seeing EIO; the master is non-blocking so a client that stops
reading can never stall the pump.  ``--port URL`` uses pyserial instead, so the same pump serves a
USB-serial adapter, one end of a socat pair or a socket.
"""

from __future__ import annotations

import contextlib
import errno
import os
import termios
import tty
from typing import Protocol

import serial


class LinePort(Protocol):
    path: str

    def fileno(self) -> int | None: ...

    def read(self) -> bytes: ...

    def write(self, data: bytes) -> int: ...

    def close(self) -> None: ...


class PtyPort:
    """A pseudo-terminal whose slave path clients open (``/dev/pts/N``)."""

    def __init__(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave, termios.TCSANOW)
        attrs = termios.tcgetattr(self._slave)
        attrs[3] &= ~termios.ECHO  # lflag: never echo our own frames back to us
        termios.tcsetattr(self._slave, termios.TCSANOW, attrs)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)

    def fileno(self) -> int | None:
        return self._master

    def read(self) -> bytes:
        try:
            return os.read(self._master, 65536)
        except BlockingIOError:
            return b""
        except OSError as exc:  # EIO: no client has the slave open (cannot happen while we hold it)
            if exc.errno == errno.EIO:
                return b""
            raise

    def write(self, data: bytes) -> int:
        try:
            return os.write(self._master, data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            if exc.errno in (errno.EIO, errno.EAGAIN):
                return 0
            raise

    def close(self) -> None:
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class SerialUrlPort:
    """Any pyserial URL or device path: ``/dev/ttyUSB0``, ``socket://host:port``, ``rfc2217://...``."""

    def __init__(self, url: str, baud: int) -> None:
        self.path = url
        self._serial = serial.serial_for_url(url, baudrate=baud, timeout=0, write_timeout=0)

    def fileno(self) -> int | None:
        try:
            return int(self._serial.fileno())
        except (AttributeError, NotImplementedError, OSError, ValueError, TypeError):
            return None

    def read(self) -> bytes:
        waiting = self._serial.in_waiting
        return bytes(self._serial.read(waiting or 1))

    def write(self, data: bytes) -> int:
        try:
            written = self._serial.write(data)
        except serial.SerialTimeoutException:
            return 0
        return int(written or 0)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._serial.close()
