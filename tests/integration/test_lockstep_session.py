"""A whole clinic session in lock-step, through the real ``pumpctl`` and ``vpump serve`` processes.

The pump is paired, filled with 20 mL of 2000 mcg/mL and programmed to 500 mcg/day; then the
bench advances simulated time.  The expected figures are derived here from the prescription
alone (dose / concentration, volume above the alarm level / rate), never copied from the pump.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from protocol.units import DAY_S as SECONDS_PER_DAY

from .harness import ServedPump

pytestmark = pytest.mark.integration

FILL_ML = 20.0
CONCENTRATION_MCG_PER_ML = 2000
DOSE_MCG_PER_DAY = 500
LOW_RESERVOIR_ML = 2.0
STROKE_ML = 0.000250  # the VP-20 profile's stroke volume

RATE_ML_PER_DAY = DOSE_MCG_PER_DAY / CONCENTRATION_MCG_PER_ML
DAYS_TO_LOW = (FILL_ML - LOW_RESERVOIR_ML) / RATE_ML_PER_DAY
#: Simulated seconds between two motor strokes at this rate.
STROKE_INTERVAL_S = STROKE_ML / RATE_ML_PER_DAY * SECONDS_PER_DAY


def status(pump: ServedPump) -> dict[str, Any]:
    result = pump.pumpctl("--json", "status")
    assert result.code == 0, result
    return result.json


def alarm_names(doc: dict[str, Any]) -> set[str]:
    return {a["name"] for a in doc["alarms"]}


def seconds(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


def test_programmed_session_reports_rate_reservoir_and_days_to_low_reservoir(
    filled_pump: ServedPump,
) -> None:
    doc = status(filled_pump)
    assert doc["mode"] == "continuous"
    assert doc["daily_dose_mcg"] == DOSE_MCG_PER_DAY
    assert doc["concentration_mcg_per_ml"] == CONCENTRATION_MCG_PER_ML
    assert doc["rate_ml_per_day"] == pytest.approx(RATE_ML_PER_DAY)
    assert doc["reservoir_ml"] == pytest.approx(FILL_ML)
    assert doc["reservoir_capacity_ml"] == pytest.approx(20.0)
    assert doc["low_reservoir_alarm_ml"] == pytest.approx(LOW_RESERVOIR_ML)
    assert doc["days_to_low_reservoir"] == pytest.approx(DAYS_TO_LOW, abs=0.01)
    assert "low_reservoir" not in alarm_names(doc)

    filled_pump.advance("30d")
    doc = status(filled_pump)
    assert doc["reservoir_ml"] == pytest.approx(FILL_ML - 30 * RATE_ML_PER_DAY, abs=STROKE_ML)
    assert doc["days_to_low_reservoir"] == pytest.approx(DAYS_TO_LOW - 30, abs=0.01)
    assert doc["delivered_mcg"] == pytest.approx(30 * DOSE_MCG_PER_DAY, rel=1e-3)
    # the true reservoir (bench) agrees with the pump's estimate within the motor's accuracy
    true_ml = filled_pump.bench("hw-status")["reservoir_nl"] / 1e6
    assert true_ml == pytest.approx(doc["reservoir_ml"], rel=0.01)


def test_low_reservoir_alarm_appears_when_the_estimate_crosses_two_ml_and_not_before(
    filled_pump: ServedPump,
) -> None:
    start = filled_pump.now()
    crossing = start + round(DAYS_TO_LOW * SECONDS_PER_DAY)
    margin = int(STROKE_INTERVAL_S) + 1  # one motor stroke either side of the crossing
    assert seconds(status(filled_pump)["low_reservoir_time"]) == crossing

    filled_pump.advance(crossing - margin - start)
    before = status(filled_pump)
    assert "low_reservoir" not in alarm_names(before)
    assert before["reservoir_ml"] == pytest.approx(LOW_RESERVOIR_ML, abs=0.002)
    assert before["days_to_low_reservoir"] == pytest.approx(margin / SECONDS_PER_DAY, abs=0.01)

    filled_pump.advance(2 * margin)
    after = status(filled_pump)
    assert "low_reservoir" in alarm_names(after)
    low = next(a for a in after["alarms"] if a["name"] == "low_reservoir")
    assert low["critical"] is False
    assert seconds(low["raised_at"]) == crossing
    assert after["reservoir_ml"] == pytest.approx(LOW_RESERVOIR_ML, abs=0.002)
    assert after["days_to_low_reservoir"] == 0

    alarm_log = filled_pump.pumpctl("--json", "log", "alarm")
    assert alarm_log.code == 0, alarm_log
    low_raised = [
        r
        for r in alarm_log.json["records"]
        if r["event"] == "alarm_raised" and r["decoded"] == {"alarm": "low_reservoir"}
    ]
    assert [seconds(r["time"]) for r in low_raised] == [crossing]
