"""Benchmark: CPU seconds to run seven years of the patient model on a flex schedule with refills.

Why: the patient model promises closed-form solutions between events, so years of therapy cost
only their events (docs/PATIENT.md).  The schedule: the 13-step flex day of bench/simspeed.py
(about 500 mcg/day into the lumbar CSF), and every 60 days a refill visit that stops delivery
for 30 minutes - 33,000 input changes in seven years, each one an ``advance`` with its
withdrawal and overdose threshold checks.

Baselines, measured in the same run:
* ``baseline`` (the floor): a trivial loop over the same events that only multiplies one
  exponential decay per event - what any event-driven solver must at least pay; ``ratio`` is
  baseline / value (how close to the floor we are; below 1, since we do more per event);
* ``rk4_minute_7y_s``: a fixed-step RK4 on the same ODE at a one-minute step, timed over the
  first 10 days and scaled to seven years - what a time-stepped patient would cost;
  ``speedup_vs_rk4`` is that over ``value``.
And the whole pump with the patient on: ``board_with_patient_s`` runs bench/simspeed.py's seven
years (VP-20, 13-step flex day, refills every 30-70 days, to end of service) with the spinal
adult attached to the catheter tip, ``board_without_patient_s`` the same without (goal: still
under 1 s with the patient).

The last line printed is one JSON object (metric, value, unit, baseline, ratio, goal 1.0 s).
Named ``patientspeed.py``, not ``patient.py``: a script of that name would shadow the
``patient`` package it measures (the script's folder comes first on ``sys.path``).
"""

from __future__ import annotations

import importlib.util
import json
import math
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from patient.model import VirtualPatient
from patient.pharmacokinetics import CsfModel, CsfState
from patient.profiles import load_patient_profile

YEARS = 7
REFILL_EVERY_DAYS = 60
REFILL_STOP_S = 1_800
RK4_DAYS = 10


def schedule(days: int) -> list[tuple[int, float]]:
    """(duration s, lumbar input mcg/h) segments for ``days`` days."""
    segments: list[tuple[int, float]] = []
    steps = _simspeed().STEPS  # the 13-step flex day of simspeed, (start minute, mcg/day)
    for day in range(days):
        refill = day > 0 and day % REFILL_EVERY_DAYS == 0
        for index, (minute, mcg_per_day) in enumerate(steps):
            end = steps[index + 1][0] if index + 1 < len(steps) else 1440
            duration = (end - minute) * 60
            if refill and index == 4:  # the visit, mid-morning: 30 min without delivery
                segments.append((REFILL_STOP_S, 0.0))
                duration -= REFILL_STOP_S
            segments.append((duration, mcg_per_day / 24.0))
    return segments


def run_patient(segments: list[tuple[int, float]]) -> tuple[float, VirtualPatient, int]:
    patient = VirtualPatient(load_patient_profile("spinal_adult").params)
    began = time.process_time()
    events = 0
    for duration, rate in segments:
        events += len(patient.advance(duration, rate))
    return time.process_time() - began, patient, events


def run_trivial(segments: list[tuple[int, float]]) -> float:
    k = math.log(2) / 1.5 / 3600
    level = 0.0
    began = time.process_time()
    for duration, rate in segments:
        decay = math.exp(-k * duration)
        level = rate + (level - rate) * decay
    elapsed = time.process_time() - began
    assert level >= 0
    return elapsed


def run_rk4(days: int) -> float:
    model = CsfModel(load_patient_profile("spinal_adult").params)
    h = 1 / 60
    y = [0.0, 0.0, 0.0]
    began = time.process_time()
    for duration, rate in schedule(days):
        for _ in range(duration // 60):
            k1 = model.rates(CsfState(*y), rate)
            y1 = [
                y[0] + 0.5 * h * k1.lumbar_mcg_per_ml,
                y[1] + 0.5 * h * k1.cisternal_mcg_per_ml,
                y[2] + 0.5 * h * k1.effect_site_mcg_per_ml,
            ]
            k2 = model.rates(CsfState(*y1), rate)
            y2 = [
                y[0] + 0.5 * h * k2.lumbar_mcg_per_ml,
                y[1] + 0.5 * h * k2.cisternal_mcg_per_ml,
                y[2] + 0.5 * h * k2.effect_site_mcg_per_ml,
            ]
            k3 = model.rates(CsfState(*y2), rate)
            y3 = [
                y[0] + h * k3.lumbar_mcg_per_ml,
                y[1] + h * k3.cisternal_mcg_per_ml,
                y[2] + h * k3.effect_site_mcg_per_ml,
            ]
            k4 = model.rates(CsfState(*y3), rate)
            y = [
                y[0]
                + h
                / 6
                * (
                    k1.lumbar_mcg_per_ml
                    + 2 * k2.lumbar_mcg_per_ml
                    + 2 * k3.lumbar_mcg_per_ml
                    + k4.lumbar_mcg_per_ml
                ),
                y[1]
                + h
                / 6
                * (
                    k1.cisternal_mcg_per_ml
                    + 2 * k2.cisternal_mcg_per_ml
                    + 2 * k3.cisternal_mcg_per_ml
                    + k4.cisternal_mcg_per_ml
                ),
                y[2]
                + h
                / 6
                * (
                    k1.effect_site_mcg_per_ml
                    + 2 * k2.effect_site_mcg_per_ml
                    + 2 * k3.effect_site_mcg_per_ml
                    + k4.effect_site_mcg_per_ml
                ),
            ]
    return time.process_time() - began


def _simspeed() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "simspeed", Path(__file__).with_name("simspeed.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_board(with_patient: bool) -> tuple[float, str]:
    """CPU seconds of simspeed's seven years, with or without the patient; the patient's end."""
    simspeed: Any = _simspeed()  # a module loaded from its file: its attributes are untyped
    implanted = simspeed.implanted_board

    def implanted_with_patient() -> Any:
        board, start = implanted()
        board.attach_patient(load_patient_profile("spinal_adult").params, "spinal_adult")
        return board, start

    if with_patient:
        simspeed.implanted_board = implanted_with_patient
    elapsed, board, *_ = simspeed.run_seven_years()
    link = board.patient_link
    summary = "" if link is None else ", ".join(f"{e.kind} {e.value}" for e in link.events)
    return elapsed, summary


def main() -> None:
    days = YEARS * 365
    segments = schedule(days)
    value = min(run_patient(segments)[0] for _ in range(3))
    _, patient, events = run_patient(segments)
    baseline = min(run_trivial(segments) for _ in range(3))
    rk4_7y = run_rk4(RK4_DAYS) * days / RK4_DAYS
    board_with, patient_events = run_board(True)
    board_without, _ = run_board(False)
    status = patient.status()
    print(f"{YEARS} years, {len(segments)} input changes, {events} patient events")
    print(f"patient model: {value:.3f} s CPU ({value / len(segments) * 1e6:.1f} us per advance)")
    print(f"trivial loop over the same events: {baseline:.4f} s CPU")
    print(f"RK4 at 1 min, scaled from {RK4_DAYS} days: {rk4_7y:.1f} s CPU")
    print(
        f"end: lumbar {status.lumbar_csf_mcg_per_ml:.4f} mcg/mL, Ashworth "
        f"{status.ashworth_points:.2f}, withdrawal {status.withdrawal_stage}, "
        f"overdose {status.overdose}"
    )
    print(
        f"whole pump, seven years to end of service: {board_with:.3f} s CPU with the patient, "
        f"{board_without:.3f} s without (patient events: {patient_events or 'none'})"
    )
    result = {
        "metric": "patient_seven_years_cpu_s",
        "value": round(value, 4),
        "unit": "s",
        "baseline": round(baseline, 5),
        "ratio": round(baseline / value, 4),
        "goal": 1.0,
        "advances": len(segments),
        "events": events,
        "rk4_minute_7y_s": round(rk4_7y, 2),
        "speedup_vs_rk4": round(rk4_7y / value, 1),
        "board_with_patient_s": round(board_with, 3),
        "board_without_patient_s": round(board_without, 3),
    }
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
