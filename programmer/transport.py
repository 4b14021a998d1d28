"""The byte pipe to a pump: any pyserial URL, opened raw, read with blocking timeouts.

Why: the same programmer must reach a virtual pump on a pseudo-terminal, a board on a USB-serial
adapter, or a pump behind a remote serial server, so the port is a pyserial URL
(``/dev/pts/3``, ``/dev/ttyUSB0``, ``socket://host:port``, ``rfc2217://host:port``,
``spy:///dev/pts/3`` for a hex-dump trace) and nothing above this module knows which.

Trade-offs: reads block in the kernel (``select`` inside pyserial) with a timeout, so an idle
programmer uses no CPU; before any port is opened the programmer takes its own lock on the pump
link (``portlock``: per device path, per inner port of ``spy://``, per host:port of
``socket://`` and ``rfc2217://``) so two programmers cannot interleave frames on one line, and a
local device is also opened ``exclusive`` (pyserial's advisory lock, which other programs
honour).  pyserial's POSIX back-end already puts a tty into raw mode (no echo, no ^C, no CR/LF
translation), which a pty slave needs.

Time: every wait of the programmer (a reply's deadline, the pairing poll) is measured on the
transport's ``Clock``.  A serial port waits in the kernel on the wall clock (``SYSTEM_CLOCK``); a
transport that is not a line at all (an in-process loopback to a simulated pump) brings its own
clock, on which "waiting" for ``timeout_s`` is advancing simulated time, so a test of timeouts
and retries runs in no wall time and cannot be raced by a loaded machine.

A ``spy://...?file=PATH`` trace holds pairing public values, nonces and tags, so its file is
created 0600 (pyserial would create it 0644 with a plain ``open``): the programmer creates or
tightens it itself, refusing a symlink, and opens the port under umask 077.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import time
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import serial

from .errors import LinkError, UsageError
from .portlock import PortLock, acquire


class Clock(Protocol):
    """The time the programmer's waits are measured in (seconds, only differences matter)."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The wall clock: ``time.monotonic`` and ``time.sleep``."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK: Clock = SystemClock()


class Deadline:
    """A point ``timeout_s`` ahead on ``clock``: what is left of a wait, and whether it passed."""

    def __init__(self, clock: Clock, timeout_s: float) -> None:
        self._clock = clock
        self.at = clock.monotonic() + timeout_s

    def remaining(self) -> float:
        """Seconds left (zero or negative once passed)."""
        return self.at - self._clock.monotonic()

    @property
    def passed(self) -> bool:
        return self.remaining() <= 0


class Transport(Protocol):
    """What the client needs from a link: write bytes, read what arrives within a timeout.

    A transport may also carry a ``clock`` attribute (a ``Clock``): the time its ``read``
    timeouts pass in.  Without one it is taken to wait on the wall clock (``clock_of``).
    """

    def write(self, data: bytes) -> None: ...

    def read(self, timeout_s: float) -> bytes:
        """Bytes available within ``timeout_s`` (possibly empty); LinkError if the link died."""
        ...

    def close(self) -> None: ...


def clock_of(transport: Transport) -> Clock:
    """The clock ``transport``'s read timeouts pass in (the wall clock unless it names one)."""
    clock = getattr(transport, "clock", None)
    return clock if clock is not None else SYSTEM_CLOCK


class SerialTransport:
    """A pyserial port behind the ``Transport`` protocol."""

    clock: Clock = SYSTEM_CLOCK

    def __init__(self, port: Any, url: str, lock: PortLock | None = None) -> None:
        self._port = port
        self.url = url
        self.lock = lock
        self.bytes_in = 0
        self.bytes_out = 0
        self._timeout: float | None = port.timeout

    def write(self, data: bytes) -> None:
        try:
            # no flush(): on a pty tcdrain() would wait until the pump has read the bytes
            self._port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"cannot write to {self.url}: {link_failure(exc)}") from exc
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
            raise LinkError(f"lost the link on {self.url}: {link_failure(exc)}") from exc
        self.bytes_in += len(data)
        return data

    def close(self) -> None:
        with contextlib.suppress(serial.SerialException, OSError):
            self._port.close()
        if self.lock is not None:
            self.lock.release()

    def __enter__(self) -> SerialTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_transport(
    url: str, baud: int = 115200, timeout: float = 1.0, wait_lock_s: float = 0.0
) -> SerialTransport:
    """Open ``url`` (any pyserial URL or device path) as a raw 8N1 port.

    ``timeout`` is the default read timeout in seconds.  The pump link is locked first
    (``portlock``); if another programmer holds it, wait up to ``wait_lock_s``.  Raises LinkError
    if the port cannot be opened (in use, missing, busy, refused), which is certain: nothing was
    sent.
    """
    if not url:
        raise LinkError("no port given: pass --port URL or set PUMP_PORT")
    lock = acquire(url, wait_lock_s)
    try:
        port = _open_port(url, baud, timeout, lock.key.startswith("dev:"))
    except BaseException:
        lock.release()
        raise
    return SerialTransport(port, url, lock)


def _open_port(url: str, baud: int, timeout: float, is_local_device: bool) -> Any:
    old_umask: int | None = None
    try:
        if url.lower().startswith("spy://"):
            prepare_spy_file(url)
            old_umask = os.umask(0o077)  # whatever pyserial creates is private too
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
        raise LinkError(f"cannot open {url}: {_open_failure(url, exc)}") from exc
    finally:
        if old_umask is not None:
            os.umask(old_umask)
    return port


def _errno_of(exc: BaseException) -> int | None:
    """The OS error behind a pyserial exception (pyserial wraps it, or only keeps its text)."""
    for candidate in (exc, exc.__cause__, exc.__context__):
        number = getattr(candidate, "errno", None)
        if isinstance(number, int):
            return number
    match = re.search(r"\[Errno (\d+)\]", str(exc))
    return int(match.group(1)) if match else None


def _open_failure(url: str, exc: BaseException) -> str:
    """pyserial's error in words: what happened and what to do (its raw text says neither)."""
    text = str(exc)
    number = _errno_of(exc)
    if "exclusively lock" in text or number in (errno.EBUSY, errno.EAGAIN):
        return (
            "the port is in use by another program (it holds the port's exclusive lock); "
            "nothing was sent.  Close that program (a terminal emulator, another programmer) "
            "and try again"
        )
    if number == errno.ENOENT or "No such file or directory" in text:
        return (
            "no such port (is the pump running, and is this the path it printed?  "
            "`pumpctl ports` lists the serial ports and the virtual pumps running here)"
        )
    if number in (errno.EACCES, errno.EPERM):
        return (
            "permission denied: you may not open this device.  On Linux, join the group that "
            "owns it (ls -l shows it; often dialout: sudo usermod -aG dialout $USER, then log "
            "in again)"
        )
    if number in (errno.ENXIO, errno.EIO, errno.ENODEV):
        return (
            "the device is there but nothing answers on it (a pty whose pump has stopped, or "
            "an unplugged adapter): start the pump again and use the port it prints"
        )
    if number == errno.ECONNREFUSED or "Connection refused" in text:
        return "nothing is listening at that address: is the serial server (or vpump) running?"
    if isinstance(exc, ValueError) or "invalid URL" in text or "expected" in text.lower():
        return f"not a port or pyserial URL this programmer can open ({text})"
    return text


def link_failure(exc: BaseException) -> str:
    """A failure on an open link in words (pyserial's texts name no cause and no remedy)."""
    text = str(exc)
    number = _errno_of(exc)
    if "readiness to read but returned no data" in text or number in (errno.EIO, errno.ENXIO):
        return (
            "the port closed under the programmer: the pump stopped, the adapter was unplugged, "
            "or another program is reading the same port.  Check that the pump is running and "
            "that nothing else has the port open, then try again"
        )
    if number in (errno.EPIPE, errno.ECONNRESET) or "Connection reset" in text:
        return "the other end closed the connection (the serial server or the pump went away)"
    return text


def spy_file(url: str) -> str | None:
    """The ``file=`` option of a ``spy://`` URL, as pyserial's spy handler reads it."""
    values = parse_qs(urlsplit(url).query, True).get("file")
    return values[0] if values else None


def prepare_spy_file(url: str) -> None:
    """Create (or tighten) a ``spy://`` trace file with mode 0600 before pyserial opens it."""
    path = spy_file(url)
    if path is None:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UsageError(
                f"the trace file {path} is a symbolic link; the trace holds pairing values, "
                "nonces and tags, so it is written only to a regular file: choose another path"
            ) from None
        raise UsageError(f"cannot create the trace file {path}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"the trace file {path} is not a regular file: choose another path")
        if st.st_uid != os.geteuid():
            raise UsageError(f"the trace file {path} belongs to another user: choose another path")
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
