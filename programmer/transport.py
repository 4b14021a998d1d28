"""The byte pipe to a pump: any pyserial URL, opened raw, read with blocking timeouts.

Why: the same programmer must reach a virtual pump on a pseudo-terminal, a board on a USB-serial
adapter, or a pump behind a remote serial server, so the port is a pyserial URL
(``/dev/pts/3``, ``/dev/ttyUSB0``, ``socket://host:port``, ``rfc2217://host:port``,
``spy:///dev/pts/3`` for a hex-dump trace) and nothing above this module knows which.

Trade-offs: reads block in the kernel (``select`` inside pyserial) with a timeout, so an idle
programmer uses no CPU; a local device is opened ``exclusive`` (an advisory lock) so two
programmers cannot interleave frames on one line.  pyserial's POSIX back-end already puts a tty
into raw mode (no echo, no ^C, no CR/LF translation), which a pty slave needs.
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol

import serial

from .errors import LinkError


class Transport(Protocol):
    """What the client needs from a link: write bytes, read what arrives within a timeout."""

    def write(self, data: bytes) -> None: ...

    def read(self, timeout_s: float) -> bytes:
        """Bytes available within ``timeout_s`` (possibly empty); LinkError if the link died."""
        ...

    def close(self) -> None: ...


class SerialTransport:
    """A pyserial port behind the ``Transport`` protocol."""

    def __init__(self, port: Any, url: str) -> None:
        self._port = port
        self.url = url
        self.bytes_in = 0
        self.bytes_out = 0
        self._timeout: float | None = port.timeout

    def write(self, data: bytes) -> None:
        try:
            # no flush(): on a pty tcdrain() would wait until the pump has read the bytes
            self._port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"cannot write to {self.url}: {exc}") from exc
        self.bytes_out += len(data)

    def read(self, timeout_s: float) -> bytes:
        try:
            timeout_s = max(0.0, timeout_s)
            current = self._timeout if self._timeout is not None else 0.0
            # pyserial reconfigures the tty on every assignment, so the timeout changes only when
            # it must grow or shrinks below half: a read ends at the first byte anyway, and the
            # caller's deadline is rechecked after every read.
            if timeout_s > current or timeout_s < current / 2:
                self._port.timeout = self._timeout = timeout_s
            port = self._port
            waiting = port.in_waiting
            data = bytes(port.read(max(1, waiting)))
            if data and not waiting:  # woke on the first byte: take the rest that came with it
                more = port.in_waiting
                if more:
                    data += bytes(port.read(more))
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"lost the link on {self.url}: {exc}") from exc
        self.bytes_in += len(data)
        return data

    def close(self) -> None:
        with contextlib.suppress(serial.SerialException, OSError):
            self._port.close()

    def __enter__(self) -> SerialTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_transport(url: str, baud: int = 115200, timeout: float = 1.0) -> SerialTransport:
    """Open ``url`` (any pyserial URL or device path) as a raw 8N1 port.

    ``timeout`` is the default read timeout in seconds.  Raises LinkError if the port cannot be
    opened (missing, busy, refused), which is certain: nothing was sent.
    """
    if not url:
        raise LinkError("no port given: pass --port URL or set PUMP_PORT")
    is_local_device = "://" not in url
    try:
        port = serial.serial_for_url(url, do_not_open=True)
        port.baudrate = baud
        port.bytesize = serial.EIGHTBITS
        port.parity = serial.PARITY_NONE
        port.stopbits = serial.STOPBITS_ONE
        port.timeout = timeout
        port.write_timeout = max(timeout, 1.0)
        if is_local_device:
            port.exclusive = True
        port.open()
    except (serial.SerialException, OSError, ValueError) as exc:
        raise LinkError(f"cannot open {url}: {exc}") from exc
    return SerialTransport(port, url)
