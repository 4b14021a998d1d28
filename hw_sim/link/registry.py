"""Where a running ``vpump serve`` can be found: a registry entry and an optional stable link.

Why: a pty gets a new ``/dev/pts/N`` on every start, so scripts had to re-read the PORT line and
re-export ``PUMP_PORT``.  ``vpump serve --link PATH`` keeps a symlink at PATH pointing at the
current pty (socat's ``link=``), and every ``vpump serve`` writes a small JSON file - port,
link, control socket, serial number, model, pid - to
``$XDG_RUNTIME_DIR/intrathecal-pump/pumps/<pid>.json`` (``/tmp/intrathecal-pump-<uid>/pumps``
without it), removed at exit, which ``pumpctl ports`` lists (skipping entries whose process is
gone, e.g. after a SIGKILL).  ``programmer.commands.ports_cmd`` reads the same path (the
programmer may not import the simulator, so the convention is written in both places).
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path


class LinkError(ValueError):
    """The --link path holds something that is not a symlink; it is left alone."""


def registry_directory() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = (
        Path(runtime) / "intrathecal-pump"
        if runtime
        else Path(f"/tmp/intrathecal-pump-{os.geteuid()}")
    )
    return base / "pumps"


def private(path: Path) -> bool:
    """A directory of ours that no one else may write to (no one can plant an entry there)."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.geteuid()
        and not stat.S_IMODE(info.st_mode) & 0o022
    )


def register(
    port: str, control: str, serial_number: str, model: str, link: str | None = None
) -> Path | None:
    """Write this process's entry (0600 in a 0700 directory); None if it cannot be written."""
    directory = registry_directory()
    try:
        for place in (directory.parent, directory):
            with contextlib.suppress(FileExistsError):
                os.mkdir(place, 0o700)
            if not private(place):
                return None  # another user's or a shared directory: publish nothing there
        path = directory / f"{os.getpid()}.json"
        doc = {
            "port": port,
            "link": link,
            "control": control,
            "serial_number": serial_number,
            "model": model,
            "pid": os.getpid(),
        }
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(doc, handle, sort_keys=True)
        os.replace(temporary, path)
    except OSError:
        return None  # a registry is a convenience: the PORT line still says everything
    return path


def unregister(path: Path | None) -> None:
    if path is not None:
        with contextlib.suppress(OSError):
            path.unlink()


def make_link(link: Path, target: str) -> None:
    """Point the symlink ``link`` at ``target``, replacing an older symlink only."""
    try:
        info = os.lstat(link)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise LinkError(f"--link {link}: {exc.strerror or exc}") from None
    if info is not None and not stat.S_ISLNK(info.st_mode):
        raise LinkError(
            f"--link {link}: something other than a symbolic link is there; refusing to "
            "replace it (choose another path)"
        )
    temporary = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        os.symlink(target, temporary)
        os.replace(temporary, link)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise LinkError(f"--link {link}: cannot create the link: {exc.strerror or exc}") from None


def remove_link(link: Path | None, target: str) -> None:
    """Remove ``link`` if it still points at ``target`` (a newer pump may have taken it)."""
    if link is None:
        return
    with contextlib.suppress(OSError):
        if os.readlink(link) == target:
            os.unlink(link)
