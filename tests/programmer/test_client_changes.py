"""State-changing requests: executed exactly once, uncertain outcomes settled by asking the pump."""

from __future__ import annotations

import pytest

from programmer import therapy
from programmer.client import PumpClient
from programmer.errors import LinkError, PumpRefused, UncertainOutcome
from programmer.keystore import KeyStore
from protocol import ErrorCode, LogId, MsgType, TherapyMode

from .conftest import SERIAL, ClinicPump, make_client


def test_stage_and_commit_apply_the_change_once(pump: ClinicPump, client: PumpClient) -> None:
    staged = client.stage(therapy.continuous(500_000))
    assert staged.daily_dose_ng == 500_000
    assert staged.rate_nl_per_day == 1_000_000
    version = client.commit(staged)
    assert version == 4
    assert pump.daily_dose_ng == 500_000
    assert pump.executed[MsgType.COMMIT_PRESCRIPTION] == 1
    assert client.journal.entries() == []


def test_lost_reply_is_retried_with_the_same_request_id_and_answered_from_the_cache(
    pump: ClinicPump, client: PumpClient
) -> None:
    pump.faults.drop_replies[MsgType.STOP] = 1
    client.stop()
    assert pump.requests_seen[MsgType.STOP] == 2  # sent twice ...
    assert pump.executed[MsgType.STOP] == 1  # ... executed once
    assert client.retries_used == 1
    assert pump.requests_seen[MsgType.REQUEST_STATUS] == 0


def test_lost_request_is_sent_again_and_executes_once(pump: ClinicPump, client: PumpClient) -> None:
    pump.faults.drop_requests[MsgType.STOP] = 1
    client.stop()
    assert pump.executed[MsgType.STOP] == 1
    assert pump.mode == TherapyMode.STOPPED


def test_uncertain_outcome_is_resolved_by_request_status_before_anything_else(
    pump: ClinicPump, keystore: KeyStore, paired: KeyStore
) -> None:
    with make_client(pump, paired, retries=0) as client:
        client.open_session()
        pump.faults.drop_replies[MsgType.STOP] = 1
        client.stop()  # the reply is lost, REQUEST_STATUS says it completed
        assert client.uncertain_outcomes == 1
    assert pump.requests_seen[MsgType.STOP] == 1
    assert pump.requests_seen[MsgType.REQUEST_STATUS] == 1
    assert pump.executed[MsgType.STOP] == 1


def test_resolved_outcome_keeps_the_original_refusal(pump: ClinicPump, paired: KeyStore) -> None:
    # the pump runs: it refuses RESUME with NOT_STOPPED
    with make_client(pump, paired, retries=0) as client:
        client.open_session()
        pump.faults.drop_replies[MsgType.RESUME] = 1
        with pytest.raises(PumpRefused) as refused:
            client.resume()
    assert refused.value.code is ErrorCode.NOT_STOPPED


def test_unauthenticated_refusal_after_a_pump_reset_is_settled_then_sent_again(
    pump: ClinicPump, client: PumpClient
) -> None:
    pump.bench.power_cycle()  # the pump reset: it answers UNKNOWN_SESSION in the clear
    client.stop()
    assert pump.requests_seen[MsgType.REQUEST_STATUS] == 1  # asked before re-sending
    assert pump.requests_seen[MsgType.STOP] == 2
    assert pump.executed[MsgType.STOP] == 1


def test_request_never_received_and_retries_spent_is_a_certain_link_error(
    pump: ClinicPump, paired: KeyStore
) -> None:
    with make_client(pump, paired, retries=0) as client:
        client.open_session()
        pump.faults.drop_requests[MsgType.STOP] = 1
        with pytest.raises(LinkError, match="never received"):
            client.stop()
        assert client.journal.entries() == []
    assert pump.executed[MsgType.STOP] == 0


def test_dead_link_after_send_is_uncertain_and_journalled(
    pump: ClinicPump, paired: KeyStore
) -> None:
    with make_client(pump, paired, retries=1) as client:
        client.open_session()
        pump.faults.drop_replies[MsgType.STOP] = 1
        pump.faults.deaf = True  # the request is lost too: the pump goes silent
        pump.faults.deaf = False
        pump.faults.drop_replies[MsgType.STOP] = 99
        pump.faults.drop_replies[MsgType.REQUEST_STATUS] = 99
        pump.faults.drop_replies[MsgType.SESSION_OPEN] = 99
        with pytest.raises(UncertainOutcome, match="may or may not") as uncertain:
            client.stop()
        pending = client.journal.entries(SERIAL)
    assert [p.request_id for p in pending] == [uncertain.value.request_id]
    assert pump.executed[MsgType.STOP] == 1


def test_next_session_resolves_the_journal_before_any_other_command(
    pump: ClinicPump, paired: KeyStore
) -> None:
    with make_client(pump, paired, retries=0) as first:
        first.open_session()
        pump.faults.drop_replies[MsgType.STOP] = 1
        pump.faults.drop_replies[MsgType.REQUEST_STATUS] = 5
        with pytest.raises(UncertainOutcome):
            first.stop()
    pump.faults.drop_replies.clear()
    seen_before = pump.requests_seen.copy()
    with make_client(pump, paired) as second:
        second.open_session()
        assert [r.executed for r in second.resolved] == [True]
        assert "DID take effect" in second.resolved[0].describe()
        assert second.journal.entries() == []
    new = pump.requests_seen - seen_before
    assert new[MsgType.REQUEST_STATUS] == 1
    assert set(new) <= {
        MsgType.HELLO,
        MsgType.SESSION_OPEN,
        MsgType.REQUEST_STATUS,
        MsgType.SESSION_CLOSE,
    }
    assert pump.executed[MsgType.STOP] == 1


def test_journal_entry_the_pump_never_saw_resolves_as_not_executed(
    pump: ClinicPump, paired: KeyStore
) -> None:
    with make_client(pump, paired, retries=0) as first:
        first.open_session()
        pump.faults.deaf = True
        with pytest.raises(UncertainOutcome):
            first.stop()
        pump.faults.deaf = False  # the link comes back before this programmer closes
    with make_client(pump, paired) as second:
        second.open_session()
        assert [r.executed for r in second.resolved] == [False]
    assert pump.executed[MsgType.STOP] == 0


def test_refusal_is_certain_and_leaves_no_journal_entry(
    pump: ClinicPump, client: PumpClient
) -> None:
    with pytest.raises(PumpRefused, match="REFILL_OVER_CAPACITY"):
        client.refill(0, 30_000_000, 500)
    assert client.journal.entries() == []


def test_log_download_streams_every_record_in_one_request(
    pump: ClinicPump, client: PumpClient
) -> None:
    pump.add_log_records(LogId.THERAPY, 300)
    progress: list[tuple[int, int]] = []
    records = client.log_read(LogId.THERAPY, progress=lambda n, total: progress.append((n, total)))
    assert [r.seq for r in records] == list(range(1, 301))
    assert all(r.check_ok for r in records)
    assert pump.requests_seen[MsgType.LOG_READ] == 1
    assert progress[-1] == (300, 300) and len(progress) == 8


def test_log_download_resumes_from_the_cursor_after_a_lost_frame(
    pump: ClinicPump, client: PumpClient
) -> None:
    pump.add_log_records(LogId.AUDIT, 100)  # the setup's own writes are audited: maybe more
    top = pump.firmware.log_info(LogId.AUDIT).next_seq
    assert top > 100
    pump.faults.drop_replies[MsgType.LOG_READ] = 1  # the first frame of the stream is lost
    records = client.log_read(LogId.AUDIT, since=10)
    assert sorted({r.seq for r in records}) == list(range(10, top))
    assert len(records) == len({r.seq for r in records})


def test_telemetry_and_alarm_events_are_delivered_after_subscribing(
    pump: ClinicPump, client: PumpClient
) -> None:
    assert client.subscribe(60) == 60
    pump.advance(140)  # telemetry at once, after 60 s and after 120 s
    pump.bench.fault("motor-stall")  # the next stroke (within 27 s) stalls: an alarm
    pump.advance(30)
    events = list(client.notifications(timeout_s=0.3))
    kinds = [e.msg for e in events]
    assert kinds == [MsgType.TELEMETRY] * 3 + [MsgType.ALARM_EVENT]


def test_programmer_that_vanished_mid_session_does_not_lock_out_the_next_one(
    pump: ClinicPump, paired: KeyStore
) -> None:
    first = make_client(pump, paired)
    first.open_session()
    first.link.transport.close()  # killed: no SESSION_CLOSE
    with make_client(pump, paired) as second:
        assert second.identify()["serial_number"] == SERIAL


def test_programmer_killed_between_send_and_reply_is_settled_by_the_next_session(
    pump: ClinicPump, paired: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = make_client(pump, paired)
    first.open_session()

    def killed(*_args: object) -> None:
        raise SystemExit("programmer killed")

    monkeypatch.setattr(first.link, "wait_reply", killed)
    with pytest.raises(SystemExit):
        first.stop()
    first.link.transport.close()  # no SESSION_CLOSE: the process is gone
    assert [p.msg for p in first.journal.entries(SERIAL)] == [MsgType.STOP]
    with make_client(pump, paired) as second:
        second.open_session()
        assert [(r.pending.msg, r.executed) for r in second.resolved] == [(MsgType.STOP, True)]
    assert pump.executed[MsgType.STOP] == 1


def test_a_request_outside_the_pumps_limits_is_explained_in_clinical_units_and_never_sent(
    pump: ClinicPump, client: PumpClient
) -> None:
    from programmer.limits import LimitRefusal

    limits = client.device_limits()
    hard = limits["drug"]["hard_max_daily_dose_ng"]
    with pytest.raises(LimitRefusal) as caught:
        client.stage(therapy.continuous(hard + 1000))
    assert caught.value.code is ErrorCode.DOSE_ABOVE_HARD_LIMIT
    assert f"hard limit of {hard // 1000} mcg/day" in str(caught.value)
    assert isinstance(caught.value, PumpRefused)  # certain: nothing was sent
    with pytest.raises(LimitRefusal) as clock:
        client.set_clock(limits["clock"]["latest_time"] + 1)
    assert clock.value.code is ErrorCode.CLOCK_INVALID
    with pytest.raises(LimitRefusal):
        client.refill(0, 1_000_000, 7)  # 7 mcg/mL is in no library
    assert pump.requests_seen[MsgType.STAGE_PRESCRIPTION] == 0
    assert pump.requests_seen[MsgType.SET_CLOCK] == 0
    assert pump.requests_seen[MsgType.REFILL] == 0
    assert pump.requests_seen[MsgType.DEVICE_LIMITS] == 1  # read once, then remembered
    client.stage(therapy.continuous(hard))  # the limit itself is allowed
