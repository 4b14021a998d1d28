"""The WRITE_ACCEPTED audit record: who changed what, packed into a log record's a, b and flags."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from protocol.audit import NOT_AUDITED_WRITES, WriteAudit, WriteChoice
from protocol.catalog import CATALOG, MsgType, StageWarning
from protocol.enums import ChangeKind, Role
from protocol.log_record import LogRecord


def test_a_commit_record_packs_into_one_log_record_and_reads_back() -> None:
    write = WriteAudit(
        0x7ABC_DEF0,
        int(Role.CLINICIAN),
        int(MsgType.COMMIT_PRESCRIPTION),
        int(ChangeKind.CONTINUOUS),
        int(StageWarning.TITRATION_INCREASE_OVER_LIMIT | StageWarning.SOFT_DOSE_LIMIT),
        int(WriteChoice.BRIDGE_SKIPPED),
    )
    a, b, flags = write.arguments()
    assert a == 0x7ABC_DEF0
    assert b == 0x13 | int(Role.CLINICIAN) << 8 | int(ChangeKind.CONTINUOUS) << 16 | 2 << 24
    assert flags == 0b11
    record = LogRecord.create(1, 1_767_571_200, 82, a, b, flags)
    assert record.check_ok
    assert WriteAudit.from_record(record.a, record.b, record.flags) == write


@given(
    key_id=st.integers(0, 2**31 - 1),
    role=st.integers(0, 255),
    msg=st.integers(0, 255),
    detail=st.integers(0, 255),
    acknowledged=st.integers(0, 0xFFFF),
    choice=st.integers(0, 127),
)
def test_every_write_round_trips_through_a_signed_log_record(
    key_id: int, role: int, msg: int, detail: int, acknowledged: int, choice: int
) -> None:
    write = WriteAudit(key_id, role, msg, detail, acknowledged, choice)
    a, b, flags = write.arguments()
    record = LogRecord.create(1, 0, 82, a, b, flags)  # a and b are signed 32-bit: no saturation
    assert (record.a, record.b) == (a, b)
    assert WriteAudit.from_record(record.a, record.b, record.flags) == write


def test_only_state_changing_requests_are_left_out_of_the_write_audit() -> None:
    assert all(CATALOG[msg].state_changing for msg in NOT_AUDITED_WRITES)
