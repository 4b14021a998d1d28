"""``program continuous|flex|stop``, ``bolus``, ``prime`` and ``bridge``: two-phase changes.

Every one of them stages the change (the pump validates it whole and returns its summary), shows
the Finish view built from that summary, asks, and only then commits naming the staged hash and
the active version.  Declined, unacknowledged warnings or any failure after staging abort the
staged change.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from protocol.catalog import CATHETER_STORED
from protocol.enums import ChangeKind

from .. import therapy
from ..cli_support import ack_warnings_option, confirm_and_commit, connected, emit, note
from ..cli_types import DAILY_DOSE, DOSE, DURATION, FLEX_STEP, LENGTH
from ..client import PumpClient
from ..clinic_time import clock_warning, host_time
from ..finish import FinishView, for_prescription
from ..flex_grid import week_grid
from ..plots import check_plot_path
from ..units import format_duration


def stage_and_commit(
    client: PumpClient, action: str, build: Any, change: Mapping[str, Any] | None = None
) -> None:
    """Stage ``change`` (or ``build(prescription)``), show the Finish view, confirm, commit."""
    status = client.status()
    prescription = client.read_prescription()
    change = change if change is not None else build(prescription)
    summary = client.stage(change)

    def finish_view() -> FinishView:
        view = for_prescription(action, status, prescription, change, summary)
        if change.get("kind") == ChangeKind.FLEX:  # step hours are the pump's local time
            view.warnings += filter(None, [clock_warning(status, host_time())])
        # shown by confirm_and_commit; --dry-run stops there (DryRun, the staged change is
        # aborted); warnings are acknowledged by --ack-warnings or, on a terminal, by answering yes
        return view

    view, version = confirm_and_commit(
        client, finish_view, lambda: client.commit(summary, summary.warnings)
    )
    emit(
        {"action": action, "version": version, "finish": view.to_dict()},
        f"Done: {action} is in force (prescription version {version}).",
    )
    if change.get("kind") == 0:
        click.echo("warning: the pump is STOPPED until `pumpctl resume`.", err=True)


@click.group()
def program() -> None:
    """Program the basal therapy: continuous, flex schedule, or stopped.

    Example: pumpctl program continuous --dose 400mcg/day
    """


@program.command()
@click.option("--dose", type=DAILY_DOSE, required=True, help="Daily dose, e.g. 400mcg/day.")
@ack_warnings_option
def continuous(dose: int) -> None:
    """Program a simple continuous daily dose.

    Example: pumpctl --port /dev/pts/3 program continuous --dose 400mcg/day
    """
    with connected() as client:
        stage_and_commit(
            client, f"program continuous {dose / 1000:g} mcg/day", None, therapy.continuous(dose)
        )


@program.command()
@click.option(
    "--step",
    "steps",
    type=FLEX_STEP,
    multiple=True,
    required=True,
    help="A step HH:MM=DOSE/day (the dose rate from that time on); repeat, first at 00:00.",
)
@click.option("--days", default=None, help="Weekdays for these steps, e.g. mon,tue (default all).")
@click.option(
    "--plot",
    "plot_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Draw the new week (7 x 24 grid of the dose rate) to FILE.png, as staged.",
)
@ack_warnings_option
def flex(steps: tuple[therapy.FlexStep, ...], days: str | None, plot_file: Path | None) -> None:
    """Program a flex schedule: dose rates that change at set times of day.

    The listed weekdays get these steps; other days keep their current flex program, or the
    continuous dose when the pump is on continuous therapy (as a single step from 00:00).  From
    any other mode --days must cover the whole week.

    Example: pumpctl program flex --step 00:00=300mcg/day --step 07:00=500mcg/day --days mon,tue

    With --plot FILE.png the week as staged is drawn before the Finish view asks to confirm
    (also with --dry-run); the Finish view shows the same grid as text.
    """
    program_steps = therapy.day_program(steps)
    weekdays = therapy.parse_weekdays(days)
    if plot_file is not None:
        check_plot_path(plot_file)

    def build(presc: Mapping[str, Any]) -> therapy.TherapyChange:
        change = therapy.flex(program_steps, weekdays, presc["therapy"])
        if plot_file is not None:
            from ..plots import plot_flex_week

            plot_flex_week(week_grid(change), plot_file, therapy.describe_change(change))
            note(f"flex week written to {plot_file}")
        return change

    with connected() as client:
        stage_and_commit(client, "program flex", build)


@program.command(name="stop")
@ack_warnings_option
def program_stop() -> None:
    """Program the stopped mode as the prescription (no delivery until reprogrammed).

    Therapy stays stopped until `pumpctl resume` or a new program.

    Example: pumpctl --port /dev/pts/3 --yes program stop
    """
    with connected() as client:
        stage_and_commit(client, "program stop", None, therapy.stopped())


@click.command()
@click.option("--dose", type=DOSE, required=True, help="Bolus dose, e.g. 50mcg.")
@click.option("--over", "duration", type=DURATION, required=True, help="Duration, e.g. 1h.")
@ack_warnings_option
def bolus(dose: int, duration: int) -> None:
    """Deliver a single bolus over a duration, then return to the basal therapy.

    Example: pumpctl --port /dev/pts/3 bolus --dose 50mcg --over 1h
    """
    with connected() as client:
        stage_and_commit(
            client,
            f"bolus {dose / 1000:g} mcg over {format_duration(duration)}",
            None,
            therapy.single_bolus(dose, duration),
        )


_CATHETER_HELP = "e.g. 60cm (default: the implanted catheter the pump knows)."


def _catheter(length: int | None) -> tuple[int, str]:
    """The wire length (``CATHETER_STORED``: the pump's own) and how the action names it."""
    if length is None:
        return CATHETER_STORED, "the catheter the pump knows"
    return length, f"{length / 10:g} cm catheter"


@click.command()
@click.option("--catheter-length", "length", type=LENGTH, default=None, help=_CATHETER_HELP)
@ack_warnings_option
def prime(length: int | None) -> None:
    """Priming bolus: fill the pump tubing and the catheter after implant or a catheter revision.

    The programmed therapy resumes when the prime ends; with none, the pump stays stopped and
    raises its pump-stopped alarm until you program it.  Into a catheter that already holds
    drug the pump warns, with the mcg the prime pushes into the patient, and the warning must
    be acknowledged.  The pump stores the catheter length for later primes and bridges.

    Example: pumpctl --port /dev/pts/3 prime --catheter-length 60cm
    """
    wire, named = _catheter(length)
    with connected() as client:
        stage_and_commit(client, f"priming bolus ({named})", None, therapy.priming_bolus(wire))


@click.command()
@click.option("--catheter-length", "length", type=LENGTH, default=None, help=_CATHETER_HELP)
@ack_warnings_option
def bridge(length: int | None) -> None:
    """Bridge bolus after a refill that changed concentration and skipped its bridge.

    The tubing and catheter still hold drug at the old concentration; the pump delivers that
    dead volume at the old concentration's rate, then switches to the new one.  A refill with a
    concentration change includes this bridge already (`pumpctl refill`).

    Example: pumpctl --port /dev/pts/3 bridge
    """
    wire, named = _catheter(length)
    with connected() as client:
        stage_and_commit(client, f"bridge bolus ({named})", None, therapy.bridge_bolus(wire))
