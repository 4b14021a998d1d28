"""``alarms`` (list, ``--ack``, ``--test``) and ``alarms config``."""

from __future__ import annotations

import click

from protocol.units import format_ml, ml

from ..cli_support import confirm, connected, declined, emit, require_confirmation_possible
from ..cli_types import DURATION, VOLUME
from ..finish import for_settings
from ..units import format_duration
from ..views import alarm_document, alarms_text


@click.group(invoke_without_command=True)
@click.option("--ack", is_flag=True, help="Acknowledge (silence) every active alarm.")
@click.option("--test", "test_tones", is_flag=True, help="Sound every tone pattern once.")
@click.pass_context
def alarms(ctx: click.Context, ack: bool, test_tones: bool) -> None:
    """List active alarms; --ack silences them, --test sounds every tone.

    Examples: pumpctl alarms ;  pumpctl --yes alarms --ack ;  pumpctl alarms config --help
    """
    if ctx.invoked_subcommand is not None:
        return
    if ack or test_tones:
        require_confirmation_possible()
    with connected() as client:
        listing = client.alarms()
        active = [alarm_document(a) for a in listing["alarms"]]
        acknowledged = None
        view = None
        if ack or test_tones:
            rows = []
            if ack:
                rows.append(("acknowledge", alarms_text(active) or "none", "silenced"))
            if test_tones:
                rows.append(("tone test", "", "every tone pattern once"))
            view = for_settings("alarms", rows)
            if not confirm(view):
                raise declined()
            if ack:
                acknowledged = client.acknowledge_alarms()
            if test_tones:
                client.test_alarm_tones()
            active = [alarm_document(a) for a in client.alarms()["alarms"]]
    doc = {
        "alarms": active,
        "low_reservoir_alarm_ml": ml(int(listing["low_reservoir_nl"])),
        "critical_interval_s": int(listing["critical_interval_s"]),
        "acknowledged": acknowledged,
        "tone_test": test_tones,
    }
    if view is not None:
        doc["finish"] = view.to_dict()
    lines = [
        f"alarms: {alarms_text(active) or 'none'}",
        f"low-reservoir alarm at {doc['low_reservoir_alarm_ml']:g} mL, critical alarms "
        f"repeat every {format_duration(int(listing['critical_interval_s']))}",
    ]
    if acknowledged is not None:
        lines.append(f"acknowledged {acknowledged} alarm(s)")
    emit(doc, "\n".join(lines))


@alarms.command(name="config")
@click.option("--low-reservoir", type=VOLUME, required=True, help="Alarm volume, e.g. 2mL.")
@click.option("--critical-interval", type=DURATION, required=True, help="Repeat, e.g. 10min.")
def alarms_config(low_reservoir: int, critical_interval: int) -> None:
    """Set the low-reservoir alarm volume and the critical alarm repeat interval.

    Example: pumpctl alarms config --low-reservoir 2mL --critical-interval 10min
    """
    require_confirmation_possible()
    with connected() as client:
        current = client.alarms()
        view = for_settings(
            "configure alarms",
            [
                (
                    "low-reservoir alarm",
                    format_ml(int(current["low_reservoir_nl"])),
                    format_ml(low_reservoir),
                ),
                (
                    "critical repeat",
                    format_duration(int(current["critical_interval_s"])),
                    format_duration(critical_interval),
                ),
            ],
        )
        if not confirm(view):
            raise declined()
        client.configure_alarms(low_reservoir, critical_interval)
    emit(
        {
            "low_reservoir_alarm_ml": ml(low_reservoir),
            "critical_interval_s": critical_interval,
            "finish": view.to_dict(),
        },
        "Alarm settings written.",
    )
