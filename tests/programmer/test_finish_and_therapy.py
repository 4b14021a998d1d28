"""The Finish view shows old and new side by side; the flex rule keeps unlisted days."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from programmer import KeyStore, therapy
from programmer.clinical import StagedRefillSummary, StagedSummary
from programmer.errors import UsageError
from programmer.finish import STOP_WARNING, for_prescription, for_refill
from protocol import ChangeKind, Role, StageWarning

from .conftest import clinic_pump, clinic_status, make_client

STATUS = clinic_status()  # the real pump's: 400 mcg/day of 500 mcg/mL, 15 mL, on 2026-01-05
PRESCRIPTION = {"therapy": therapy.continuous(400_000)}


def summary(dose_ng: int, warnings: int = 0) -> StagedSummary:
    now = STATUS["pump_time"]
    return StagedSummary(
        b"h" * 16, 3, dose_ng, dose_ng * 2, 0, now + 30 * 86400, now + 20 * 86400, warnings
    )


def test_finish_view_shows_current_and_new_dose_rate_and_dates() -> None:
    view = for_prescription(
        "program", STATUS, PRESCRIPTION, therapy.continuous(500_000), summary(500_000)
    )
    doc = view.to_dict()
    assert doc["current"]["daily_dose_mcg"] == 400.0
    assert doc["new"]["daily_dose_mcg"] == 500.0
    assert doc["current"]["rate_ml_per_day"] == 0.8
    assert doc["new"]["rate_ml_per_day"] == 1.0
    assert doc["new"]["next_refill_date"] == "2026-02-04"
    text = view.text()
    assert "continuous 400 mcg/day" in text and "continuous 500 mcg/day" in text
    assert "* daily dose (mcg/day)" in text  # changed rows are marked


def test_finish_view_names_every_soft_warning() -> None:
    bits = StageWarning.SOFT_DOSE_LIMIT | StageWarning.SECOND_INCREASE_WITHIN_24H
    view = for_prescription(
        "program", STATUS, PRESCRIPTION, therapy.continuous(900_000), summary(900_000, int(bits))
    )
    assert len(view.warnings) == 2
    assert view.to_dict()["warning_bits"] == int(bits)
    assert view.text().count("WARNING") == 2


def test_stopping_therapy_warns_that_it_stays_stopped_until_resume() -> None:
    view = for_prescription("program stop", STATUS, PRESCRIPTION, therapy.stopped(), summary(0))
    assert view.warnings[0] == STOP_WARNING
    assert "resume" in STOP_WARNING


def staged_refill(withdrawn_nl: int, added_nl: int, conc: int) -> StagedRefillSummary:
    """The clinic pump's own stage summary of a refill (it knows no catheter: no bridge)."""
    pump = clinic_pump()
    with tempfile.TemporaryDirectory() as keys:
        pump.open_wand()
        with make_client(pump, KeyStore(Path(keys) / "keys.json")) as client:
            client.pair(Role.CLINICIAN)
            return client.stage_refill(withdrawn_nl, added_nl, conc, bridge=False)


def test_refill_view_warns_of_a_possible_pocket_fill_and_a_skipped_bridge() -> None:
    """The pump expects 15 mL back; 1 mL withdrawn is 14 mL off (above vp20's 1 mL), and a
    change to 1000 mcg/mL without its bridge leaves 500 mcg/mL drug in the catheter."""
    view = for_refill(STATUS, staged_refill(1_000_000, 20_000_000, 1000))
    assert any("pocket fill" in w for w in view.warnings)
    assert any("bridge is skipped" in w for w in view.warnings)
    assert view.to_dict()["new"]["discrepancy_ml"] == -14.0
    calm = for_refill(STATUS, staged_refill(15_000_000, 20_000_000, 500))
    assert calm.warnings == []


def step(hhmm: str, mcg: int) -> therapy.FlexStep:
    hours, minutes = hhmm.split(":")
    return therapy.FlexStep(int(hours) * 60 + int(minutes), mcg * 1000)


def test_flex_for_listed_days_keeps_the_other_days_current_program() -> None:
    weekend = [step("00:00", 200)]
    current = therapy.flex(weekend, range(7), None)
    workday = therapy.day_program([step("07:00", 500), step("00:00", 300)])
    change = therapy.flex(workday, therapy.parse_weekdays("mon,tue,wed,thu,fri"), current)
    params = change["params"]
    assert change["kind"] == ChangeKind.FLEX
    days = [params["day_programs"][i] for i in params["weekday_program"]]
    assert days[0] == [
        {"start_minute": 0, "daily_dose_ng": 300_000},
        {"start_minute": 420, "daily_dose_ng": 500_000},
    ]
    assert days[5] == days[6] == [{"start_minute": 0, "daily_dose_ng": 200_000}]
    assert len(params["day_programs"]) == 2


def test_flex_for_listed_days_from_continuous_keeps_the_continuous_dose_on_the_others() -> None:
    """On continuous 400 mcg/day, ``--days mon`` with 300 mcg/day: Monday gets 300, the six
    other days keep 400 as a single step from 00:00 (not, silently, 300 every day)."""
    change = therapy.flex(
        [step("00:00", 300)], therapy.parse_weekdays("mon"), therapy.continuous(400_000)
    )
    params = change["params"]
    assert params["day_programs"] == [  # in order of first use, Monday first
        [{"start_minute": 0, "daily_dose_ng": 300_000}],
        [{"start_minute": 0, "daily_dose_ng": 400_000}],
    ]
    assert params["weekday_program"] == [0, 1, 1, 1, 1, 1, 1]


def test_flex_on_a_pump_with_nothing_to_keep_applies_to_every_day_or_is_refused() -> None:
    """Stopped or never programmed: all seven days get the program; a subset is refused (the
    other days would have no dose), before the pump sees anything."""
    every_day = therapy.flex([step("00:00", 300)], therapy.parse_weekdays(None), therapy.stopped())
    assert every_day["params"]["weekday_program"] == [0] * 7
    with pytest.raises(UsageError, match="give every day"):
        therapy.flex([step("00:00", 300)], therapy.parse_weekdays("mon"), therapy.stopped())
    with pytest.raises(UsageError, match="give every day"):
        therapy.flex([step("00:00", 300)], therapy.parse_weekdays("sat,sun"), None)


@pytest.mark.parametrize(
    ("steps", "why"),
    [
        ([step("07:00", 300)], "00:00"),
        ([step("00:00", 1), step("00:00", 2)], "same time"),
        ([step(f"{h:02d}:00", 100) for h in range(14)], "at most 13"),
    ],
)
def test_malformed_flex_days_are_refused_before_the_pump_sees_them(
    steps: list[therapy.FlexStep], why: str
) -> None:
    with pytest.raises(UsageError, match=why):
        therapy.day_program(steps)


def test_weekday_names_are_checked() -> None:
    assert therapy.parse_weekdays("Mon, sun") == [0, 6]
    with pytest.raises(UsageError, match="weekday"):
        therapy.parse_weekdays("mon,funday")
