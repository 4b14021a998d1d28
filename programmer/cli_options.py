"""The ``pumpctl`` group's machinery: shared options, named pumps, lazily loaded subcommands.

Why a module of its own, light on imports: ``pumpctl --help``, ``--version`` and usage errors
must start about as fast as the interpreter, so nothing here (nor in ``cli``) imports the
cryptography, the codec or the message catalog; a subcommand's module is imported only when
that subcommand runs (click's lazy-group pattern, with the one-line help kept in the table so
the listing needs no import either).

Common options (``--json``, ``--yes``, ``--port``, ``--timeout``, ``--keystore``, ``--pump``)
are accepted before or after the subcommand: the group declares them, and every subcommand gets
a copy that writes into the same ``Options`` only when it was given on the command line.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

if TYPE_CHECKING:
    from .keystore import KeyStore

#: The reply timeout when neither --timeout nor $PUMP_TIMEOUT is given is derived from the line
#: rate (``reply_timeout``); a pty has no line rate, so it is taken to be this (vpump serve's).
DEFAULT_BAUD = 115200

#: Commands that change the pump: they take ``--dry-run`` (show the Finish view, commit nothing).
STATE_CHANGING = {
    "program continuous",
    "program flex",
    "program stop",
    "bolus",
    "prime",
    "bridge",
    "refill",
    "patient-bolus config",
    "patient-bolus request",
    "stop",
    "resume",
    "clock sync",
    "alarms",
    "alarms config",
    "unpair",
    "pairings revoke",
    "pairings authorize-patient",
}


@dataclass
class Options:
    """The global options, shared through click's context object."""

    port: str | None = None
    json: bool = False
    yes: bool = False
    keystore: Path | None = None
    timeout_s: float | None = None  # None: derived from the line rate (reply_timeout)
    baud: int = DEFAULT_BAUD
    retries: int = 2
    ack_warnings: bool = False
    wait_lock_s: float = 0.0
    dry_run: bool = False
    pump: str | None = None
    resolved: list[dict[str, Any]] = field(default_factory=list)

    def keystore_obj(self) -> KeyStore:
        from .keystore import KeyStore

        self.resolve()
        return KeyStore(self.keystore)

    def resolve(self) -> None:
        """Fill what the command line left open: from ``--pump NAME`` (pumps.toml), then the
        environment ($PUMP_PORT, $PUMP_KEYSTORE, $PUMP_TIMEOUT).  Idempotent."""
        if self.pump is not None:
            entry = named_pump(self.pump)
            self.pump = None
            if self.port is None and entry.get("port"):
                self.port = str(entry["port"])
            if self.keystore is None and entry.get("keystore"):
                self.keystore = Path(str(entry["keystore"])).expanduser()
            if self.timeout_s is None and entry.get("timeout") is not None:
                self.timeout_s = float(entry["timeout"])
            if entry.get("baud") is not None:
                self.baud = int(entry["baud"])
        if self.port is None:
            self.port = os.environ.get("PUMP_PORT") or None
        if self.keystore is None and os.environ.get("PUMP_KEYSTORE"):
            self.keystore = Path(os.environ["PUMP_KEYSTORE"]).expanduser()
        if self.timeout_s is None and os.environ.get("PUMP_TIMEOUT"):
            text = os.environ["PUMP_TIMEOUT"]
            try:
                self.timeout_s = float(text)
            except ValueError:
                raise click.UsageError(
                    f"PUMP_TIMEOUT={text!r} is not a number of seconds"
                ) from None
            if not self.timeout_s > 0:
                raise click.UsageError(f"PUMP_TIMEOUT={text!r} must be above 0 seconds")


def reply_timeout(baud: int, frame_bytes: int) -> float:
    """Seconds to wait for a reply on a line of ``baud``: a request and a reply of the largest
    frame (10 bits a byte on 8N1), plus half a second for the pump, and never under 1 s."""
    transfer = 2 * frame_bytes * 10 / max(baud, 1)
    return round(max(1.0, 0.5 + transfer), 3)


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "intrathecal-pump" / "pumps.toml"


def named_pump(name: str) -> dict[str, Any]:
    """The ``[pumps.NAME]`` table of pumps.toml (port, keystore, timeout, baud)."""
    import tomllib

    path = config_path()
    try:
        with path.open("rb") as handle:
            config = tomllib.load(handle)
    except FileNotFoundError:
        raise click.UsageError(
            f'--pump {name}: no {path}; add [pumps.{name}] with port = "/dev/ttyUSB0"'
        ) from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise click.UsageError(f"--pump {name}: cannot read {path}: {exc}") from None
    pumps = config.get("pumps", {})
    entry = pumps.get(name) if isinstance(pumps, dict) else None
    if not isinstance(entry, dict):
        known = ", ".join(sorted(pumps)) if isinstance(pumps, dict) and pumps else "none"
        raise click.UsageError(f"--pump {name}: no [pumps.{name}] in {path} (known: {known})")
    return entry


# -- the common options ---------------------------------------------------------------------


def _setter(attribute: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def store(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        assert param.name is not None
        if ctx.get_parameter_source(param.name) is ParameterSource.COMMANDLINE:
            opts = ctx.find_object(Options)
            if opts is not None:
                setattr(opts, attribute, value)
        return value

    return store


def _common() -> list[click.Option]:
    """Fresh copies of the options a subcommand accepts after its name as well."""
    return [
        click.Option(
            ["--port"],
            metavar="URL",
            expose_value=False,
            callback=_setter("port"),
            help="Serial port or pyserial URL (as before the subcommand).",
        ),
        click.Option(
            ["--json", "json_output"],
            is_flag=True,
            expose_value=False,
            callback=_setter("json"),
            help="Print one JSON document on stdout.",
        ),
        click.Option(
            ["--yes", "-y"],
            is_flag=True,
            expose_value=False,
            callback=_setter("yes"),
            help="Confirm the Finish view without asking.",
        ),
        click.Option(
            ["--timeout"],
            type=click.FloatRange(min=0.01),
            expose_value=False,
            callback=_setter("timeout_s"),
            help="Seconds to wait for each reply.",
        ),
        click.Option(
            ["--keystore"],
            type=click.Path(dir_okay=False, path_type=Path),
            expose_value=False,
            callback=_setter("keystore"),
            help="Key store file.",
        ),
        click.Option(
            ["--pump"],
            metavar="NAME",
            expose_value=False,
            callback=_setter("pump"),
            help="A pump named in pumps.toml.",
        ),
    ]


def _dry_run_option() -> click.Option:
    return click.Option(
        ["--dry-run"],
        is_flag=True,
        expose_value=False,
        callback=_setter("dry_run"),
        help="Show the Finish view (text or --json) and write nothing to the pump.",
    )


def add_common_options(command: click.Command, path: str) -> None:
    """Give ``command`` (and its subcommands) the common options; ``--dry-run`` if it changes
    the pump."""
    have = {opt for p in command.params for opt in getattr(p, "opts", [])}
    extra: list[click.Option] = [o for o in _common() if not any(name in have for name in o.opts)]
    if path in STATE_CHANGING and "--dry-run" not in have:
        extra.append(_dry_run_option())
    command.params.extend(extra)
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            add_common_options(sub, f"{path} {name}")


class LazyGroup(click.Group):
    """A group whose subcommands are imported when they run.

    ``lazy`` maps a command name to ``("module:attribute", "one-line help")``; ``aliases``
    maps another accepted name to a command name (hidden from the listing).
    """

    def __init__(
        self,
        *args: Any,
        lazy: dict[str, tuple[str, str]] | None = None,
        aliases: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})
        self.aliases = dict(aliases or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self.lazy, *(n for n in super().list_commands(ctx) if n not in self.lazy)]

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        """An eagerly added command gets the common options too (idempotent)."""
        add_common_options(cmd, name or cmd.name or "")
        super().add_command(cmd, name)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd_name = self.aliases.get(cmd_name, cmd_name)
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name not in self.lazy:
            return None
        module_name, _, attribute = self.lazy[cmd_name][0].partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):  # pragma: no cover - a wiring bug
            raise TypeError(f"{module_name}:{attribute} is not a click command")
        self.add_command(command, cmd_name)
        return command

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[Any]:
        """TAB on a command name: from the table, so completion imports no command either."""
        from click.shell_completion import CompletionItem

        results: list[Any] = [
            CompletionItem(name, help=help_text)
            for name, (_, help_text) in self.lazy.items()
            if name.startswith(incomplete)
        ]
        results += [
            CompletionItem(name, help=command.get_short_help_str())
            for name, command in self.commands.items()
            if name not in self.lazy and not command.hidden and name.startswith(incomplete)
        ]
        results.extend(click.Command.shell_complete(self, ctx, incomplete))
        return results

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The listing from the table (no import); eagerly added commands from their help."""
        rows = [(name, help_text) for name, (_, help_text) in self.lazy.items()]
        rows += [
            (name, command.get_short_help_str())
            for name, command in self.commands.items()
            if name not in self.lazy and not command.hidden
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
