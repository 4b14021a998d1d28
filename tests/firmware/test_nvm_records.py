"""The NVM records: byte layout pinned to images written by earlier firmware, declared once."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.alarms import ActiveAlarm
from firmware.persistence import Counters, Settings, factory_settings
from firmware.prescription import Continuous, Flex, FlexStep, PatientBolusConfig, Stopped
from firmware.safety import TitrationEntry, TitrationKind
from protocol.enums import AlarmId

SETTINGS = Settings(
    version=7,
    suspended=True,
    program=Flex(((FlexStep(0, 100_000), FlexStep(480, 250_000)),), (0,) * 7),
    concentration_mcg_per_ml=500,
    filled_nl=20_000_000,
    refill_generation=3,
    bridge_from_mcg_per_ml=1000,
    start_pending=False,
    low_reservoir_nl=2_000_000,
    critical_interval_s=3600,
    patient_bolus=PatientBolusConfig(True, 25_000, 1800, 3, 14_400),
    titration=(
        TitrationEntry(1_700_000_000, 100_000, TitrationKind.START),
        TitrationEntry(1_700_086_400, 120_000, TitrationKind.INCREASE),
    ),
    catheter_full=True,
    therapy_given=True,
)
#: SETTINGS as format 1 wrote it (before the records were declared field by field).
SETTINGS_IMAGE = bytes.fromhex(
    "01000000070100170201020000000186a001e00003d0900700000000000000000001f401312d0000000003"
    "000003e800001e848000000e1001000061a800000708000000030000384002000000006553f100000186a0"
    "0200000000655542800001d4c001"
    "0101"  # catheter_full, therapy_given (appended)
)
FACTORY_IMAGE = bytes.fromhex(
    "0100000000000001000000000000000000000000000000000000001e848000000e10000000000000000000"
    "000000000000000000"
    "0000"  # catheter_full, therapy_given (appended)
)
#: Settings fields appended since format 1, as their factory values encode them.
COUNTERS = Counters(
    refill_generation=3,
    drawn_nl=1_234_567,
    stroke_remainder=42,
    strokes_total=98765,
    delivered_nl=1_234_567,
    delivered_pg=617_283_500,
    programmed_amount=10**12,
    day_delivered_pg=5_000_000,
    day_programmed_amount=10**10,
    rtc_offset_s=-3600,
    eri_time=1_800_000_000,
    eos_reached=False,
    battery_ppm=455_000,
    stalled=True,
    safe_reason=AlarmId.LOW_BATTERY_RESET,
    log_next_seq=(12, 3, 40),
    patient_bolus_grants=(1_700_000_100, 1_700_010_000),
    alarms=(
        (AlarmId.LOW_RESERVOIR, ActiveAlarm(1_700_000_000, True, 1_700_003_600, 1_700_007_200)),
        (AlarmId.MOTOR_STALL, ActiveAlarm(1_700_000_500, False, None, 1_700_000_500)),
    ),
    daily_log_next_seq=9,
)
COUNTERS_IMAGE = bytes.fromhex(
    "0100000003000000000012d687000000000000002a00000000000181cd000000000012d6870000000024ca"
    "ffac000000e8d4a5100000000000004c4b4000000002540be400fffffffffffff1f0000000006b49d20000"
    "0006f15801060000000c000000030000002802000000006553f16400000000655418100201000000006553"
    "f10001000000006553ff100000000065540d2005000000006553f2f400ffffffffffffffff000000006553"
    "f2f4"
    "00000009"  # daily_log_next_seq
)
EMPTY_COUNTERS = Counters(
    refill_generation=0,
    drawn_nl=0,
    stroke_remainder=0,
    strokes_total=0,
    delivered_nl=0,
    delivered_pg=0,
    programmed_amount=0,
    day_delivered_pg=0,
    day_programmed_amount=0,
    rtc_offset_s=0,
    eri_time=None,
    eos_reached=False,
    battery_ppm=1_000_000,
    stalled=False,
    safe_reason=None,
    log_next_seq=(1, 1, 1),
    patient_bolus_grants=(),
    alarms=(),
)
EMPTY_COUNTERS_IMAGE = bytes.fromhex(
    "01"
    + "00" * 76
    + "ffffffffffffffff00000f42400000000000010000000100000001"
    + "0000"
    + "00000001"  # daily_log_next_seq
)


#: The fields appended to Settings after those in SETTINGS_IMAGE: utc_offset_s (i32, 0) and
#: catheter_length_mm (none: -1 as i64).
SETTINGS_TAIL = bytes.fromhex("00000000" + "ffffffffffffffff")


@pytest.mark.parametrize(
    ("record", "image", "tail"),
    [
        (SETTINGS, SETTINGS_IMAGE, SETTINGS_TAIL),
        (factory_settings(2_000_000, 3600), FACTORY_IMAGE, SETTINGS_TAIL),
        (COUNTERS, COUNTERS_IMAGE, b""),
        (EMPTY_COUNTERS, EMPTY_COUNTERS_IMAGE, b""),
    ],
)
def test_records_encode_to_the_format_1_bytes_and_old_images_decode(
    record: Settings | Counters, image: bytes, tail: bytes
) -> None:
    """Today's record is the old image plus the fields appended since; the old image (from
    firmware that did not know them) decodes with their factory values."""
    assert record.encode() == image + tail
    assert type(record).decode(image) == record
    assert type(record).decode(image + tail) == record
    assert type(record).decode(image + tail + b"\x00\x17") == record  # later bytes are ignored


def test_the_clinics_utc_offset_follows_the_first_release_and_old_images_read_it_as_0() -> None:
    """UTC+01:00 = 3600 s = 0x00000e10, UTC-05:00 = -18000 s = 0xffffb9b0 (i32, big-endian),
    after every field of the first release; an image without it is a pump on UTC."""
    for offset, tail in ((3600, "00000e10"), (-18_000, "ffffb9b0")):
        record = dataclasses.replace(SETTINGS, utc_offset_s=offset)
        assert record.encode() == SETTINGS_IMAGE + bytes.fromhex(tail) + SETTINGS_TAIL[4:]
        assert Settings.decode(record.encode()).utc_offset_s == offset
    assert Settings.decode(SETTINGS_IMAGE).utc_offset_s == 0
    assert Settings.layout()[-2] == ("utc_offset_s", "i", "")
    with pytest.raises(ValueError):  # a record cut inside the offset is still refused
        Settings.decode(SETTINGS_IMAGE + bytes.fromhex("0000"))


@pytest.mark.parametrize(
    ("record", "image"),
    [(SETTINGS, SETTINGS_IMAGE), (factory_settings(2_000_000, 3600), FACTORY_IMAGE)],
)
def test_a_settings_image_from_before_the_appended_fields_decodes_with_their_defaults(
    record: Settings, image: bytes
) -> None:
    """Images written before ``catheter_length_mm`` was appended end before it (after the UTC
    offset, or earlier): it reads as unknown (None).  The first format-1 image, before any
    appended field, reads them all as their factory values."""
    assert Settings.decode(image) == record
    assert Settings.decode(image + SETTINGS_TAIL[:4]) == record
    assert Settings.decode(image).catheter_length_mm is None
    with pytest.raises(ValueError):  # a cut inside an appended field is still truncation
        Settings.decode(image + SETTINGS_TAIL[:7])
    first = Settings.decode(image[:-2])  # without catheter_full and therapy_given too
    assert not first.catheter_full and not first.therapy_given
    assert first.titration == record.titration


def test_a_short_record_or_an_unknown_format_is_a_value_error() -> None:
    for cut in (0, 1, 10, len(COUNTERS_IMAGE) - 1):
        with pytest.raises(ValueError):
            Counters.decode(COUNTERS_IMAGE[:cut])
    with pytest.raises(ValueError, match="format 2"):
        Settings.decode(b"\x02" + SETTINGS_IMAGE[1:])
    bolus = SETTINGS_IMAGE.replace(bytes.fromhex("0017"), bytes.fromhex("000b"), 1)
    with pytest.raises(ValueError):  # a bolus where the basal program belongs
        Settings.decode(bolus[:8] + bytes.fromhex("03") + bolus[9:])


def test_the_layout_lists_every_field_in_byte_order_with_its_struct_code() -> None:
    rows = Counters.layout()
    assert rows[0] == ("format", "B", "= 1")
    assert [name for name, _, _ in rows[1:]] == [f.name for f in dataclasses.fields(Counters)]
    codes = "".join(code for _, code, _ in rows[:16])
    assert codes == "BIQQQQQQQQqqBIBB"  # the fixed head: one struct for 16 fields
    assert [name for name, _, _ in Settings.layout()][:4] == [
        "format",
        "version",
        "suspended",
        "program",
    ]


@given(
    version=st.integers(0, 2**32 - 1),
    dose=st.integers(0, 2**32 - 1),
    offset=st.integers(-(2**63), 2**63 - 1),
    eri=st.none() | st.integers(0, 2**63 - 1),
    grants=st.lists(st.integers(-(2**63), 2**63 - 1), max_size=20).map(tuple),
    safe=st.none() | st.sampled_from(AlarmId),
)
def test_records_round_trip(
    version: int,
    dose: int,
    offset: int,
    eri: int | None,
    grants: tuple[int, ...],
    safe: AlarmId | None,
) -> None:
    settings = dataclasses.replace(SETTINGS, version=version, program=Continuous(dose))
    assert Settings.decode(settings.encode()) == settings
    stopped = dataclasses.replace(SETTINGS, program=Stopped(), titration=())
    assert Settings.decode(stopped.encode()) == stopped
    counters = dataclasses.replace(
        COUNTERS, rtc_offset_s=offset, eri_time=eri, patient_bolus_grants=grants, safe_reason=safe
    )
    assert Counters.decode(counters.encode()) == counters


def test_every_counter_the_time_line_restores_it_reads_back() -> None:
    """counters() and restore_counters() cover the same fields (the record's constructor makes
    counters() name them all): a counter added to the record but not restored fails here.
    ``log_next_seq`` and ``daily_log_next_seq`` are the exception by design: boot applies them
    to the rings it loads."""
    from firmware.timeline import TimeLine
    from tests.firmware.conftest import FakeBoard

    time_line: TimeLine = FakeBoard().pump._time
    time_line.set_settings(dataclasses.replace(time_line.settings, refill_generation=3))
    time_line.restore_counters(COUNTERS)
    read = time_line.counters()
    assert (
        dataclasses.replace(
            read,
            log_next_seq=COUNTERS.log_next_seq,
            daily_log_next_seq=COUNTERS.daily_log_next_seq,
        )
        == COUNTERS
    )


def test_a_field_after_an_appended_one_must_be_appended_with_a_factory_value() -> None:
    """Otherwise an older image, which ends before the appended field, could not be read."""
    from firmware.record_codec import U32, Record, nvm

    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Broken(Record):
        first: int = nvm(U32)
        added: int = nvm(U32, 0, appended=True)
        later: int = nvm(U32)

    with pytest.raises(TypeError, match=r"Broken\.later"):
        Broken(first=1, later=2).encode()
