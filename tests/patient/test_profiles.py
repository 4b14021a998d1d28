"""Patient profiles: every parameter has a unit and a provenance; population draws stay in range."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

import pytest

from patient.parameters import PatientParameters
from patient.profiles import (
    PROFILE_DIR,
    PatientProfileError,
    available_patient_profiles,
    draw,
    load_patient_profile,
    parse_patient_profile,
)

SHIPPED = ["cerebral_adult", "child", "spinal_adult"]


def _data(name: str = "spinal_adult") -> dict[str, Any]:
    with (PROFILE_DIR / f"{name}.toml").open("rb") as handle:
        return tomllib.load(handle)


def test_the_three_profiles_ship_and_load() -> None:
    assert available_patient_profiles() == SHIPPED
    for name in SHIPPED:
        profile = load_patient_profile(name)
        assert profile.name == name
        assert set(profile.specs) == {f.name for f in dataclasses.fields(PatientParameters)}


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_parameter_is_public_with_a_source_or_a_simulator_choice(name: str) -> None:
    for key, spec in load_patient_profile(name).specs.items():
        assert spec.source.startswith("public: ") or spec.source.startswith("simulator choice"), key


def test_the_published_figures_are_marked_public() -> None:
    specs = load_patient_profile("spinal_adult").specs
    for key in ("csf_half_life_h", "csf_clearance_ml_per_h", "lumbar_to_cisternal_ratio"):
        assert specs[key].is_public


def test_loader_refuses_a_bare_number_without_provenance() -> None:
    data = _data()
    data["pharmacokinetics"]["csf_half_life_h"] = 1.5
    with pytest.raises(PatientProfileError, match=r"csf_half_life_h.*provenance"):
        parse_patient_profile(data, "test.toml", "test")


@pytest.mark.parametrize("source", [None, "", "public:", "public:   ", "trust me", "Public: x"])
def test_loader_refuses_a_parameter_without_a_proper_source(source: str | None) -> None:
    data = _data()
    entry = dict(data["effect"]["ec50_mcg_per_ml"])
    if source is None:
        del entry["source"]
    else:
        entry["source"] = source
    data["effect"]["ec50_mcg_per_ml"] = entry
    with pytest.raises(PatientProfileError, match="ec50_mcg_per_ml: needs source"):
        parse_patient_profile(data, "test.toml", "test")


def test_loader_refuses_a_parameter_without_a_unit_in_its_name() -> None:
    data = _data()
    data["effect"]["ec50"] = data["effect"].pop("ec50_mcg_per_ml")
    with pytest.raises(PatientProfileError, match=r"\[effect\] ec50: the name carries no unit"):
        parse_patient_profile(data, "test.toml", "test")


def test_loader_refuses_missing_unknown_and_out_of_range_parameters() -> None:
    data = _data()
    del data["overdose"]["drowsiness_cisternal_mcg_per_ml"]
    with pytest.raises(PatientProfileError, match="missing parameter"):
        parse_patient_profile(data, "test.toml", "test")
    data = _data()
    data["effect"]["tone_points"] = {"value": 1.0, "source": "simulator choice"}
    with pytest.raises(PatientProfileError, match="unknown parameter"):
        parse_patient_profile(data, "test.toml", "test")
    data = _data()
    data["pharmacokinetics"]["csf_half_life_h"] = dict(
        data["pharmacokinetics"]["csf_half_life_h"], value=9.0
    )
    with pytest.raises(PatientProfileError, match="outside"):
        parse_patient_profile(data, "test.toml", "test")


def test_loader_names_the_file_of_a_broken_profile(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[profile\n")
    with pytest.raises(PatientProfileError, match=r"broken\.toml: not valid TOML"):
        load_patient_profile(path)
    with pytest.raises(PatientProfileError, match="unknown patient"):
        load_patient_profile("nobody")


@pytest.mark.parametrize("name", SHIPPED)
def test_population_draws_stay_within_the_published_ranges(name: str) -> None:
    profile = load_patient_profile(name)
    for seed in range(200):
        params = draw(profile, seed).params
        for key, spec in profile.specs.items():
            value = getattr(params, key)
            if spec.low is None or spec.high is None:
                assert value == spec.value, key
            else:
                assert spec.low <= value <= spec.high, (seed, key)
        assert params.lumbar_distribution_volume_ml <= params.lumbar_distribution_volume_max_ml


def test_population_draws_are_reproducible_and_seeds_change_them() -> None:
    profile = load_patient_profile("spinal_adult")
    assert draw(profile, 42).params == draw(profile, 42).params
    assert draw(profile, 42).seed == 42
    assert len({draw(profile, seed).params for seed in range(50)}) == 50


def test_population_screening_outcomes_vary() -> None:
    from patient.screening import screening_trial

    profile = load_patient_profile("spinal_adult")
    outcomes = {
        screening_trial(draw(profile, seed).params).effective_dose_mcg for seed in range(60)
    }
    assert {50.0, None} <= outcomes


def test_docs_patient_md_lists_every_parameter() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "PATIENT.md").read_text()
    for field in dataclasses.fields(PatientParameters):
        assert f"| `{field.name}` |" in doc, field.name
