"""``vpump accuracy --rate 0.5mL/day [--hours H] [--seed N] [--plot FILE.png] [--json]``.

Why: the motor model's accuracy the way IEC 60601-2-24 presents it (docs/ACCURACY.md): a
simulated gravimetric test of a fresh board at a constant programmed rate, with the start-up
curve, the trumpet curve (2-31 min windows, second hour) and the long windows of low-rate
ambulatory pumps (60-960 min, after 24 h).  Exit codes: 0 done, 2 a bad rate, unit or duration.
"""

from __future__ import annotations

import json
from typing import Any

import click

from hw_sim.profiles.loader import ProfileError
from hw_sim.studies.accuracy import DEFAULT_HOURS, AccuracyError, parse_rate, run_accuracy


def _text(result: dict[str, Any]) -> str:
    lines = [
        f"{result['profile']} at {result['rate_ml_per_day']:g} mL/day, seed {result['seed']}, "
        f"{result['hours']:g} h, {result['samples']} samples of {result['sample_min']:g} min; "
        f"overall mean error {result['overall_mean_error_pct']:+.3f} %"
    ]
    for key, title in (("trumpet", "trumpet"), ("long", "long windows")):
        part = result[key]
        if part is None:
            lines.append(f"{title}: the test is too short")
            continue
        start, end = part["period_h"]
        lines.append(f"{title} (hours {start:g}-{end:g}): A = {part['mean_error_pct']:+.3f} %")
        for w in part["windows"]:
            lines.append(
                f"  {w['window_min']:>4g} min: max {w['max_pct']:+8.3f} %  min {w['min_pct']:+8.3f} %"
            )
        if part["omitted_min"]:
            omitted = ", ".join(f"{w:g}" for w in part["omitted_min"])
            lines.append(f"  omitted (longer than the period): {omitted} min")
    return "\n".join(lines)


@click.command("accuracy")
@click.option("--rate", required=True, help="Programmed rate, e.g. 0.5mL/day, 20uL/h.")
@click.option(
    "--hours",
    type=float,
    default=DEFAULT_HOURS,
    show_default=True,
    help="Test duration (at least 2 for the trumpet, above 24 for the long windows).",
)
@click.option("--seed", type=int, default=1, show_default=True, help="The board's seed.")
@click.option(
    "--profile", "profile_name", default="vp20", show_default=True, help="Device profile."
)
@click.option("--bias", "bias_pct", type=float, default=0.0, help="Systematic flow error, percent.")
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False), help="Draw to this PNG.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (sorted keys).")
def accuracy_command(
    rate: str,
    hours: float,
    seed: int,
    profile_name: str,
    bias_pct: float,
    plot_file: str | None,
    as_json: bool,
) -> None:
    """A simulated gravimetric flow test of the motor model (IEC 60601-2-24 style)."""
    if plot_file is not None:
        from hw_sim.studies.plots import plot_path_problem

        problem = plot_path_problem(plot_file)
        if problem:
            raise click.UsageError(problem)
    try:
        rate_nl = parse_rate(rate)
        if bias_pct <= -100:
            raise AccuracyError("--bias must stay above -100 %")
        result = run_accuracy(rate_nl, hours, seed, profile_name, bias_pct)
    except (AccuracyError, ProfileError) as exc:
        raise click.UsageError(str(exc)) from None
    if plot_file is not None:
        from hw_sim.studies.plots import PlotsUnavailable, plot_accuracy

        try:
            plot_accuracy(result, plot_file)
        except PlotsUnavailable as exc:
            raise click.UsageError(str(exc)) from None
    click.echo(json.dumps(result, sort_keys=True, indent=2) if as_json else _text(result))
