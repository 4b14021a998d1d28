"""``vpump run SCENARIO.toml [--json] [--plot FILE.png]``: play a scenario offline and report.

Why: the deterministic replay of a pump's life (docs/SCENARIOS.md) as a command; same file,
same bytes out.  ``--plot`` also draws the therapy timeline (hw_sim.studies.plots; needs the
``pictures`` extra) without changing the report.  Exit codes: 0 done, 2 usage or a malformed
scenario/profile.
"""

from __future__ import annotations

import click

from hw_sim.profiles.loader import ProfileError
from hw_sim.scenarios.report import to_json, to_text
from hw_sim.scenarios.scenario import ScenarioError, load_scenario
from hw_sim.scenarios.scenario_runner import run_scenario


@click.command("run")
@click.argument("scenario_file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (sorted keys).")
@click.option(
    "--plot",
    "plot_file",
    type=click.Path(dir_okay=False, writable=True),
    help="Also draw the therapy timeline to this PNG file.",
)
def run_command(scenario_file: str, as_json: bool, plot_file: str | None) -> None:
    """Play SCENARIO_FILE (TOML) on a fresh virtual pump and report what happened."""
    if plot_file is not None:
        from hw_sim.studies.plots import plot_path_problem

        problem = plot_path_problem(plot_file)
        if problem:
            raise click.UsageError(problem)
    try:
        scenario = load_scenario(scenario_file)
        if plot_file is None:
            report = run_scenario(scenario)
        else:
            from hw_sim.scenarios.timeline import run_timeline
            from hw_sim.studies.plots import PlotsUnavailable, plot_timeline

            report, series = run_timeline(scenario)
            try:
                plot_timeline(series, plot_file)
            except PlotsUnavailable as exc:
                raise click.UsageError(str(exc)) from None
    except (ScenarioError, ProfileError) as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(to_json(report) if as_json else to_text(report))
