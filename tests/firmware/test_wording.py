"""The pump's words for people: exact integer formatting in mcg, mL, min and h."""

from __future__ import annotations

from firmware import wording


def test_doses_volumes_and_rates_read_in_clinical_units() -> None:
    assert wording.mcg(592_000) == "592 mcg"
    assert wording.mcg(416_666) == "416.666 mcg"
    assert wording.mcg(12_500) == "12.5 mcg"
    assert wording.mcg_per_day(3_050_000) == "3050 mcg/day"
    assert wording.ml(296_000) == "0.296 mL"
    assert wording.ml(1_999) == "0.001 mL"  # rounded down, like every firmware conversion
    assert wording.ml_per_day(24_000_000) == "24 mL/day"


def test_durations_and_changes() -> None:
    assert wording.duration(1_800) == "30 min"
    assert wording.duration(5_400) == "1 h 30 min"
    assert wording.duration(1_066) == "17 min 46 s"
    assert wording.duration(0) == "0 s"
    assert wording.percent(400) == "+40 %"
    assert wording.percent(333) == "+33.3 %"
    assert wording.percent(-125) == "-12.5 %"
    assert wording.clock(420) == "07:00"


def test_the_longest_warning_refusal_fits_a_reply_reason() -> None:
    """Every warning a basal change can raise at once, and a prime's, with large numbers, still
    fit the 200-byte reason of a reply (a longer one would be cut, never refused)."""
    from firmware.safety import warning_text
    from hw_sim.profiles.loader import load_profile
    from protocol.catalog import StageWarning as W
    from protocol.codec import MAX_REASON_BYTES

    profile = load_profile("vp20").device
    basal = (
        W.SOFT_DOSE_LIMIT
        | W.TITRATION_INCREASE_OVER_LIMIT
        | W.SECOND_INCREASE_WITHIN_24H
        | W.CONCENTRATION_CHANGED_NEEDS_BRIDGE
        | W.LOW_RESERVOIR_SOON
    )
    text = warning_text(basal, 1_600_500, 1_200_500, 333, profile)
    assert "SOFT_DOSE_LIMIT (1600.5 > 1500 mcg/day)" in text
    assert "TITRATION_INCREASE_OVER_LIMIT (+33.3 % on 1200.5 mcg/day > +30 %)" in text
    assert len(text.encode()) <= MAX_REASON_BYTES, text
    prime = W.PRIME_INTO_FULL_CATHETER | W.LOW_RESERVOIR_SOON
    text = warning_text(prime, 0, 0, 0, profile, to_patient_ng=1_320_000)
    assert "PRIME_INTO_FULL_CATHETER (1320 mcg reaches the patient)" in text


def test_catheter_lengths_read_in_centimetres() -> None:
    from firmware.wording import cm

    assert [cm(600), cm(605), cm(0)] == ["60 cm", "60.5 cm", "0 cm"]
