"""Small populations for the tests: a few patients, one year each, so `make test` stays fast."""

from __future__ import annotations

from pathlib import Path

import pytest

SMALL = """\
name = "small"
seed = 7
patients = {patients}
years = {years}
batch = {batch}

[device]
profile = {{ vp20 = 0.5, vp40 = 0.5 }}
flow_bias_pct = {{ normal = [0.0, 7.4], clip = [-14.5, 14.5] }}
catheter_cm = {{ uniform = [40, 80] }}

[patient]
profile = {{ spinal_adult = 0.5, child = 0.5 }}

[therapy]
start_mcg_per_day = 100
target_mcg_per_day = {{ uniform = [300, 700] }}

[refill]
slip_days = {{ triangular = [-2, 2, 10] }}
"""


def write_population(
    directory: Path, patients: int = 8, years: float = 1, batch: int = 2, name: str = "small.toml"
) -> Path:
    path = directory / name
    path.write_text(SMALL.format(patients=patients, years=years, batch=batch), encoding="utf-8")
    return path


@pytest.fixture
def small_population(tmp_path: Path) -> Path:
    return write_population(tmp_path)
