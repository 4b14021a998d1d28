"""The screening trial: candidate or not, and the start dose by the label's rule (a casebook).

Case 1, the spinal adult (patient/profiles/spinal_adult.toml), worked by hand:
    k = ln2 / 1.5 h = 0.4621/h; V = CL / k = 30 / 0.4621 = 64.92 mL; ke0 = ln2 / 6 h = 0.1155/h,
    so k = 4 ke0 and ke0 / (k - ke0) = 1/3.
    50 mcg -> Cl(0) = 50 / 64.92 = 0.770 mcg/mL;  Ce(t) = 0.770 / 3 (e^-0.1155t - e^-0.4621t).
    Peak at ln(k/ke0) / (k - ke0) = ln 4 / 0.3466 = 4.0 h: Ce = 0.2567 (0.6300 - 0.1575) = 0.1213.
    Ce / EC50 = 0.1213 / 0.11 = 1.103; E = 1.216 / 2.216 = 0.549; fall = 2.5 x 0.549 = 1.37 >= 1:
    a response to 50 mcg.  The criterion holds while Ce >= 0.11 sqrt(0.4/0.6) = 0.0898, which is
    from about 1.6 h to 8.7 h: 7.1 h, not beyond 8 h -> start dose 2 x 50 = 100 mcg/day.
Case 2, the cerebral adult: EC50 0.07, maximal fall 2.0.  Peak Ce 0.1213 (same PK): ratio 1.733,
    E = 3.00 / 4.00 = 0.750, fall 1.50 >= 1: a response to 50 mcg.  Criterion E >= 0.5, Ce >= 0.07,
    from about 1.1 h to 11.1 h: 10.0 h > 8 h -> start dose = the screening dose, 50 mcg/day.
Case 3, the child: CL 20 mL/h -> V = 43.28 mL; 50 mcg -> Cl(0) = 1.155, peak Ce = 1.155 / 3 x
    0.4725 = 0.182; ratio to EC50 0.25 = 0.728, E = 0.530 / 1.530 = 0.346, fall 0.87 < 1:
    inadequate.  24 h later 75 mcg: its own peak 0.273 plus what is left of the first
    (Ce(24 h) = 0.385 e^-2.77 = 0.024, decaying) gives about 0.288: ratio 1.15, E = 0.57, fall
    1.43: a response to 75 mcg; criterion for 7.6 h -> start dose 2 x 75 = 150 mcg/day.
Case 4, a spinal adult with EC50 0.4 mcg/mL (the top of the range): 50 mcg and 75 mcg fail; the
    100 mcg bolus's own peak is 2 x 0.1213 = 0.243, plus what is left of the 75 mcg (0.385 x
    e^-2.77 = 0.024 at the injection, x e^-0.46 = 0.015 by the peak): 0.258.  Ratio 0.645,
    E = 0.416 / 1.416 = 0.294, fall 0.73 < 1 -> not a candidate.
"""

from __future__ import annotations

import dataclasses

import pytest

from patient.profiles import load_patient_profile
from patient.screening import screening_trial


def test_case_1_spinal_adult_responds_to_50_mcg_and_starts_at_twice_that() -> None:
    report = screening_trial(load_patient_profile("spinal_adult").params, "spinal_adult")
    assert report.candidate
    assert [b.dose_mcg for b in report.boluses] == [50.0]
    bolus = report.boluses[0]
    assert bolus.peak_fall_points == pytest.approx(1.37, abs=0.01)
    assert bolus.peak_h == pytest.approx(4.0, abs=0.05)
    assert bolus.response_duration_h == pytest.approx(7.1, abs=0.1)
    assert 0.5 <= (bolus.onset_h or 0) <= 1.0
    assert report.effective_dose_mcg == 50.0
    assert report.start_dose_mcg_per_day == 100.0
    assert "twice" in report.start_dose_rule


def test_case_2_cerebral_adult_effect_beyond_8_h_starts_at_the_screening_dose() -> None:
    report = screening_trial(load_patient_profile("cerebral_adult").params)
    bolus = report.boluses[0]
    assert bolus.peak_fall_points == pytest.approx(1.50, abs=0.01)
    assert bolus.response_duration_h == pytest.approx(10.0, abs=0.1)
    assert report.effective_dose_mcg == 50.0
    assert report.start_dose_mcg_per_day == 50.0


def test_case_3_child_needs_75_mcg_and_starts_at_150_mcg_per_day() -> None:
    report = screening_trial(load_patient_profile("child").params)
    first, second = report.boluses
    assert not first.responded
    assert first.peak_fall_points == pytest.approx(0.87, abs=0.01)
    assert second.given_at_h == 24.0
    assert second.pre_dose_ashworth_points < 3.0  # the first bolus is not quite gone
    assert second.peak_fall_points == pytest.approx(1.43, abs=0.01)
    assert report.effective_dose_mcg == 75.0
    assert report.start_dose_mcg_per_day == 150.0


def test_case_4_no_response_to_100_mcg_is_not_a_candidate() -> None:
    params = dataclasses.replace(load_patient_profile("spinal_adult").params, ec50_mcg_per_ml=0.4)
    report = screening_trial(params)
    assert [b.dose_mcg for b in report.boluses] == [50.0, 75.0, 100.0]
    assert [b.given_at_h for b in report.boluses] == [0.0, 24.0, 48.0]
    assert report.boluses[-1].peak_fall_points == pytest.approx(0.73, abs=0.01)
    assert not report.candidate
    assert report.start_dose_mcg_per_day is None


def test_a_patient_whose_maximal_fall_is_below_one_point_is_never_a_candidate() -> None:
    params = dataclasses.replace(
        load_patient_profile("spinal_adult").params, max_ashworth_reduction_points=0.9
    )
    report = screening_trial(params)
    assert not report.candidate
    assert all(b.response_start_h is None for b in report.boluses)


def test_timeline_samples_every_half_hour_over_the_observation_window() -> None:
    report = screening_trial(load_patient_profile("spinal_adult").params)
    timeline = report.boluses[0].timeline
    assert [p.t_h for p in timeline] == [i * 0.5 for i in range(17)]
    assert timeline[0].lumbar_csf_mcg_per_ml == 0.0
    assert max(timeline, key=lambda p: -p.ashworth_points).t_h == 4.0


def test_the_trial_is_deterministic() -> None:
    params = load_patient_profile("child").params
    assert screening_trial(params).to_dict() == screening_trial(params).to_dict()
