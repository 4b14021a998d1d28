"""``pumpctl``: the clinician programmer on the command line (a public contract).

Why: scripts, CI runs and people drive the pump through this command, so its names, options,
JSON keys and exit codes are stable.  This module is only the group, its global options and the
mapping of exceptions to exit codes; each command family lives in ``programmer/commands/``.

Exit codes: 0 done; 1 refused by the pump (or not supported by it, per its HELLO); 2 usage (bad
option or unit, no confirmation, declined); 3 pairing or authentication; 4 link or timeout, certain nothing changed; 5 uncertain outcome not
resolved (the message says what to check).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from .cli_support import Options
from .commands import (
    alarm_cmds,
    limits_cmd,
    log_cmds,
    pairing_cmds,
    pump_cmds,
    session,
    therapy_cmds,
    trace_cmd,
)
from .errors import ProgrammerError as _ProgrammerError
from .errors import PumpRefused, UncertainOutcome, exit_code_for
from .journal import Journal
from .terminal import safe_json, safe_output

EPILOG = """Exit codes: 0 done, 1 refused by (or not supported by) the pump, 2 usage, 3 pairing,
4 link or timeout (nothing changed), 5 uncertain outcome (check the pump).

Example session:  export PUMP_PORT=/dev/pts/3;  pumpctl identify;  pumpctl pair;
pumpctl refill --withdrawn 0mL --added 20mL --concentration 500mcg/mL;
pumpctl prime --catheter-length 60cm;  pumpctl program continuous --dose 400mcg/day;
pumpctl --json status"""


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.option(
    "--port",
    envvar="PUMP_PORT",
    metavar="URL",
    help="Serial port or pyserial URL (/dev/pts/3, /dev/ttyUSB0, socket://host:port, "
    "rfc2217://..., spy://...).  Default: $PUMP_PORT.",
)
@click.option("--json", "json_output", is_flag=True, help="Print one JSON document on stdout.")
@click.option("--yes", "-y", is_flag=True, help="Confirm the Finish view without asking.")
@click.option(
    "--keystore",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Key store file (default $XDG_CONFIG_HOME/intrathecal-pump/keys.json).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.01),
    default=1.0,
    show_default=True,
    help="Seconds to wait for each reply.",
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
    json_output: bool,
    yes: bool,
    keystore: Path | None,
    timeout: float,
    retries: int,
    ack_warnings: bool,
    wait_lock: float,
) -> None:
    """Pair with, interrogate and program an intrathecal baclofen pump.

    Every command that changes the pump shows the Finish view (current and new settings side by
    side) and asks to confirm; --yes confirms for scripts.  One programmer at a time talks to a
    pump: a second one is refused (exit 4) with the holder's pid and command, or waits with
    --wait-lock.
    """
    opts = ctx.ensure_object(Options)
    opts.port, opts.json, opts.yes = port, json_output, yes
    opts.keystore, opts.timeout_s, opts.retries = keystore, timeout, retries
    opts.ack_warnings = opts.ack_warnings or ack_warnings
    opts.wait_lock_s = wait_lock


for command in (
    session.identify,
    session.pair,
    session.unpair,
    pairing_cmds.pairings,
    session.status,
    limits_cmd.limits,
    therapy_cmds.program,
    therapy_cmds.bolus,
    therapy_cmds.prime,
    therapy_cmds.bridge,
    pump_cmds.refill,
    pump_cmds.patient_bolus,
    pump_cmds.stop,
    pump_cmds.resume,
    pump_cmds.clock,
    alarm_cmds.alarms,
    log_cmds.log,
    log_cmds.watch,
    trace_cmd.trace,
):
    cli.add_command(command)


def error_document(error: BaseException, code: int) -> dict[str, Any]:
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
        if opts.json:
            click.echo(safe_json(json.dumps(error_document(exc, exc.exit_code), indent=2)))
        return exc.exit_code
    except _ProgrammerError as exc:
        code = exit_code_for(exc)
        click.echo(safe_output(f"pumpctl: {exc}"), err=True)
        if opts.json:
            click.echo(safe_json(json.dumps(error_document(exc, code), indent=2, default=str)))
        return code
    except KeyboardInterrupt:
        return _interrupted(opts)
    return result if isinstance(result, int) else 0


def _interrupted(opts: Options) -> int:
    """Ctrl-C: exit 5 if a state-changing request was in flight (it stays journalled), else 130."""
    try:
        pending = Journal.beside(opts.keystore_obj().path).entries()
    except _ProgrammerError:
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
