"""Runs: rows and summary, the same bytes for 1 and 2 joblib workers, resume after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from hw_sim.cli.main import main
from hw_sim.studies.population import load_population, run_patient

from .conftest import write_population


def _vpump(*args: str) -> list[str]:
    return [sys.executable, "-m", "hw_sim.cli.main", *args]


def _rows_of(tmp_path: Path, population: Path) -> list[dict[str, object]]:
    out = tmp_path / "reference"
    assert (
        CliRunner().invoke(main, ["population", str(population), "--out", str(out)]).exit_code == 0
    )
    return [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]


def test_a_row_is_deterministic_and_carries_its_draws(small_population: Path) -> None:
    population = load_population(small_population)
    row = run_patient(population, 3)
    assert row == run_patient(population, 3)
    assert row["index"] == 3 and row["candidate"] is True
    assert -14.5 <= row["flow_bias_pct"] <= 14.5
    assert row["years"] == pytest.approx(1.0, abs=0.01)
    assert row["dry_before_refill"] == len(row["days_early"])


def test_one_and_two_workers_give_the_same_bytes(tmp_path: Path, small_population: Path) -> None:
    outputs = []
    for workers in ("1", "2"):
        out = tmp_path / f"out{workers}"
        result = CliRunner().invoke(
            main,
            [
                "population",
                str(small_population),
                "--workers",
                workers,
                "--json",
                "--out",
                str(out),
            ],
        )
        assert result.exit_code == 0, result.output
        outputs.append(
            (result.output, (out / "rows.jsonl").read_bytes(), (out / "summary.json").read_bytes())
        )
    assert outputs[0] == outputs[1]
    rows = [json.loads(line) for line in outputs[0][1].decode().splitlines()]
    assert [r["index"] for r in rows] == list(range(8))
    summary = json.loads(outputs[0][0])
    assert summary["patients"] == 8
    for risk in summary["risks"].values():
        low, high = risk["ci95"]
        assert 0 <= low <= risk["proportion"] <= high <= 1
    assert "wall" not in outputs[0][2].decode() and "host" not in outputs[0][2].decode()


def test_a_rerun_with_another_file_in_the_same_out_is_refused(tmp_path: Path) -> None:
    first = write_population(tmp_path, patients=2, batch=1, name="a.toml")
    second = write_population(tmp_path, patients=3, batch=1, name="b.toml")
    out = tmp_path / "out"
    assert CliRunner().invoke(main, ["population", str(first), "--out", str(out)]).exit_code == 0
    result = CliRunner().invoke(main, ["population", str(second), "--out", str(out)])
    assert result.exit_code == 2 and "another population file" in result.output


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interruption_keeps_batches_and_a_rerun_resumes(
    tmp_path: Path, sig: signal.Signals
) -> None:
    population = write_population(tmp_path, patients=12, years=1, batch=1)
    reference = CliRunner().invoke(main, ["population", str(population), "--json"])
    assert reference.exit_code == 0
    out = tmp_path / "out"
    proc = subprocess.Popen(
        _vpump("population", str(population), "--out", str(out), "--json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    rows = out / "rows"
    while time.monotonic() < deadline:
        if rows.is_dir() and len([p for p in rows.glob("*.jsonl")]) >= 3:
            break
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    os.kill(proc.pid, sig)
    proc.communicate(timeout=30)
    if sig == signal.SIGINT and proc.returncode not in (0,):
        assert proc.returncode == 130
    kept = sorted(rows.glob("batch-*.jsonl"))
    assert 3 <= len(kept) <= 12
    reference_rows = {r["index"]: r for r in _rows_of(tmp_path, population)}
    for path in kept:  # every kept batch is whole and what an uninterrupted run gives
        for line in path.read_text().splitlines():
            row = json.loads(line)
            assert row == reference_rows[row["index"]]
    resumed = subprocess.run(
        _vpump("population", str(population), "--out", str(out), "--json"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout == reference.output


def test_the_progress_bar_only_on_a_terminal() -> None:
    import io

    from hw_sim.cli.population_cmd import Progress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    quiet = io.StringIO()
    bar = Progress(10, 0, quiet)
    bar.advance(5)
    bar.close()
    assert quiet.getvalue() == ""
    loud = Tty()
    bar = Progress(10, 4, loud)
    bar.advance(6)
    bar.close()
    assert "4/10 patients" in loud.getvalue() and loud.getvalue().endswith("10/10 patients\n")


def test_an_unreachable_scheduler_is_a_usage_error(
    small_population: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("dask.distributed")
    monkeypatch.setattr("hw_sim.cli.population_cmd.SCHEDULER_TIMEOUT", "1s")
    result = CliRunner().invoke(
        main, ["population", str(small_population), "--scheduler", "tcp://127.0.0.1:9"]
    )
    assert result.exit_code == 2 and "cannot reach the Dask scheduler" in result.output


def test_rows_have_the_same_keys_candidate_or_not(tmp_path: Path) -> None:
    from hw_sim.studies.population import _not_a_candidate, draw_patient

    population = load_population(write_population(tmp_path, patients=1))
    implanted = run_patient(population, 0)
    refused = _not_a_candidate(draw_patient(population, 0)[0])
    assert set(refused) == set(implanted) and refused["candidate"] is False


def test_parquet_rows_when_pyarrow_is_importable(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is not installed")
    population = write_population(tmp_path, patients=3, batch=2)
    out = tmp_path / "out"
    assert (
        CliRunner().invoke(main, ["population", str(population), "--out", str(out)]).exit_code == 0
    )
    table = pq.read_table(out / "rows.parquet")
    lines = (out / "rows.jsonl").read_text().splitlines()
    assert table.to_pylist() == [json.loads(line) for line in lines]


def test_plot_draws_the_histograms_of_the_rows(tmp_path: Path, small_population: Path) -> None:
    """``--plot`` renders a real PNG of the rows the run wrote: one value per dry reservoir,
    per ERI reached and per patient's withdrawal hours."""
    from hw_sim.studies.plots import plot_population_histograms

    png = tmp_path / "population.png"
    out = tmp_path / "out"
    args = ["population", str(small_population), "--out", str(out), "--plot", str(png)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
    plotted = plot_population_histograms(rows, tmp_path / "again.png")
    fields = plotted["fields"]
    assert fields["days_early"]["values"] == [float(d) for r in rows for d in r["days_early"]]
    assert len(fields["withdrawal_h_per_patient_year"]["values"]) == len(rows)
    assert (tmp_path / "again.png").read_bytes() == png.read_bytes()


def test_plot_to_an_unwritable_place_is_refused_before_the_run(
    tmp_path: Path, small_population: Path
) -> None:
    args = ["population", str(small_population), "--plot", str(tmp_path / "no" / "such" / "p.png")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output


def test_the_weekly_look_without_a_status_gives_the_row_a_full_look_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hw_sim.studies.population import PopulationRunner

    path = write_population(tmp_path, patients=3, years=7)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("[refill]", "[replacement]\nafter_eri_days = 7\n\n[refill]"))
    population = load_population(path)
    light = [run_patient(population, i) for i in range(3)]
    assert any(r["eri_day"] is not None and r["years"] < 7 for r in light)  # replaced after ERI
    monkeypatch.setattr(PopulationRunner, "_look", lambda self: self._watch())
    assert [run_patient(population, i) for i in range(3)] == light
