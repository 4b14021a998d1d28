"""Every message of the catalog, used as a clinic uses it, with the reply checked for meaning:
units, echoes, and the state the next read shows."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from protocol import (
    CATALOG,
    AlarmId,
    Capability,
    ErrorCode,
    LogId,
    MessageKind,
    MsgType,
    Notification,
    RefillFlag,
    RequestState,
    Role,
    TherapyMode,
)
from protocol.codec import decode_reply
from protocol.log_record import LogRecordLayout

from .client import SuiteClient
from .messages import (
    MCG,
    ML,
    commit,
    continuous,
    fill,
    flex,
    patient_bolus_config,
    program,
    quiesce,
    single_bolus,
    stage,
)
from .target import PumpUnderTest, pair_with_wand

Scenario = Callable[[PumpUnderTest], None]
SCENARIOS: dict[MsgType, Scenario] = {}


def scenario(*msgs: MsgType) -> Callable[[Scenario], Scenario]:
    def register(fn: Scenario) -> Scenario:
        for msg in msgs:
            SCENARIOS[msg] = fn
        return fn

    return register


def alarm_event(client: SuiteClient, alarm: AlarmId, raised: bool) -> Notification:
    return client.wait_for(  # type: ignore[no-any-return]
        lambda e: (
            isinstance(e, Notification)
            and e.msg is MsgType.ALARM_EVENT
            and e.body["alarm"] == alarm
            and e.body["raised"] is raised
        ),
        what=f"ALARM_EVENT {alarm.name} raised={raised}",
    )


@scenario(MsgType.HELLO)
def hello(pump: PumpUnderTest) -> None:
    with pump.client() as client:
        assert client.hello()["serial_number"] == pump.hello["serial_number"]


@scenario(
    MsgType.PAIR_BEGIN,
    MsgType.PAIR_CONFIRM,
    MsgType.UNPAIR,
    MsgType.PATIENT_PAIRING_AUTHORIZE,
    MsgType.PAIRINGS_LIST,
)
def pair_and_unpair(pump: PumpUnderTest) -> None:
    pump.require_capability(Capability.PAIRING)
    bench = pump.require_bench("open the pairing window")
    with pump.session(Role.CLINICIAN) as clinician:  # no patient key without a clinician's word
        bench.wand(True)  # and it stays there: requests that change the pump need it
        with pump.client() as remote:
            remote.hello()
            refused = remote.begin_pairing(Role.PATIENT)
            assert refused.status == ErrorCode.PATIENT_PAIRING_NOT_AUTHORIZED
        until = clinician.ok(MsgType.PATIENT_PAIRING_AUTHORIZE)["valid_until_time"]
        assert until > clinician.ok(MsgType.STATUS)["pump_time"]
    key = pair_with_wand(pump, bench, Role.PATIENT)
    assert key.role is Role.PATIENT and 0 < key.key_id <= 0x7FFF_FFFF
    with pump.session(Role.CLINICIAN) as clinician:
        listed = {p["key_id"]: p for p in clinician.ok(MsgType.PAIRINGS_LIST)["pairings"]}
        assert listed[key.key_id]["role"] == Role.PATIENT
        assert listed[pump.clinician_key().key_id]["role"] == Role.CLINICIAN
    with pump.client() as client:
        paired = client.hello()["paired_keys"]
        client.login(key)
        assert client.ok(MsgType.UNPAIR, {"key_id": 0}) == {}
        client.endpoint.close_session()  # unpairing our own key ends the session
        assert client.hello()["paired_keys"] == paired - 1
        reply = client.open_session(key)
        assert reply.status == ErrorCode.UNKNOWN_KEY


@scenario(MsgType.SESSION_OPEN, MsgType.SESSION_CLOSE)
def session_open_and_close(pump: PumpUnderTest) -> None:
    with pump.session() as client:
        session = client.endpoint.session
        assert session is not None and session.session_id != 0 and session.role is Role.CLINICIAN
        assert client.request(MsgType.SESSION_CLOSE).ok


@scenario(MsgType.REFILL, MsgType.STATUS)
def refill_and_status(pump: PumpUnderTest) -> None:
    with pump.session() as client:
        before = client.ok(MsgType.STATUS)
        withdrawn = before["reservoir_nl"]
        reply = fill(client, 20, 500, withdrawn_nl=withdrawn)
        assert reply["expected_nl"] == before["reservoir_nl"]
        assert reply["discrepancy_nl"] == withdrawn - reply["expected_nl"]
        assert reply["reservoir_nl"] == 20 * ML
        status = client.ok(MsgType.STATUS)
        assert status["reservoir_nl"] == 20 * ML and status["concentration_mcg_per_ml"] == 500
        assert status["reservoir_capacity_nl"] >= 20 * ML
        assert status["pump_time"] >= before["pump_time"]


@scenario(MsgType.STAGE_REFILL, MsgType.COMMIT_REFILL)
def stage_and_commit_a_refill_with_its_bridge(pump: PumpUnderTest) -> None:
    """400 mcg/day at 500 mcg/mL (0.8 mL/day), refilled with 2000 mcg/mL for a 60 cm catheter:
    the bridge pushes tubing + catheter, 140,000 + 600 x 2,600 / 10 = 296,000 nL of the old
    drug (148,000 ng) at 400,000 / 500 = 800,000 nL/day for 296,000 x 86,400 / 800,000 =
    31,968 s; then 400,000 / 2000 = 200,000 nL/day.  Committed together."""
    with pump.session() as client:
        fill(client, 20, 500, withdrawn_nl=quiesce(client, pump.bench)["reservoir_nl"])
        program(client, continuous(400))
        expected = client.ok(MsgType.STATUS)["reservoir_nl"]
        body = {
            "withdrawn_nl": expected,
            "added_nl": 20 * ML,
            "concentration_mcg_per_ml": 2000,
            "bridge": True,
            "catheter_length_mm": 600,
        }
        staged = client.ok(MsgType.STAGE_REFILL, body)
        assert staged["expected_nl"] == expected and staged["discrepancy_nl"] == 0
        assert staged["flags"] == RefillFlag.CONCENTRATION_CHANGED | RefillFlag.BRIDGE_INCLUDED
        assert staged["bridge_volume_nl"] == 296_000 and staged["bridge_dose_ng"] == 148_000
        assert staged["bridge_rate_nl_per_day"] == 800_000
        assert staged["bridge_duration_s"] == 31_968
        assert staged["rate_nl_per_day"] == 200_000 and staged["old_rate_nl_per_day"] == 800_000
        assert staged["day_doses_ng"] == [400 * MCG] * 7
        stale = {"staged_hash": bytes(16), "active_version": staged["active_version"]}
        assert client.request(MsgType.COMMIT_REFILL, stale).status == ErrorCode.HASH_MISMATCH
        done = client.ok(
            MsgType.COMMIT_REFILL,
            {"staged_hash": staged["staged_hash"], "active_version": staged["active_version"]},
        )
        assert done["flags"] & RefillFlag.BRIDGE_INCLUDED
        status = client.ok(MsgType.STATUS)
        assert status["bolus_mode"] == TherapyMode.BRIDGE_BOLUS
        assert status["concentration_mcg_per_ml"] == 2000
        assert status["catheter_length_mm"] == 600
        assert client.request(MsgType.COMMIT_REFILL, stale).status == ErrorCode.NOTHING_STAGED
        client.ok(MsgType.STOP)  # end the bridge for the scenarios after this one
        client.ok(MsgType.RESUME)


@scenario(MsgType.STAGE_PRESCRIPTION, MsgType.COMMIT_PRESCRIPTION, MsgType.READ_PRESCRIPTION)
def stage_commit_read(pump: PumpUnderTest) -> None:
    with pump.session() as client:
        fill(client, 20, 500, withdrawn_nl=quiesce(client, pump.bench)["reservoir_nl"])
        staged = stage(client, continuous(400))
        assert staged["daily_dose_ng"] == 400 * MCG
        assert staged["rate_nl_per_day"] == 400 * MCG * 1000 // 500  # 0.8 mL/day
        assert len(staged["staged_hash"]) == 16
        version = commit(client, staged)
        assert version > staged["active_version"]
        prescription = client.ok(MsgType.READ_PRESCRIPTION)
        assert prescription["version"] == version
        assert prescription["therapy"] == continuous(400)
        status = client.ok(MsgType.STATUS)
        assert (
            status["prescription_version"] == version and status["mode"] == TherapyMode.CONTINUOUS
        )
        assert status["rate_nl_per_day"] == 800_000


@scenario(MsgType.ABORT_PRESCRIPTION)
def abort(pump: PumpUnderTest) -> None:
    with pump.session() as client:
        fill(client, 20, 500, withdrawn_nl=quiesce(client, pump.bench)["reservoir_nl"])
        staged = stage(client, continuous(300))
        assert client.ok(MsgType.ABORT_PRESCRIPTION) == {}
        body = {
            "staged_hash": staged["staged_hash"],
            "active_version": staged["active_version"],
            "ack_warnings": staged["warnings"],
        }
        assert client.request(MsgType.COMMIT_PRESCRIPTION, body).status == ErrorCode.NOTHING_STAGED


@scenario(MsgType.PATIENT_BOLUS_CONFIG, MsgType.PATIENT_BOLUS_REQUEST)
def patient_bolus(pump: PumpUnderTest) -> None:
    pump.require_capability(Capability.PATIENT_BOLUS)
    with pump.session() as client:
        fill(client, 20, 500, withdrawn_nl=quiesce(client, pump.bench)["reservoir_nl"])
        program(client, continuous(400))
        client.ok(
            MsgType.PATIENT_BOLUS_CONFIG,
            {"config": patient_bolus_config(25, 600, 4), "ack_warnings": 7, "preview": False},
        )
        assert client.ok(MsgType.READ_PRESCRIPTION)["patient_bolus"] == patient_bolus_config(
            25, 600, 4
        )
        grant = client.ok(MsgType.PATIENT_BOLUS_REQUEST)
        assert grant["dose_ng"] == 25 * MCG and grant["duration_s"] == 600
        assert grant["remaining_today"] == 3
        assert client.ok(MsgType.STATUS)["patient_bolus_enabled"]
        again = client.request(MsgType.PATIENT_BOLUS_REQUEST)
        assert again.status in (ErrorCode.PATIENT_BOLUS_LOCKOUT, ErrorCode.BOLUS_IN_PROGRESS)


@scenario(MsgType.STOP, MsgType.RESUME, MsgType.ALARM_EVENT, MsgType.ALARMS_ACK)
def stop_resume_and_alarm_events(pump: PumpUnderTest) -> None:
    with pump.session() as client:
        fill(client, 20, 500, withdrawn_nl=quiesce(client, pump.bench)["reservoir_nl"])
        program(client, continuous(400))
        client.ok(MsgType.STOP)
        event = alarm_event(client, AlarmId.PUMP_STOPPED, raised=True)
        assert event.body["critical"]
        status = client.ok(MsgType.STATUS)
        assert status["mode"] == TherapyMode.STOPPED
        assert [a["alarm"] for a in status["alarms"]] == [AlarmId.PUMP_STOPPED]
        assert (
            client.ok(MsgType.ALARMS_ACK, {"alarms": [int(AlarmId.PUMP_STOPPED)]})["acknowledged"]
            == 1
        )
        (entry,) = client.ok(MsgType.ALARMS_READ)["alarms"]
        assert entry["acknowledged"] and entry["critical"]
        client.ok(MsgType.RESUME)
        alarm_event(client, AlarmId.PUMP_STOPPED, raised=False)
        status = client.ok(MsgType.STATUS)
        assert status["mode"] == TherapyMode.CONTINUOUS and status["alarms"] == []
        assert client.request(MsgType.RESUME).status == ErrorCode.NOT_STOPPED


@scenario(MsgType.SET_CLOCK)
def set_clock(pump: PumpUnderTest) -> None:
    with pump.session() as client:
        before = client.ok(MsgType.STATUS)
        now, offset = before["pump_time"], before["utc_offset_s"]
        moved = client.ok(MsgType.SET_CLOCK, {"pump_time": now + 3600, "utc_offset_s": -18_000})
        assert moved["previous_time"] >= now and moved["previous_utc_offset_s"] == offset
        after = client.ok(MsgType.STATUS)
        assert after["pump_time"] >= now + 3600 and after["utc_offset_s"] == -18_000
        for bad_offset in (15 * 3600, -13 * 3600, 3600 + 60):  # out of range, not a quarter hour
            refused = client.request(
                MsgType.SET_CLOCK, {"pump_time": now, "utc_offset_s": bad_offset}
            )
            assert refused.status == ErrorCode.CLOCK_INVALID
        assert client.ok(MsgType.STATUS)["utc_offset_s"] == -18_000  # nothing changed
        client.ok(MsgType.SET_CLOCK, {"pump_time": now, "utc_offset_s": offset})


@scenario(MsgType.ALARMS_READ, MsgType.ALARMS_CONFIG, MsgType.ALARMS_TEST)
def alarm_settings_and_tone_test(pump: PumpUnderTest) -> None:
    with pump.session() as client:
        client.ok(MsgType.ALARMS_CONFIG, {"low_reservoir_nl": 4 * ML, "critical_interval_s": 300})
        settings = client.ok(MsgType.ALARMS_READ)
        assert settings["low_reservoir_nl"] == 4 * ML and settings["critical_interval_s"] == 300
        assert client.ok(MsgType.STATUS)["low_reservoir_nl"] == 4 * ML
        tones_before = len(pump.bench.hw_status()["tones"]) if pump.bench else 0
        assert client.ok(MsgType.ALARMS_TEST) == {}
        if pump.bench is not None:
            assert len(pump.bench.hw_status()["tones"]) > tones_before
        client.ok(MsgType.ALARMS_CONFIG, {"low_reservoir_nl": 2 * ML, "critical_interval_s": 600})


@scenario(MsgType.DEVICE_LIMITS)
def device_limits(pump: PumpUnderTest) -> None:
    """The limits are the ones the pump enforces: one step beyond each alarm and clock bound is
    refused, the bound itself is not (docs/PROTOCOL.md, DEVICE_LIMITS)."""
    with pump.session() as client:
        limits = client.ok(MsgType.DEVICE_LIMITS)
        drug, alarms, clock = limits["drug"], limits["alarms"], limits["clock"]
        assert drug["concentrations_mcg_per_ml"] and drug["drug_name"]
        assert 0 < drug["soft_max_daily_dose_ng"] <= drug["hard_max_daily_dose_ng"]
        delivery = limits["delivery"]
        assert 0 < delivery["min_rate_nl_per_day"] <= delivery["max_rate_nl_per_day"]
        assert clock["earliest_time"] <= clock["latest_time"]
        before = client.ok(MsgType.ALARMS_READ)
        interval = before["critical_interval_s"]
        for low, code in (
            (alarms["low_reservoir_max_nl"] + 1, ErrorCode.ALARM_CONFIG_OUT_OF_RANGE),
            (alarms["low_reservoir_max_nl"], ErrorCode.OK),
        ):
            reply = client.request(
                MsgType.ALARMS_CONFIG, {"low_reservoir_nl": low, "critical_interval_s": interval}
            )
            assert reply.status == code
        client.ok(
            MsgType.ALARMS_CONFIG,
            {"low_reservoir_nl": before["low_reservoir_nl"], "critical_interval_s": interval},
        )
        late = client.request(
            MsgType.SET_CLOCK, {"pump_time": clock["latest_time"] + 1, "utc_offset_s": 0}
        )
        assert late.status == ErrorCode.CLOCK_INVALID


@scenario(MsgType.LOG_INFO, MsgType.LOG_READ)
def logs(pump: PumpUnderTest) -> None:
    with pump.session() as client:
        client.ok(MsgType.ALARMS_TEST)
        for log in LogId:
            info = client.ok(MsgType.LOG_INFO, {"log": int(log)})
            assert info["record_size"] == 24 and info["capacity"] > 0
            assert info["next_seq"] - info["first_seq"] == info["count"] <= info["capacity"]
            frames = client.stream(MsgType.LOG_READ, {"log": int(log), "cursor": 0, "max_count": 5})
            records = [LogRecordLayout.parse(r) for f in frames for r in f.body["records"]]
            assert len(records) == min(5, info["count"])
            if records:
                assert records[0].seq == info["first_seq"]


@scenario(MsgType.TELEMETRY_SUBSCRIBE, MsgType.TELEMETRY)
def telemetry(pump: PumpUnderTest) -> None:
    pump.require_capability(Capability.TELEMETRY)
    with pump.session() as client:
        wanted = 60 if pump.bench is not None else 2  # real time without a bench: keep it short
        granted = client.ok(MsgType.TELEMETRY_SUBSCRIBE, {"interval_s": wanted})["interval_s"]
        assert granted >= 1
        events = []
        for _ in range(3):
            if pump.bench is not None:
                pump.bench.advance(granted)  # a lock-step pump: time moves only when told
            events.append(
                client.wait_for(
                    lambda e: isinstance(e, Notification) and e.msg is MsgType.TELEMETRY,
                    timeout=5 if pump.bench is not None else granted + 5,
                    what="TELEMETRY event",
                )
            )
        times = [e.body["pump_time"] for e in events]
        assert times == sorted(times) and times[-1] - times[0] >= granted
        status = client.ok(MsgType.STATUS)
        assert events[-1].body["reservoir_nl"] >= status["reservoir_nl"]
        assert client.ok(MsgType.TELEMETRY_SUBSCRIBE, {"interval_s": 0})["interval_s"] == 0


@scenario(MsgType.REQUEST_STATUS)
def request_status(pump: PumpUnderTest) -> None:
    with pump.session() as client:
        rid = client.request_id()
        reply = client.request(MsgType.ALARMS_TEST, {"request_id": rid})
        answer = client.ok(MsgType.REQUEST_STATUS, {"request_id": rid})
        assert answer["state"] == RequestState.COMPLETED
        assert answer["msg_type"] == MsgType.ALARMS_TEST and answer["status"] == reply.status
        never = client.ok(MsgType.REQUEST_STATUS, {"request_id": client.request_id()})
        assert never["state"] == RequestState.UNKNOWN


@scenario(MsgType.STAGE_PRESCRIPTION)
def flex_and_single_bolus(pump: PumpUnderTest) -> None:
    with pump.session() as client:
        fill(client, 20, 500, withdrawn_nl=quiesce(client, pump.bench)["reservoir_nl"])
        if pump.hello["capabilities"] & Capability.FLEX:
            staged = stage(client, flex([(0, 300), (7 * 60, 450), (22 * 60, 300)]))
            assert 300 * MCG < staged["daily_dose_ng"] < 450 * MCG
            client.ok(MsgType.ABORT_PRESCRIPTION)
        staged = stage(client, single_bolus(50, 3600))
        assert staged["duration_s"] == 3600
        client.ok(MsgType.ABORT_PRESCRIPTION)


def test_status_reports_a_running_patient_bolus(pump: PumpUnderTest) -> None:
    pump.require_capability(Capability.PATIENT_BOLUS)
    pump.require_bench("let an earlier patient bolus's lockout pass")
    with pump.session() as client:
        fill(client, 20, 500, withdrawn_nl=quiesce(client, pump.bench)["reservoir_nl"])
        program(client, continuous(400))
        client.ok(
            MsgType.PATIENT_BOLUS_CONFIG,
            {"config": patient_bolus_config(25, 600, 4), "ack_warnings": 7, "preview": False},
        )
        grant = client.ok(MsgType.PATIENT_BOLUS_REQUEST)
        status = client.ok(MsgType.STATUS)
        assert status["bolus_mode"] == TherapyMode.PATIENT_BOLUS
        assert status["bolus_end_time"] == grant["end_time"]


def test_every_catalog_message_has_a_scenario() -> None:
    assert set(SCENARIOS) == set(CATALOG)


@pytest.mark.parametrize("name", sorted({fn.__name__ for fn in SCENARIOS.values()}))
def test_message_scenario(pump: PumpUnderTest, name: str) -> None:
    (fn,) = {f for f in SCENARIOS.values() if f.__name__ == name}
    msgs = [m for m, f in SCENARIOS.items() if f is fn]
    for msg in msgs:
        if CATALOG[msg].kind is MessageKind.REQUEST:
            pump.require_message(msg)
    fn(pump)


def test_error_replies_carry_a_readable_reason(pump: PumpUnderTest) -> None:
    with pump.session() as client:
        reply = client.request(MsgType.LOG_INFO, {"log": 9})
        assert reply.status == ErrorCode.UNKNOWN_LOG and reply.authenticated
        assert 0 < len(reply.reason) <= 200
        frame = next(f for f in reversed(client.frames) if f.seq == reply.seq)
        assert decode_reply(MsgType.LOG_INFO, frame.payload)[0] == ErrorCode.UNKNOWN_LOG


def test_a_lockstep_advance_sends_one_telemetry_event_per_interval(pump: PumpUnderTest) -> None:
    """docs/PROTOCOL.md section 8: advancing 4 h at a 3600 s interval gives an event at every
    interval boundary (each with its own pump time), not one coalesced event."""
    pump.require_capability(Capability.TELEMETRY)
    bench = pump.require_bench("advance time in one jump")
    with pump.session() as client:
        start = client.ok(MsgType.STATUS)["pump_time"]
        assert client.ok(MsgType.TELEMETRY_SUBSCRIBE, {"interval_s": 3600})["interval_s"] == 3600
        bench.advance(4 * 3600)
        times: list[int] = []
        while not times or times[-1] < start + 4 * 3600:
            event = client.wait_for(
                lambda e: isinstance(e, Notification) and e.msg is MsgType.TELEMETRY,
                what="TELEMETRY event",
            )
            times.append(event.body["pump_time"])
        assert client.ok(MsgType.TELEMETRY_SUBSCRIBE, {"interval_s": 0})["interval_s"] == 0
    assert times[-1] == start + 4 * 3600
    assert [b - a for a, b in itertools.pairwise(times)] == [3600] * (len(times) - 1)
    assert len(times) >= 4
