"""Casebook: the status view tells the truth, continued (issue 11, item 6, the rest).

A programmer pairs with a virtual pump over the loopback line and reads what ``pumpctl status``
shows; every figure is the pump's (STATUS, and READ_PRESCRIPTION for a flex week's steps).
Checked here: a running bolus shows what is left of it, an empty pump shows that nothing is
delivered, a flex week is shown with the pump's day totals, and the patient-bolus settings and
their use in the last 24 h (given, refused, lockout left) are shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hw_sim.link.loopback import Loopback
from programmer import PumpClient, therapy
from programmer.views import iso_time, status_document, status_text
from tests.clinical.visit import clinic_visit, status_line

pytestmark = pytest.mark.timeout(120)

DAY = 86_400


@pytest.fixture(params=["vp20", "vp40"])
def visit(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Loopback, PumpClient]]:
    with clinic_visit(request.param, "VP20-000078", tmp_path / "keys") as pair:
        yield pair


def _start(client: PumpClient, dose_ng: int, added_nl: int = 20_000_000) -> None:
    client.refill(0, added_nl, 2000)
    staged = client.stage(therapy.continuous(dose_ng))
    client.commit(staged, staged.warnings)


def test_a_running_bolus_shows_what_is_left_of_it(visit: tuple[Loopback, PumpClient]) -> None:
    """On 500 mcg/day, a single bolus of 100 mcg over 60 min.  The pump spreads it evenly, so
    after 30 min 100 x 30/60 = 50 mcg are left, after 45 min 100 x 15/60 = 25 mcg (not the
    whole 100).  While it runs drug reaches the patient: ``delivering`` is true."""
    loop, client = visit
    _start(client, 500_000)
    staged = client.stage(therapy.single_bolus(100_000, 3600))
    client.commit(staged, staged.warnings)
    start = int(client.status()["pump_time"])
    loop.advance(start + 1800 - loop.bench.now)
    doc = status_document(client.status())
    assert doc["bolus"]["mode"] == "single_bolus"
    assert doc["bolus"]["remaining_mcg"] == pytest.approx(50.0, abs=0.1)
    assert doc["bolus"]["end_time"] == iso_time(start + 3600)
    assert doc["delivering"] is True
    loop.advance(start + 2700 - loop.bench.now)
    doc = status_document(client.status())
    assert doc["bolus"]["remaining_mcg"] == pytest.approx(25.0, abs=0.1)
    assert status_line(status_text(doc), "bolus").startswith("single_bolus: 25")


def test_an_empty_pump_shows_that_nothing_is_delivered(
    visit: tuple[Loopback, PumpClient],
) -> None:
    """3 mL of 2000 mcg/mL at 500 mcg/day (0.25 mL/day) run empty after 3 / 0.25 = 12 days.
    On day 13 the motor keeps the safe minimum, 0.048 mL/day, but the reservoir is empty:
    the pump reports a dose of 0 mcg/day and ``delivering`` false (it used to say 0.048 x 2000
    = 96 mcg/day while nothing flowed), and the view says that nothing is delivered."""
    loop, client = visit
    _start(client, 500_000, added_nl=3_000_000)
    loop.advance(13 * DAY)
    doc = status_document(client.status())
    assert doc["mode"] == "safe_minimum"
    assert "reservoir_empty" in {a["name"] for a in doc["alarms"]}
    assert doc["reservoir_ml"] == 0
    assert doc["daily_dose_mcg"] == 0
    assert doc["delivering"] is False
    assert doc["rate_ml_per_day"] == 0.048
    text = status_text(doc)
    assert status_line(text, "daily dose") == "0 mcg/day (nothing is delivered)"
    assert "no drug (the reservoir is empty)" in status_line(text, "rate")


def test_a_flex_week_is_shown_with_the_pumps_day_totals(
    visit: tuple[Loopback, PumpClient],
) -> None:
    """From continuous 400 mcg/day, the weekend becomes 200 mcg/day from 00:00 and 400 mcg/day
    from 12:00: a weekend day gets 200 x 12/24 + 400 x 12/24 = 300 mcg, the weekdays keep
    400 mcg.  STATUS carries the week's day totals (400 x 5, 300 x 2) and the view shows each
    day's steps as the pump holds them."""
    _loop, client = visit
    _start(client, 400_000)
    current = client.read_prescription()["therapy"]
    weekend = therapy.flex(
        [therapy.FlexStep(0, 200_000), therapy.FlexStep(720, 400_000)],
        therapy.parse_weekdays("sat,sun"),
        current,
    )
    staged = client.stage(weekend)
    client.commit(staged, staged.warnings)
    doc = status_document(client.status(), client.read_prescription())
    assert [d["total_mcg"] for d in doc["week"]] == [400.0] * 5 + [300.0] * 2
    assert doc["flex"][5] == {
        "day": "sat",
        "steps": [
            {"start": "00:00", "dose_mcg_per_day": 200.0},
            {"start": "12:00", "dose_mcg_per_day": 400.0},
        ],
    }
    assert doc["flex"][0]["steps"] == [{"start": "00:00", "dose_mcg_per_day": 400.0}]
    text = status_text(doc)
    assert status_line(text, "flex sat") == "300 mcg (00:00 200, 12:00 400 mcg/day)"
    assert status_line(text, "flex mon") == "400 mcg (00:00 400 mcg/day)"


def test_patient_bolus_settings_and_todays_use(visit: tuple[Loopback, PumpClient]) -> None:
    """On 500 mcg/day the patient may have 50 mcg over 10 min, up to 3 per 24 h, 120 min apart.
    The patient presses once (granted), and again 15 min later, the bolus over (refused:
    lockout).  The pump says: 1 given, 1 refused, 3 - 1 = 2 left, and the lockout ends 120 min
    after the grant, so 120 - 15 = 105 min are left of it."""
    loop, client = visit
    _start(client, 500_000)
    # 3 x 50 mcg more on the day of the start is a second increase within 24 h: acknowledged
    check = client.configure_patient_bolus(50_000, 600, 3, 7200, preview=True)
    client.configure_patient_bolus(50_000, 600, 3, 7200, ack_warnings=check["warnings"])
    grant = client.request_patient_bolus()
    granted_at = int(grant["end_time"]) - 600
    loop.advance(granted_at + 900 - loop.bench.now)
    with pytest.raises(Exception, match="PATIENT_BOLUS_LOCKOUT"):
        client.request_patient_bolus()
    doc = status_document(client.status())
    pb = doc["patient_bolus"]
    assert (pb["enabled"], pb["dose_mcg"], pb["duration_min"]) == (True, 50.0, 10.0)
    assert (pb["max_per_day"], pb["lockout_min"]) == (3, 120.0)
    assert (pb["given_24h"], pb["refused_24h"], pb["left_24h"]) == (1, 1, 2)
    assert pb["lockout_until"] == iso_time(granted_at + 7200)
    assert pb["lockout_left_min"] == pytest.approx(105.0, abs=0.1)
    text = status_text(doc)
    assert status_line(text, "patient bolus") == (
        "50 mcg over 10 min, up to 3 per 24 h, lockout 120 min"
    )
    assert status_line(text, "patient boluses 24 h").startswith(
        "1 given, 1 refused, 2 left; lockout 10"
    )
