"""Benchmark: CPU time to simulate 7 years of a 13-step flex schedule, refills until end of service.

Why: event-driven simulation is the design's promise (DESIGN.md principle 3): years of therapy in
about a second, with every stroke still counted exactly.  This bench runs a VP-20 from implant to
end of service on a 13-step flex day program (about 0.25 mL/day), refilling every 30-70 days,
and checks that the strokes the motor completed equal the programmed volume integral (computed
here independently of the firmware) within one stroke.

Baseline, measured in the same run: a naive tick loop that drives the same board and firmware
once per simulated MINUTE (the resolution of a flex schedule, so a tick simulator needs it to
honour step boundaries) over the first 30 days, scaled linearly to the 7 years.  A per-hour tick
loop (which would misplace flex boundaries) is measured and reported too, as
``baseline_hourly``.

The last line printed is one JSON object: metric, value (CPU seconds for the 7 years), unit,
baseline, ratio (baseline / value), goal (1.0 s), and the exactness figures.
"""

from __future__ import annotations

import json
import time

from firmware.prescription import Flex, FlexStep
from hw_sim.board.board import VirtualBoard
from hw_sim.board.programmed import integral
from hw_sim.profiles.loader import load_profile
from hw_sim.scenarios.timeparse import DAY_S, DEFAULT_START_TIME
from protocol.catalog import StageWarning

CONCENTRATION = 2_000  # mcg/mL: every dose below is an even number of ng, so rates are exact
SEED = 2026
SEVEN_YEARS_S = 7 * 365 * DAY_S
BASELINE_DAYS = 30
#: 13 steps (start minute, mcg/day): about 500 mcg/day on average, 0.25 mL/day at 2000 mcg/mL.
STEPS = (
    (0, 420),
    (120, 400),
    (240, 420),
    (360, 520),
    (450, 600),
    (540, 560),
    (660, 520),
    (780, 500),
    (900, 520),
    (1020, 560),
    (1140, 540),
    (1260, 480),
    (1380, 440),
)
FLEX = Flex((tuple(FlexStep(minute, mcg * 1_000) for minute, mcg in STEPS),), (0,) * 7)


def implanted_board() -> tuple[VirtualBoard, int]:
    """A VP-20 filled with 20 mL and running the flex schedule; returns it and the commit time."""
    board = VirtualBoard(load_profile("vp20"), SEED, start_time=DEFAULT_START_TIME)
    board.power_on(DEFAULT_START_TIME)
    refill(board, DEFAULT_START_TIME)
    start = DEFAULT_START_TIME + 3_600
    firmware = board.firmware
    staged = firmware.stage(FLEX, start)
    firmware.commit(staged.staged_hash, staged.active_version, StageWarning(0), start)
    return board, start


def refill(board: VirtualBoard, now: int) -> None:
    withdrawn = board.aspirate(now)
    added = board.reservoir.capacity_nl - board.reservoir.volume_nl
    board.inject(added, CONCENTRATION, now)
    board.firmware.refill(withdrawn, added, CONCENTRATION, now)


def run_seven_years() -> tuple[float, VirtualBoard, int, int, int]:
    """Simulate until end of service; returns CPU s, board, start, EOS time, refill count."""
    board, start = implanted_board()
    firmware = board.firmware
    refills = 0
    began = time.process_time()
    now = start
    eos: int | None = None
    while eos is None or now < eos:
        now += board.rng.randint(30, 70) * DAY_S
        status = firmware.status(now)
        if status.replace_by_time is not None:
            eos = status.replace_by_time - (status.pump_time - now)
        if eos is not None and now >= eos:
            break
        refill(board, now)
        refills += 1
    board.run_until(eos + DAY_S)
    elapsed = time.process_time() - began
    return elapsed, board, start, eos, refills


def tick_loop(step_s: int) -> float:
    """CPU seconds of driving the same pump with fixed ticks for BASELINE_DAYS."""
    board, start = implanted_board()
    began = time.process_time()
    for t in range(start + step_s, start + BASELINE_DAYS * DAY_S + 1, step_s):
        board.run_until(t)
    return time.process_time() - began


def main() -> None:
    stroke_nl = load_profile("vp20").device.stroke_volume_nl
    elapsed, board, start, eos, refills = run_seven_years()
    years = (eos - start) / (365.25 * DAY_S)
    status = board.firmware.status(board.now)
    # Delivery stops at EOS: the programmed integral runs from the commit to EOS.
    programmed_nl = integral(FLEX, start, eos) * 1_000 // CONCENTRATION // DAY_S
    expected_strokes = programmed_nl // stroke_nl
    strokes = board.motor.strokes_total
    assert strokes == status.strokes, "motor and firmware stroke counts differ"
    assert abs(strokes - expected_strokes) <= 1, (strokes, expected_strokes)
    scale = SEVEN_YEARS_S / (BASELINE_DAYS * DAY_S)
    per_minute = tick_loop(60) * scale
    per_hour = tick_loop(3_600) * scale
    print(
        f"simulated {years:.2f} years to end of service ({refills} refills) in {elapsed:.3f} s CPU"
    )
    print(f"strokes {strokes}, programmed integral {programmed_nl} nL = {expected_strokes} strokes")
    print(
        f"true volume moved {board.motor.delivered_nl / 1e6:.3f} mL; "
        f"battery {status.battery_ppm / 1e4:.1f} % at the end"
    )
    print(
        f"baseline: per-minute tick loop {per_minute:.2f} s, per-hour {per_hour:.2f} s "
        f"(30 days measured, scaled to 7 years)"
    )
    result = {
        "metric": "simspeed_7y_flex13",
        "value": round(elapsed, 4),
        "unit": "s",
        "baseline": round(per_minute, 4),
        "baseline_hourly": round(per_hour, 4),
        "baseline_kind": "per-minute tick loop over 30 days, scaled to 7 years",
        "ratio": round(per_minute / elapsed, 2) if elapsed else None,
        "goal": 1.0,
        "years_simulated": round(years, 3),
        "refills": refills,
        "strokes": strokes,
        "expected_strokes": expected_strokes,
        "stroke_error": strokes - expected_strokes,
    }
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
