"""``vpump run SCENARIO.toml [--json]``: play a scenario offline and print its report.

Why: the deterministic replay of a pump's life (docs/SCENARIOS.md) as a command; same file,
same bytes out.  Exit codes: 0 done, 2 usage or a malformed scenario/profile.
"""

from __future__ import annotations

import click

from hw_sim.profiles import ProfileError
from hw_sim.report import to_json, to_text
from hw_sim.scenario import ScenarioError, load_scenario
from hw_sim.scenario_runner import run_scenario


@click.command("run")
@click.argument("scenario_file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (sorted keys).")
def run_command(scenario_file: str, as_json: bool) -> None:
    """Play SCENARIO_FILE (TOML) on a fresh virtual pump and report what happened."""
    try:
        scenario = load_scenario(scenario_file)
        report = run_scenario(scenario)
    except (ScenarioError, ProfileError) as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(to_json(report) if as_json else to_text(report))
