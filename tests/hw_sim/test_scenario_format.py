"""Scenario files: units convert to integers; every mistake names the action and the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hw_sim.scenarios.scenario import ScenarioError, load_scenario, parse_scenario
from hw_sim.scenarios.timeparse import DAY_S, DEFAULT_START_TIME

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"


def scenario_with(*actions: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"profile": "vp20", "seed": 1, **top, "action": list(actions)}


def test_shipped_scenarios_all_parse() -> None:
    # population_*.toml are population files (docs/POPULATION.md, tests/population), not scenarios.
    names = sorted(
        p.stem for p in SCENARIO_DIR.glob("*.toml") if not p.stem.startswith("population_")
    )
    assert {"seed_story", "flex_week", "pocket_fill", "over_infusion"} <= set(names)
    for name in names:
        assert load_scenario(SCENARIO_DIR / f"{name}.toml").actions


def test_user_units_become_pump_integers() -> None:
    scenario = parse_scenario(
        scenario_with(
            {"at": "1d", "do": "refill", "added_ml": 18.5, "concentration": 2000},
            {"at": "1d1h", "do": "flex", "steps": [["00:00", 400], ["07:30", 512.5]]},
            {"at": "2d", "do": "bolus", "mcg": 50, "over": "30m"},
        )
    )
    refill, flex, bolus = scenario.actions
    assert refill.at == DEFAULT_START_TIME + DAY_S
    assert refill.args == {"added_ml": 18_500_000, "concentration": 2000}
    assert flex.args["steps"] == ((0, 400_000), (450, 512_500))
    assert bolus.args == {"mcg": 50_000, "over": 1_800}


def test_same_time_actions_keep_file_order_and_absolute_dates_sort_in() -> None:
    scenario = parse_scenario(
        scenario_with(
            {"at": "2d", "do": "stop"},
            {"at": "1d", "do": "resume"},
            {"at": "2026-01-06T00:00", "do": "alarm_test"},
        )
    )
    assert [(a.index, a.do) for a in scenario.actions] == [
        (2, "resume"),
        (3, "alarm_test"),
        (1, "stop"),
    ]


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ({"at": "1d", "do": "refil", "concentration": 500}, "unknown do 'refil'"),
        ({"at": "1d", "do": "refill"}, r"action 1 \(refill\): missing key 'concentration'"),
        ({"at": "1d", "do": "refill", "concentration": 500, "volume": 3}, "unknown key 'volume'"),
        ({"at": "1x", "do": "stop"}, r"action 1 \(stop\) at: not a duration"),
        ({"do": "stop"}, "missing key 'at'"),
        (
            {"at": "1d", "do": "continuous"},
            "exactly one of mcg_per_day, screening_bolus_mcg or from_screening",
        ),
        ({"at": "1d", "do": "continuous", "mcg_per_day": -5}, "mcg_per_day: expected a dose"),
        ({"at": "1d", "do": "flex", "steps": [["25:00", 10]]}, "not a time of day"),
        ({"at": "1d", "do": "fault", "fault": "over-infusion"}, "needs pct"),
        ({"at": "1d", "do": "fault", "fault": "meteor"}, "unknown fault 'meteor'"),
        ({"at": "1d", "do": "mri"}, r"action 1 \(mri\): missing key 'duration'"),
        ({"at": "1d", "do": "mri", "duration": "0s"}, "duration must be positive"),
        (
            {"at": "1d", "do": "fault", "fault": "pocket-fill", "duration": "1h"},
            "duration is for a motor-stall",
        ),
        ({"at": "1d", "do": "ack_alarms", "alarms": ["loud"]}, "unknown alarm 'loud'"),
        ({"at": "2025-01-01", "do": "stop"}, "before the scenario start"),
    ],
)
def test_malformed_action_is_reported_with_its_number_and_key(
    action: dict[str, Any], message: str
) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(scenario_with(action))


def test_refill_rule_needs_exactly_one_trigger() -> None:
    with pytest.raises(ScenarioError, match="exactly one of every_days or below_ml"):
        parse_scenario(scenario_with(refill_rule={"every_days": [30, 60], "below_ml": 2}))
    rule = parse_scenario(scenario_with(refill_rule={"every_days": [30, 90]})).refill_rule
    assert rule is not None and rule.every_days == (30, 90) and rule.added_nl is None


def test_unknown_top_level_key_and_missing_file_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="sed: unknown key"):
        parse_scenario({"sed": 4})
    with pytest.raises(ScenarioError, match="not found"):
        load_scenario(tmp_path / "nope.toml")
