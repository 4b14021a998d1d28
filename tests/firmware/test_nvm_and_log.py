"""Persistence: torn writes leave old or new state, power cycles resume, logs never reuse seqs."""

from __future__ import annotations

import contextlib
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.eventlog import LogRecord, LogRing
from firmware.hal import ResetCause
from firmware.nvm_layout import NvmLayout, NvmStore, RecordId, RecordStatus
from firmware.prescription import Continuous, Flex, FlexStep
from firmware.pump import PumpFirmware
from protocol.enums import LogEvent, LogId, TherapyMode
from tests.firmware.conftest import DAY, HOUR, START, FakeBoard, FakeNvm, PowerCut, make_profile
from tests.firmware.helpers import program


@given(
    seq=st.integers(0, 2**32 - 1),
    time=st.integers(0, 2**32 - 1),
    event=st.integers(0, 2**16 - 1),
    a=st.integers(-(2**31), 2**31 - 1),
    b=st.integers(-(2**31), 2**31 - 1),
)
def test_log_record_round_trips_and_checks(seq: int, time: int, event: int, a: int, b: int) -> None:
    record = LogRecord.create(seq, time, event, a, b)
    packed = record.pack()
    assert len(packed) == 24 and LogRecord.unpack(packed) == record
    corrupted = bytes([packed[0] ^ 1]) + packed[1:]
    with pytest.raises(ValueError):
        LogRecord.unpack(corrupted)


def test_a_full_ring_reads_like_its_last_capacity_records() -> None:
    """The ring drops old records in chunks: what it shows is always the last ``capacity``."""
    ring, kept = LogRing(50), list[LogRecord]()
    for i in range(700):
        kept = [*kept, ring.append(START + i, LogEvent.DAILY_TOTAL, i, 0)][-50:]
        assert ring.records() == kept
        info = ring.info()
        assert (info.first_seq, info.next_seq, info.count) == (kept[0].seq, i + 2, len(kept))
        for cursor in (0, kept[0].seq, kept[-1].seq - 3, kept[-1].seq + 1):
            assert ring.read(cursor, 7) == [r for r in kept if r.seq >= cursor][:7]


def test_record_store_survives_a_cut_at_every_byte() -> None:
    layout = NvmLayout(4)
    nvm = FakeNvm(layout.required_size)
    store = NvmStore(nvm, layout)
    store.save(RecordId.CONFIG, b"old" * 50)
    store.save(RecordId.CONFIG, b"older" * 5)  # both banks now hold a record
    store.save(RecordId.CONFIG, b"old" * 50)
    image = bytes(nvm.data)
    new = bytes(range(256)) * 2
    for cut in range(len(new) + 17):
        nvm.data[:] = image
        nvm.bytes_written, nvm.tear_after = 0, cut
        writer = NvmStore(nvm, layout)
        writer.load(RecordId.CONFIG)
        with contextlib.suppress(PowerCut):
            writer.save(RecordId.CONFIG, new)
        nvm.tear_after = None
        loaded = NvmStore(nvm, layout).load(RecordId.CONFIG)
        assert loaded.status is RecordStatus.VALID
        assert loaded.payload in (b"old" * 50, new)


def _pump_state(pump: PumpFirmware, now: int) -> tuple[object, ...]:
    status = pump.status(now)
    return (pump.prescription(), status.concentration_mcg_per_ml, status.reservoir_nl)


def test_power_cut_during_commit_or_refill_at_every_byte_leaves_old_or_new_state() -> None:
    profile = make_profile(log_capacity=8)
    flex = Flex((tuple(FlexStep(i * 100, 100_000 + i * 1000) for i in range(13)),), (0,) * 7)
    for operation in ("commit", "refill"):
        bench = FakeBoard(profile)
        pump = bench.pump
        pump.refill(0, 20_000_000, 500, START)
        program(pump, Continuous(100_000), START)
        pump.flush(START + HOUR)
        image = bytes(bench.hal.nvm.data)
        old = _pump_state(bench.power_cycle(START + HOUR), START + HOUR)
        bench.hal.nvm.data[:] = image
        pump = bench.power_cycle(START + HOUR)
        image = bytes(bench.hal.nvm.data)
        before_write = bench.hal.nvm.bytes_written
        if operation == "commit":
            program(pump, flex, START + HOUR)
        else:
            pump.refill(18_000_000, 10_000_000, 1000, START + HOUR)
        total = bench.hal.nvm.bytes_written - before_write
        new = _pump_state(bench.power_cycle(START + HOUR), START + HOUR)
        assert new != old
        seen = set()
        for cut in range(total + 1):
            bench.hal.nvm.data[:] = image
            pump = bench.power_cycle(START + HOUR)
            staged = pump.stage(flex, START + HOUR) if operation == "commit" else None
            bench.hal.nvm.bytes_written, bench.hal.nvm.tear_after = 0, cut
            try:
                if staged is not None:
                    pump.commit(
                        staged.staged_hash, staged.active_version, staged.warnings, START + HOUR
                    )
                else:
                    pump.refill(18_000_000, 10_000_000, 1000, START + HOUR)
            except PowerCut:
                pass
            state = _pump_state(bench.power_cycle(START + HOUR), START + HOUR)
            assert state in (old, new), f"{operation} cut at byte {cut} mixed old and new"
            seen.add(state == new)
        assert seen == {False, True}


def test_power_cycle_resumes_therapy_and_logs_reset() -> None:
    bench = FakeBoard()
    pump = bench.pump
    pump.refill(0, 20_000_000, 500, START)
    program(pump, Continuous(100_000), START)
    bench.run_to(START + 5 * DAY)
    pump.flush(START + 5 * DAY)
    strokes = bench.hal.motor.strokes
    pump = bench.power_cycle(START + 5 * DAY + 100, ResetCause.POWER_LOSS)
    status = pump.status(START + 5 * DAY + 100)
    assert status.mode is TherapyMode.CONTINUOUS and status.strokes == strokes
    last = pump.log_read(LogId.THERAPY, 0, 1000)[-1]
    assert last.event == LogEvent.RESET and last.a == ResetCause.POWER_LOSS
    bench.run_to(START + 6 * DAY)
    assert bench.hal.motor.strokes > strokes


def test_unpersisted_delivery_is_bounded_by_the_persist_interval() -> None:
    bench = FakeBoard()
    pump = bench.pump
    pump.refill(0, 20_000_000, 500, START)
    program(pump, Continuous(1_000_000), START)
    bench.run_to(START + 3 * DAY + 1234)  # no flush: a power cut
    lost = bench.hal.motor.strokes
    pump = bench.power_cycle(START + 3 * DAY + 1300)
    recorded = pump.status(START + 3 * DAY + 1300).strokes
    per_interval = 2_000_000 * HOUR // DAY // 250 + 1
    assert 0 <= lost - recorded <= per_interval


def test_log_wrap_keeps_sequence_numbers_increasing_across_power_cycles() -> None:
    bench = FakeBoard(make_profile(log_capacity=16))
    pump = bench.pump
    seqs: list[int] = []
    now = START
    for cycle in range(3):
        for k in range(20):
            now += 10
            pump.audit(LogEvent.SESSION_OPENED, k, cycle, now)
        pump = bench.power_cycle(now + 1)  # no flush: slots are written through
        records = pump.log_read(LogId.AUDIT, 0, 100)
        assert len(records) == 16
        seqs.extend(r.seq for r in records)
        info = pump.log_info(LogId.AUDIT)
        assert info.count == 16 and info.next_seq == records[-1].seq + 1
    assert all(b > a for a, b in itertools.pairwise(seqs))
    assert seqs[-1] == 60
    assert pump.log_read(LogId.AUDIT, 58, 10)[0].seq == 58


def test_blank_nvm_boots_into_factory_state_without_alarms() -> None:
    bench = FakeBoard()
    status = bench.pump.status(START)
    assert status.mode is TherapyMode.STOPPED and status.reservoir_nl == 0
    assert status.prescription_version == 0 and status.alarms == ()


def test_security_blob_persists_atomically() -> None:
    bench = FakeBoard()
    bench.pump.set_security_blob(b"keys" * 100, START + 1)
    assert bench.power_cycle(START + 2).get_security_blob() == b"keys" * 100


def test_same_inputs_give_byte_identical_nvm_and_logs() -> None:
    images = []
    for _ in range(2):
        bench = FakeBoard()
        bench.pump.refill(0, 20_000_000, 500, START)
        program(bench.pump, Continuous(150_000), START)
        bench.run_to(START + 40 * DAY)
        bench.pump.flush(START + 40 * DAY)
        images.append((bytes(bench.hal.nvm.data), tuple(bench.hal.buzzer.tones)))
    assert images[0] == images[1]
