"""Every refusal has a named code, a clear message, and changes nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from firmware.prescription import (
    BridgeBolus,
    Continuous,
    Flex,
    FlexStep,
    PatientBolusConfig,
    PrimingBolus,
    SingleBolus,
    TherapyChange,
)
from firmware.pump import PumpFirmware
from protocol.catalog import StageWarning
from protocol.enums import LogId
from protocol.errors import ErrorCode, Refusal
from tests.firmware.conftest import DAY, HOUR, START, FakeBoard
from tests.firmware.helpers import program

T = START + HOUR
STEP = FlexStep(0, 100_000)
PB = PatientBolusConfig(True, 20_000, 600, 4, 3600)
#: A patient-bolus configuration is checked like a dose increase; these visits acknowledge it.
ACK_DOSE_WARNINGS = (
    StageWarning.SOFT_DOSE_LIMIT
    | StageWarning.TITRATION_INCREASE_OVER_LIMIT
    | StageWarning.SECOND_INCREASE_WITHIN_24H
)


def _filled(concentration: int = 500) -> FakeBoard:
    bench = FakeBoard()
    bench.pump.refill(0, 20_000_000, concentration, START)
    return bench


def _programmed() -> FakeBoard:
    bench = _filled()
    program(bench.pump, Continuous(100_000), START)
    return bench


STAGE_CASES: list[tuple[str, Callable[[], FakeBoard], TherapyChange, ErrorCode]] = [
    ("hard limit", _filled, Continuous(3_000_001), ErrorCode.DOSE_ABOVE_HARD_LIMIT),
    ("rate above max", lambda: _filled(50), Continuous(2_900_000), ErrorCode.RATE_ABOVE_MAXIMUM),
    ("rate below min", _filled, Continuous(10_000), ErrorCode.RATE_BELOW_MINIMUM),
    ("negative", _filled, Continuous(-1), ErrorCode.INVALID_ARGUMENT),
    ("not filled", FakeBoard, Continuous(100_000), ErrorCode.PUMP_NOT_FILLED),
    ("flex no step at 0", _filled, Flex(((FlexStep(5, 100_000),),), (0,) * 7), ErrorCode.INVALID_SCHEDULE),
    ("flex unordered", _filled, Flex(((STEP, FlexStep(60, 1), FlexStep(30, 1)),), (0,) * 7),
     ErrorCode.INVALID_SCHEDULE),
    ("flex 14 steps", _filled, Flex((tuple(FlexStep(i * 60, 100_000) for i in range(14)),), (0,) * 7),
     ErrorCode.INVALID_SCHEDULE),
    ("flex weekday map", _filled, Flex(((STEP,),), (0,) * 6), ErrorCode.INVALID_SCHEDULE),
    ("flex missing program", _filled, Flex(((STEP,),), (0, 0, 0, 0, 0, 0, 1)), ErrorCode.INVALID_SCHEDULE),
    ("flex unused program", _filled, Flex(((STEP,), (STEP,)), (0,) * 7), ErrorCode.INVALID_SCHEDULE),
    ("flex step 60 mcg/hour", _filled, Flex(((STEP, FlexStep(600, 60_000 * 24 * 1000)),), (0,) * 7),
     ErrorCode.DOSE_ABOVE_HARD_LIMIT),
    ("bolus above limit", _filled, SingleBolus(600_000, 3600), ErrorCode.BOLUS_ABOVE_LIMIT),
    ("bolus too short", _filled, SingleBolus(50_000, 10), ErrorCode.BOLUS_DURATION_INVALID),
    ("bolus too fast", _filled, SingleBolus(500_000, 60), ErrorCode.BOLUS_DURATION_INVALID),
    ("bolus zero", _filled, SingleBolus(0, 600), ErrorCode.INVALID_ARGUMENT),
    ("priming catheter", _filled, PrimingBolus(5000), ErrorCode.INVALID_ARGUMENT),
    ("priming unfilled", FakeBoard, PrimingBolus(500), ErrorCode.PUMP_NOT_FILLED),
    ("bridge not needed", _programmed, BridgeBolus(500), ErrorCode.NO_BRIDGE_NEEDED),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "make", "change", "code"), STAGE_CASES, ids=[c[0] for c in STAGE_CASES]
)
def test_stage_refuses_with_named_code_and_changes_nothing(
    name: str, make: Callable[[], FakeBoard], change: TherapyChange, code: ErrorCode
) -> None:
    bench = make()
    before = bench.pump.prescription()
    with pytest.raises(Refusal) as caught:
        bench.pump.stage(change, T)
    assert caught.value.code is code and caught.value.message
    assert bench.pump.prescription() == before
    with pytest.raises(Refusal) as nothing:
        bench.pump.commit(b"\x00" * 16, before.version, StageWarning(0), T)
    assert nothing.value.code is ErrorCode.NOTHING_STAGED


def _commit_refusal(pump: PumpFirmware, **kw: object) -> ErrorCode:
    staged = pump.stage(Continuous(200_000), T)
    args: dict[str, object] = dict(staged_hash=staged.staged_hash, active_version=staged.active_version,
                                   ack_warnings=StageWarning(0), now=T)  # fmt: skip
    args.update(kw)
    with pytest.raises(Refusal) as caught:
        pump.commit(**args)  # type: ignore[arg-type]
    return caught.value.code


def test_commit_refusals() -> None:
    bench = _programmed()
    pump = bench.pump
    assert _commit_refusal(pump, staged_hash=b"\x01" * 16) is ErrorCode.HASH_MISMATCH
    assert _commit_refusal(pump, active_version=99) is ErrorCode.STALE_VERSION
    # 100 -> 200 mcg/day within 24 h of the start: two titration warnings
    assert _commit_refusal(pump) is ErrorCode.WARNINGS_NOT_ACKNOWLEDGED
    pump.abort(T)  # the staged change is dropped; a second abort has nothing to drop
    with pytest.raises(Refusal) as caught:
        pump.abort(T)
    assert caught.value.code is ErrorCode.NOTHING_STAGED


def test_commit_after_another_commit_is_stale() -> None:
    bench = _programmed()
    pump = bench.pump
    first = pump.stage(Continuous(90_000), T)
    program(pump, Continuous(80_000), T)
    with pytest.raises(Refusal) as caught:
        pump.commit(first.staged_hash, first.active_version, first.warnings, T)
    assert caught.value.code in (
        ErrorCode.HASH_MISMATCH,
        ErrorCode.NOTHING_STAGED,
        ErrorCode.STALE_VERSION,
    )


@pytest.mark.parametrize(
    ("withdrawn", "added", "conc", "code", "says"),
    [
        (-1, 1_000_000, 500, ErrorCode.REFILL_VOLUME_INVALID, "0 mL or more"),
        (0, 0, 500, ErrorCode.REFILL_VOLUME_INVALID, "more than 0 mL"),
        (
            0,
            20_500_000,
            500,
            ErrorCode.REFILL_OVER_CAPACITY,
            "20.5 mL asked exceeds the reservoir capacity of 20 mL",
        ),
        (0, 1_000_000, 750, ErrorCode.CONCENTRATION_NOT_IN_LIBRARY, "750 mcg/mL"),
    ],
)
def test_refill_refusals(withdrawn: int, added: int, conc: int, code: ErrorCode, says: str) -> None:
    """Refused with the code and a reason in the clinician's units (mL, mcg/mL), not nL."""
    bench = _programmed()
    before = bench.pump.status(T)
    with pytest.raises(Refusal) as caught:
        bench.pump.refill(withdrawn, added, conc, T)
    assert caught.value.code is code
    assert says in caught.value.message and "nL" not in caught.value.message
    after = bench.pump.status(T)
    assert after.reservoir_nl == before.reservoir_nl
    assert after.concentration_mcg_per_ml == 500


@pytest.mark.parametrize(
    ("cfg", "code"),
    [
        (PatientBolusConfig(True, 200_000, 600, 4, 3600), ErrorCode.BOLUS_ABOVE_LIMIT),
        (PatientBolusConfig(True, 20_000, 5, 4, 3600), ErrorCode.BOLUS_DURATION_INVALID),
        (PatientBolusConfig(True, 20_000, 600, 13, 3600), ErrorCode.INVALID_ARGUMENT),
        (PatientBolusConfig(True, 20_000, 600, 4, 10), ErrorCode.INVALID_ARGUMENT),
    ],
)
def test_patient_bolus_config_refusals(cfg: PatientBolusConfig, code: ErrorCode) -> None:
    bench = _programmed()
    with pytest.raises(Refusal) as caught:
        bench.pump.configure_patient_bolus(cfg, T)
    assert caught.value.code is code


def test_patient_bolus_request_refusals_are_logged() -> None:
    bench = _programmed()
    pump = bench.pump
    with pytest.raises(Refusal) as caught:
        pump.request_patient_bolus(T)
    assert caught.value.code is ErrorCode.PATIENT_BOLUS_NOT_CONFIGURED
    # 4 x 20 mcg on 100 mcg/day is a worst day of +80 %: checked like a dose increase
    pump.configure_patient_bolus(PB, T, ACK_DOSE_WARNINGS)
    grant = pump.request_patient_bolus(T)
    assert grant.end_time == T + 600 and grant.dose_ng == 20_000
    with pytest.raises(Refusal) as caught:
        pump.request_patient_bolus(T + 300)
    assert caught.value.code is ErrorCode.BOLUS_IN_PROGRESS
    with pytest.raises(Refusal) as caught:
        pump.request_patient_bolus(T + 1200)
    assert caught.value.code is ErrorCode.PATIENT_BOLUS_LOCKOUT
    for k in range(1, 4):
        pump.request_patient_bolus(T + k * HOUR)
    with pytest.raises(Refusal) as caught:
        pump.request_patient_bolus(T + 5 * HOUR)
    assert caught.value.code is ErrorCode.PATIENT_BOLUS_DAILY_MAXIMUM
    pump.request_patient_bolus(T + DAY + 1)  # the oldest left the 24 h window
    refused = [r.a for r in pump.log_read(LogId.THERAPY, 0, 200) if r.event == 10]
    assert refused == [ErrorCode.PATIENT_BOLUS_NOT_CONFIGURED, ErrorCode.BOLUS_IN_PROGRESS,
                       ErrorCode.PATIENT_BOLUS_LOCKOUT, ErrorCode.PATIENT_BOLUS_DAILY_MAXIMUM]  # fmt: skip


def test_other_refusals() -> None:
    bench = _programmed()
    pump = bench.pump
    cases: list[tuple[Callable[[], object], ErrorCode]] = [
        (lambda: pump.resume(T), ErrorCode.NOT_STOPPED),
        (lambda: pump.set_clock(-5, T), ErrorCode.CLOCK_INVALID),
        (lambda: pump.configure_alarms(100, 600, T), ErrorCode.ALARM_CONFIG_OUT_OF_RANGE),
        (lambda: pump.configure_alarms(2_000_000, 5, T), ErrorCode.ALARM_CONFIG_OUT_OF_RANGE),
        (lambda: pump.log_info(9), ErrorCode.UNKNOWN_LOG),
        (lambda: pump.set_security_blob(b"x" * 5000, T), ErrorCode.INVALID_ARGUMENT),
    ]
    for call, code in cases:
        with pytest.raises(Refusal) as caught:
            call()
        assert caught.value.code is code


def test_bolus_in_progress_and_motor_fault_and_end_of_service_refuse_programming() -> None:
    bench = _programmed()
    pump = bench.pump
    program(pump, SingleBolus(50_000, 3600), T)
    with pytest.raises(Refusal) as caught:
        pump.stage(Continuous(100_000), T + 60)
    assert caught.value.code is ErrorCode.BOLUS_IN_PROGRESS
    bench.hal.motor.stall_after = bench.hal.motor.strokes
    bench.run_to(T + 2 * HOUR)
    with pytest.raises(Refusal) as caught:
        pump.stage(Continuous(100_000), T + 2 * HOUR)
    assert caught.value.code is ErrorCode.MOTOR_FAULT


def test_a_basal_increase_cannot_push_basal_plus_patient_boluses_over_the_hard_limit() -> None:
    """The hard daily limit binds basal and the enabled patient-bolus allowance together, whichever
    of the two is changed last."""
    from firmware.prescription import Continuous, PatientBolusConfig

    from .conftest import DAY, START, FakeBoard

    bench = FakeBoard()
    pump = bench.pump
    pump.refill(0, 20_000_000, 2000, START)
    staged = pump.stage(Continuous(1_000_000), START)
    pump.commit(staged.staged_hash, staged.active_version, staged.warnings, START)
    pump.configure_patient_bolus(  # a worst day of 2.2 mg: above the soft limit, acknowledged
        PatientBolusConfig(True, 100_000, 600, 12, 3600), START, ACK_DOSE_WARNINGS
    )
    later = START + 2 * DAY
    bench.run_to(later)
    with pytest.raises(Refusal) as refused:
        pump.stage(Continuous(2_100_000), later)  # 2.1 mg + 1.2 mg of boluses > 3 mg hard limit
    assert refused.value.code == ErrorCode.DOSE_ABOVE_HARD_LIMIT
    pump.configure_patient_bolus(PatientBolusConfig(False, 100_000, 600, 12, 3600), later)
    assert pump.stage(Continuous(2_100_000), later).daily_dose_ng == 2_100_000
