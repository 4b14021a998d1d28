"""The scenario report: what happened, in days since the start, as JSON and as a text summary.

Why: ``vpump run --json`` is read by scripts and compared byte for byte, so the report is built
only from simulated facts (no wall clock, no paths, no dict-order accidents: ``json.dumps`` with
sorted keys), with volumes in mL and masses in mcg rounded to fixed decimals at this edge only.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from firmware.alarms import AlarmEvent
from firmware.pump import PumpFirmware
from firmware.reports import PumpStatus, RefillResult, StagedChange
from hw_sim.board.board import VirtualBoard
from hw_sim.hardware.patient_link import PatientLink
from hw_sim.profiles.loader import LoadedProfile
from hw_sim.scenarios.scenario import Scenario
from hw_sim.scenarios.timeparse import DAY_S, format_datetime
from protocol import units
from protocol.enums import CRITICAL_ALARMS, AlarmId, LogEvent, LogId
from protocol.units import mcg

LOG_PAGE = 256


#: A report gives volumes to 0.1 uL (4 decimals of mL); masses in mcg as the programmer does.
ml = partial(units.ml, places=4)


class ScenarioReport:
    """Collects facts while a scenario runs; ``finish`` returns the JSON-ready document."""

    def __init__(self, scenario: Scenario, profile: LoadedProfile, board: VirtualBoard) -> None:
        self.scenario = scenario
        self.profile = profile
        self.board = board
        self.start = scenario.start
        self.refills: list[dict[str, Any]] = []
        self.refusals: list[dict[str, Any]] = []
        self.therapy_changes: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.alarms: list[dict[str, Any]] = []
        self.daily_delivered_ng: list[int] = []
        self.daily_programmed_ng: list[int] = []
        self.log_records_lost = 0
        self._therapy_cursor: int | None = None
        self._open_alarms: dict[AlarmId, dict[str, Any]] = {}
        self._status: PumpStatus | None = None
        self._offset = 0

    def day(self, board_time: int) -> float:
        return round((board_time - self.start) / DAY_S, 3)

    # ------------------------------------------------------------------ collection
    def observe(self, status: PumpStatus, alarm_events: list[AlarmEvent], pump_offset: int) -> None:
        """A status snapshot and the alarm transitions since the last look (pump times)."""
        self._status = status
        self._offset = pump_offset
        self.observe_alarm_events(alarm_events)

    def observe_alarm_events(self, alarm_events: list[AlarmEvent]) -> None:
        """Alarm transitions since the last look, at the clock offset of the last status."""
        pump_offset = self._offset
        for event in alarm_events:
            alarm = AlarmId(event.alarm_id)
            at = self.day(event.time - pump_offset)
            if event.raised:
                entry = {
                    "name": alarm.name.lower(),
                    "critical": alarm in CRITICAL_ALARMS,
                    "raised_day": at,
                    "cleared_day": None,
                }
                self.alarms.append(entry)
                self._open_alarms[alarm] = entry
            elif alarm in self._open_alarms:
                self._open_alarms.pop(alarm)["cleared_day"] = at

    def close_alarms_not_in(self, active: set[AlarmId], board_time: int) -> None:
        """After a reset: alarms the rebooted pump no longer holds end at the reset."""
        for alarm in sorted(set(self._open_alarms) - active):
            entry = self._open_alarms.pop(alarm)
            entry["cleared_day"] = self.day(board_time)
            entry["cleared_by_reset"] = True

    def tail_logs(self, firmware: PumpFirmware) -> None:
        """Read new daily-totals records (the daily ring) since the last look."""
        info = firmware.log_info(LogId.DAILY)
        cursor = info.first_seq if self._therapy_cursor is None else self._therapy_cursor
        if cursor > info.next_seq:  # NVM lost (memory error): a new log
            cursor = info.first_seq
        if cursor < info.first_seq:
            self.log_records_lost += info.first_seq - cursor
            cursor = info.first_seq
        while cursor < info.next_seq:
            records = firmware.log_read(LogId.DAILY, cursor, LOG_PAGE)
            if not records:
                break
            for record in records:
                if record.event == LogEvent.DAILY_TOTAL:
                    self.daily_delivered_ng.append(record.a)
                    self.daily_programmed_ng.append(record.b)
            cursor = records[-1].seq + 1
        self._therapy_cursor = cursor

    def refusal(self, now: int, action: str, code: str, message: str) -> None:
        self.refusals.append(
            {"day": self.day(now), "action": action, "code": code, "message": message}
        )

    def therapy_change(self, now: int, action: str, version: int, staged: StagedChange) -> None:
        self.therapy_changes.append(
            {
                "day": self.day(now),
                "action": action,
                "version": version,
                "daily_dose_mcg": mcg(staged.daily_dose_ng),
                "rate_ml_per_day": ml(staged.rate_nl_per_day),
                "warnings_acknowledged": sorted(w.name for w in staged.warnings),
            }
        )

    def refill(
        self,
        now: int,
        withdrawn_nl: int,
        added_nl: int,
        concentration: int,
        result: RefillResult,
        true_before_nl: int,
        pocket_fill: bool,
    ) -> None:
        self.refills.append(
            {
                "day": self.day(now),
                "withdrawn_ml": ml(withdrawn_nl),
                "expected_ml": ml(result.expected_nl),
                "discrepancy_ml": ml(result.discrepancy_nl),
                "discrepancy_warning": bool(result.discrepancy_warning),
                "added_ml": ml(added_nl),
                "concentration_mcg_per_ml": concentration,
                "concentration_changed": bool(result.concentration_changed),
                "true_reservoir_before_ml": ml(true_before_nl),
                "pocket_fill": pocket_fill,
            }
        )

    def event(self, now: int, what: str, **details: Any) -> None:
        self.events.append({"day": self.day(now), "event": what, **details})

    # ------------------------------------------------------------------ result
    def _day_of_pump_time(self, pump_time: int | None) -> float | None:
        return None if pump_time is None else self.day(pump_time - self._offset)

    def finish(self, programmed_ng: int) -> dict[str, Any]:
        status, board = self._status, self.board
        if status is None:
            raise RuntimeError("finish() before any observation of the pump")
        hw = board.hw_status(with_tones=False)  # the counts below are enough
        tones = {pattern.name.lower(): n for pattern, n in board.buzzer.counts().items()}
        delivered = self.daily_delivered_ng
        gaps = [
            round(b["day"] - a["day"], 3)
            for a, b in zip(self.refills, self.refills[1:], strict=False)
        ]
        report = self._pump_report(status, hw, tones, delivered, gaps, programmed_ng)
        if board.patient_link is not None:  # only with a patient: other reports keep their bytes
            report["patient"] = self._patient_report(board.patient_link)
        return report

    def _patient_report(self, link: PatientLink) -> dict[str, Any]:
        """The patient's story: events, hours per state, and every day that was not calm."""
        final = link.patient.status()
        hours = round
        days = link.days
        notable = [
            {
                "day": d.day,
                "therapeutic_h": hours(d.therapeutic_h, 3),
                "withdrawal_signs_h": hours(d.withdrawal_signs_h, 3),
                "overdose_signs_h": hours(d.overdose_signs_h, 3),
            }
            for d in days
            if d.withdrawal_signs_h > 0 or d.overdose_signs_h > 0
        ]
        scenario_patient = self.scenario.patient
        return {
            "profile": link.name,
            "population_seed": None if scenario_patient is None else scenario_patient.seed,
            "events": [
                {"day": self.day(round(e.time_s)), "kind": e.kind, "value": e.value}
                for e in link.events
            ],
            "therapeutic_h": hours(final.therapeutic_total_h, 3),
            "withdrawal_signs_h": hours(final.withdrawal_signs_total_h, 3),
            "overdose_signs_h": hours(final.overdose_signs_total_h, 3),
            "days": len(days),
            "days_fully_therapeutic": sum(1 for d in days if d.therapeutic_h >= 24 - 1e-6),
            "days_with_withdrawal_signs": sum(1 for d in days if d.withdrawal_signs_h > 0),
            "days_with_overdose_signs": sum(1 for d in days if d.overdose_signs_h > 0),
            "notable_days": notable,
            "final": {
                "lumbar_csf_mcg_per_ml": round(final.lumbar_csf_mcg_per_ml, 4),
                "cisternal_csf_mcg_per_ml": round(final.cisternal_csf_mcg_per_ml, 4),
                "effect_site_mcg_per_ml": round(final.effect_site_mcg_per_ml, 4),
                "ashworth_points": round(final.ashworth_points, 2),
                "spasms_per_h": round(final.spasms_per_h, 2),
                "withdrawal_stage": final.withdrawal_stage,
                "overdose": final.overdose,
                "dependent": final.dependent,
            },
        }

    def _pump_report(
        self,
        status: PumpStatus,
        hw: dict[str, Any],
        tones: dict[str, int],
        delivered: list[int],
        gaps: list[float],
        programmed_ng: int,
    ) -> dict[str, Any]:
        board = self.board
        return {
            "scenario": self.scenario.name,
            "profile": self.profile.name,
            "model": self.profile.device.model,
            "serial_number": board.identity.serial_number,
            "seed": self.scenario.seed,
            "start": format_datetime(self.start),
            "end_day": self.day(board.now),
            "eri_day": self._day_of_pump_time(status.eri_time),
            "eos_day": self._day_of_pump_time(status.eos_time),
            "replace_by_day": self._day_of_pump_time(status.replace_by_time),
            "refills": self.refills,
            "refill_interval_days": {
                "count": len(gaps),
                "min": min(gaps) if gaps else None,
                "max": max(gaps) if gaps else None,
            },
            "programmed_mcg": mcg(programmed_ng),
            "delivered_mcg": mcg(status.delivered_ng),
            "true_delivered_mcg": mcg(hw["delivered_ng"]),
            "true_to_patient_mcg": mcg(hw["to_patient_ng"]),
            "pocket_mcg": mcg(hw["pocket_ng"]),
            "reservoir": {
                "estimate_ml": ml(status.reservoir_nl),
                "true_ml": ml(hw["reservoir_nl"]),
                "capacity_ml": ml(hw["reservoir_capacity_nl"]),
            },
            "strokes": {
                "firmware": status.strokes,
                "motor": hw["strokes"],
                "commanded": hw["strokes_commanded"],
            },
            "delivered_ml": ml(status.delivered_nl),
            "true_delivered_ml": ml(hw["delivered_nl"]),
            "air_ml": ml(hw["air_nl"]),
            "daily_dose_mcg": {
                "days": len(delivered),
                "min": mcg(min(delivered)) if delivered else None,
                "max": mcg(max(delivered)) if delivered else None,
                "mean": mcg(sum(delivered) // len(delivered)) if delivered else None,
                "last": mcg(delivered[-1]) if delivered else None,
                "programmed_total_mcg": mcg(sum(self.daily_programmed_ng)),
                "delivered_total_mcg": mcg(sum(delivered)),
            },
            "alarms": self.alarms,
            "tones": tones,
            "therapy_changes": self.therapy_changes,
            "refusals": self.refusals,
            "events": self.events,
            "final": {
                "mode": status.mode.name.lower(),
                "daily_dose_mcg": mcg(status.daily_dose_ng),
                "concentration_mcg_per_ml": status.concentration_mcg_per_ml,
                "battery_ppm": status.battery_ppm,
                "true_battery_ppm": hw["battery_ppm"],
            },
            "resets": [[self.day(t), cause] for t, cause in hw["resets"]],
            "log_records_lost": self.log_records_lost,
        }


def to_json(report: dict[str, Any]) -> str:
    """The canonical byte form: sorted keys, two-space indent, no NaN."""
    return json.dumps(report, sort_keys=True, indent=2, allow_nan=False)


def _num(value: float) -> str:
    """Up to 3 decimals, no exponent, no trailing zeros: 1281632.75 -> "1281632.75"."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text if text != "-0" else "0"


def _fmt(value: float | None, unit: str = "") -> str:
    return "not reached" if value is None else f"{_num(value)}{unit}"


def to_text(report: dict[str, Any]) -> str:
    """A human summary of a report."""

    def years(day: float | None) -> str:
        return "" if day is None else f" ({day / 365.25:.2f} years)"

    gaps = report["refill_interval_days"]
    daily = report["daily_dose_mcg"]
    lines = [
        f"scenario {report['scenario']}: {report['model']} {report['serial_number']}, "
        f"seed {report['seed']}, from {report['start']} for {_num(report['end_day'])} days",
        f"ERI: day {_fmt(report['eri_day'])}{years(report['eri_day'])}; "
        f"EOS: day {_fmt(report['eos_day'])}{years(report['eos_day'])}",
        f"refills: {len(report['refills'])}"
        + (f", every {_num(gaps['min'])}-{_num(gaps['max'])} days" if gaps["count"] else ""),
        f"drug: programmed {_num(report['programmed_mcg'])} mcg, delivered (pump estimate) "
        f"{_num(report['delivered_mcg'])} mcg, true out of the pump {_num(report['true_delivered_mcg'])} mcg",
        f"reservoir at the end: estimate {_num(report['reservoir']['estimate_ml'])} mL, "
        f"true {_num(report['reservoir']['true_ml'])} mL",
        f"strokes: firmware {report['strokes']['firmware']}, motor {report['strokes']['motor']}",
    ]
    if daily["days"]:
        lines.append(
            f"daily dose delivered over {daily['days']} days: min {_num(daily['min'])}, "
            f"mean {_num(daily['mean'])}, max {_num(daily['max'])} mcg/day"
        )
    for refill in report["refills"]:
        if refill["discrepancy_warning"]:
            lines.append(
                f"  refill day {_num(refill['day'])}: withdrawn {_num(refill['withdrawn_ml'])} mL, expected "
                f"{_num(refill['expected_ml'])} mL: DISCREPANCY {_num(refill['discrepancy_ml'])} mL"
            )
    lines.append(f"alarms: {len(report['alarms'])}")
    for alarm in report["alarms"][:20]:
        cleared = alarm["cleared_day"]
        lines.append(
            f"  {alarm['name']}{' (critical)' if alarm['critical'] else ''}: raised day "
            f"{_num(alarm['raised_day'])}"
            + ("" if cleared is None else f", cleared day {_num(cleared)}")
        )
    if len(report["alarms"]) > 20:
        lines.append(f"  ... and {len(report['alarms']) - 20} more (see --json)")
    lines.append(f"refusals: {len(report['refusals'])}")
    for refusal in report["refusals"]:
        lines.append(
            f"  day {_num(refusal['day'])} {refusal['action']}: {refusal['code']}: {refusal['message']}"
        )
    patient = report.get("patient")
    if patient is not None:
        lines.append(
            f"patient {patient['profile']}: in the therapeutic range {_num(patient['therapeutic_h'])} h "
            f"({patient['days_fully_therapeutic']} of {patient['days']} days fully), withdrawal signs "
            f"{_num(patient['withdrawal_signs_h'])} h on {patient['days_with_withdrawal_signs']} days, "
            f"overdose signs {_num(patient['overdose_signs_h'])} h on "
            f"{patient['days_with_overdose_signs']} days"
        )
        for event in patient["events"][:20]:
            lines.append(f"  day {_num(event['day'])}: {event['kind']} {event['value']}")
    final = report["final"]
    lines.append(
        f"final: {final['mode']}, {_num(final['daily_dose_mcg'])} mcg/day at "
        f"{final['concentration_mcg_per_ml']} mcg/mL, battery {final['battery_ppm'] / 10_000:.1f} %"
    )
    return "\n".join(lines)
