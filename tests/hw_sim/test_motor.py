"""The motor counts strokes exactly and moves a true volume with a seeded accuracy model."""

from __future__ import annotations

import random
import statistics

import pytest

from hw_sim.hardware.catheter import Catheter
from hw_sim.hardware.motor import PeristalticMotor, draw_pump_bias_ppm, draw_refill_variation_ppm
from hw_sim.hardware.reservoir import Reservoir

STROKE_NL = 250


def make_motor(seed: int, sd_ppm: int = 30_000, fill_nl: int = 20_000_000) -> PeristalticMotor:
    reservoir = Reservoir(40_000_000)
    reservoir.inject(fill_nl, 500)
    catheter = Catheter(60, 2_600, 140_000)
    return PeristalticMotor(STROKE_NL, sd_ppm, random.Random(seed), reservoir, catheter)


def run_batches(motor: PeristalticMotor, batches: list[int]) -> int:
    for index, count in enumerate(batches):
        assert motor.deliver_strokes(count, index) == count
    return motor.delivered_nl


def test_same_seed_gives_identical_true_volume_and_other_seed_differs() -> None:
    batches = [400] * 50
    first = run_batches(make_motor(7), batches)
    again = run_batches(make_motor(7), batches)
    other = run_batches(make_motor(8), batches)
    assert first == again
    assert first != other


def test_noise_free_motor_moves_exactly_strokes_times_stroke_volume() -> None:
    motor = make_motor(1, sd_ppm=0)
    run_batches(motor, [1, 3, 1000, 7])
    assert motor.strokes_total == 1011
    assert motor.delivered_nl == 1011 * STROKE_NL


def test_batch_noise_has_the_spread_of_n_independent_strokes() -> None:
    # sum of n strokes with per-stroke sd s*sd_ppm has sd s*sd_ppm*sqrt(n)
    n, sd_ppm, trials = 400, 30_000, 400
    motor = make_motor(3, sd_ppm=sd_ppm, fill_nl=40_000_000)
    volumes = []
    for t in range(trials):
        before = motor.pumped_nl
        motor.deliver_strokes(n, t)
        volumes.append(motor.pumped_nl - before)
    expected_sd = STROKE_NL * sd_ppm / 1e6 * n**0.5
    assert statistics.fmean(volumes) == pytest.approx(n * STROKE_NL, abs=4 * expected_sd / 20)
    assert statistics.stdev(volumes) == pytest.approx(expected_sd, rel=0.15)


@pytest.mark.parametrize("percent", [15.0, -10.0, 2.5])
def test_systematic_error_scales_true_volume_by_the_percentage(percent: float) -> None:
    motor = make_motor(1, sd_ppm=0)
    motor.set_systematic_error_pct(percent)
    run_batches(motor, [4000])
    assert motor.delivered_nl == round(4000 * STROKE_NL * (1 + percent / 100))


def test_stalled_motor_completes_no_strokes_and_moves_nothing() -> None:
    motor = make_motor(1)
    motor.deliver_strokes(10, 0)
    motor.stalled = True
    assert motor.deliver_strokes(10, 1) == 0
    assert motor.strokes_total == 10
    assert motor.strokes_commanded == 20


def test_strokes_beyond_an_empty_reservoir_move_air() -> None:
    motor = make_motor(1, sd_ppm=0, fill_nl=1_000)
    motor.deliver_strokes(10, 0)
    assert motor.delivered_nl == 1_000
    assert motor.air_nl == 10 * STROKE_NL - 1_000
    assert motor.strokes_total == 10


def test_a_transient_stall_stops_only_the_strokes_that_fall_in_it() -> None:
    """Strokes of a batch are spread over (last command, now]: 100 strokes over (0, 1,000] are
    at 10, 20, ..., 1,000 s; a stall over [300, 500) stops the 20 at 300..490 s, the other 80
    turn, and a command after 500 s finds the motor turning again."""
    motor = make_motor(1, sd_ppm=0)
    motor.deliver_strokes(1, 0)
    motor.stall(300, until=500)
    assert motor.deliver_strokes(100, 1_000) == 80
    assert not motor.stalled
    assert motor.deliver_strokes(10, 1_100) == 10


def test_a_stall_without_an_end_stops_every_later_stroke_until_cleared() -> None:
    motor = make_motor(1, sd_ppm=0)
    motor.deliver_strokes(1, 0)
    motor.stall(300)
    assert motor.deliver_strokes(100, 1_000) == 29  # the strokes at 10..290 s
    assert motor.deliver_strokes(1, 1_300) == 0
    motor.clear_stall()
    assert motor.deliver_strokes(1, 1_600) == 1


def test_the_systematic_errors_multiply() -> None:
    """(1 + 5 %)(1 + 2 %)(1 - 10 %) - 1 = 1.05 x 1.02 x 0.9 - 1 = -3.61 %: 1,000 strokes of
    250 nL move 250,000 x 0.9639 = 240,975 nL without noise."""
    motor = make_motor(1, sd_ppm=0)
    motor.pump_bias_ppm, motor.refill_variation_ppm = 50_000, 20_000
    motor.set_systematic_error_pct(-10)
    assert motor.flow_error_ppm == -36_100
    motor.deliver_strokes(1_000, 10)
    assert motor.delivered_nl == 240_975


def test_the_bias_draws_are_fixed_by_the_seed_and_clipped_to_the_label() -> None:
    assert draw_pump_bias_ppm(252, 10_000, 20_000, 145_000) == 51_307
    assert draw_refill_variation_ppm(252, 1, 20_000, 145_000) == 16_439
    assert draw_refill_variation_ppm(252, 2, 20_000, 145_000) == 786
    draws = [draw_pump_bias_ppm(seed, 10_000, 20_000, 145_000) for seed in range(2_000)]
    assert statistics.mean(draws) == pytest.approx(10_000, abs=1_500)
    assert statistics.stdev(draws) == pytest.approx(20_000, rel=0.08)
    wide = [draw_pump_bias_ppm(seed, 0, 1_000_000, 145_000) for seed in range(200)]
    assert max(wide) == 145_000 and min(wide) == -145_000
