"""What every ``pumpctl`` command shares: global options, connecting, output, confirmation.

Why: the CLI is a public contract (exit codes, ``--json`` printing exactly one document on stdout,
human text and progress on stderr, confirmation rules), so these rules are written once here and
each command module only says what it does.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from protocol.errors import ErrorCode
from protocol.framing import MAX_FRAME, max_encoded_size

from .cli_options import Options, reply_timeout
from .client import PumpClient
from .errors import DryRun, ProgrammerError, PumpRefused, UncertainOutcome, UsageError
from .finish import FinishView
from .journal import ResolvedRequest
from .terminal import safe_json, safe_output
from .transport import open_transport

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def options() -> Options:
    ctx = click.get_current_context()
    found = ctx.find_object(Options)
    if found is None:  # pragma: no cover - the group always creates it
        found = ctx.ensure_object(Options)
    return found


def say(text: str) -> None:
    """Human text: stdout normally, stderr when stdout is reserved for the JSON document."""
    click.echo(safe_output(text), err=options().json)


def note(text: str) -> None:
    """Side remarks, warnings and progress: always stderr."""
    click.echo(safe_output(text), err=True)


def emit(document: dict[str, Any], text: str | None = None) -> None:
    """The command's result: one JSON document on stdout with --json, else ``text``."""
    opts = options()
    if opts.json:
        document = {"ok": True, **document}
        if opts.resolved:
            document["resolved_requests"] = opts.resolved
        click.echo(safe_json(json.dumps(document, indent=2, sort_keys=True, default=str)))
    elif text is not None:
        click.echo(safe_output(text))


def _on_resolved(resolved: ResolvedRequest) -> None:
    note(f"Earlier unresolved request settled: {resolved.describe()}")
    options().resolved.append(
        {
            "request_id": resolved.pending.request_id,
            "message": resolved.pending.msg.name,
            "description": resolved.pending.description,
            "executed": resolved.executed,
            "status": resolved.status,
            "reason": resolved.reason,
        }
    )


def make_client() -> PumpClient:
    opts = options()
    opts.resolve()
    if not opts.port:
        raise UsageError(
            "no port given: pass --port URL, set PUMP_PORT, or name a pump with --pump NAME "
            "(`pumpctl ports` lists the serial ports and the virtual pumps running here)"
        )
    timeout_s = opts.timeout_s
    if timeout_s is None:
        timeout_s = reply_timeout(opts.baud, max_encoded_size(MAX_FRAME))
    transport = open_transport(
        opts.port, baud=opts.baud, timeout=timeout_s, wait_lock_s=opts.wait_lock_s
    )
    client = PumpClient(transport, opts.keystore_obj(), timeout_s=timeout_s, retries=opts.retries)
    client.on_resolved = _on_resolved
    client.on_warning = note
    return client


@contextmanager
def connected(session: bool = True) -> Iterator[PumpClient]:
    """A client on --port; with ``session`` an authenticated session (journal resolved first)."""
    client = make_client()
    try:
        if session:
            client.open_session()
        yield client
    finally:
        client.close()


def interactive() -> bool:
    return sys.stdin.isatty()


#: The question asked at the Finish view when the pump raised soft-limit warnings.
ACK_PROMPT = "Acknowledge these warnings?"


def confirm(view: FinishView) -> bool:
    """Show the Finish view, then ask (or take --yes).  False if the user declines.

    ``--dry-run`` stops here (``DryRun``: nothing written, exit 0); without a terminal and
    without --yes the view is shown and the change refused (exit 2).

    Soft-limit warnings the pump raised (``view.warning_bits``) are acknowledged first: with
    ``--ack-warnings``, or on a terminal by answering "acknowledge these warnings? [y/N]" (no is
    a decline).  With --yes or without a terminal and without --ack-warnings the change is
    refused (WARNINGS_NOT_ACKNOWLEDGED, exit 1): nothing was written."""
    opts = options()
    say(view.text())
    if opts.dry_run:
        raise DryRun(view)
    if view.warning_bits and not opts.ack_warnings:
        if opts.yes or not interactive():
            raise unacknowledged(view)
        if not click.confirm(ACK_PROMPT, default=False, err=True):
            return False
    if opts.yes:
        return True
    if not interactive():
        raise UsageError(
            "this command changes the pump and needs confirmation, but there is no terminal to "
            "ask on: review the Finish view above and pass --yes (or --dry-run to only show it)"
        )
    return click.confirm("Write these settings to the pump?", default=False, err=True)


def confirm_and_commit(
    client: PumpClient, make_view: Callable[[], FinishView], commit: Callable[[], T]
) -> tuple[FinishView, T]:
    """The end of every staged change: build its Finish view, confirm, commit.

    If anything but an uncertain commit goes wrong (a decline, ``--dry-run``, a refusal, Ctrl-C)
    what is staged on the pump is dropped, so nothing is left half-programmed.  An uncertain
    commit is left for the journal to resolve."""
    try:
        view = make_view()
        if not confirm(view):
            raise declined()
        return view, commit()
    except UncertainOutcome:
        raise
    except (ProgrammerError, KeyboardInterrupt):
        with contextlib.suppress(ProgrammerError):
            client.abort()
        raise


def declined() -> UsageError:
    return UsageError("cancelled at the Finish view; nothing was written to the pump")


def unacknowledged(view: FinishView) -> PumpRefused:
    return PumpRefused(
        ErrorCode.WARNINGS_NOT_ACKNOWLEDGED,
        "the change raised soft-limit warnings (" + "; ".join(view.warnings) + "); review them "
        "and pass --ack-warnings to commit anyway (on a terminal, without --yes, you are asked)",
    )


def ack_warnings_option(func: F) -> F:
    """``--ack-warnings`` on a command (also accepted as a global option)."""

    def _store(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
        if value:
            opts = ctx.find_object(Options)
            if opts is not None:
                opts.ack_warnings = True
        return value

    return click.option(
        "--ack-warnings",
        is_flag=True,
        expose_value=False,
        callback=_store,
        help="Acknowledge the soft-limit warnings the pump raised (shown in the Finish view); "
        "needed with --yes or without a terminal, else you are asked.",
    )(func)
