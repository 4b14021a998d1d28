"""``ports`` (serial ports and the virtual pumps running here) and ``completion SHELL``.

Why: a new user does not know which ``/dev/tty*`` is the pump, and a ``vpump serve`` gets a new
``/dev/pts/N`` on every start.  ``ports`` lists pyserial's ports and the virtual pumps that
registered themselves: ``vpump serve`` writes ``<pid>.json`` (port, control socket, serial
number, pid) under ``$XDG_RUNTIME_DIR/intrathecal-pump/pumps/`` (or
``/tmp/intrathecal-pump-<uid>/pumps``) and removes it at exit; an entry whose process is gone is
skipped.  The path is a convention shared with ``hw_sim.link.registry`` (the programmer may not
import the simulator).  Only a directory and files of this user that no one else may write to
are read: an entry planted by someone else could point at their own pty.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import click

from ..cli_support import emit


def registry_directory() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = (
        Path(runtime) / "intrathecal-pump"
        if runtime
        else Path(f"/tmp/intrathecal-pump-{os.geteuid()}")
    )
    return base / "pumps"


def _ours(path: Path, *, directory: bool) -> bool:
    """Owned by this user, not a symlink, and writable by no one else."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    kind = stat.S_ISDIR(info.st_mode) if directory else stat.S_ISREG(info.st_mode)
    return kind and info.st_uid == os.geteuid() and not stat.S_IMODE(info.st_mode) & 0o022


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def virtual_pumps() -> list[dict[str, Any]]:
    """The running ``vpump serve`` processes that registered themselves (stale ones skipped)."""
    found = []
    directory = registry_directory()
    if not all(_ours(place, directory=True) for place in (directory.parent, directory)):
        return []  # a directory someone else could write to: its entries could lead anywhere
    try:
        entries = sorted(directory.glob("*.json"))
    except OSError:
        return []
    for path in entries:
        if not _ours(path, directory=False):
            continue
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            pid = int(doc["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not _alive(pid):
            continue
        found.append(
            {
                "port": str(doc.get("port", "")),
                "link": doc.get("link"),
                "control": doc.get("control"),
                "serial_number": doc.get("serial_number"),
                "model": doc.get("model"),
                "pid": pid,
            }
        )
    return found


def serial_ports() -> list[dict[str, Any]]:
    from serial.tools import list_ports

    return [
        {
            "port": p.device,
            "description": p.description if p.description != "n/a" else None,
            "hwid": p.hwid if p.hwid != "n/a" else None,
        }
        for p in sorted(list_ports.comports(), key=lambda p: str(p.device))
    ]


@click.command()
def ports() -> None:
    """List serial ports (pyserial) and the virtual pumps running on this machine.

    --json prints {"serial_ports": [{"port", "description", "hwid"}], "virtual_pumps": [{"port",
    "link", "control", "serial_number", "model", "pid"}]}.

    Example: pumpctl ports ;  export PUMP_PORT=$(pumpctl ports --json | jq -r '.virtual_pumps[0].port')
    """
    serial = serial_ports()
    virtual = virtual_pumps()
    lines = ["Serial ports:"]
    lines += [f"  {p['port']}  {p['description'] or ''}".rstrip() for p in serial] or ["  (none)"]
    lines.append("Virtual pumps (vpump serve):")
    lines += [
        f"  {v['link'] or v['port']}  {v['serial_number']}  control {v['control']}  pid {v['pid']}"
        for v in virtual
    ] or ["  (none running)"]
    emit({"serial_ports": serial, "virtual_pumps": virtual}, "\n".join(lines))


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL (commands, options, choices).

    \b
    Example:
      eval "$(pumpctl completion bash)"     # in ~/.bashrc
      eval "$(pumpctl completion zsh)"      # in ~/.zshrc
      pumpctl completion fish > ~/.config/fish/completions/pumpctl.fish
    """
    from click.shell_completion import get_completion_class

    from ..cli import cli

    completer = get_completion_class(shell)
    assert completer is not None  # the choice lists only shells click knows
    click.echo(completer(cli, {}, "pumpctl", "_PUMPCTL_COMPLETE").source())
