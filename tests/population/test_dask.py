"""A real dask.distributed LocalCluster (processes, 2 workers) gives the single-process summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hw_sim.cli.main import main

pytest.importorskip("dask.distributed", reason="dask[distributed] is not installed")


@pytest.mark.integration
@pytest.mark.timeout(90)
@pytest.mark.xdist_group("population_dask")
def test_a_local_dask_cluster_gives_the_single_process_summary(
    tmp_path: Path, small_population: Path
) -> None:
    single = CliRunner().invoke(main, ["population", str(small_population), "--json"])
    assert single.exit_code == 0, single.output
    out = tmp_path / "dask"
    on_dask = CliRunner().invoke(
        main,
        ["population", str(small_population), "--dask-local", "2", "--json", "--out", str(out)],
    )
    assert on_dask.exit_code == 0, on_dask.output
    assert on_dask.output == single.output
    assert json.loads((out / "summary.json").read_text()) == json.loads(single.output)
