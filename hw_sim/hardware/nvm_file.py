"""Non-volatile memory of the virtual board: a binary image file, or a bytearray for fast runs.

Why: the firmware's NVM layout (two banks, checks) is what makes its updates atomic; the board
must provide byte-addressed storage that survives the process (``vpump serve --state FILE``) and
that can fail the ways real memory fails:

- a torn write: a "power cut" after N bytes of a write (``arm_power_cut``): the first N bytes
  land, the rest do not, and ``PowerCut`` is raised out of the write so the board can reboot
  the firmware as after a supply interruption;
- a memory error: bytes corrupted in place (``corrupt``), each XORed with a random non-zero byte;
- a refused write (``fail_writes``, or for the file variant a real ``OSError`` such as ENOSPC or
  EIO): ``firmware.hal.NvmWriteError`` is raised out of the write; the firmware keeps running from
  RAM with its MEMORY_ERROR alarm and retries.

A new image reads as zeros (as the firmware's own test double does).

Durability policy of the file variant: every ``write`` reaches the file at once with
``os.pwrite`` (it survives the process being killed: the kernel holds it); ``flush()`` calls
``os.fsync`` and is called by the board on a clean shutdown or power cycle, so a host crash can
lose at most the writes since the last flush.  Not fsyncing every write keeps years of simulated
persistence fast; a simulator does not need to survive its host losing power.

A new image file has all its blocks allocated at creation (``posix_fallocate``), as a chip has
all its cells: a disk that fills up later cannot make an NVM write fail on an ordinary file
system.  An image that still has holes (made by an older version, or on a file system without
allocation) can still see ENOSPC, which becomes ``NvmWriteError``.

``reserved_tail`` bytes at the end of the file are outside the NVM the firmware sees: the board's
factory area and reserve (``hw_sim.board.state_files``), read and written with ``read_tail`` and
``write_tail`` at offsets from the start of that area.
"""

from __future__ import annotations

import errno
import os
import random
from pathlib import Path

from firmware.hal import NvmWriteError


class PowerCut(Exception):
    """Raised out of an NVM write torn by an injected power cut."""

    def __init__(self, offset: int, written: int, requested: int) -> None:
        super().__init__(f"power cut after {written} of {requested} bytes written at {offset}")
        self.offset = offset
        self.written = written
        self.requested = requested


class NvmImage:
    """Bounds checks and fault injection shared by the in-memory and file images."""

    def __init__(self, size: int) -> None:
        if size <= 0:
            raise ValueError("NVM size must be positive")
        self._size = size
        self._cut_after: int | None = None
        self._fail_errno: int | None = None
        self.writes = 0
        self.bytes_written = 0

    @property
    def size(self) -> int:
        return self._size

    def _check(self, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > self._size:
            raise ValueError(f"NVM access [{offset}, {offset + length}) outside 0..{self._size}")

    def read(self, offset: int, length: int) -> bytes:
        self._check(offset, length)
        return self._read(offset, length)

    def write(self, offset: int, data: bytes) -> None:
        size = len(data)
        if (
            self._cut_after is None
            and self._fail_errno is None
            and 0 <= offset <= self._size - size
        ):
            self.writes += 1  # the common case: no fault armed, in range
            self._write(offset, bytes(data))
            self.bytes_written += size
            return
        self._check(offset, len(data))
        if self._fail_errno is not None:
            raise NvmWriteError(offset, len(data), os.strerror(self._fail_errno))
        self.writes += 1
        cut = self._cut_after
        if cut is not None and cut < len(data):
            self._cut_after = None
            if cut:
                self._write(offset, bytes(data[:cut]))
            self.bytes_written += cut
            raise PowerCut(offset, cut, len(data))
        if cut is not None:
            self._cut_after = cut - len(data)  # the cut falls in a later write
        self._write(offset, bytes(data))
        self.bytes_written += len(data)

    def arm_power_cut(self, after_bytes: int) -> None:
        """Cut the power once ``after_bytes`` more bytes have been written (0 = the next write)."""
        if after_bytes < 0:
            raise ValueError("after_bytes must not be negative")
        self._cut_after = after_bytes

    def fail_writes(self, code: int | None = errno.ENOSPC) -> None:
        """Refuse every later write with ``NvmWriteError`` (``None``: accept writes again)."""
        self._fail_errno = code

    @property
    def writes_failing(self) -> bool:
        return self._fail_errno is not None

    def disarm_power_cut(self) -> None:
        self._cut_after = None

    @property
    def power_cut_armed(self) -> bool:
        return self._cut_after is not None

    def corrupt(self, rng: random.Random, offset: int = 0, length: int | None = None) -> None:
        """Memory error: XOR every byte of the range with a random non-zero byte."""
        length = self._size - offset if length is None else length
        self._check(offset, length)
        old = self._read(offset, length)
        noise = [rng.randrange(1, 256) for _ in range(length)]
        self._write(offset, bytes(b ^ n for b, n in zip(old, noise, strict=True)))

    def flush(self) -> None:
        """Make written data durable (no-op for memory)."""

    def close(self) -> None:
        """Release the backing store."""

    def _read(self, offset: int, length: int) -> bytes:
        raise NotImplementedError

    def _write(self, offset: int, data: bytes) -> None:
        raise NotImplementedError


class MemoryNvm(NvmImage):
    """Implements ``firmware.hal.NvmStorage`` in RAM: for offline runs, tests and benches."""

    def __init__(self, size: int, image: bytes | None = None) -> None:
        super().__init__(size)
        self.image = bytearray(size)
        if image is not None:
            self.image[: len(image)] = image[:size]

    def _read(self, offset: int, length: int) -> bytes:
        return bytes(self.image[offset : offset + length])

    def _write(self, offset: int, data: bytes) -> None:
        self.image[offset : offset + len(data)] = data


def allocate(fd: int, size: int) -> None:
    """Give the file ``size`` bytes with every block allocated (zero-filled where new).

    Raises OSError(ENOSPC) when the disk cannot hold it; a file system without allocation support
    gets a plain (sparse) ``ftruncate`` instead.
    """
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
        os.ftruncate(fd, size)


class FileNvm(NvmImage):
    """Implements ``firmware.hal.NvmStorage`` over a binary image file (created zero-filled).

    An existing file of another size is refused: it belongs to a different profile.  ``fd``: an
    already open (and locked, see ``hw_sim.board.state_files``) descriptor of ``path`` to use; the image
    then owns it.
    """

    def __init__(
        self, path: str | Path, size: int, *, reserved_tail: int = 0, fd: int | None = None
    ) -> None:
        super().__init__(size)
        self.path = Path(path)
        self.reserved_tail = reserved_tail
        total = size + reserved_tail
        if fd is None:
            created = not self.path.exists()
            if not created and self.path.stat().st_size != total:
                raise ValueError(
                    f"NVM image {self.path} has {self.path.stat().st_size} bytes, expected {total}"
                )
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            if created:
                try:
                    allocate(fd, total)
                    os.fsync(fd)
                except OSError:
                    os.close(fd)
                    self.path.unlink(missing_ok=True)
                    raise
        elif os.fstat(fd).st_size != total:
            raise ValueError(
                f"NVM image {self.path} has {os.fstat(fd).st_size} bytes, expected {total}"
            )
        self._fd: int | None = fd

    def _fileno(self) -> int:
        if self._fd is None:
            raise ValueError(f"NVM image {self.path} is closed")
        return self._fd

    def _read(self, offset: int, length: int) -> bytes:
        data = os.pread(self._fileno(), length, offset)
        if len(data) != length:
            raise OSError(f"short read from {self.path} at {offset}")
        return data

    def _write(self, offset: int, data: bytes) -> None:
        fd = self._fileno()
        view = memoryview(data)
        start, length = offset, len(data)
        while view:
            try:
                done = os.pwrite(fd, view, offset)
            except OSError as exc:  # ENOSPC in a hole, EIO, EDQUOT...: the memory refused it
                raise NvmWriteError(start, length, exc.strerror or str(exc)) from exc
            view = view[done:]
            offset += done

    def read_tail(self, offset: int, length: int) -> bytes:
        """Bytes of the reserved area after the NVM (``offset`` from its start)."""
        if offset < 0 or length < 0 or offset + length > self.reserved_tail:
            raise ValueError("outside the reserved area")
        data = os.pread(self._fileno(), length, self.size + offset)
        if len(data) != length:
            raise OSError(f"short read from {self.path} at {self.size + offset}")
        return data

    def write_tail(self, offset: int, data: bytes) -> None:
        """Write into the reserved area (one ``pwrite``, then ``fsync``); OSError if it fails."""
        if offset < 0 or offset + len(data) > self.reserved_tail:
            raise ValueError("outside the reserved area")
        if os.pwrite(self._fileno(), data, self.size + offset) != len(data):
            raise OSError(errno.EIO, f"short write to {self.path}")
        os.fsync(self._fileno())

    def flush(self) -> None:
        os.fsync(self._fileno())

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
