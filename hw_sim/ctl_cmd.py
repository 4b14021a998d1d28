"""``vpump ctl``: the bench's hands on a running ``vpump serve``.

Why: opening the pairing window, advancing simulated time, injecting faults and reading the
true hardware state are bench operations, never protocol messages; this command sends them over
the control socket that ``vpump serve`` printed on its CONTROL line.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import click

from .bench import FAULTS
from .control import ControlError, control_call
from .timeparse import parse_duration


def _call(ctx: click.Context, request: dict[str, Any]) -> dict[str, Any]:
    try:
        return control_call(ctx.obj["control"], request)
    except ControlError as exc:
        click.echo(f"vpump ctl: {exc}", err=True)
        sys.exit(1)


def _emit(ctx: click.Context, answer: dict[str, Any], text: str) -> None:
    if ctx.obj["json"]:
        click.echo(json.dumps({k: v for k, v in answer.items() if k != "ok"}, sort_keys=True))
    else:
        click.echo(text)


@click.group("ctl")
@click.option(
    "--control",
    required=True,
    envvar="PUMP_CONTROL",
    help="Control socket printed by `vpump serve` on its CONTROL line (env PUMP_CONTROL).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.pass_context
def ctl(ctx: click.Context, control: str, as_json: bool) -> None:
    """Bench operations on a running virtual pump.

    \b
    Examples:
      vpump ctl --control bench.ctl wand on
      vpump ctl --control bench.ctl pairing accept 123456
      vpump ctl --control bench.ctl advance 72d
      vpump ctl --control bench.ctl fault over-infusion 15
      vpump ctl --control bench.ctl hw-status --json
    """
    ctx.obj = {"control": control, "json": as_json}


@ctl.command()
@click.argument("state", type=click.Choice(["on", "off"]))
@click.pass_context
def wand(ctx: click.Context, state: str) -> None:
    """Put the programmer head over the pump (on: opens the pairing window) or take it away."""
    answer = _call(ctx, {"cmd": "wand", "on": state == "on"})
    _emit(
        ctx,
        answer,
        f"wand {state}; pairing window {'open' if answer['pairing_window_open'] else 'closed'}",
    )


def iso_time(epoch: int) -> str:
    """Board time for people: ISO 8601 in UTC (the JSON keeps the Unix seconds)."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@ctl.command(context_settings={"ignore_unknown_options": True})
@click.argument("duration")
@click.pass_context
def advance(ctx: click.Context, duration: str) -> None:
    """Advance simulated time by DURATION (90s, 30m, 12h, 72d, 1d12h); only forwards."""
    if duration.strip().startswith("-"):
        raise click.BadParameter(
            f"{duration!r}: simulated time only moves forward (the pump's clock and its "
            "physics cannot run backwards); give a positive duration such as 1d, or start "
            "again from a copy of the --state files",
            param_hint="DURATION",
        )
    try:
        parse_duration(duration)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="DURATION") from exc
    answer = _call(ctx, {"cmd": "advance", "duration": duration})
    _emit(ctx, answer, f"time is now {iso_time(answer['time'])}")


@ctl.command()
@click.argument("name", type=click.Choice(list(FAULTS)))
@click.argument("arg", required=False)
@click.pass_context
def fault(ctx: click.Context, name: str, arg: str | None) -> None:
    """Inject a hardware fault: motor-stall, low-battery-reset, over-infusion PCT, memory-error,
    pocket-fill, line-noise RATE, or clear them all."""
    answer = _call(ctx, {"cmd": "fault", "name": name, "arg": arg})
    _emit(ctx, answer, f"fault {name}{' ' + arg if arg else ''} applied")


@ctl.command("power-cycle")
@click.pass_context
def power_cycle(ctx: click.Context) -> None:
    """Switch the pump off and on: it reboots from its NVM."""
    answer = _call(ctx, {"cmd": "power-cycle"})
    _emit(ctx, answer, "power cycled")


def _pairing_text(doc: dict[str, Any]) -> str:
    """One line for the pump's side of pairing (what a real pump would show on its display)."""
    state = doc.get("state", "none")
    auto = "  [AUTO-ACCEPT: codes are not compared]" if doc.get("auto_accept") else ""
    if state == "awaiting_acceptance":
        replaces = (
            f", replaces key {doc['replaces_key_id']:#010x}" if doc["replaces_key_id"] else ""
        )
        return (
            f"code {doc['code']} ({doc['role']} key{replaces}) waiting: "
            f"`vpump ctl pairing accept {str(doc['code']).replace(' ', '')}` if the programmer "
            f"shows the same code, else `vpump ctl pairing reject`{auto}"
        )
    if state == "awaiting_programmer":
        accepted = "accepted here, " if doc.get("accepted") else ""
        return (
            f"code {doc['code']} ({doc['role']} key): {accepted}waiting for the programmer to "
            f"confirm{auto}"
        )
    return f"none waiting{auto}"


@ctl.group()
def pairing() -> None:
    """The pump's side of pairing: compare the code, then accept or reject it.

    \b
    The pump stores a programmer's key only when the person at the pump accepts the code the
    programmer shows (numeric comparison).  A different code means someone is in the middle:
    reject it.
      vpump ctl pairing status
      vpump ctl pairing accept 123456
      vpump ctl pairing reject
    """


@pairing.command("status")
@click.pass_context
def pairing_status(ctx: click.Context) -> None:
    """The waiting pairing and its code, if any."""
    answer = _call(ctx, {"cmd": "pairing", "action": "status"})
    _emit(ctx, answer, f"pairing: {_pairing_text(answer)}")


@pairing.command("accept")
@click.argument("code")
@click.pass_context
def pairing_accept(ctx: click.Context, code: str) -> None:
    """Accept the waiting pairing; CODE is the code the programmer shows, typed in."""
    answer = _call(ctx, {"cmd": "pairing", "action": "accept", "code": code})
    _emit(
        ctx,
        answer,
        "pairing accepted: the key is stored, the pairing window is closed"
        if answer.get("state") == "none"
        else "code accepted: the key is stored when the programmer confirms",
    )


@pairing.command("reject")
@click.pass_context
def pairing_reject(ctx: click.Context) -> None:
    """Reject the waiting pairing: nothing is stored; the window stays open for a new try."""
    answer = _call(ctx, {"cmd": "pairing", "action": "reject"})
    _emit(ctx, answer, "pairing rejected: nothing stored")


@ctl.command("hw-status")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.pass_context
def hw_status(ctx: click.Context, as_json: bool) -> None:
    """The true hardware state: reservoir volume, delivered volume, battery, tones."""
    answer = _call(ctx, {"cmd": "hw-status"})
    if as_json or ctx.obj["json"]:
        click.echo(json.dumps({k: v for k, v in answer.items() if k != "ok"}, sort_keys=True))
        return
    click.echo(f"time               {iso_time(answer['time'])}")
    click.echo(f"reservoir (true)   {answer['reservoir_nl'] / 1e6:.3f} mL")
    click.echo(f"delivered (true)   {answer['delivered_nl'] / 1e6:.3f} mL")
    click.echo(f"battery            {answer['battery_ppm'] / 1e4:.2f} %")
    click.echo(f"pairing window     {'open' if answer['pairing_window_open'] else 'closed'}")
    click.echo(f"pairing            {_pairing_text(answer.get('pairing', {}))}")
    click.echo(f"tones              {len(answer['tones'])}")
