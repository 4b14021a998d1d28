"""The ``vpump`` command: a thin click group; each subcommand lives in its own module.

Why: ``run`` (offline scenarios), ``serve`` (a pump on a serial link) and ``ctl`` (the bench)
are separate tools with separate dependencies; the group only wires them together.
"""

from __future__ import annotations

import click

from hw_sim.cli.accuracy_cmd import accuracy_command
from hw_sim.cli.ctl_cmd import ctl
from hw_sim.cli.population_cmd import population_command
from hw_sim.cli.run_cmd import run_command
from hw_sim.cli.serve_cmd import serve
from hw_sim.cli.trial_cmd import trial_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="intrathecal-pump", prog_name="vpump")
def main() -> None:
    """A deterministic virtual intrathecal baclofen pump."""


main.add_command(run_command)
main.add_command(serve)
main.add_command(ctl)
main.add_command(trial_command)
main.add_command(accuracy_command)
main.add_command(population_command)


if __name__ == "__main__":
    main()
