"""protocol.units and enum_label: the wire's integers as people read them, written once."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from protocol.catalog import MsgType
from protocol.enums import TherapyMode, enum_label
from protocol.errors import ErrorCode
from protocol.units import DAY_S, format_mcg, format_ml, mcg, ml


def test_days_nanograms_and_nanolitres_convert_as_the_wire_defines_them() -> None:
    assert DAY_S == 24 * 3600
    assert mcg(400_000) == 400.0 and mcg(12_345) == 12.345 and mcg(12_345, 1) == 12.3
    assert ml(1_800_000) == 1.8 and ml(123_456) == 0.123 and ml(123_456, 4) == 0.1235


def test_people_read_micrograms_exactly_and_millilitres_to_the_microlitre() -> None:
    assert format_mcg(400_000) == "400 mcg"
    assert format_mcg(12_500) == "12.5 mcg"
    assert format_mcg(1) == "0.001 mcg"
    assert format_ml(1_800_000) == "1.8 mL"
    assert format_ml(0) == "0 mL"


@given(st.integers(0, 10**12))
def test_the_rounded_figures_are_the_text_figures(ng: int) -> None:
    assert float(format_mcg(ng).removesuffix(" mcg")) == mcg(ng, 6) == ng / 1000


def test_an_enum_label_is_the_member_name_or_the_number_in_the_callers_words() -> None:
    assert enum_label(TherapyMode, 1) == "CONTINUOUS"
    assert enum_label(ErrorCode, 9999) == "9999"
    assert enum_label(TherapyMode, 99, "mode_{value}") == "mode_99"
    assert enum_label(MsgType, 0x7F, "msg_type={value:#04x}") == "msg_type=0x7f"
