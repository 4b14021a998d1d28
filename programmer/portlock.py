"""One programmer per pump: a lock taken for every transport before the port is opened.

Why: two programmers on one line interleave frames and kill each other's sessions, which can
leave a STOP uncertain.  pyserial's ``exclusive`` flag locks only a local device; through
``spy://``, ``socket://`` or ``rfc2217://`` nothing stopped a second ``pumpctl``.  So the
programmer takes its own advisory lock (``flock``) per pump link, whatever the URL:

* a local device: its real path (``/dev/pts/3``; symlinks such as /dev/serial/by-id resolved);
* ``spy://PORT?...``: the lock of the inner ``PORT`` (the spy only watches the same line);
* ``socket://host:port`` and ``rfc2217://host:port``: ``tcp:host:port`` (the host lower-cased
  and, when it resolves, replaced by its address, so ``localhost`` and ``127.0.0.1`` agree);
* any other URL (``loop://``...): the URL without its options.

The lock files live in a private per-user directory, ``$XDG_RUNTIME_DIR/intrathecal-pump/locks``
(or ``/tmp/intrathecal-pump-<uid>/locks`` without it), created 0700 and refused if another user
could write to it.  Each holds the holder's pid, command line and start time, so a refusal names
who has the pump.  The kernel drops a ``flock`` when its process dies, so a killed ``pumpctl``
never leaves a stale lock; the files are never deleted (deleting a locked file races).

Limits: the lock is per user and per computer.  Two people, or two computers, reaching one pump
through a network serial server are not stopped by it (the pump's own session handling remains
the last line); a remote serial server should itself accept one connection at a time.

``--wait-lock SECONDS`` (or ``$PUMP_WAIT_LOCK``) waits for the holder to finish instead of
refusing at once.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import socket
import stat
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from .errors import LinkError, UsageError
from .terminal import safe_text

APP_DIR = "intrathecal-pump"
POLL_S = 0.05


def lock_key(url: str) -> str:
    """The name of the pump link ``url`` reaches, the same for every URL that reaches it."""
    if "://" not in url:
        return "dev:" + os.path.realpath(url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "spy":
        inner = parts.netloc + parts.path  # what pyserial's spy handler opens
        return lock_key(inner)
    if scheme in ("socket", "rfc2217"):
        host = (parts.hostname or "").lower()
        try:
            port = parts.port
        except ValueError:
            port = None
        with contextlib.suppress(OSError, UnicodeError):
            host = str(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0])
        return f"tcp:{host}:{port}"
    return f"{scheme}:{parts.netloc}{parts.path}"


def lock_directory() -> Path:
    """The private per-user directory of the lock files (created 0700, checked)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) / APP_DIR if runtime else Path(f"/tmp/{APP_DIR}-{os.geteuid()}")
    directory = base / "locks"
    for place in (base, directory):
        with contextlib.suppress(FileExistsError):
            os.mkdir(place, 0o700)
        st = os.lstat(place)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
            raise UsageError(
                f"{place} is not a directory of yours; the programmer keeps its port locks there "
                f"(move it away, or set XDG_RUNTIME_DIR to a private directory)"
            )
        if stat.S_IMODE(st.st_mode) & 0o077:
            raise UsageError(
                f"{place} may be used by other users (mode {stat.S_IMODE(st.st_mode):04o}); "
                f"the programmer keeps its port locks there. Fix it with: chmod 700 {place}"
            )
    return directory


@dataclass
class PortLock:
    """A held lock on one pump link; ``release`` (or process exit) frees it."""

    key: str
    path: Path
    fd: int | None

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, 0)
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None


def _holder_text(fd: int) -> str:
    try:
        raw = os.pread(fd, 4096, 0)
    except OSError:
        return ""
    return safe_text(raw.decode("utf-8", "replace").strip().replace("\n", "; "))


def acquire(url: str, wait_s: float = 0.0) -> PortLock:
    """Lock the pump link ``url``; wait up to ``wait_s`` for another holder, else LinkError."""
    key = lock_key(url)
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    path = lock_directory() / f"{digest}.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise UsageError(f"cannot create the port lock {path}: {exc.strerror}") from None
    deadline = time.monotonic() + max(0.0, wait_s)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
            if time.monotonic() >= deadline:
                holder = _holder_text(fd) or "a process that has not said who it is yet"
                waited = f" after waiting {wait_s:g} s" if wait_s > 0 else ""
                raise LinkError(
                    f"the pump on {url} is in use by another programmer{waited} ({holder}); "
                    "nothing was sent.  Let it finish, or pass --wait-lock SECONDS "
                    "(or set PUMP_WAIT_LOCK) to wait for it"
                )
            time.sleep(POLL_S)
    except BaseException:
        os.close(fd)
        raise
    started = datetime.now(UTC).replace(microsecond=0).isoformat()
    argv = sys.argv or ["python"]
    command = " ".join([Path(argv[0]).name, *argv[1:]])
    holder = f"pid {os.getpid()}: {command}\nsince {started}\nlink {key}\n"
    os.ftruncate(fd, 0)
    os.pwrite(fd, holder.encode("utf-8", "replace"), 0)
    return PortLock(key, path, fd)
