"""Every error code that can be provoked over the wire, each refusal certain (nothing changed);
idempotent retries; and the two-phase commit's guards."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from protocol import (
    ERROR_TABLE,
    AlarmId,
    ErrorCode,
    LogEvent,
    LogId,
    MsgType,
    RequestState,
    Role,
    StageWarning,
)
from protocol.log_record import LogRecordLayout

from .client import SuiteClient
from .messages import (
    DAY,
    ML,
    bridge_bolus,
    commit,
    continuous,
    fill,
    flex,
    patient_bolus_config,
    priming_bolus,
    program,
    quiesce,
    single_bolus,
    stage,
)
from .target import PumpUnderTest

# Codes provoked in other modules (framing, authentication) and here.
PROVOKED_ELSEWHERE = {
    ErrorCode.OK,
    ErrorCode.UNSUPPORTED_VERSION,
    ErrorCode.MALFORMED_PAYLOAD,
    ErrorCode.UNKNOWN_MESSAGE,
    ErrorCode.BAD_FLAGS,
    ErrorCode.WRONG_DIRECTION,
    ErrorCode.NOT_AUTHENTICATED,
    ErrorCode.BAD_TAG,
    ErrorCode.REPLAYED_COUNTER,
    ErrorCode.UNKNOWN_SESSION,
    ErrorCode.ROLE_NOT_PERMITTED,
    ErrorCode.PAIRING_WINDOW_CLOSED,
    ErrorCode.PAIRING_LOCKED_OUT,
    ErrorCode.PAIRING_FAILED,
    ErrorCode.UNKNOWN_KEY,
    ErrorCode.NO_PAIRING_IN_PROGRESS,
    ErrorCode.NOTHING_STAGED,
    ErrorCode.UNKNOWN_LOG,
    ErrorCode.NOT_STOPPED,
    ErrorCode.KEY_STORE_FULL,  # test_the_key_store_refuses_a_pairing_beyond_its_capacity
    ErrorCode.REQUEST_EVICTED,  # test_an_evicted_request_id_is_refused_and_never_run_again
    ErrorCode.PAIRING_BUSY,  # test_auth: test_a_second_pairing_waits_and_a_rejected_code_...
    ErrorCode.PAIRING_AWAITING_CONFIRMATION,  # the same
    ErrorCode.PAIRING_REJECTED,  # the same
    ErrorCode.PATIENT_PAIRING_NOT_AUTHORIZED,  # test_messages: pair_and_unpair
    ErrorCode.CLOCK_INVALID,  # test_messages: device_limits (one second past the latest time)
    ErrorCode.PROGRAMMER_HEAD_AWAY,  # test_a_write_needs_the_programmer_head_over_the_pump
}
# Codes no wire input can provoke on a healthy device, and why.
NOT_PROVOKABLE = {
    ErrorCode.FRAME_TOO_LARGE: "oversize runs are dropped by the framer, never answered",
    ErrorCode.BUSY: "the reference pump serves one request at a time and never answers BUSY",
    ErrorCode.END_OF_SERVICE: "needs years of battery drain (scenario tests cover it)",
    ErrorCode.INTERNAL_ERROR: "a firmware fault",
    ErrorCode.MEMORY_ERROR: "an NVM failure during a request",
    ErrorCode.REQUEST_INTERRUPTED: "needs a reset in the middle of a request (the firmware's "
    "power-cut tests and the power-loss campaign provoke it)",
}

Case = Callable[[PumpUnderTest, SuiteClient], Any]
CASES: dict[ErrorCode, Case] = {}


def case(code: ErrorCode) -> Callable[[Case], Case]:
    def register(fn: Case) -> Case:
        CASES[code] = fn
        return fn

    return register


def staged_request(client: SuiteClient, change: dict[str, Any]) -> Any:
    return client.request(MsgType.STAGE_PRESCRIPTION, {"change": change})


@case(ErrorCode.PUMP_NOT_FILLED)
def _not_filled(pump: PumpUnderTest, c: SuiteClient) -> Any:
    if c.ok(MsgType.STATUS)["concentration_mcg_per_ml"]:
        pytest.skip("needs a device that was never filled")
    return staged_request(c, continuous(100))


@case(ErrorCode.DOSE_ABOVE_HARD_LIMIT)
def _hard_limit(pump: PumpUnderTest, c: SuiteClient) -> Any:
    fill(c, 20, 500)
    return staged_request(c, continuous(100_000))


@case(ErrorCode.RATE_ABOVE_MAXIMUM)
def _rate_max(pump: PumpUnderTest, c: SuiteClient) -> Any:
    fill(c, 20, 50, withdrawn_nl=c.ok(MsgType.STATUS)["reservoir_nl"])
    return staged_request(c, continuous(1400))  # 28 mL/day at 50 mcg/mL


@case(ErrorCode.RATE_BELOW_MINIMUM)
def _rate_min(pump: PumpUnderTest, c: SuiteClient) -> Any:
    fill(c, 20, 2000, withdrawn_nl=c.ok(MsgType.STATUS)["reservoir_nl"])
    return staged_request(c, continuous(10))  # 0.005 mL/day


@case(ErrorCode.CONCENTRATION_NOT_IN_LIBRARY)
def _concentration(pump: PumpUnderTest, c: SuiteClient) -> Any:
    body = {"withdrawn_nl": 0, "added_nl": 10 * ML, "concentration_mcg_per_ml": 123}
    return c.request(MsgType.REFILL, body)


@case(ErrorCode.INVALID_SCHEDULE)
def _schedule(pump: PumpUnderTest, c: SuiteClient) -> Any:
    fill(c, 20, 500)
    return staged_request(c, flex([(60, 300), (0, 400)]))  # must start at minute 0, in order


@case(ErrorCode.BOLUS_ABOVE_LIMIT)
def _bolus_limit(pump: PumpUnderTest, c: SuiteClient) -> Any:
    fill(c, 20, 500)
    return staged_request(c, single_bolus(10_000, 3600))


@case(ErrorCode.BOLUS_DURATION_INVALID)
def _bolus_duration(pump: PumpUnderTest, c: SuiteClient) -> Any:
    fill(c, 20, 500)
    return staged_request(c, single_bolus(50, 1))


@case(ErrorCode.REFILL_OVER_CAPACITY)
def _over_capacity(pump: PumpUnderTest, c: SuiteClient) -> Any:
    capacity = c.ok(MsgType.STATUS)["reservoir_capacity_nl"]
    body = {"withdrawn_nl": 0, "added_nl": capacity + ML, "concentration_mcg_per_ml": 500}
    return c.request(MsgType.REFILL, body)


@case(ErrorCode.REFILL_VOLUME_INVALID)
def _refill_zero(pump: PumpUnderTest, c: SuiteClient) -> Any:
    body = {"withdrawn_nl": 0, "added_nl": 0, "concentration_mcg_per_ml": 500}
    return c.request(MsgType.REFILL, body)


@case(ErrorCode.PATIENT_BOLUS_NOT_CONFIGURED)
def _pb_not_configured(pump: PumpUnderTest, c: SuiteClient) -> Any:
    config = patient_bolus_config()
    c.ok(
        MsgType.PATIENT_BOLUS_CONFIG,
        {"config": {**config, "enabled": False}, "ack_warnings": 7, "preview": False},
    )
    return c.request(MsgType.PATIENT_BOLUS_REQUEST)


@case(ErrorCode.PATIENT_BOLUS_LOCKOUT)
def _pb_lockout(pump: PumpUnderTest, c: SuiteClient) -> Any:
    fill(c, 20, 500, withdrawn_nl=c.ok(MsgType.STATUS)["reservoir_nl"])
    program(c, continuous(400))
    c.ok(
        MsgType.PATIENT_BOLUS_CONFIG,
        {"config": patient_bolus_config(25, 600, 4, 3 * 3600), "ack_warnings": 7, "preview": False},
    )
    c.ok(MsgType.PATIENT_BOLUS_REQUEST)
    pump.require_bench("let the bolus end within its lockout").advance(3600)
    return c.request(MsgType.PATIENT_BOLUS_REQUEST)


@case(ErrorCode.PATIENT_BOLUS_DAILY_MAXIMUM)
def _pb_daily_max(pump: PumpUnderTest, c: SuiteClient) -> Any:
    bench = pump.require_bench("wait out the lockout")
    fill(c, 20, 500, withdrawn_nl=c.ok(MsgType.STATUS)["reservoir_nl"])
    program(c, continuous(400))
    c.ok(
        MsgType.PATIENT_BOLUS_CONFIG,
        {"config": patient_bolus_config(25, 600, 1, 1800), "ack_warnings": 7, "preview": False},
    )
    c.ok(MsgType.PATIENT_BOLUS_REQUEST)
    bench.advance(3600)
    return c.request(MsgType.PATIENT_BOLUS_REQUEST)


@case(ErrorCode.BOLUS_IN_PROGRESS)
def _bolus_running(pump: PumpUnderTest, c: SuiteClient) -> Any:
    fill(c, 20, 500, withdrawn_nl=c.ok(MsgType.STATUS)["reservoir_nl"])
    program(c, single_bolus(50, 3600))
    return staged_request(c, single_bolus(50, 3600))


@case(ErrorCode.NO_BRIDGE_NEEDED)
def _no_bridge(pump: PumpUnderTest, c: SuiteClient) -> Any:
    fill(c, 20, 500, withdrawn_nl=c.ok(MsgType.STATUS)["reservoir_nl"])
    program(c, continuous(400))
    fill(c, 20, 500, withdrawn_nl=c.ok(MsgType.STATUS)["reservoir_nl"])
    return staged_request(c, bridge_bolus(600))


@case(ErrorCode.CATHETER_UNKNOWN)
def _catheter_unknown(pump: PumpUnderTest, c: SuiteClient) -> Any:
    fill(c, 20, 500, withdrawn_nl=c.ok(MsgType.STATUS)["reservoir_nl"])
    program(c, continuous(400))
    # a prime naming "the catheter the pump knows" on a pump that was never told one
    return staged_request(c, priming_bolus(0xFFFF))


@case(ErrorCode.THERAPY_NOT_RUNNING)
def _not_running(pump: PumpUnderTest, c: SuiteClient) -> Any:
    fill(c, 20, 500, withdrawn_nl=c.ok(MsgType.STATUS)["reservoir_nl"])
    program(c, {"kind": 0, "params": {}})  # therapy: stopped
    return c.request(MsgType.RESUME)


@case(ErrorCode.MOTOR_FAULT)
def _motor_fault(pump: PumpUnderTest, c: SuiteClient) -> Any:
    bench = pump.require_bench("inject a motor stall")
    fill(c, 20, 500, withdrawn_nl=c.ok(MsgType.STATUS)["reservoir_nl"])
    program(c, continuous(400))
    bench.fault("motor-stall")
    bench.advance(DAY)
    try:
        alarms = [a["alarm"] for a in c.ok(MsgType.ALARMS_READ)["alarms"]]
        assert AlarmId.MOTOR_STALL in alarms
        return staged_request(c, continuous(300))
    finally:
        bench.fault("clear")
        c.request(MsgType.RESUME)


@case(ErrorCode.RESERVOIR_EMPTY)
def _empty(pump: PumpUnderTest, c: SuiteClient) -> Any:
    bench = pump.require_bench("let the reservoir run dry")
    fill(c, 1, 500, withdrawn_nl=c.ok(MsgType.STATUS)["reservoir_nl"])
    program(c, continuous(1000))  # 2 mL/day: empty within a day
    bench.advance(2 * DAY)
    assert c.ok(MsgType.STATUS)["reservoir_nl"] == 0
    return staged_request(c, single_bolus(50, 3600))


@case(ErrorCode.STALE_VERSION)
def _stale(pump: PumpUnderTest, c: SuiteClient) -> Any:
    fill(c, 20, 500, withdrawn_nl=c.ok(MsgType.STATUS)["reservoir_nl"])
    staged = stage(c, continuous(300))
    body = {**_commit_body(staged), "active_version": staged["active_version"] + 1}
    return c.request(MsgType.COMMIT_PRESCRIPTION, body)


@case(ErrorCode.HASH_MISMATCH)
def _hash(pump: PumpUnderTest, c: SuiteClient) -> Any:
    fill(c, 20, 500, withdrawn_nl=c.ok(MsgType.STATUS)["reservoir_nl"])
    staged = stage(c, continuous(300))
    return c.request(
        MsgType.COMMIT_PRESCRIPTION, {**_commit_body(staged), "staged_hash": bytes(16)}
    )


@case(ErrorCode.WARNINGS_NOT_ACKNOWLEDGED)
def _warnings(pump: PumpUnderTest, c: SuiteClient) -> Any:
    fill(c, 20, 2000, withdrawn_nl=c.ok(MsgType.STATUS)["reservoir_nl"])
    staged = stage(c, continuous(1600))  # above the soft daily limit
    assert staged["warnings"] & StageWarning.SOFT_DOSE_LIMIT
    return c.request(MsgType.COMMIT_PRESCRIPTION, {**_commit_body(staged), "ack_warnings": 0})


@case(ErrorCode.REQUEST_ID_REUSED)
def _reused(pump: PumpUnderTest, c: SuiteClient) -> Any:
    rid = c.request_id()
    c.ok(MsgType.ALARMS_TEST, {"request_id": rid})
    return c.request(
        MsgType.ALARMS_CONFIG,
        {"request_id": rid, "low_reservoir_nl": 2 * ML, "critical_interval_s": 600},
    )


@case(ErrorCode.ALARM_CONFIG_OUT_OF_RANGE)
def _alarm_config(pump: PumpUnderTest, c: SuiteClient) -> Any:
    return c.request(
        MsgType.ALARMS_CONFIG, {"low_reservoir_nl": 50 * ML, "critical_interval_s": 600}
    )


@case(ErrorCode.INVALID_ARGUMENT)
def _invalid(pump: PumpUnderTest, c: SuiteClient) -> Any:
    seq = c.sealed(MsgType.ALARMS_TEST, {"request_id": 0})  # 0 is reserved
    return c.wait_reply(MsgType.ALARMS_TEST, seq)


def _commit_body(staged: dict[str, Any]) -> dict[str, Any]:
    return {
        "staged_hash": staged["staged_hash"],
        "active_version": staged["active_version"],
        "ack_warnings": staged["warnings"],
    }


def test_every_error_code_is_provoked_or_explained() -> None:
    covered = set(CASES) | PROVOKED_ELSEWHERE | set(NOT_PROVOKABLE)
    assert covered == set(ERROR_TABLE)


@pytest.mark.parametrize("code", list(CASES), ids=lambda c: c.name)
def test_refusal_has_its_code_and_changes_nothing(
    fresh_pump: PumpUnderTest, code: ErrorCode
) -> None:
    with fresh_pump.session() as client:
        reply = CASES[code](fresh_pump, client)
        before = client.ok(MsgType.READ_PRESCRIPTION)
        assert reply.status == code, f"{reply.status} {reply.reason}\n{client.trace()}"
        assert reply.authenticated and reply.reason
        assert ERROR_TABLE[code].certain
        assert client.ok(MsgType.READ_PRESCRIPTION) == before


def test_an_evicted_request_id_is_refused_and_never_run_again(fresh_pump: PumpUnderTest) -> None:
    """A request id whose outcome has left the request cache (40 later requests) is still
    recalled: REQUEST_STATUS says EVICTED, and the request is refused (uncertain: the first one
    did run), never carried out a second time (docs/PROTOCOL.md section 5)."""
    with fresh_pump.session() as client:
        rid = client.request_id()
        client.ok(MsgType.ALARMS_ACK, {"request_id": rid, "alarms": []})
        for _ in range(40):
            client.ok(MsgType.ALARMS_ACK, {"request_id": client.request_id(), "alarms": []})
        status = client.ok(MsgType.REQUEST_STATUS, {"request_id": rid})
        assert status["state"] == RequestState.EVICTED
        again = client.request(MsgType.ALARMS_ACK, {"request_id": rid, "alarms": []})
        assert again.status == ErrorCode.REQUEST_EVICTED and again.authenticated
        assert not ERROR_TABLE[ErrorCode.REQUEST_EVICTED].certain


def test_the_key_store_refuses_a_pairing_beyond_its_capacity(fresh_pump: PumpUnderTest) -> None:
    bench = fresh_pump.require_bench("open the pairing window")
    try:
        with fresh_pump.client() as client:
            client.hello()
            codes = []
            for _ in range(12):
                bench.wand(True)  # one pairing per window: the wand is placed again each time
                begun = client.begin_pairing(Role.CLINICIAN)  # anonymous: a new slot each time
                if not begun.ok:
                    codes.append(begun.status)
                    break
                client.finish_pairing(bench.accept_pairing)
            assert codes == [ErrorCode.KEY_STORE_FULL]
    finally:
        bench.wand(False)


def test_a_write_needs_the_programmer_head_over_the_pump(fresh_pump: PumpUnderTest) -> None:
    """The proximity rule (profile ``writes_need_head``): with the head away, a read is answered
    and a write refused PROGRAMMER_HEAD_AWAY, certain and not cached (the same request id runs
    once the head is back)."""
    bench = fresh_pump.require_bench("take the programmer head away")
    with fresh_pump.session() as client:
        bench.wand(False)
        assert client.ok(MsgType.STATUS)["mode"] == 0
        body = {"request_id": client.request_id(), "low_reservoir_nl": 3 * ML}
        body["critical_interval_s"] = 600
        refused = client.request(MsgType.ALARMS_CONFIG, body)
        assert refused.status == ErrorCode.PROGRAMMER_HEAD_AWAY and refused.authenticated
        assert ERROR_TABLE[ErrorCode.PROGRAMMER_HEAD_AWAY].certain
        assert client.ok(MsgType.ALARMS_READ)["low_reservoir_nl"] == 2 * ML
        bench.wand(True)
        assert client.request(MsgType.ALARMS_CONFIG, body).ok
        assert client.ok(MsgType.ALARMS_READ)["low_reservoir_nl"] == 3 * ML


def _refill_records(client: SuiteClient) -> int:
    frames = client.stream(MsgType.LOG_READ, {"log": LogId.THERAPY, "cursor": 0, "max_count": 5000})
    records = [LogRecordLayout.parse(r) for f in frames for r in f.body["records"]]
    return sum(1 for r in records if r.event == LogEvent.REFILL)


def test_a_duplicated_request_executes_once_and_gets_the_same_answer(
    pump: PumpUnderTest,
) -> None:
    with pump.session() as client:
        quiesce(client, pump.bench)
        refills = _refill_records(client)
        body = {
            "request_id": client.request_id(),
            "withdrawn_nl": client.ok(MsgType.STATUS)["reservoir_nl"],
            "added_nl": 10 * ML,
            "concentration_mcg_per_ml": 500,
        }
        first = client.request(MsgType.REFILL, body)
        second = client.request(MsgType.REFILL, body)  # new seq, new counter, same request id
        assert first.ok and second.ok and first.body == second.body
        assert _refill_records(client) == refills + 1
        assert client.ok(MsgType.STATUS)["reservoir_nl"] == 10 * ML


def test_a_retry_after_a_lost_reply_is_answered_from_the_cache(pump: PumpUnderTest) -> None:
    with pump.session() as client:
        quiesce(client, pump.bench)
        rid = client.request_id()
        body = {"request_id": rid, "low_reservoir_nl": 3 * ML, "critical_interval_s": 900}
        client.write(client.encode(MsgType.ALARMS_CONFIG, body, client.next_seq()))
        status = client.ok(MsgType.REQUEST_STATUS, {"request_id": rid})  # the reply was "lost"
        assert status["state"] == 1 and status["msg_type"] == MsgType.ALARMS_CONFIG
        retry = client.request(MsgType.ALARMS_CONFIG, body)
        assert retry.ok and retry.status == status["status"]
        assert client.ok(MsgType.ALARMS_READ)["critical_interval_s"] == 900


def test_a_soft_limit_warning_commits_once_acknowledged(pump: PumpUnderTest) -> None:
    with pump.session() as client:
        quiesce(client, pump.bench)
        fill(client, 20, 2000, withdrawn_nl=client.ok(MsgType.STATUS)["reservoir_nl"])
        staged = stage(client, continuous(1600))
        assert staged["warnings"] & StageWarning.SOFT_DOSE_LIMIT
        refused = client.request(
            MsgType.COMMIT_PRESCRIPTION, {**_commit_body(staged), "ack_warnings": 0}
        )
        assert refused.status == ErrorCode.WARNINGS_NOT_ACKNOWLEDGED
        version = commit(client, staged)
        assert client.ok(MsgType.STATUS)["daily_dose_ng"] == 1_600_000
        assert client.ok(MsgType.READ_PRESCRIPTION)["version"] == version


def test_a_commit_after_another_commit_is_stale(pump: PumpUnderTest) -> None:
    with pump.session() as client:
        quiesce(client, pump.bench)
        fill(client, 20, 500, withdrawn_nl=client.ok(MsgType.STATUS)["reservoir_nl"])
        first = stage(client, continuous(300))
        commit(client, first)
        second = stage(client, continuous(300))
        assert second["active_version"] > first["active_version"]
        old = {**_commit_body(second), "active_version": first["active_version"]}
        assert client.request(MsgType.COMMIT_PRESCRIPTION, old).status == ErrorCode.STALE_VERSION
        client.ok(MsgType.ABORT_PRESCRIPTION)
