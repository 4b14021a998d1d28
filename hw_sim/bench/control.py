"""The bench control channel: what an engineer does with the hardware, not over the protocol.

Why: opening the pairing window (the programmer head over the pump), advancing simulated time,
injecting faults and reading the true reservoir are not things the telemetry protocol may do -
they are the bench's hands.  They travel over a Unix socket beside the pty, one JSON object per
line each way, so tests, ``vpump ctl`` and other tools in any language can drive the bench.

Request: ``{"cmd": "wand", "on": true}``.  Reply: ``{"ok": true, ...}`` or
``{"ok": false, "error": "..."}``.  Commands are documented in ``BenchPump.control``.  A
connection may carry several requests, answered in order; it is closed after ``IDLE_TIMEOUT_S``
without a complete request.

The bench's hands are powerful (the wand opens the pairing window), so the socket is the
user's alone: mode 0600, by default in a private directory (see ``ControlServer``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Longest request line; a client that sends more without a newline is answered and dropped.
MAX_REQUEST_BYTES = 64 * 1024
#: Replies waiting for a client that does not read them; beyond this the client is dropped.
MAX_PENDING_REPLY_BYTES = 1024 * 1024
#: A connection that completes no request for this long (wall seconds) is closed: a client
#: that trickles a byte every few seconds without a newline holds nothing but its own socket.
IDLE_TIMEOUT_S = 10.0
#: Bench clients connected at once; more are accepted and closed at once.
MAX_CONNECTIONS = 16
#: AF_UNIX paths longer than this do not fit ``sockaddr_un`` on Linux.
_MAX_SOCKET_PATH = 107


class ControlPathError(ValueError):
    """The control socket cannot be created at the path asked for (and nothing was changed)."""


@dataclass
class _Client:
    inbox: bytearray = field(default_factory=bytearray)
    outbox: bytearray = field(default_factory=bytearray)
    deadline: float = 0.0
    closing: bool = False


class ControlServer:
    """A non-blocking Unix-socket server; the serve loop polls its sockets with the pty.

    Why non-blocking all through: the serve loop is the pump.  Each bench connection has its
    own read and write buffers; a partial line waits in its buffer until the newline comes, so
    a slow or stuck client delays nobody.  Limits: ``MAX_REQUEST_BYTES`` per line,
    ``IDLE_TIMEOUT_S`` without a complete request, ``MAX_CONNECTIONS`` at once.

    Who may connect: the socket is created mode 0600 (bound under a 0177 umask, so there is no
    moment with a wider mode) and, by default, inside a fresh private 0700 directory
    (``in_private_dir``).  An explicit path replaces only a stale socket (one nobody answers
    on); a regular file, a directory, a link or a live server there is refused with
    ``ControlPathError`` and left untouched.
    """

    def __init__(self, path: str | Path, *, private_dir: str | None = None) -> None:
        self.path = str(path)
        self.private_dir = private_dir
        check_control_path(self.path)
        parent = Path(self.path).parent
        try:
            parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise ControlPathError(
                f"--control {self.path}: cannot create the directory {parent}: "
                f"{exc.strerror or exc} (choose a path in a directory you may write to)"
            ) from None
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # the socket is born 0600: no window with a wider mode
        try:
            self._sock.bind(self.path)
        except OSError as exc:
            self._sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise ControlPathError(
                    f"--control {self.path}: something appeared at this path meanwhile; "
                    "left untouched"
                ) from exc
            raise ControlPathError(f"--control {self.path}: cannot bind: {exc}") from exc
        finally:
            os.umask(old_umask)
        self._sock.listen(8)
        self._sock.setblocking(False)
        self._clients: dict[socket.socket, _Client] = {}

    @classmethod
    def in_private_dir(cls) -> ControlServer:
        """A server on ``control.sock`` in a new 0700 directory (``vpump-XXXXXXXX``) under
        $XDG_RUNTIME_DIR, or the system temp directory when that is unset or too deep."""
        candidates = [os.environ.get("XDG_RUNTIME_DIR"), tempfile.gettempdir()]
        last: Exception | None = None
        for base in candidates:
            if not base or len(os.path.join(base, "vpump-XXXXXXXX", "control.sock")) > (
                _MAX_SOCKET_PATH
            ):
                continue
            try:
                directory = tempfile.mkdtemp(prefix="vpump-", dir=base)
            except OSError as exc:
                last = exc
                continue
            return cls(os.path.join(directory, "control.sock"), private_dir=directory)
        raise ControlPathError(f"no directory for the control socket: {last}")

    def fileno(self) -> int:
        return self._sock.fileno()

    # -- connections -------------------------------------------------------------------------
    def accept(self, now: float) -> socket.socket | None:
        """One waiting connection (None when there is none); refused ones are closed here."""
        while True:
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return None
            except OSError:
                return None
            if len(self._clients) >= MAX_CONNECTIONS:
                with contextlib.suppress(OSError):
                    conn.close()
                continue
            conn.setblocking(False)
            self._clients[conn] = _Client(deadline=now + IDLE_TIMEOUT_S)
            return conn

    def read_requests(
        self, conn: socket.socket, now: float = 0.0
    ) -> tuple[list[dict[str, Any]], bool]:
        """Complete requests received on ``conn`` and whether to keep reading it.  Never blocks:
        a partial line stays in the connection's buffer until its newline arrives."""
        client = self._clients.get(conn)
        if client is None:
            return [], False
        try:
            chunk = conn.recv(65536)
        except (BlockingIOError, InterruptedError):
            return [], True
        except OSError:
            chunk = b""
        if not chunk:
            client.closing = True
            return [], False
        client.inbox += chunk
        requests: list[dict[str, Any]] = []
        while (end := client.inbox.find(b"\n")) >= 0:
            line = bytes(client.inbox[:end])
            del client.inbox[: end + 1]
            client.deadline = now + IDLE_TIMEOUT_S
            if len(line) > MAX_REQUEST_BYTES:
                requests.append({"cmd": None, "error": "request too long"})
                continue
            try:
                parsed = json.loads(line)
                requests.append(parsed if isinstance(parsed, dict) else {"cmd": None})
            except ValueError:
                requests.append({"cmd": None, "error": "not JSON"})
        if len(client.inbox) > MAX_REQUEST_BYTES:
            client.inbox.clear()
            client.closing = True
            self.reply(
                conn, {"ok": False, "error": f"request longer than {MAX_REQUEST_BYTES} bytes"}
            )
            return requests, False
        return requests, True

    def reply(self, conn: socket.socket, answer: dict[str, Any]) -> None:
        """Queue one reply line and send what the socket takes now."""
        client = self._clients.get(conn)
        if client is None:
            return
        client.outbox += (json.dumps(answer, sort_keys=True) + "\n").encode()
        self.flush(conn)

    def flush(self, conn: socket.socket) -> bool:
        """Send queued reply bytes without blocking; False once the connection is done for."""
        client = self._clients.get(conn)
        if client is None:
            return False
        while client.outbox:
            try:
                sent = conn.send(client.outbox)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                client.outbox.clear()
                return False
            del client.outbox[:sent]
        if len(client.outbox) > MAX_PENDING_REPLY_BYTES:
            return False
        return not (client.closing and not client.outbox)

    def wants_write(self, conn: socket.socket) -> bool:
        client = self._clients.get(conn)
        return client is not None and bool(client.outbox)

    def done(self, conn: socket.socket) -> bool:
        """True when the client hung up (or was refused) and every reply has left."""
        client = self._clients.get(conn)
        return client is None or (client.closing and not client.outbox)

    def expired(self, now: float) -> list[socket.socket]:
        """Connections past their idle deadline (the caller drops them)."""
        return [conn for conn, c in self._clients.items() if now >= c.deadline]

    def next_deadline(self) -> float | None:
        return min((c.deadline for c in self._clients.values()), default=None)

    def connections(self) -> list[socket.socket]:
        return list(self._clients)

    def drop(self, conn: socket.socket) -> None:
        self._clients.pop(conn, None)
        with contextlib.suppress(OSError):
            conn.close()

    def close(self) -> None:
        for conn in list(self._clients):
            self.drop(conn)
        self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        if self.private_dir is not None:
            with contextlib.suppress(OSError):
                os.rmdir(self.private_dir)


def check_control_path(path: str | Path) -> None:
    """Make ``path`` free for a new control socket, or refuse: only a stale socket (nobody
    answers on it) is removed; anything else raises ControlPathError and is left as it was."""
    path = str(path)
    if len(path) > _MAX_SOCKET_PATH:
        raise ControlPathError(f"--control {path}: longer than {_MAX_SOCKET_PATH} bytes")
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ControlPathError(
            f"--control {path}: cannot use this path: {exc.strerror or exc} (choose a path in a "
            "directory of yours)"
        ) from None
    if not stat.S_ISSOCK(info.st_mode):
        kind = (
            "a directory"
            if stat.S_ISDIR(info.st_mode)
            else "a symbolic link"
            if stat.S_ISLNK(info.st_mode)
            else "a regular file"
            if stat.S_ISREG(info.st_mode)
            else "not a socket"
        )
        raise ControlPathError(
            f"--control {path}: {kind} is there; refusing to replace it (choose another path)"
        )
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        pass  # stale: its server is gone
    except OSError as exc:
        raise ControlPathError(f"--control {path}: cannot check the socket there: {exc}") from exc
    else:
        raise ControlPathError(
            f"--control {path}: another bench server is answering on it; "
            "is a `vpump serve` already running?"
        )
    finally:
        probe.close()
    os.unlink(path)


class ControlError(RuntimeError):
    """The bench refused a command, or could not be reached."""


def control_call(
    path: str | Path, request: dict[str, Any], timeout: float = 30.0
) -> dict[str, Any]:
    """Send one control request and return the reply; raises ControlError on refusal or no bench."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
        sock.sendall((json.dumps(request) + "\n").encode())
        data = bytearray()
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError) as exc:
        raise ControlError(
            f"no bench control channel at {path}: is `vpump serve` running?  (it prints the "
            "path on its CONTROL line)"
        ) from exc
    except PermissionError as exc:
        raise ControlError(
            f"bench control channel {path}: permission denied; the socket and its directory are "
            "private to the user who started `vpump serve`: run vpump ctl as that user"
        ) from exc
    except OSError as exc:
        raise ControlError(f"bench control channel {path}: {exc}") from exc
    finally:
        sock.close()
    try:
        answer = json.loads(data)
    except ValueError as exc:
        raise ControlError(f"bench sent an unreadable reply: {bytes(data)[:80]!r}") from exc
    if not answer.get("ok"):
        raise ControlError(str(answer.get("error", "refused")))
    return dict(answer)
