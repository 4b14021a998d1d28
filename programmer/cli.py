"""``pumpctl``: the clinician programmer on the command line (a public contract).

Why: scripts, CI runs and people drive the pump through this command, so its names, options,
JSON keys and exit codes are stable.  This module is only the group, its global options, the
table of subcommands and the mapping of exceptions to exit codes; each command family lives in
``programmer/commands/`` and is imported only when it runs (``cli_options.LazyGroup``: a new
command is one entry in ``COMMANDS``), so ``--help``, ``--version`` and usage errors start fast.

Exit codes: 0 done; 1 refused by the pump (or not supported by it, per its HELLO); 2 usage (bad
option or unit, no confirmation, declined); 3 pairing or authentication; 4 link or timeout, certain nothing changed; 5 uncertain outcome not
resolved (the message says what to check).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .cli_options import DEFAULT_BAUD, LazyGroup, Options
from .terminal import safe_json, safe_output

if TYPE_CHECKING:
    from .errors import ProgrammerError

EPILOG = """Exit codes: 0 done, 1 refused by (or not supported by) the pump, 2 usage, 3 pairing,
4 link or timeout (nothing changed), 5 uncertain outcome (check the pump).

\b
Environment: PUMP_PORT, PUMP_KEYSTORE, PUMP_TIMEOUT, PUMP_WAIT_LOCK; named pumps in
$XDG_CONFIG_HOME/intrathecal-pump/pumps.toml ([pumps.NAME] port = "..."), chosen with --pump.
Shell completion: eval "$(pumpctl completion bash)" (or zsh, fish).

Example session:  export PUMP_PORT=/dev/pts/3;  pumpctl identify;  pumpctl pair;
pumpctl refill --withdrawn 0mL --added 20mL --concentration 500mcg/mL;
pumpctl prime --catheter-length 60cm;  pumpctl program continuous --dose 400mcg/day;
pumpctl status --json"""

#: name -> (module:attribute, one-line help); loaded only when the command runs.
COMMANDS: dict[str, tuple[str, str]] = {
    "identify": ("programmer.commands.session:identify", "Identify the pump (no pairing needed)."),
    "pair": ("programmer.commands.session:pair", "Pair this programmer with the pump."),
    "unpair": ("programmer.commands.session:unpair", "Make the pump forget this programmer."),
    "pairings": (
        "programmer.commands.pairing_cmds:pairings",
        "List, revoke or authorise the pump's pairing keys.",
    ),
    "status": ("programmer.commands.session:status", "Therapy, reservoir, battery, alarms."),
    "limits": (
        "programmer.commands.limits_cmd:limits",
        "The pump's limits and drug library (no change).",
    ),
    "program": (
        "programmer.commands.therapy_cmds:program",
        "Program continuous, flex or stopped therapy.",
    ),
    "bolus": ("programmer.commands.therapy_cmds:bolus", "Deliver a single bolus."),
    "prime": ("programmer.commands.therapy_cmds:prime", "Priming bolus (tubing and catheter)."),
    "bridge": ("programmer.commands.therapy_cmds:bridge", "Bridge bolus after a change of drug."),
    "refill": ("programmer.commands.pump_cmds:refill", "Record a refill."),
    "patient-bolus": (
        "programmer.commands.pump_cmds:patient_bolus",
        "Configure or request patient boluses.",
    ),
    "stop": ("programmer.commands.pump_cmds:stop", "Stop delivery now."),
    "resume": ("programmer.commands.pump_cmds:resume", "Resume the therapy before the stop."),
    "clock": ("programmer.commands.pump_cmds:clock", "Set the pump clock (clock sync)."),
    "alarms": ("programmer.commands.alarm_cmds:alarms", "List, acknowledge or configure alarms."),
    "log": (
        "programmer.commands.log_cmds:log",
        "Download the therapy, alarm, audit or daily-totals log.",
    ),
    "watch": ("programmer.commands.log_cmds:watch", "Live telemetry and alarm events."),
    "trace": ("programmer.commands.trace_cmd:trace", "Decode a captured exchange (no pump)."),
    "ports": (
        "programmer.commands.ports_cmd:ports",
        "Serial ports and virtual pumps on this machine.",
    ),
    "completion": (
        "programmer.commands.ports_cmd:completion",
        "Print the shell completion script (bash, zsh, fish).",
    ),
}

ALIASES = {"alarm": "alarms"}


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    aliases=ALIASES,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=EPILOG,
)
@click.version_option(package_name="intrathecal-pump", prog_name="pumpctl")
@click.option(
    "--port",
    metavar="URL",
    help="Serial port or pyserial URL (/dev/pts/3, /dev/ttyUSB0, socket://host:port, "
    "rfc2217://..., spy://...).  Default: the --pump's port, else $PUMP_PORT.",
)
@click.option(
    "--pump",
    metavar="NAME",
    default=None,
    help="A pump named in $XDG_CONFIG_HOME/intrathecal-pump/pumps.toml "
    "([pumps.NAME] port, keystore, timeout, baud).",
)
@click.option("--json", "json_output", is_flag=True, help="Print one JSON document on stdout.")
@click.option("--yes", "-y", is_flag=True, help="Confirm the Finish view without asking.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Show the Finish view of a change (text or --json) and write nothing to the pump.",
)
@click.option(
    "--keystore",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Key store file (default $PUMP_KEYSTORE, else "
    "$XDG_CONFIG_HOME/intrathecal-pump/keys.json).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.01),
    default=None,
    help="Seconds to wait for each reply.  Default: $PUMP_TIMEOUT, else derived from the line "
    "rate: 0.5 s plus a largest request and reply at --baud, at least 1 s.",
)
@click.option(
    "--baud",
    type=click.IntRange(min=300, max=4_000_000),
    default=DEFAULT_BAUD,
    show_default=True,
    help="Line rate of a serial port (a pty has none: the default stands for it).",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0, max=10),
    default=2,
    show_default=True,
    help="Attempts after the first (state-changing ones reuse their request id).",
)
@click.option("--ack-warnings", is_flag=True, help="Acknowledge soft-limit warnings.")
@click.option(
    "--wait-lock",
    envvar="PUMP_WAIT_LOCK",
    type=click.FloatRange(min=0),
    default=0.0,
    metavar="SECONDS",
    help="If another programmer is using this pump, wait up to SECONDS for it to finish "
    "instead of refusing at once.  Default: $PUMP_WAIT_LOCK or 0.",
)
@click.pass_context
def cli(
    ctx: click.Context,
    port: str | None,
    pump: str | None,
    json_output: bool,
    yes: bool,
    dry_run: bool,
    keystore: Path | None,
    timeout: float | None,
    baud: int,
    retries: int,
    ack_warnings: bool,
    wait_lock: float,
) -> None:
    """Pair with, interrogate and program an intrathecal baclofen pump.

    Every command that changes the pump shows the Finish view (current and new settings side by
    side) and asks to confirm; --yes confirms for scripts, --dry-run only shows it.  One
    programmer at a time talks to a pump: a second one is refused (exit 4) with the holder's pid
    and command, or waits with --wait-lock.  The common options (--json, --yes, --port,
    --timeout, --keystore, --pump) go before or after the subcommand.
    """
    opts = ctx.ensure_object(Options)
    opts.port, opts.pump, opts.json, opts.yes = port, pump, json_output, yes
    opts.dry_run = dry_run
    opts.keystore, opts.timeout_s, opts.retries = keystore, timeout, retries
    opts.baud = baud
    opts.ack_warnings = opts.ack_warnings or ack_warnings
    opts.wait_lock_s = wait_lock


def error_document(error: BaseException, code: int) -> dict[str, Any]:
    from .errors import PumpRefused, UncertainOutcome

    doc: dict[str, Any] = {
        "ok": False,
        "exit_code": code,
        "error": type(error).__name__,
        "message": str(error),
    }
    if isinstance(error, PumpRefused):
        doc["code"] = getattr(error.code, "name", error.code)
        doc["reason"] = error.reason
    if isinstance(error, UncertainOutcome):
        doc["request_id"] = error.request_id
        doc["request"] = error.what
    return doc


def run(args: list[str] | None = None) -> int:
    """Run pumpctl with ``args``; returns the exit code instead of exiting."""
    opts = Options()
    try:
        result = cli.main(args=args, prog_name="pumpctl", standalone_mode=False, obj=opts)
    except click.exceptions.Abort:
        click.echo("Aborted; nothing more was sent.", err=True)
        return 2
    except click.ClickException as exc:
        exc.show()
        # --json after the subcommand may not have been parsed yet when the error came
        if opts.json or "--json" in (sys.argv[1:] if args is None else args):
            click.echo(safe_json(json.dumps(error_document(exc, exc.exit_code), indent=2)))
        return exc.exit_code
    except KeyboardInterrupt:
        return _interrupted(opts)
    except Exception as exc:
        from .errors import DryRun, ProgrammerError, exit_code_for

        if isinstance(exc, DryRun):
            return _dry_run_done(exc, opts)
        if not isinstance(exc, ProgrammerError):
            raise  # a bug: the traceback is the report
        code = exit_code_for(exc)
        click.echo(safe_output(f"pumpctl: {exc}"), err=True)
        if opts.json:
            click.echo(safe_json(json.dumps(error_document(exc, code), indent=2, default=str)))
        return code
    return result if isinstance(result, int) else 0


def _dry_run_done(done: ProgrammerError, opts: Options) -> int:
    """--dry-run stopped at the Finish view: say so; with --json the view is the document."""
    view = getattr(done, "view", None)
    click.echo("Dry run: nothing was written to the pump.", err=True)
    if opts.json:
        doc = {"ok": True, "dry_run": True, "committed": False}
        if view is not None:
            doc["finish"] = view.to_dict()
        click.echo(safe_json(json.dumps(doc, indent=2, sort_keys=True, default=str)))
    return 0


def _interrupted(opts: Options) -> int:
    """Ctrl-C: exit 5 if a state-changing request was in flight (it stays journalled), else 130."""
    from .errors import ProgrammerError, UncertainOutcome
    from .journal import Journal

    try:
        pending = Journal.beside(opts.keystore_obj().path).entries()
    except (ProgrammerError, click.ClickException):
        pending = []
    if pending:
        described = ", ".join(f"{p.description} ({p.request_id:#010x})" for p in pending)
        click.echo(
            f"Interrupted with requests in flight: {described}.  They may have taken effect; "
            "the next pumpctl session with the pump asks it and reports.  Check `pumpctl status`.",
            err=True,
        )
        return UncertainOutcome.exit_code
    click.echo("Interrupted.", err=True)
    return 130


def main() -> None:
    sys.exit(run())
