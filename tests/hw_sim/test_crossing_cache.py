"""The time line's reused reservoir crossing is, at every plan, the one a fresh computation gives.

``TimeLine._crossing`` answers the daily wakeup from the last plan while only basal delivery
happened since (firmware/timeline.py says why that is the same second).  Here every plan of every
shipped scenario (refills, concentration changes, flex weeks, boluses, stalls, power cycles,
occlusions, a reservoir run dry) and of a few population patients computes the crossing afresh
too, and the two must agree; the cache must also have answered most plans, or it does nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware.delivery import Segment
from firmware.timeline import TimeLine
from hw_sim.scenarios.scenario import load_scenario
from hw_sim.scenarios.scenario_runner import run_scenario
from hw_sim.studies.population import load_population, run_batch

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
STORIES = sorted(p for p in SCENARIOS.glob("*.toml") if not p.name.startswith("population"))


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Every ``_crossing`` answer checked against ``engine.crossing_time``; yields
    [plans, answers taken from the cache]."""
    counts = [0, 0]
    cached = TimeLine._crossing

    def crossing(
        self: TimeLine, segment: Segment, end: int | None, target: int, estimate: int
    ) -> int | None:
        before = self._crossing_cache
        answer = cached(self, segment, end, target, estimate)
        fresh = self._engine.crossing_time(segment, end, target)
        assert answer == fresh, (segment, end, target, estimate, before)
        counts[0] += 1
        counts[1] += self._crossing_cache is before and before is not None
        return answer

    monkeypatch.setattr(TimeLine, "_crossing", crossing)
    yield counts


@pytest.mark.parametrize("path", STORIES, ids=[p.stem for p in STORIES])
def test_every_plan_of_a_scenario_has_the_fresh_crossing(path: Path, checked: list[int]) -> None:
    run_scenario(load_scenario(path))
    assert checked[0] > 0


def test_population_patients_reuse_the_crossing_at_most_wakeups(checked: list[int]) -> None:
    example = SCENARIOS / "population_clinic.toml"
    population = dataclasses.replace(load_population(example), patients=4, batch=2)
    run_batch(population, [0, 1, 2, 3])
    plans, reused = checked
    assert plans > 4 * 300  # about one plan a day over seven years each
    assert reused > plans * 9 // 10
