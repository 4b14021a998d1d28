"""The pharmacokinetic model against the published figures, and its exact solution against RK4.

Published figures (docs/PATIENT.md, CLINICAL.md): CSF half-life about 1.5 h (label), clearance
about 30 mL/h (label), lumbar-to-cisternal gradient about 4:1 under continuous lumbar infusion
(label); after a bolus onset 30-60 min, peak about 4 h, effect 4-8 h; under continuous infusion
onset 6-8 h, maximal effect 24-48 h.  "Onset" is a perceptible fall of the Ashworth score
(ONSET_FALL_POINTS), "effect" the time the response criterion holds (RESPONSE_FALL_POINTS),
"maximal" the time the fall reaches 95 % of its steady-state value.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patient.crossings import crossings_h
from patient.effect import RESPONSE_FALL_POINTS, ashworth_points, concentration_for_fall
from patient.model import VirtualPatient
from patient.parameters import PatientParameters
from patient.pharmacokinetics import CsfModel, CsfState
from patient.profiles import draw, load_patient_profile
from patient.screening import ONSET_FALL_POINTS
from tests.patient.rk4 import rk4

PROFILES = ("spinal_adult", "cerebral_adult", "child")


def _bolus_state(model: CsfModel, dose_mcg: float) -> CsfState:
    return CsfState(dose_mcg / model.volume_ml, 0.0, 0.0)


def test_bolus_onset_is_30_to_60_min_peak_about_4_h_effect_4_to_8_h(
    spinal: PatientParameters,
) -> None:
    model = CsfModel(spinal)
    effect = model.effect_curve(_bolus_state(model, 50.0), 0.0)
    onset_level = concentration_for_fall(spinal, ONSET_FALL_POINTS)
    response_level = concentration_for_fall(spinal, RESPONSE_FALL_POINTS)
    assert onset_level is not None and response_level is not None
    onset_h = crossings_h(effect, onset_level, 24.0)[0]
    peak_h, _ = effect.maximum_h(24.0)
    start_h, end_h = crossings_h(effect, response_level, 24.0)
    assert 0.5 <= onset_h <= 1.0
    assert peak_h == pytest.approx(4.0, abs=0.25)
    assert 4.0 <= end_h - start_h <= 8.0


@pytest.mark.parametrize("name", PROFILES)
def test_bolus_peak_lies_in_the_screening_pages_4_to_6_h_for_every_profile(name: str) -> None:
    params = load_patient_profile(name).params
    model = CsfModel(params)
    peak_h, _ = model.effect_curve(_bolus_state(model, 50.0), 0.0).maximum_h(24.0)
    assert 3.5 <= peak_h <= 6.0


def test_continuous_infusion_onset_6_to_8_h_and_maximum_24_to_48_h(
    spinal: PatientParameters,
) -> None:
    # the spinal adult's start dose from its screening trial: 100 mcg/day
    rate = 100.0 / 24.0
    model = CsfModel(spinal)
    effect = model.effect_curve(CsfState(), rate)
    onset_level = concentration_for_fall(spinal, ONSET_FALL_POINTS)
    assert onset_level is not None
    onset_h = crossings_h(effect, onset_level, 96.0)[0]
    steady_fall = spinal.baseline_ashworth_points - ashworth_points(
        spinal, model.steady_lumbar_mcg_per_ml(rate)
    )
    near_max_level = concentration_for_fall(spinal, 0.95 * steady_fall)
    assert near_max_level is not None
    maximum_h = crossings_h(effect, near_max_level, 96.0)[0]
    assert 6.0 <= onset_h <= 8.0
    assert 24.0 <= maximum_h <= 48.0


@pytest.mark.parametrize("seed", [None, 1, 2, 3])
def test_csf_half_life_recovered_from_a_simulated_washout_within_1_percent(
    seed: int | None,
) -> None:
    profile = load_patient_profile("spinal_adult")
    if seed is not None:
        profile = draw(profile, seed)
    patient = VirtualPatient(profile.params)
    patient.advance(24 * 3600, 20.0)  # 480 mcg/day for a day
    patient.advance(3600, 0.0)  # the pump stops; skip the first hour
    first = patient.state.lumbar_mcg_per_ml
    patient.advance(4 * 3600, 0.0)
    second = patient.state.lumbar_mcg_per_ml
    half_life_h = 4.0 * math.log(2) / math.log(first / second)
    assert half_life_h == pytest.approx(profile.params.csf_half_life_h, rel=0.01)


def test_clearance_from_the_area_under_a_bolus_curve_and_from_steady_state(
    spinal: PatientParameters,
) -> None:
    model = CsfModel(spinal)
    state = _bolus_state(model, 50.0)
    step_h = 1 / 60
    samples = [
        model.propagate(state, 0.0, i * step_h).lumbar_mcg_per_ml for i in range(48 * 60 + 1)
    ]
    auc = step_h * (sum(samples) - 0.5 * (samples[0] + samples[-1]))  # mcg h / mL, trapezoid
    assert 50.0 / auc == pytest.approx(spinal.csf_clearance_ml_per_h, rel=0.01)
    steady = model.propagate(CsfState(), 20.0, 72.0).lumbar_mcg_per_ml
    assert 20.0 / steady == pytest.approx(spinal.csf_clearance_ml_per_h, rel=0.01)


@pytest.mark.parametrize("name", PROFILES)
def test_lumbar_to_cisternal_gradient_at_steady_state_is_about_4_to_1(name: str) -> None:
    params = load_patient_profile(name).params
    state = CsfModel(params).propagate(CsfState(), 500.0 / 24.0, 5 * 24.0)
    ratio = state.lumbar_mcg_per_ml / state.cisternal_mcg_per_ml
    assert ratio == pytest.approx(4.0, rel=0.01)


def test_chronic_csf_level_lies_in_the_published_range(spinal: PatientParameters) -> None:
    # Albright et al. 2007: 0.2-20 mcg/mL on 70-1395 mcg/day (children, no dose correlation)
    for dose_mcg_per_day in (300.0, 800.0):
        state = CsfModel(spinal).propagate(CsfState(), dose_mcg_per_day / 24.0, 96.0)
        assert 0.2 <= state.lumbar_mcg_per_ml <= 20.0


segments = st.lists(st.tuples(st.floats(0.05, 30.0), st.floats(0.0, 100.0)), min_size=1, max_size=6)


@settings(max_examples=25)
@given(segments=segments, seed=st.integers(0, 10_000))
def test_exact_solution_matches_a_fine_rk4_for_random_piecewise_inputs(
    segments: list[tuple[float, float]], seed: int
) -> None:
    params = draw(load_patient_profile("spinal_adult"), seed).params
    model = CsfModel(params)
    exact = numeric = CsfState(0.3, 0.05, 0.1)
    for duration_h, rate in segments:
        exact = model.propagate(exact, rate, duration_h)
        numeric = rk4(model, numeric, rate, duration_h, step_h=0.02)
    for got, want in (
        (exact.lumbar_mcg_per_ml, numeric.lumbar_mcg_per_ml),
        (exact.cisternal_mcg_per_ml, numeric.cisternal_mcg_per_ml),
        (exact.effect_site_mcg_per_ml, numeric.effect_site_mcg_per_ml),
    ):
        assert got == pytest.approx(want, rel=1e-7, abs=1e-10)


@settings(max_examples=40)
@given(segments=segments, pieces=st.integers(2, 7))
def test_splitting_an_interval_changes_neither_the_state_nor_the_events(
    segments: list[tuple[float, float]], pieces: int
) -> None:
    params = load_patient_profile("spinal_adult").params
    whole = VirtualPatient(params)
    split = VirtualPatient(params)
    whole_events = []
    split_events = []
    for duration_h, rate in segments:
        whole_events += whole.advance(duration_h * 3600, rate)
        for _ in range(pieces):
            split_events += split.advance(duration_h * 3600 / pieces, rate)
    assert whole.state.lumbar_mcg_per_ml == pytest.approx(split.state.lumbar_mcg_per_ml, rel=1e-9)
    assert whole.state.effect_site_mcg_per_ml == pytest.approx(
        split.state.effect_site_mcg_per_ml, rel=1e-9, abs=1e-15
    )
    assert [(e.kind, e.value) for e in whole_events] == [(e.kind, e.value) for e in split_events]
    for a, b in zip(whole_events, split_events, strict=True):
        assert a.time_s == pytest.approx(b.time_s, abs=1e-3)


def test_follower_rate_equal_to_the_elimination_rate_stays_finite() -> None:
    import dataclasses

    params = dataclasses.replace(
        load_patient_profile("spinal_adult").params, effect_site_equilibration_half_life_h=1.5
    )
    model = CsfModel(params)
    exact = model.propagate(CsfState(1.0, 0.0, 0.0), 0.0, 3.0)
    numeric = rk4(model, CsfState(1.0, 0.0, 0.0), 0.0, 3.0, 0.01)
    assert exact.effect_site_mcg_per_ml == pytest.approx(numeric.effect_site_mcg_per_ml, rel=1e-6)
