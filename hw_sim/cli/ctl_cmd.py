"""``vpump ctl``: the bench's hands on a running ``vpump serve``.

Why: opening the pairing window, advancing simulated time, injecting faults and reading the
true hardware state are bench operations, never protocol messages; this command sends them over
the control socket that ``vpump serve`` printed on its CONTROL line.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import UTC, datetime
from typing import Any

import click

from hw_sim.bench.bench import CATHETER_ACTIONS, DEFAULT_ASPIRATE_ML, FAULTS, BenchError, parse_ml
from hw_sim.bench.control import ControlError, control_call
from hw_sim.scenarios.timeparse import format_datetime, parse_duration
from protocol.units import mcg, ml


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
      vpump ctl --control bench.ctl patient
      vpump ctl --control bench.ctl catheter occlusion
      vpump ctl --control bench.ctl catheter aspirate 0.5mL
    """
    ctx.obj = {"control": control, "json": as_json}


@ctl.command()
@click.argument("state", type=click.Choice(["on", "off"]))
@click.pass_context
def wand(ctx: click.Context, state: str) -> None:
    """Put the programmer head over the pump (on: opens the pairing window) or take it away.

    While the head is away the pump refuses requests that change it (PROGRAMMER_HEAD_AWAY, the
    profile's ``writes_need_head``); reads are answered either way."""
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
    click.echo(f"reservoir (true)   {ml(answer['reservoir_nl']):.3f} mL")
    click.echo(f"delivered (true)   {ml(answer['delivered_nl']):.3f} mL")
    click.echo(f"battery            {answer['battery_ppm'] / 1e4:.2f} %")
    click.echo(f"pairing window     {'open' if answer['pairing_window_open'] else 'closed'}")
    click.echo(f"pairing            {_pairing_text(answer.get('pairing', {}))}")
    click.echo(f"tones              {len(answer['tones'])}")
    click.echo(f"catheter           {_catheter_text(answer.get('catheter', {}))}")
    patient = answer.get("patient")
    click.echo(
        f"patient            {_patient_line(patient)}"
        if patient is not None
        else "patient            none at the catheter tip (vpump serve --patient ...)"
    )


def _catheter_text(catheter: dict[str, Any]) -> str:
    """The catheter's injected faults in words (the pump itself cannot see any of them)."""
    faults = []
    occlusion = catheter.get("occlusion_ppm", 0)
    if occlusion >= 1_000_000:
        faults.append("occluded")
    elif occlusion:
        faults.append(f"{occlusion / 1e4:g} % occluded")
    if catheter.get("leak_ppm"):
        faults.append(f"leaking {catheter['leak_ppm'] / 1e4:g} % to the tissue")
    outflow = catheter.get("outflow_fault")
    if outflow == "disconnected":
        faults.append("disconnected")
    elif outflow == "tip_migrated":
        faults.append("tip out of the intrathecal space")
    text = ", ".join(faults) if faults else "patent"
    tissue = mcg(catheter.get("to_tissue_ng", 0), 1)
    blocked = ml(catheter.get("blocked_nl", 0))
    return f"{text} (to the tissue {tissue:.1f} mcg, blocked {blocked:.3f} mL)"


def _patient_line(p: dict[str, Any]) -> str:
    return (
        f"{_patient_name(p)}: Ashworth {p['ashworth_points']:.2f}, lumbar CSF "
        f"{p['lumbar_csf_mcg_per_ml']:.3f} mcg/mL, withdrawal {p['withdrawal_stage']}, "
        f"overdose {p['overdose']} (`vpump ctl patient`)"
    )


def _patient_name(p: dict[str, Any]) -> str:
    seed = p.get("population_seed")
    return str(p["profile"]) + ("" if seed is None else f" (population seed {seed})")


def _since(t: float | None, now: int) -> str:
    if t is None:
        return ""
    return f" since {format_datetime(int(t))} ({(now - t) / 3600:.1f} h)"


def _at(t: float | None, now: int) -> str:
    if t is None:
        return ""
    return f" at {format_datetime(int(t))} ({(now - t) / 3600:.1f} h ago)"


@ctl.command("patient")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.pass_context
def patient(ctx: click.Context, as_json: bool) -> None:
    """The virtual patient at the catheter tip (`vpump serve --patient`): what the firmware and
    the programmer cannot see.

    \b
    lumbar CSF, cisternal CSF, effect site   concentrations, mcg/mL
    Ashworth                                 spasticity, Modified Ashworth 0-4 (1+ = 1.5)
    spasms                                   spasm frequency per hour
    withdrawal                               none, early, moderate, severe; since when
    overdose                                 none, drowsiness, respiratory_depression
    dependent                                long enough on the drug to withdraw from it
    Exit 1 when no patient is attached.
    """
    answer = _call(ctx, {"cmd": "patient"})
    if as_json or ctx.obj["json"]:
        click.echo(json.dumps({k: v for k, v in answer.items() if k != "ok"}, sort_keys=True))
        return
    now = int(answer["time_s"])
    stage = answer["withdrawal_stage"]
    if stage == "none":
        cleared = _since(answer["withdrawal_stage_since"], now)
        withdrawal = "none" + (f" (signs gone{cleared})" if cleared else "")
    else:
        withdrawal = (
            f"{stage}{_since(answer['withdrawal_stage_since'], now)}: "
            f"{answer['withdrawal_signs']}; first signs{_at(answer['withdrawal_signs_since'], now)}"
        )
    lines = [
        (
            "patient",
            f"{_patient_name(answer)}, at the catheter tip{_since(answer['attached_at'], now)}",
        ),
        ("time", format_datetime(now)),
        ("lumbar CSF", f"{answer['lumbar_csf_mcg_per_ml']:.4f} mcg/mL"),
        ("cisternal CSF", f"{answer['cisternal_csf_mcg_per_ml']:.4f} mcg/mL"),
        ("effect site", f"{answer['effect_site_mcg_per_ml']:.4f} mcg/mL"),
        ("Ashworth", f"{answer['ashworth_points']:.2f} (Modified Ashworth, 0-4)"),
        ("spasms", f"{answer['spasms_per_h']:.2f} per hour"),
        ("withdrawal", withdrawal),
        ("overdose", answer["overdose"].replace("_", " ")),
        ("dependent", "yes" if answer["dependent"] else "no"),
        (
            "hours",
            f"therapeutic {answer['therapeutic_total_h']:.1f}, withdrawal signs "
            f"{answer['withdrawal_signs_total_h']:.1f}, overdose signs "
            f"{answer['overdose_signs_total_h']:.1f}",
        ),
    ]
    for label, value in lines:
        click.echo(f"{label:<18} {value}")


_CATHETER_DONE = {
    "occlusion": "catheter completely occluded: the motor turns, nothing reaches the CSF",
    "kink": "catheter kinked (complete occlusion): the motor turns, nothing reaches the CSF",
    "disconnect": "catheter disconnected: the outflow goes to the tissue",
    "migration": "catheter tip out of the intrathecal space: the outflow goes to the tissue",
    "clear": "catheter revised: patent, intact and in place",
}


@ctl.command("catheter")
@click.argument("action", metavar="ACTION", type=click.Choice(list(CATHETER_ACTIONS)))
@click.argument("arg", required=False, metavar="[PCT|VOLUME]")
@click.pass_context
def catheter(ctx: click.Context, action: str, arg: str | None) -> None:
    """Catheter faults the pump cannot detect, and the access-port aspiration.

    \b
    ACTION:
      occlusion              complete occlusion (no pressure model: the motor turns, the pump
                             counts every stroke, raises no alarm; the drug stays in the
                             reservoir, so the next refill finds more than expected)
      partial-occlusion PCT  PCT % of each stroke blocked (0 < PCT < 100)
      kink                   a tight kink: as a complete occlusion
      leak [PCT]             PCT % of the outflow to the tissue, not the CSF (default 100)
      disconnect             the catheter comes off the pump: all of it to the tissue
      migration              the tip leaves the intrathecal space: all of it to the tissue
      clear                  a revision: the catheter patent, intact and in place again
      aspirate [VOLUME]      draw VOLUME (default 0.5mL; 0.5, 0.5mL or 500uL; 1uL-10mL)
                             back through the catheter access port: a patent catheter returns
                             the fluid in it (and its drug), then CSF; a blocked one nothing;
                             a disconnected or migrated one no CSF
    Examples:
      vpump ctl catheter partial-occlusion 60
      vpump ctl catheter aspirate 0.5mL
    """
    _check_catheter_arg(action, arg)
    answer = _call(ctx, {"cmd": "catheter", "action": action, "arg": arg})
    if action == "aspirate":
        text = _aspiration_text(answer)
    elif action == "partial-occlusion":
        text = f"catheter {arg} % occluded: the motor turns, the rest reaches the CSF"
    elif action == "leak":
        text = f"catheter leaking {arg or '100'} % of its outflow to the tissue"
    else:
        text = _CATHETER_DONE[action]
    _emit(ctx, answer, text)


def _check_catheter_arg(action: str, arg: str | None) -> None:
    """Usage errors (exit 2) before anything reaches the bench."""
    hint = "[PCT|VOLUME]"
    try:
        if action == "aspirate":
            parse_ml(arg if arg is not None else str(DEFAULT_ASPIRATE_ML))
        elif action == "partial-occlusion":
            if arg is None:
                raise BenchError("partial-occlusion needs PCT, the blocked share: e.g. 50")
            pct = _float(arg, "partial-occlusion PCT must be a number, e.g. 50")
            if not 0 < pct < 100:
                raise BenchError("partial-occlusion PCT must be above 0 and below 100")
        elif action == "leak":
            if arg is not None:
                pct = _float(arg, "leak PCT must be a number, e.g. 30")
                if not 0 < pct <= 100:
                    raise BenchError("leak PCT must be above 0 and at most 100")
        elif arg is not None:
            raise BenchError(f"catheter {action} takes no argument (got {arg!r})")
    except BenchError as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from None


def _float(text: str, message: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BenchError(message) from None
    if not math.isfinite(value):
        raise BenchError(message)
    return value


def _aspiration_text(a: dict[str, Any]) -> str:
    asked, got = a["asked_ml"], a["returned_ml"]
    if a["csf_returned"]:
        drug = f", {a['drug_mcg']:g} mcg of drug drawn back with it" if a["drug_mcg"] else ""
        return (
            f"aspirated {asked:g} mL: {got:g} mL came back, CSF flows: the catheter is patent"
            f"{drug} (prime the catheter before therapy resumes)"
        )
    if got > 0:
        return f"aspirated {asked:g} mL: only {got:g} mL came back: the catheter is partly blocked"
    return (
        f"aspirated {asked:g} mL: nothing came back, no CSF: the catheter is blocked, "
        "disconnected or out of the intrathecal space"
    )
