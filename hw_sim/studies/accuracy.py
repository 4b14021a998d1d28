"""Flow accuracy as IEC 60601-2-24 measures it: a simulated gravimetric test of the motor model.

Why: the profile's per-stroke noise and an injected systematic error are numbers in a file; an
engineer reads accuracy as a start-up curve and a trumpet curve.  This module runs the REAL board
(firmware, motor model, reservoir) at a constant programmed rate, weighs what left the pump every
0.5 min (an ideal balance: the true volume the motor moved, in nL; density 1 g/mL), and computes
the curves with the formulas of docs/ACCURACY.md ("as commonly implemented": the standard's text
was not at hand).  No matplotlib here: ``hw_sim.studies.plots`` draws what ``analyse`` returns.

Formula.  Sample ``i`` holds ``Q_i``, the volume delivered during the i-th 0.5 min interval, and
``r`` the volume the programmed rate should deliver in one interval.  For an observation window
of ``P`` minutes, ``m = P / 0.5`` samples, and every start ``j`` with the window inside the
analysis period::

    Ep(j) = (100 / m) * sum_{i=j}^{j+m-1} (Q_i - r) / r

The trumpet curve is ``max_j Ep(j)`` and ``min_j Ep(j)`` against ``P``; ``A`` is the mean error
over the whole analysis period, ``100 * (sum Q_i - n r) / (n r)``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from firmware.prescription import Continuous
from hw_sim.board.board import VirtualBoard
from hw_sim.profiles.loader import LoadedProfile, load_profile
from hw_sim.scenarios.timeparse import DAY_S
from protocol.errors import Refusal

SAMPLE_S = 30  # one balance reading every 0.5 min
SHORT_WINDOWS_MIN = (2, 5, 11, 19, 31)  # the trumpet's observation windows
LONG_WINDOWS_MIN = (60, 120, 240, 480, 960)  # low-rate ambulatory pumps
TRUMPET_PERIOD_H = (1, 2)  # short windows: the second hour of the test
STABILISATION_H = 24  # long windows: after a 24 h stabilisation
STARTUP_H = 2  # the start-up curve: the first two hours
DEFAULT_HOURS = 48  # 24 h stabilisation + 24 h: room for the 960 min windows
CONCENTRATION_MCG_PER_ML = 500  # what the reservoir holds; the rate is what is tested

_RATE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ml/day|ml/d|ml/h|ul/h|µl/h|ul/day|nl/day)\s*$")
_NL_PER_DAY = {
    "ml/day": Fraction(1_000_000),
    "ml/d": Fraction(1_000_000),
    "ml/h": Fraction(24_000_000),
    "ul/h": Fraction(24_000),
    "µl/h": Fraction(24_000),
    "ul/day": Fraction(1_000),
    "nl/day": Fraction(1),
}


class AccuracyError(ValueError):
    """A rate, unit or duration the test cannot run with (a usage error)."""


def parse_rate(text: str) -> int:
    """``"0.5mL/day"`` -> 500000 (nL/day).  Units: mL/day, mL/h, uL/h, uL/day, nL/day."""
    match = _RATE.match(text.lower())
    if match is None:
        raise AccuracyError(
            f"rate {text!r}: expected a number and a unit, e.g. 0.5mL/day, 20uL/h "
            "(units: mL/day, mL/h, uL/h, uL/day, nL/day)"
        )
    value = Fraction(match.group(1)) * _NL_PER_DAY[match.group(2)]
    if value <= 0:
        raise AccuracyError(f"rate {text!r}: must be above zero")
    if value.denominator != 1:
        raise AccuracyError(f"rate {text!r}: not a whole number of nL/day")
    return int(value)


# ---------------------------------------------------------------------- the computation
def window_errors(samples: Sequence[float], r: float, m: int) -> list[float]:
    """``Ep(j)`` in percent for every window of ``m`` consecutive samples (sliding by one)."""
    if m <= 0 or r <= 0:
        raise ValueError("window length and rate must be positive")
    n = len(samples)
    if n < m:
        return []
    errors: list[float] = []
    total = float(sum(samples[:m]))
    for j in range(n - m + 1):
        if j:
            total += samples[j + m - 1] - samples[j - 1]
        errors.append(100.0 * (total - m * r) / (m * r))
    return errors


def mean_error_pct(samples: Sequence[float], r: float) -> float:
    """``A``: the mean flow error over all samples, percent."""
    n = len(samples)
    if n == 0:
        raise ValueError("no samples")
    return 100.0 * (float(sum(samples)) - n * r) / (n * r)


@dataclass(frozen=True)
class TrumpetPoint:
    window_min: float
    max_pct: float
    min_pct: float
    windows: int  # how many windows the extremes were taken over


def trumpet(
    samples: Sequence[float], r: float, windows_min: Sequence[float], sample_s: int = SAMPLE_S
) -> list[TrumpetPoint]:
    """Max and min ``Ep`` for each window length that fits in ``samples``."""
    points = []
    for window in windows_min:
        m = round(window * 60 / sample_s)
        errors = window_errors(samples, r, m)
        if errors:
            points.append(TrumpetPoint(window, max(errors), min(errors), len(errors)))
    return points


# ---------------------------------------------------------------------- the bench
def simulate(
    rate_nl_per_day: int,
    hours: float,
    seed: int,
    profile: LoadedProfile | None = None,
    bias_pct: float = 0.0,
) -> list[int]:
    """Run a fresh board at ``rate_nl_per_day`` for ``hours``: nL delivered per 0.5 min sample."""
    profile = profile or load_profile("vp20")
    if hours <= 0:
        raise AccuracyError("--hours must be above zero")
    device = profile.device
    if rate_nl_per_day > device.max_rate_nl_per_day:
        raise AccuracyError(
            f"rate {rate_nl_per_day / 1e6:g} mL/day is above the {profile.name} maximum of "
            f"{device.max_rate_nl_per_day / 1e6:g} mL/day"
        )
    total_s = round(hours * 3600)
    needed_nl = rate_nl_per_day * total_s // DAY_S
    capacity = device.reservoir_capacity_nl
    if needed_nl * 115 // 100 > capacity:
        raise AccuracyError(
            f"{hours:g} h at {rate_nl_per_day / 1e6:g} mL/day needs {needed_nl / 1e6:g} mL: more "
            f"than the {capacity / 1e6:g} mL reservoir holds (shorten --hours)"
        )
    dose_ng = rate_nl_per_day * CONCENTRATION_MCG_PER_ML // 1000
    if dose_ng * 1000 != rate_nl_per_day * CONCENTRATION_MCG_PER_ML:
        raise AccuracyError(f"rate {rate_nl_per_day} nL/day: give a whole number of nL/day x 2")
    board = VirtualBoard(profile, seed)
    board.power_on()
    now = board.now
    board.inject(capacity, CONCENTRATION_MCG_PER_ML, now)
    firmware = board.firmware
    try:
        firmware.refill(0, capacity, CONCENTRATION_MCG_PER_ML, now)
        staged = firmware.stage(Continuous(dose_ng), now)
        firmware.commit(staged.staged_hash, staged.active_version, staged.warnings, now)
    except Refusal as refusal:
        raise AccuracyError(f"the pump refused the rate: {refusal.message}") from None
    if bias_pct:
        board.motor.set_systematic_error_pct(bias_pct)
    start, last = board.now, board.motor.delivered_nl
    samples: list[int] = []
    for i in range(1, total_s // SAMPLE_S + 1):
        board.run_until(start + i * SAMPLE_S)
        delivered = board.motor.delivered_nl
        samples.append(delivered - last)
        last = delivered
    return samples


def _point(p: TrumpetPoint) -> dict[str, Any]:
    return {
        "window_min": p.window_min,
        "max_pct": round(p.max_pct, 3),
        "min_pct": round(p.min_pct, 3),
        "windows": p.windows,
    }


def _period(
    samples: Sequence[int], r: float, start_h: float, end_h: float, windows: Sequence[float]
) -> dict[str, Any]:
    per_h = 3600 // SAMPLE_S
    part = samples[round(start_h * per_h) : round(end_h * per_h)]
    points = trumpet(part, r, windows)
    fitted = {p.window_min for p in points}
    return {
        "period_h": [start_h, end_h],
        "samples": len(part),
        "mean_error_pct": round(mean_error_pct(part, r), 3) if part else None,
        "windows": [_point(p) for p in points],
        "omitted_min": [w for w in windows if w not in fitted],
    }


def analyse(
    samples: Sequence[int],
    rate_nl_per_day: int,
    *,
    seed: int,
    profile: LoadedProfile | None = None,
    bias_pct: float = 0.0,
) -> dict[str, Any]:
    """The JSON-ready result: start-up curve, trumpet (second hour), long windows (after 24 h)."""
    profile = profile or load_profile("vp20")
    r = rate_nl_per_day * SAMPLE_S / DAY_S  # nL the programmed rate moves in one sample
    hours = len(samples) * SAMPLE_S / 3600
    per_h = 3600 // SAMPLE_S
    startup = samples[: STARTUP_H * per_h]
    to_ml_per_day = DAY_S / SAMPLE_S / 1e6
    cumulative, running = [], 0
    for i, q in enumerate(startup, start=1):
        running += q
        cumulative.append(round(running / i * to_ml_per_day, 6))
    result: dict[str, Any] = {
        "profile": profile.name,
        "seed": seed,
        "bias_pct": bias_pct,
        "rate_ml_per_day": rate_nl_per_day / 1e6,
        "stroke_volume_nl": profile.device.stroke_volume_nl,
        "sample_min": SAMPLE_S / 60,
        "hours": hours,
        "samples": len(samples),
        "overall_mean_error_pct": round(mean_error_pct(samples, r), 3) if samples else None,
        "startup": {
            "minutes": [round((i + 1) * SAMPLE_S / 60, 1) for i in range(len(startup))],
            "flow_ml_per_day": [round(q * to_ml_per_day, 6) for q in startup],
            "mean_since_start_ml_per_day": cumulative,
        },
    }
    if hours >= TRUMPET_PERIOD_H[1]:
        result["trumpet"] = _period(samples, r, *TRUMPET_PERIOD_H, SHORT_WINDOWS_MIN)
    else:
        result["trumpet"] = None
    if hours > STABILISATION_H:
        result["long"] = _period(samples, r, STABILISATION_H, hours, LONG_WINDOWS_MIN)
    else:
        result["long"] = None
    return result


def run_accuracy(
    rate_nl_per_day: int,
    hours: float = DEFAULT_HOURS,
    seed: int = 1,
    profile_name: str = "vp20",
    bias_pct: float = 0.0,
) -> dict[str, Any]:
    """Simulate and analyse: what ``vpump accuracy --json`` prints."""
    profile = load_profile(profile_name)
    samples = simulate(rate_nl_per_day, hours, seed, profile, bias_pct)
    return analyse(samples, rate_nl_per_day, seed=seed, profile=profile, bias_pct=bias_pct)
