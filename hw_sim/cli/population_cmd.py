"""``vpump population POPULATION.toml``: play a population of virtual patients, summarise risks.

Why: risk questions need hundreds of patients on one machine and tens of thousands on a
cluster (docs/POPULATION.md).  Batches of patients are the tasks (about 1 ms of Dask overhead
per task: not one task per patient).  Backends: in-process for one worker, joblib's loky
processes for more, Dask distributed with ``--scheduler`` or ``--dask-local N``.  Every row
depends only on the file and the patient's index, and rows are sorted by index, so every
backend and worker count gives the same bytes.

With ``--out DIR`` each finished batch is written at once (``rows/batch-NNNNNN.jsonl``, written
to a temporary name, fsynced, renamed), so an interruption keeps what was done and a rerun with
the same ``--out`` skips the finished batches after checking the file's SHA-256 against
``DIR/population.json``.  At the end: ``rows.jsonl`` (and ``rows.parquet`` when pyarrow is
importable) and ``summary.json``.  Exit codes: 0 done, 2 bad input, 130 interrupted.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import click

from hw_sim.studies.population import (
    Population,
    PopulationError,
    batches,
    load_population,
    run_batch,
    summarise,
)

Batch = tuple[int, list[int]]
SCHEDULER_TIMEOUT = "10s"  # how long to try reaching a --scheduler


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _summary_json(summary: dict[str, Any]) -> str:
    return json.dumps(summary, sort_keys=True, indent=2, allow_nan=False)


def _run_one(population: Population, batch: Batch) -> tuple[int, list[dict[str, Any]]]:
    return batch[0], run_batch(population, batch[1])


# ---------------------------------------------------------------------- backends
def run_local(
    population: Population, todo: list[Batch], workers: int
) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """In-process for one worker, joblib (loky processes) for more; batches as they finish."""
    if workers <= 1 or len(todo) <= 1:
        for batch in todo:
            yield _run_one(population, batch)
        return
    try:
        joblib: Any = importlib.import_module("joblib")
    except ImportError:
        raise click.UsageError(
            "--workers > 1 needs joblib: pip install 'intrathecal-pump[population]'"
        ) from None
    parallel = joblib.Parallel(n_jobs=workers, backend="loky", return_as="generator_unordered")
    yield from parallel(joblib.delayed(_run_one)(population, batch) for batch in todo)


def run_dask(
    population: Population, todo: list[Batch], scheduler: str | None, local_workers: int
) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """Dask distributed: a running scheduler, or a LocalCluster of processes."""
    try:
        distributed: Any = importlib.import_module("dask.distributed")
    except ImportError:
        raise click.UsageError(
            "--scheduler/--dask-local need dask[distributed]: pip install 'intrathecal-pump[population]'"
        ) from None
    cluster = None
    if scheduler is None:
        cluster = distributed.LocalCluster(
            n_workers=local_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        client = distributed.Client(cluster)
    else:
        try:
            client = distributed.Client(scheduler, timeout=SCHEDULER_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise click.UsageError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
    try:
        futures = [client.submit(_run_one, population, batch, pure=False) for batch in todo]
        for future in distributed.as_completed(futures):
            yield future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ---------------------------------------------------------------------- output
class Progress:
    """A one-line progress bar on a terminal's stderr; nothing when stderr is not a tty."""

    def __init__(self, total: int, done: int, stream: TextIO) -> None:
        self.total, self.done, self.stream = total, done, stream
        self.enabled = stream.isatty()
        self.show()

    def show(self) -> None:
        if not self.enabled or not self.total:
            return
        width = 30
        filled = width * self.done // self.total
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} patients"
        )
        self.stream.flush()

    def advance(self, patients: int) -> None:
        self.done += patients
        self.show()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _batch_path(out: Path, number: int) -> Path:
    return out / "rows" / f"batch-{number:06d}.jsonl"


def prepare_out(out: Path, population: Population) -> None:
    """Create ``out`` or check that it belongs to this population file (resume)."""
    meta = out / "population.json"
    expected = {
        "population": population.name,
        "sha256": population.sha256,
        "patients": population.patients,
        "batch": population.batch,
    }
    if meta.exists():
        try:
            found = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise click.UsageError(f"{meta}: unreadable ({exc}); use another --out") from None
        if found != expected:
            raise click.UsageError(
                f"{out} holds results of another population file (sha256 {found.get('sha256')!s:.12}..., "
                f"this one {population.sha256:.12}...): use another --out, or delete it"
            )
    else:
        (out / "rows").mkdir(parents=True, exist_ok=True)
        _write_atomic(meta, _dumps(expected) + "\n")
    (out / "rows").mkdir(parents=True, exist_ok=True)


def _read_batch(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _write_parquet(out: Path, rows: list[dict[str, Any]]) -> bool:
    try:
        pa: Any = importlib.import_module("pyarrow")
        pq: Any = importlib.import_module("pyarrow.parquet")
    except ImportError:
        return False
    table = pa.Table.from_pylist(rows)
    pq.write_table(table, out / "rows.parquet")
    return True


def run_population(population: Population, **options: Any) -> dict[str, Any]:
    """Run every patient not yet done, write the rows, return the summary (the options of
    ``run_population_rows``)."""
    summary, _rows = run_population_rows(population, **options)
    return summary


def run_population_rows(
    population: Population,
    *,
    workers: int = 1,
    out: Path | None = None,
    scheduler: str | None = None,
    dask_local: int | None = None,
    progress: TextIO | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``run_population``, and the result rows sorted by index."""
    plan = batches(population)
    done: dict[int, list[dict[str, Any]]] = {}
    if out is not None:
        prepare_out(out, population)
        for number, _ in plan:
            path = _batch_path(out, number)
            if path.exists():
                done[number] = _read_batch(path)
    todo = [b for b in plan if b[0] not in done]
    bar = Progress(population.patients, sum(len(r) for r in done.values()), progress or sys.stderr)
    if scheduler is not None or dask_local is not None:
        results = run_dask(population, todo, scheduler, dask_local or 1)
    else:
        results = run_local(population, todo, workers)
    try:
        for number, rows in results:
            if out is not None:
                _write_atomic(_batch_path(out, number), "".join(_dumps(r) + "\n" for r in rows))
            done[number] = rows
            bar.advance(len(rows))
    finally:
        bar.close()
    rows = sorted((r for rs in done.values() for r in rs), key=lambda r: r["index"])
    summary = summarise(population, rows)
    if out is not None:
        _write_atomic(out / "rows.jsonl", "".join(_dumps(r) + "\n" for r in rows))
        _write_parquet(out, rows)
        _write_atomic(out / "summary.json", _summary_json(summary) + "\n")
    return summary, rows


def summary_text(summary: dict[str, Any]) -> str:
    lines = [
        f"population {summary['population']}: {summary['patients']} patients "
        f"({summary['implanted']} implanted, {summary['not_candidates']} not candidates), "
        f"{summary['patient_years']} patient-years, seed {summary['seed']}",
        "risks (exact Clopper-Pearson 95 % intervals):",
    ]
    for key, risk in summary["risks"].items():
        if risk["n"] == 0:
            lines.append(f"  {key}: no patients")
            continue
        low, high = risk["ci95"]
        lines.append(
            f"  {key}: {risk['events']}/{risk['n']} = {risk['proportion']:.4f} "
            f"[{low:.4f}, {high:.4f}]"
            + ("  (none seen: upper bound only)" if risk["events"] == 0 else "")
        )
    lines.append("distributions (p05 p25 p50 p75 p95):")
    for key, dist in summary["distributions"].items():
        if not dist["count"]:
            lines.append(f"  {key}: none")
            continue
        q = dist["quantiles"]
        lines.append(
            f"  {key}: n={dist['count']} "
            + " ".join(str(q[k]) for k in ("p05", "p25", "p50", "p75", "p95"))
        )
    return "\n".join(lines)


@click.command("population")
@click.argument("population_file", type=click.Path(dir_okay=False))
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Local worker processes (joblib, loky).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Write rows and summary here; a rerun resumes.",
)
@click.option("--scheduler", help="Run on a Dask distributed scheduler, e.g. tcp://HOST:8786.")
@click.option(
    "--dask-local",
    type=click.IntRange(min=1),
    help="Run on a Dask LocalCluster of N worker processes.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON (sorted keys).")
@click.option(
    "--plot",
    "plot_file",
    type=click.Path(dir_okay=False),
    help="Also draw histograms (days early, ERI day, withdrawal hours per patient-year) to this "
    "PNG file.",
)
def population_command(
    population_file: str,
    workers: int,
    out_dir: str | None,
    scheduler: str | None,
    dask_local: int | None,
    as_json: bool,
    plot_file: str | None,
) -> None:
    """Play the virtual patients of POPULATION_FILE (TOML) and summarise the risks."""
    if plot_file is not None:
        from hw_sim.studies.plots import plot_path_problem

        problem = plot_path_problem(plot_file)
        if problem:
            raise click.UsageError(problem)
    if scheduler is not None and dask_local is not None:
        raise click.UsageError("give --scheduler or --dask-local, not both")
    if workers != 1 and (scheduler is not None or dask_local is not None):
        raise click.UsageError(
            "--workers is for the local joblib backend; Dask sizes its own workers"
        )
    try:
        population = load_population(population_file)
    except PopulationError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        summary, rows = run_population_rows(
            population,
            workers=workers,
            out=None if out_dir is None else Path(out_dir),
            scheduler=scheduler,
            dask_local=dask_local,
        )
    except KeyboardInterrupt:
        click.echo(
            "interrupted: the finished batches are kept; rerun with the same --out to resume",
            err=True,
        )
        sys.exit(130)
    if plot_file is not None:
        from hw_sim.studies.plots import plot_population_histograms

        plot_population_histograms(rows, plot_file)
    click.echo(_summary_json(summary) if as_json else summary_text(summary))
