"""Casebook: the status view tells the truth (issue 11, item 6, first part).

A programmer pairs with a virtual pump over the loopback line and reads STATUS; the text and
JSON views are built from the pump's reply alone.  Checked here: a pump from the factory is not
"low" (nothing is filled, no alarm is raised), the mode is spelled one way, and the resume hint
appears only where the pump accepts a resume.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hw_sim.link.loopback import Loopback
from programmer import PumpClient, therapy
from programmer.views import status_document, status_text
from tests.clinical.visit import clinic_visit, status_line

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=["vp20", "vp40"])
def visit(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Loopback, PumpClient]]:
    with clinic_visit(request.param, "VP20-000077", tmp_path / "keys") as pair:
        yield pair


def test_a_pump_from_the_factory_is_not_low_it_is_unfilled(
    visit: tuple[Loopback, PumpClient],
) -> None:
    """Nothing filled: the reservoir is 0 mL, below the 2 mL low-reservoir level, yet the pump
    raises no alarm (it was never filled).  So the view must not say "low reservoir in now"
    beside "alarms none": the days to the low level are unknown (JSON null), the text says the
    reservoir is not filled, and the stopped banner says to fill it rather than to resume
    (the pump refuses a resume: there is no program)."""
    _loop, client = visit
    doc = status_document(client.status())
    assert doc["reservoir_ml"] == 0
    assert doc["low_reservoir_alarm_ml"] == 2.0
    assert doc["alarms"] == []
    assert doc["days_to_low_reservoir"] is None
    text = status_text(doc)
    assert status_line(text, "low reservoir in") == "- (the reservoir is not filled)"
    assert status_line(text, "mode") == "stopped"
    assert "pumpctl resume" not in text
    assert "the reservoir is not filled; fill it" in text


def test_the_resume_hint_appears_where_the_pump_accepts_a_resume(
    visit: tuple[Loopback, PumpClient],
) -> None:
    """Fill 20 mL of 2000 mcg/mL, program 500 mcg/day (0.25 mL/day), then stop.  The pump holds
    drug and is stopped by the clinician: ``pump_stopped`` sounds and a resume is accepted, so
    the banner names ``pumpctl resume``.  The low reservoir is (20 - 2) / 0.25 = 72 days away
    while running; stopped, the pump predicts no crossing (JSON null)."""
    _loop, client = visit
    client.refill(0, 20_000_000, 2000)
    staged = client.stage(therapy.continuous(500_000))
    client.commit(staged, staged.warnings)
    running = status_document(client.status())
    assert running["days_to_low_reservoir"] == pytest.approx(72.0, abs=0.01)
    client.stop()
    doc = status_document(client.status())
    assert doc["mode"] == "stopped"
    assert "pump_stopped" in {a["name"] for a in doc["alarms"]}
    text = status_text(doc)
    assert status_line(text, "mode") == "stopped"
    assert "THE PUMP IS STOPPED: no drug is delivered until `pumpctl resume`." in text
    client.resume()
    resumed = status_document(client.status())
    assert resumed["mode"] == "continuous"
    assert "THE PUMP IS STOPPED" not in status_text(resumed)


def test_a_weekend_program_from_continuous_keeps_the_weekdays(
    visit: tuple[Loopback, PumpClient],
) -> None:
    """On continuous 400 mcg/day (20 mL of 2000 mcg/mL: 0.2 mL/day) the clinician lowers the
    weekend to 300 mcg/day with ``--days sat,sun``.  Monday to Friday keep 400 mcg/day, so the
    week is 5 x 400 + 2 x 300 = 2,600 mcg, and the pump's stage summary reports the largest day
    total, 400 mcg/day = 400,000 ng (not 300 every day, which would cut the weekdays by 25 %).
    A decrease: no soft-limit warning."""
    _loop, client = visit
    client.refill(0, 20_000_000, 2000)
    staged = client.stage(therapy.continuous(400_000))
    client.commit(staged, staged.warnings)
    current = client.read_prescription()["therapy"]
    weekend = therapy.flex(
        [therapy.FlexStep(0, 300_000)], therapy.parse_weekdays("sat,sun"), current
    )
    staged = client.stage(weekend)
    assert staged.daily_dose_ng == 400_000
    assert staged.warnings == 0
    client.commit(staged, staged.warnings)
    params = client.read_prescription()["therapy"]["params"]
    week = [params["day_programs"][i][0]["daily_dose_ng"] for i in params["weekday_program"]]
    assert week == [400_000] * 5 + [300_000] * 2
    assert sum(week) // 1000 == 2_600
