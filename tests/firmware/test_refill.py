"""The two-phase refill (firmware/refill.py): stage, commit bound to the stage, the catheter."""

from __future__ import annotations

import pytest

from firmware.prescription import BridgeBolus, Continuous, PrimingBolus
from firmware.refill import RefillRequest
from protocol.catalog import CATHETER_STORED
from protocol.enums import LogEvent, LogId, TherapyMode
from protocol.errors import ErrorCode, Refusal
from tests.firmware.conftest import DAY, START, FakeBoard
from tests.firmware.helpers import program


def _running(dose_ng: int = 500_000, conc: int = 2000) -> FakeBoard:
    bench = FakeBoard()
    bench.pump.refill(0, 20_000_000, conc, START)
    program(bench.pump, Continuous(dose_ng), START)
    return bench


def _events(bench: FakeBoard) -> list[tuple[int, int, int]]:
    fw = bench.pump
    info = fw.log_info(LogId.THERAPY)
    return [(r.event, r.a, r.b) for r in fw.log_read(LogId.THERAPY, info.first_seq, 1000)]


def test_staging_a_refill_changes_nothing() -> None:
    bench = _running()
    fw, now = bench.pump, START + 10 * DAY
    before = fw.status(now)
    log = _events(bench)
    staged = fw.stage_refill(RefillRequest(17_500_000, 20_000_000, 500, True, 600), now)
    assert staged.bridge is not None and staged.concentration_changed
    after = fw.status(now)
    assert after.reservoir_nl == before.reservoir_nl == 17_500_000
    assert after.concentration_mcg_per_ml == 2000 and after.catheter_length_mm is None
    assert _events(bench) == log


def test_a_commit_is_refused_when_the_pump_changed_since_the_stage() -> None:
    """Staged with the pump running, committed after a stop: the figures the clinician saw
    (the dates of a running pump) no longer hold, so the commit refuses (HASH_MISMATCH) and
    nothing changes.  With a bridge staged, the commit names why: no basal dose to keep."""
    bench = _running()
    fw, now = bench.pump, START + 10 * DAY
    same = fw.stage_refill(RefillRequest(17_500_000, 20_000_000, 2000), now)
    fw.stop(now + 60)
    with pytest.raises(Refusal) as refused:
        fw.commit_refill(same.staged_hash, same.active_version, now + 120)
    assert refused.value.code is ErrorCode.HASH_MISMATCH
    assert fw.status(now + 120).reservoir_nl == 17_500_000
    fw.resume(now + 180)
    bridged = fw.stage_refill(RefillRequest(17_500_000, 20_000_000, 500, True, 600), now + 180)
    fw.stop(now + 240)
    with pytest.raises(Refusal) as why:
        fw.commit_refill(bridged.staged_hash, bridged.active_version, now + 300)
    assert why.value.code is ErrorCode.THERAPY_NOT_RUNNING
    assert fw.status(now + 300).concentration_mcg_per_ml == 2000


def test_a_commit_after_a_new_prescription_is_stale_and_time_alone_changes_nothing() -> None:
    bench = _running()
    fw, now = bench.pump, START + 10 * DAY
    request = RefillRequest(17_500_000, 20_000_000, 2000, True, None)
    staged = fw.stage_refill(request, now)
    program(fw, Continuous(450_000), now + 60)
    with pytest.raises(Refusal) as refused:
        fw.commit_refill(staged.staged_hash, staged.active_version, now + 120)
    assert refused.value.code is ErrorCode.STALE_VERSION
    staged = fw.stage_refill(request, now + 180)
    result = fw.commit_refill(staged.staged_hash, staged.active_version, now + 3600)  # strokes
    assert result.reservoir_nl == 20_000_000 and not result.concentration_changed


def test_a_bridge_needs_a_catheter_the_pump_knows() -> None:
    bench = _running()
    fw, now = bench.pump, START + DAY
    with pytest.raises(Refusal) as refused:
        fw.stage_refill(RefillRequest(19_750_000, 20_000_000, 500), now)
    assert refused.value.code is ErrorCode.CATHETER_UNKNOWN
    skipped = fw.stage_refill(RefillRequest(19_750_000, 20_000_000, 500, bridge=False), now)
    assert skipped.bridge is None and skipped.bridge_skipped


def test_a_prime_stores_the_catheter_and_a_bridge_reuses_it() -> None:
    """A 60 cm prime: the pump keeps 600 mm.  After a one-shot refill from 2000 to 500 mcg/mL
    (no bridge: logged BRIDGE_SKIPPED, a = 2), a bridge naming CATHETER_STORED bridges that
    catheter: 0.296 mL at 500,000 / 2000 = 250,000 nL/day for ceil(0.296 x 86,400 / 0.25)
    = 102,298 s."""
    bench = FakeBoard()
    fw = bench.pump
    fw.refill(0, 20_000_000, 2000, START)
    program(fw, PrimingBolus(600), START)
    assert fw.status(START).catheter_length_mm == 600
    assert (LogEvent.CATHETER_SET, 600, 0) in _events(bench)
    program(fw, Continuous(500_000), START + DAY)
    fw.refill(18_000_000, 20_000_000, 500, START + 2 * DAY)
    assert _events(bench)[-1] == (LogEvent.BRIDGE_SKIPPED, 2, 2000)
    staged = fw.stage(BridgeBolus(CATHETER_STORED), START + 2 * DAY)
    assert staged.bolus_volume_nl == 296_000 and staged.bolus_duration_s == 102_298
    program(fw, BridgeBolus(CATHETER_STORED), START + 2 * DAY)
    status = fw.status(START + 2 * DAY)
    assert status.bolus is not None and status.bolus.mode is TherapyMode.BRIDGE_BOLUS


def test_a_prime_naming_the_stored_catheter_on_a_pump_that_knows_none_is_refused() -> None:
    bench = FakeBoard()
    bench.pump.refill(0, 20_000_000, 2000, START)
    with pytest.raises(Refusal) as refused:
        bench.pump.stage(PrimingBolus(CATHETER_STORED), START)
    assert refused.value.code is ErrorCode.CATHETER_UNKNOWN
