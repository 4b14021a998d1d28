"""The population file format: clear errors for bad keys and units, exit 2 from the command."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hw_sim.cli.main import main
from hw_sim.studies.population import (
    PopulationError,
    load_population,
    parse_population,
    patient_seed,
)

from .conftest import SMALL


def test_the_shipped_example_loads() -> None:
    population = load_population(Path(__file__).parents[2] / "scenarios" / "population_clinic.toml")
    assert population.patients >= 100 and population.years == 7
    assert population.flow_bias_pct.clip == (-14.5, 14.5)


def test_patient_seeds_are_hashes_not_offsets() -> None:
    seeds = {patient_seed(7, i) for i in range(1000)}
    assert len(seeds) == 1000
    assert patient_seed(7, 1) != patient_seed(8, 0)  # not seed + index
    assert patient_seed(7, 1) == patient_seed(7, 1)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"patiens": 3}, "unknown key 'patiens'"),
        ({"device": {"bias": 3}}, "[device] unknown key 'bias'"),
        ({"device": {"flow_bias_pct": {"normal": [0, 7]}}}, "needs clip"),
        ({"device": {"flow_bias_pct": {"uniform": [-80, 80]}}}, "within [-50"),
        ({"device": {"flow_bias_pct": "15%"}}, "expected a number"),
        ({"device": {"profile": "vp99"}}, "[device] profile"),
        ({"patient": {"profile": {"spinal_adult": -1}}}, "weights"),
        ({"patient": {"profile": "dragon"}}, "unknown patient"),
        ({"therapy": {"concentration_mcg_per_ml": 1500}}, "not a label concentration"),
        (
            {"therapy": {"target_mcg_per_day": {"triangular": [800, 500, 300]}}},
            "low <= mode <= high",
        ),
        ({"refill": {"slip_days": {"uniform": [5]}}}, "uniform needs [low, high]"),
        ({"refill": {"interval": 30}}, "[refill] unknown key 'interval'"),
        ({"years": 0}, "years"),
        ({"patients": 0}, "patients"),
        ({"replacement": {"after_eri_days": -3}}, "after_eri_days"),
    ],
)
def test_bad_files_are_refused_with_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(PopulationError) as info:
        parse_population(data, source="bad.toml")
    assert message in str(info.value)
    assert str(info.value).startswith("bad.toml")


def test_the_command_exits_2_on_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(SMALL.format(patients=2, years=1, batch=1).replace("[refill]", "[refil]"))
    result = CliRunner().invoke(main, ["population", str(bad)])
    assert result.exit_code == 2 and "unknown key 'refil'" in result.output
    missing = CliRunner().invoke(main, ["population", str(tmp_path / "nope.toml")])
    assert missing.exit_code == 2 and "not found" in missing.output
    both = CliRunner().invoke(
        main, ["population", str(bad), "--scheduler", "tcp://x:1", "--dask-local", "2"]
    )
    assert both.exit_code == 2
    mixed = CliRunner().invoke(
        main, ["population", str(bad), "--workers", "2", "--dask-local", "2"]
    )
    assert mixed.exit_code == 2 and "--workers" in mixed.output


def test_every_shipped_population_file_loads() -> None:
    files = sorted((Path(__file__).parents[2] / "scenarios").glob("population_*.toml"))
    assert files
    for path in files:
        assert load_population(path).patients > 0
