"""Profiles load by name or path; a malformed profile names the offending key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from hw_sim.profiles.loader import PROFILE_DIR, ProfileError, available_profiles, load_profile


def test_shipped_profiles_hold_the_public_figures() -> None:
    assert available_profiles() == ["vp20", "vp40"]
    vp20, vp40 = load_profile("vp20").device, load_profile("vp40").device
    assert (vp20.reservoir_capacity_nl, vp40.reservoir_capacity_nl) == (20_000_000, 40_000_000)
    assert (vp20.refill_discrepancy_warn_nl, vp40.refill_discrepancy_warn_nl) == (
        1_000_000,
        2_000_000,
    )
    for device in (vp20, vp40):
        assert device.pump_tubing_volume_nl == 140_000
        assert device.catheter_volume_nl_per_cm == 2_600
        assert device.min_rate_nl_per_day == 48_000
        assert device.max_flex_steps == 13
        assert device.eos_after_eri_s == 90 * 86_400
        assert device.drug.concentrations_mcg_per_ml == (50, 500, 1_000, 2_000)
        assert device.alarms.low_reservoir_default_nl == 2_000_000


def test_every_value_line_says_whether_it_is_public_or_our_choice() -> None:
    for path in PROFILE_DIR.glob("*.toml"):
        for line in path.read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                assert "# public:" in line or "# simulator choice" in line, line


def test_profile_loads_from_a_path(tmp_path: Path) -> None:
    copy = tmp_path / "custom.toml"
    copy.write_text((PROFILE_DIR / "vp40.toml").read_text())
    loaded = load_profile(copy)
    assert loaded.name == "custom"
    assert loaded.device.model == "VP-40"


def write_variant(tmp_path: Path, old: str, new: str) -> Path:
    text = (PROFILE_DIR / "vp20.toml").read_text()
    assert old in text
    path = tmp_path / "broken.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "stroke_volume_nl = 250",
            'stroke_volume_nl = "250"',
            r"\[device\] stroke_volume_nl: expected an integer",
        ),
        ("max_flex_steps = 13", "", r"\[device\] missing key 'max_flex_steps'"),
        ("max_flex_steps = 13", "max_flex_step = 13", r"\[device\] unknown key 'max_flex_step'"),
        (
            "hard_max_daily_dose_ng = 3_000_000",
            "hard_max_daily_dose_ng = 1_000_000",
            "soft_max_daily_dose_ng",
        ),
        (
            "low_reservoir_default_nl = 2_000_000",
            "low_reservoir_default_nl = 9_000_000",
            "low_reservoir_default_nl",
        ),
        (
            "concentrations_mcg_per_ml = [50, 500, 1_000, 2_000]",
            "concentrations_mcg_per_ml = []",
            "concentrations_mcg_per_ml",
        ),
        ("[hardware]", "[hardwares]", r"unknown key 'hardwares'"),
        (
            "nvm_size_bytes = 1_048_576",
            "nvm_size_bytes = -1",
            r"\[hardware\] nvm_size_bytes: must not be negative",
        ),
    ],
)
def test_malformed_profile_error_names_the_key(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    with pytest.raises(ProfileError, match=message):
        load_profile(write_variant(tmp_path, old, new))


def test_unknown_profile_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ProfileError, match="vp20, vp40"):
        load_profile("vp99")


def test_invalid_toml_is_reported_with_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[device\n")
    with pytest.raises(ProfileError, match=r"bad\.toml: not valid TOML"):
        load_profile(path)
    assert tomllib  # the loader uses the stdlib parser


def test_the_benchmark_profile_loads_too() -> None:
    """bench/vp20-biglog.toml is a profile like the shipped ones: a new required table must
    reach it as well (it once missed [clock], and `make bench` broke, not `make test`)."""
    bench_profile = Path(__file__).resolve().parents[2] / "bench" / "vp20-biglog.toml"
    assert load_profile(str(bench_profile)).device.model
