"""``vpump trial``: the screening trial as a command (text, JSON, usage errors exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from hw_sim.cli.main import main
from patient.profiles import PROFILE_DIR


def test_trial_prints_the_decision_and_the_start_dose() -> None:
    result = CliRunner().invoke(main, ["trial", "--patient", "spinal_adult"])
    assert result.exit_code == 0, result.output
    assert "bolus 50 mcg at 0 h: response" in result.output
    assert "decision: candidate (effective screening dose 50 mcg)" in result.output
    assert "start dose: 100 mcg/day" in result.output


def test_trial_json_is_deterministic_and_carries_the_timeline() -> None:
    runner = CliRunner()
    args = ["trial", "--patient", "child", "--json"]
    first = runner.invoke(main, args)
    assert first.exit_code == 0, first.output
    assert first.output == runner.invoke(main, args).output
    document = json.loads(first.output)
    assert document["start_dose_mcg_per_day"] == 150.0
    assert [b["dose_mcg"] for b in document["boluses"]] == [50.0, 75.0]
    assert len(document["boluses"][0]["timeline"]) == 17
    assert document["seed"] is None


def test_trial_seed_draws_a_population_variant() -> None:
    runner = CliRunner()
    plain = json.loads(runner.invoke(main, ["trial", "--patient", "spinal_adult", "--json"]).output)
    drawn = json.loads(
        runner.invoke(main, ["trial", "--patient", "spinal_adult", "--seed", "3", "--json"]).output
    )
    assert drawn["seed"] == 3
    assert drawn["boluses"] != plain["boluses"]


def test_trial_takes_a_profile_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text((PROFILE_DIR / "cerebral_adult.toml").read_text())
    result = CliRunner().invoke(main, ["trial", "--patient", str(path)])
    assert result.exit_code == 0, result.output
    assert "start dose: 50 mcg/day" in result.output


def test_trial_usage_errors_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    unknown = runner.invoke(main, ["trial", "--patient", "nobody"])
    assert unknown.exit_code == 2
    assert "unknown patient 'nobody'" in unknown.output
    assert runner.invoke(main, ["trial"]).exit_code == 2
    bad = tmp_path / "bad.toml"
    bad.write_text('[profile]\ndescription = "x"\n[pharmacokinetics]\ncsf_half_life_h = 1.5\n')
    result = runner.invoke(main, ["trial", "--patient", str(bad)])
    assert result.exit_code == 2
    assert "provenance" in result.output
