"""The bench control channel: what an engineer does with the hardware, not over the protocol.

Why: opening the pairing window (the programmer head over the pump), advancing simulated time,
injecting faults and reading the true reservoir are not things the telemetry protocol may do -
they are the bench's hands.  They travel over a Unix socket beside the pty, one JSON object per
line each way, so tests, ``vpump ctl`` and other tools in any language can drive the bench.

Request: ``{"cmd": "wand", "on": true}``.  Reply: ``{"ok": true, ...}`` or
``{"ok": false, "error": "..."}``.  Commands are documented in ``BenchPump.control``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path
from typing import Any

MAX_REQUEST_BYTES = 64 * 1024


class ControlServer:
    """A non-blocking Unix-socket server; the serve loop polls its sockets with the pty."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(self.path)
        self._sock.listen(8)
        self._sock.setblocking(False)
        self._buffers: dict[socket.socket, bytearray] = {}

    def fileno(self) -> int:
        return self._sock.fileno()

    def accept(self) -> socket.socket | None:
        try:
            conn, _ = self._sock.accept()
        except BlockingIOError:
            return None
        conn.setblocking(False)
        self._buffers[conn] = bytearray()
        return conn

    def read_requests(self, conn: socket.socket) -> tuple[list[dict[str, Any]], bool]:
        """Complete requests received on ``conn`` and whether the connection is still open."""
        buffer = self._buffers[conn]
        try:
            chunk = conn.recv(65536)
        except BlockingIOError:
            return [], True
        except OSError:
            chunk = b""
        if not chunk:
            self.drop(conn)
            return [], False
        buffer += chunk
        requests: list[dict[str, Any]] = []
        while b"\n" in buffer:
            line, _, rest = bytes(buffer).partition(b"\n")
            buffer[:] = rest
            try:
                parsed = json.loads(line)
                requests.append(parsed if isinstance(parsed, dict) else {"cmd": None})
            except ValueError:
                requests.append({"cmd": None, "error": "not JSON"})
        if len(buffer) > MAX_REQUEST_BYTES:
            self.drop(conn)
            return requests, False
        return requests, True

    @staticmethod
    def reply(conn: socket.socket, answer: dict[str, Any]) -> None:
        data = (json.dumps(answer, sort_keys=True) + "\n").encode()
        conn.setblocking(True)
        try:
            conn.sendall(data)
        except OSError:
            pass
        finally:
            conn.setblocking(False)

    def drop(self, conn: socket.socket) -> None:
        self._buffers.pop(conn, None)
        with contextlib.suppress(OSError):
            conn.close()

    def close(self) -> None:
        for conn in list(self._buffers):
            self.drop(conn)
        self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


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
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise ControlError(
            f"no bench control channel at {path}: is `vpump serve` running?"
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
