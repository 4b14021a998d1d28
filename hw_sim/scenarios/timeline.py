"""The series behind a scenario's therapy timeline (``vpump run --plot``), without changing it.

Why: the report summarises; a picture needs series.  ``TimelineRunner`` is the scenario runner
plus read-only looks at moments the runner already stops at (its weekly watch, each refill) and
at the patient's day boundaries: it schedules nothing and never splits a stroke batch, so the
physics, and the report, are the same bytes as ``vpump run`` without ``--plot`` (a test checks).
No matplotlib here: ``hw_sim.studies.plots.plot_timeline`` draws what ``run_timeline`` returns.
"""

from __future__ import annotations

from typing import Any

from firmware.reports import PumpStatus
from hw_sim.hardware.patient_link import PatientLink
from hw_sim.scenarios.scenario import Scenario
from hw_sim.scenarios.scenario_runner import ScenarioRunner
from hw_sim.scenarios.timeparse import DAY_S
from patient.withdrawal import WithdrawalStage

STAGE_LEVEL = {stage.name.lower(): int(stage) for stage in WithdrawalStage}


class TimelineRunner(ScenarioRunner):
    """A scenario runner that also records what the timeline plots."""

    def __init__(self, scenario: Scenario) -> None:
        super().__init__(scenario)
        self.pump_samples: list[dict[str, Any]] = []
        self.patient_samples: list[dict[str, Any]] = []
        self._link: PatientLink | None = None

    def _sample(self) -> None:
        board = self.board
        now = board.now
        if self._link is None and board.patient_link is not None:
            self._hook_patient(board.patient_link)
        status = self.firmware.status(now)
        self.pump_samples.append(
            {
                "day": self.report.day(now),
                "reservoir_estimate_ml": status.reservoir_nl / 1e6,
                "reservoir_true_ml": board.reservoir.volume_nl / 1e6,
                "battery_pct": status.battery_ppm / 10_000,
                "battery_true_pct": board.battery.remaining_ppm(now) / 10_000,
            }
        )

    def _hook_patient(self, link: PatientLink) -> None:
        """Record the patient at each day boundary the link already closes."""
        self._link = link
        close_day = link._close_day

        def close_and_record() -> None:
            close_day()
            status = link.patient.status()
            self.patient_samples.append(
                {
                    "day": round((link._next_day - DAY_S - self.scenario.start) / DAY_S, 3),
                    "lumbar_csf_mcg_per_ml": status.lumbar_csf_mcg_per_ml,
                    "ashworth_points": status.ashworth_points,
                    "withdrawal_stage": STAGE_LEVEL[status.withdrawal_stage],
                }
            )

        setattr(link, "_close_day", close_and_record)  # noqa: B010 - an instance hook

    def _watch(self) -> PumpStatus:
        status = super()._watch()
        self._sample()
        return status

    def _refill(
        self,
        now: int,
        added_nl: int | None,
        concentration: int,
        withdraw_limit_nl: int | None = None,
        pocket_fill: bool = False,
    ) -> None:
        self._sample()
        super()._refill(now, added_nl, concentration, withdraw_limit_nl, pocket_fill)
        self._sample()


def run_timeline(scenario: Scenario) -> tuple[dict[str, Any], dict[str, Any]]:
    """Play ``scenario``: its report (as ``run_scenario``) and the timeline's series."""
    runner = TimelineRunner(scenario)
    if scenario.patient is not None:  # hook the link as soon as the runner attaches it
        attach = runner.board.attach_patient

        def attach_and_hook(*args: Any, **kwargs: Any) -> PatientLink:
            link = attach(*args, **kwargs)
            runner._hook_patient(link)
            return link

        setattr(runner.board, "attach_patient", attach_and_hook)  # noqa: B010
    report = runner.run()
    rep = runner.report
    days = len(rep.daily_delivered_ng)
    board = runner.board
    series: dict[str, Any] = {
        "scenario": scenario.name,
        "end_day": report["end_day"],
        "daily": {
            "day": list(range(1, days + 1)),
            "programmed_mcg": [ng / 1000 for ng in rep.daily_programmed_ng],
            "delivered_mcg": [ng / 1000 for ng in rep.daily_delivered_ng],
        },
        "reservoir": {
            "day": [s["day"] for s in runner.pump_samples],
            "estimate_ml": [s["reservoir_estimate_ml"] for s in runner.pump_samples],
            "true_ml": [s["reservoir_true_ml"] for s in runner.pump_samples],
        },
        "battery": {
            "day": [s["day"] for s in runner.pump_samples],
            "pump_pct": [s["battery_pct"] for s in runner.pump_samples],
            "true_pct": [s["battery_true_pct"] for s in runner.pump_samples],
        },
        "refill_days": [r["day"] for r in report["refills"]],
        "alarms": [
            {"name": a["name"], "critical": a["critical"], "day": a["raised_day"]}
            for a in report["alarms"]
        ],
        "tones": [{"day": rep.day(t), "pattern": p.name.lower()} for t, p in board.buzzer.tones],
        "eri_day": report["eri_day"],
        "patient": None,
    }
    if scenario.patient is not None:
        ps = runner.patient_samples
        changes = [e for e in report["patient"]["events"] if e["kind"] == "withdrawal"]
        series["patient"] = {
            "day": [s["day"] for s in ps],
            "lumbar_csf_mcg_per_ml": [s["lumbar_csf_mcg_per_ml"] for s in ps],
            "ashworth_points": [s["ashworth_points"] for s in ps],
            "withdrawal_stage": [s["withdrawal_stage"] for s in ps],
            # exact stage changes (the patient's own events), as a step from day 0 to the end
            "stage_day": [0.0, *(e["day"] for e in changes), report["end_day"]],
            "stage": [0, *(STAGE_LEVEL[e["value"]] for e in changes), None],
        }
    return report, series
