"""The firmware answers every message of the catalog through the device endpoint (in memory)."""

from __future__ import annotations

import contextlib
import random
from typing import Any

from firmware.command_link import CommandLink
from firmware.eventlog import LogRecord
from firmware.handlers import HANDLERS, LINK_HANDLED
from firmware.wire_mapping import STATUS_FIELDS, TELEMETRY_FIELDS
from protocol import (
    CATALOG,
    NEED_DATA,
    AlarmId,
    ChangeKind,
    ErrorCode,
    LogEvent,
    LogId,
    MessageKind,
    MsgType,
    Notification,
    PairingCode,
    PairingCompleted,
    ProgrammerEndpoint,
    Reply,
    Request,
    Role,
    StageWarning,
)
from protocol.audit import WriteAudit

from .conftest import DAY, HOUR, START, FakeBoard


class Clinic:
    """A programmer endpoint wired to a firmware's command link, both in memory."""

    def __init__(self, role: Role = Role.CLINICIAN) -> None:
        self.bench = FakeBoard()
        self.link = CommandLink(self.bench.pump, self.bench.hal)
        self.prog = ProgrammerEndpoint()
        self.now = START
        self.seq = 0
        self.rid = 1000
        self.rng = random.Random(3)
        self.notifications: list[Notification] = []
        self._pair(role)

    def _exchange(self, data: bytes) -> list[object]:
        self.link.receive_data(data, self.now)
        sent = b"".join(self.bench.hal.telemetry.sent)
        self.bench.hal.telemetry.sent.clear()
        self.prog.receive_data(sent)
        events: list[object] = []
        while (ev := self.prog.next_event()) is not NEED_DATA:
            if isinstance(ev, Notification):
                self.notifications.append(ev)
            else:
                events.append(ev)
        return events

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def _pair(self, role: Role) -> None:
        """Pair like a clinic: the person at the pump accepts the code; a patient key after a
        clinician session authorised it."""
        self.request(MsgType.HELLO)
        if role is Role.PATIENT:
            self._pair(Role.CLINICIAN)
            self.request(MsgType.PATIENT_PAIRING_AUTHORIZE, {"request_id": 999})
            self.prog.close_session()
        self.link.set_wand(True, self.now)
        events = self._exchange(
            self.prog.begin_pairing(
                role, self.rng.randbytes(32), self.rng.randbytes(16), self._next_seq()
            )
        )
        code = next(e.code for e in events if isinstance(e, PairingCode))
        self._exchange(self.prog.confirm_pairing(self._next_seq()))
        self.link.accept_pairing(code, self.now)
        events = self._exchange(self.prog.confirm_pairing(self._next_seq()))
        done = next(e for e in events if isinstance(e, PairingCompleted))
        self._exchange(
            self.prog.open_session(
                done.key_id, done.pairing_key, self.rng.randbytes(16), self._next_seq()
            )
        )
        assert self.prog.session is not None

    def request(self, msg: MsgType, body: dict[str, Any] | None = None) -> list[Reply]:
        body = dict(body or {})
        if CATALOG[msg].state_changing and "request_id" not in body:
            self.rid += 1
            body["request_id"] = self.rid
        events = self._exchange(self.prog.send(Request(msg, body, self._next_seq())))
        return [e for e in events if isinstance(e, Reply)]

    def ok(self, msg: MsgType, body: dict[str, Any] | None = None) -> dict[str, Any]:
        (reply,) = self.request(msg, body)
        assert reply.ok, f"{msg.name} refused: {reply.status} {reply.reason}"
        return reply.body

    def fill(self, ml: int = 20, conc: int = 500) -> None:
        self.ok(
            MsgType.REFILL,
            {"withdrawn_nl": 0, "added_nl": ml * 1_000_000, "concentration_mcg_per_ml": conc},
        )

    def program(self, change: dict[str, Any], ack: int = 0) -> int:
        staged = self.ok(MsgType.STAGE_PRESCRIPTION, {"change": change})
        return int(
            self.ok(
                MsgType.COMMIT_PRESCRIPTION,
                {
                    "staged_hash": staged["staged_hash"],
                    "active_version": staged["active_version"],
                    "ack_warnings": ack or staged["warnings"],
                },
            )["version"]
        )


def continuous(mcg_per_day: int) -> dict[str, Any]:
    return {"kind": int(ChangeKind.CONTINUOUS), "params": {"daily_dose_ng": mcg_per_day * 1000}}


def test_every_request_in_the_catalog_has_a_handler() -> None:
    endpoint_handled = {
        MsgType.HELLO,
        MsgType.PAIR_BEGIN,
        MsgType.PAIR_CONFIRM,
        MsgType.SESSION_OPEN,
        MsgType.SESSION_CLOSE,
        MsgType.UNPAIR,
        MsgType.PAIRINGS_LIST,
        MsgType.PATIENT_PAIRING_AUTHORIZE,
        MsgType.REQUEST_STATUS,
    }
    requests = {m for m, s in CATALOG.items() if s.kind is MessageKind.REQUEST}
    assert requests == set(HANDLERS) | LINK_HANDLED | endpoint_handled


def test_status_and_telemetry_bodies_have_the_catalog_fields_in_order() -> None:
    def names(layout: Any) -> list[str]:
        return [sub.name for sub in layout.subcons if sub.name]

    assert list(STATUS_FIELDS) == names(CATALOG[MsgType.STATUS].reply)
    assert list(TELEMETRY_FIELDS) == names(CATALOG[MsgType.TELEMETRY].request)


def test_fill_program_and_status_report_rate_and_reservoir() -> None:
    clinic = Clinic()
    clinic.fill(20, 2000)
    version = clinic.program(continuous(500))
    status = clinic.ok(MsgType.STATUS)
    assert status["prescription_version"] == version
    assert status["daily_dose_ng"] == 500_000
    assert status["rate_nl_per_day"] == 250_000  # 500 mcg/day at 2000 mcg/mL = 0.25 mL/day
    assert status["reservoir_nl"] == 20_000_000
    assert status["low_reservoir_time"] > status["pump_time"]


def test_commit_without_acknowledging_a_soft_warning_is_refused() -> None:
    clinic = Clinic()
    clinic.fill(20, 2000)
    staged = clinic.ok(
        MsgType.STAGE_PRESCRIPTION, {"change": continuous(1600)}
    )  # above the soft limit
    assert staged["warnings"] & StageWarning.SOFT_DOSE_LIMIT
    body = {
        "staged_hash": staged["staged_hash"],
        "active_version": staged["active_version"],
        "ack_warnings": 0,
    }
    (reply,) = clinic.request(MsgType.COMMIT_PRESCRIPTION, body)
    assert reply.status == ErrorCode.WARNINGS_NOT_ACKNOWLEDGED
    (again,) = clinic.request(
        MsgType.COMMIT_PRESCRIPTION, {**body, "ack_warnings": staged["warnings"]}
    )
    assert again.ok


def test_commit_against_a_stale_version_is_refused() -> None:
    clinic = Clinic()
    clinic.fill()
    staged = clinic.ok(MsgType.STAGE_PRESCRIPTION, {"change": continuous(100)})
    body = {
        "staged_hash": staged["staged_hash"],
        "active_version": staged["active_version"] + 1,
        "ack_warnings": 0,
    }
    (reply,) = clinic.request(MsgType.COMMIT_PRESCRIPTION, body)
    assert reply.status == ErrorCode.STALE_VERSION


def test_hard_limit_refusal_changes_nothing() -> None:
    clinic = Clinic()
    clinic.fill()
    before = clinic.ok(MsgType.READ_PRESCRIPTION)
    (reply,) = clinic.request(MsgType.STAGE_PRESCRIPTION, {"change": continuous(5000)})
    assert reply.status == ErrorCode.DOSE_ABOVE_HARD_LIMIT and reply.reason
    assert clinic.ok(MsgType.READ_PRESCRIPTION) == before


def test_read_prescription_returns_what_was_committed() -> None:
    clinic = Clinic()
    clinic.fill()
    clinic.program(continuous(300))
    body = clinic.ok(MsgType.READ_PRESCRIPTION)
    assert body["therapy"] == continuous(300)
    assert body["concentration_mcg_per_ml"] == 500


def test_refill_reports_discrepancy_and_concentration_change() -> None:
    clinic = Clinic()
    clinic.fill(20, 500)
    clinic.program(continuous(400))
    clinic.now += 10 * DAY
    clinic.link.receive_data(b"", clinic.now)
    body = clinic.ok(
        MsgType.REFILL,
        {"withdrawn_nl": 10_000_000, "added_nl": 20_000_000, "concentration_mcg_per_ml": 1000},
    )
    assert body["expected_nl"] == 20_000_000 - 10 * 800_000
    assert body["discrepancy_nl"] == 10_000_000 - body["expected_nl"]
    assert body["flags"] == 3  # discrepancy over 1 mL, and concentration changed


def test_stop_resume_patient_bolus_alarms_clock_and_logs() -> None:
    clinic = Clinic()
    clinic.fill()
    clinic.program(continuous(400))
    cfg = {
        "enabled": True,
        "dose_ng": 25_000,
        "duration_s": 600,
        "max_per_day": 4,
        "lockout_s": 3 * HOUR,
    }
    clinic.ok(MsgType.PATIENT_BOLUS_CONFIG, {"config": cfg, "ack_warnings": 7, "preview": False})
    grant = clinic.ok(MsgType.PATIENT_BOLUS_REQUEST)
    assert grant["dose_ng"] == 25_000 and grant["remaining_today"] == 3
    clinic.now += HOUR  # the bolus has ended, the 3 h lockout has not
    (locked,) = clinic.request(MsgType.PATIENT_BOLUS_REQUEST)
    assert locked.status == ErrorCode.PATIENT_BOLUS_LOCKOUT
    clinic.ok(MsgType.STOP)
    alarms = clinic.ok(MsgType.ALARMS_READ)["alarms"]
    assert [a["alarm"] for a in alarms] == [AlarmId.PUMP_STOPPED]
    assert any(
        n.msg is MsgType.ALARM_EVENT and n.body["alarm"] == AlarmId.PUMP_STOPPED
        for n in clinic.notifications
    )
    assert clinic.ok(MsgType.ALARMS_ACK, {"alarms": []})["acknowledged"] == 1
    clinic.ok(MsgType.RESUME)
    clinic.ok(MsgType.ALARMS_TEST)
    clinic.ok(MsgType.ALARMS_CONFIG, {"low_reservoir_nl": 4_000_000, "critical_interval_s": 300})
    assert clinic.ok(MsgType.ALARMS_READ)["low_reservoir_nl"] == 4_000_000
    (bad,) = clinic.request(
        MsgType.ALARMS_CONFIG, {"low_reservoir_nl": 50_000_000, "critical_interval_s": 300}
    )
    assert bad.status == ErrorCode.ALARM_CONFIG_OUT_OF_RANGE
    previous = clinic.ok(MsgType.SET_CLOCK, {"pump_time": START + 7200})["previous_time"]
    assert previous == clinic.now  # the pump clock ran with board time until now
    assert clinic.ok(MsgType.STATUS)["pump_time"] == START + 7200
    info = clinic.ok(MsgType.LOG_INFO, {"log": LogId.THERAPY})
    assert info["count"] > 0 and info["record_size"] == 24


def test_log_read_streams_records_over_several_frames() -> None:
    clinic = Clinic()
    for _ in range(30):
        clinic.ok(MsgType.ALARMS_TEST)
    replies = clinic.request(MsgType.LOG_READ, {"log": LogId.ALARM, "cursor": 0, "max_count": 1000})
    records = [LogRecord.unpack(raw) for r in replies for raw in r.body["records"]]
    assert [r.more for r in replies] == [True] * (len(replies) - 1) + [False]
    assert len(records) == clinic.ok(MsgType.LOG_INFO, {"log": LogId.ALARM})["count"]
    assert all(r.event == LogEvent.ALARM_TEST for r in records)
    assert [r.seq for r in records] == sorted(r.seq for r in records)


def test_unknown_log_is_refused() -> None:
    clinic = Clinic()
    (reply,) = clinic.request(MsgType.LOG_INFO, {"log": 9})
    assert reply.status == ErrorCode.UNKNOWN_LOG


def test_telemetry_subscription_pushes_status_events() -> None:
    clinic = Clinic()
    assert clinic.ok(MsgType.TELEMETRY_SUBSCRIBE, {"interval_s": 60})["interval_s"] == 60
    for _ in range(3):
        due = clinic.link.next_wakeup()
        assert due is not None
        clinic.link.on_timer(due)
    clinic._exchange(b"")
    assert len([n for n in clinic.notifications if n.msg is MsgType.TELEMETRY]) == 3


def test_patient_role_may_not_program() -> None:
    clinic = Clinic(Role.PATIENT)
    (reply,) = clinic.request(MsgType.STAGE_PRESCRIPTION, {"change": continuous(100)})
    assert reply.status == ErrorCode.ROLE_NOT_PERMITTED


def test_security_events_reach_the_audit_log_and_pairing_survives_a_power_cycle() -> None:
    clinic = Clinic()
    clinic.link.receive_data(
        clinic.prog.send(Request(MsgType.STATUS, {}, 99))[:-3] + b"\x00", clinic.now
    )
    events = [
        LogRecord.unpack(r).event
        for r in [rec.pack() for rec in clinic.bench.pump.log_read(LogId.AUDIT, 0, 100)]
    ]
    assert LogEvent.PAIRED in events and LogEvent.SESSION_OPENED in events
    key_ids = set(clinic.link.endpoint.pairings)
    clinic.bench.power_cycle(clinic.now + 60)
    link = CommandLink(clinic.bench.pump, clinic.bench.hal)
    assert set(link.endpoint.pairings) == key_ids


def test_a_retried_refill_is_applied_once() -> None:
    clinic = Clinic()
    body = {
        "request_id": 77,
        "withdrawn_nl": 0,
        "added_nl": 10_000_000,
        "concentration_mcg_per_ml": 500,
    }
    first = clinic.ok(MsgType.REFILL, body)
    second = clinic.ok(MsgType.REFILL, body)
    assert first == second
    assert clinic.ok(MsgType.STATUS)["reservoir_nl"] == 10_000_000


def test_refill_reminder_is_raised_again_after_a_power_cycle() -> None:
    clinic = Clinic()
    clinic.fill(20, 2000)
    clinic.program(continuous(500))
    pump = clinic.bench.pump
    day = START
    while AlarmId.REFILL_REMINDER not in [a.alarm_id for a in pump.alarms(day)]:
        day += DAY
        clinic.bench.run_to(day)
        assert day < START + 100 * DAY
    pump.flush(day)
    restarted = clinic.bench.power_cycle(day + 60)
    assert AlarmId.REFILL_REMINDER in [a.alarm_id for a in restarted.alarms(day + 60)]


def test_a_power_cut_anywhere_in_a_refill_never_leaves_a_false_never_seen() -> None:
    """Cut the power at many points while a REFILL is carried out; after the reboot REQUEST_STATUS
    may say completed or interrupted, and may say "never seen" only if nothing changed."""
    from .conftest import PowerCut

    outcomes = set()
    for tear in range(0, 6000, 150):
        clinic = Clinic()
        body = {
            "request_id": 4242,
            "withdrawn_nl": 0,
            "added_nl": 7_000_000,
            "concentration_mcg_per_ml": 500,
        }
        clinic.bench.hal.nvm.bytes_written = 0
        clinic.bench.hal.nvm.tear_after = tear
        frame = clinic.prog.send(Request(MsgType.REFILL, body, clinic._next_seq()))
        with contextlib.suppress(PowerCut):
            clinic.link.receive_data(frame, clinic.now)
        clinic.bench.power_cycle(clinic.now + 1)
        clinic.link = CommandLink(clinic.bench.pump, clinic.bench.hal)
        clinic.prog.close_session()
        pairing = next(iter(clinic.link.endpoint.pairings.values()))
        clinic._exchange(
            clinic.prog.open_session(
                pairing.key_id, pairing.key, clinic.rng.randbytes(16), clinic._next_seq()
            )
        )
        state = clinic.ok(MsgType.REQUEST_STATUS, {"request_id": 4242})["state"]
        filled = clinic.ok(MsgType.STATUS)["reservoir_nl"] == 7_000_000
        outcomes.add((state, filled))
        if state == 0:  # never seen
            assert not filled, (
                f"tear at {tear}: the refill took effect but the pump says never seen"
            )
    assert (1, True) in outcomes  # some cuts came after the whole request
    assert (2, True) in outcomes or (2, False) in outcomes  # and some in the middle of it


def test_the_security_record_always_fits_its_nvm_bank_whatever_a_peer_sends() -> None:
    from firmware.nvm_layout import SECURITY_BLOB_MAX

    clinic = Clinic(Role.PATIENT)
    for _ in range(60):  # refusals with long bodies fill the request cache
        (reply,) = clinic.request(MsgType.ALARMS_ACK, {"alarms": [200] * 255})
        assert reply.status == ErrorCode.INVALID_ARGUMENT
    assert len(clinic.link.endpoint.export_state()) <= SECURITY_BLOB_MAX
    assert clinic.bench.pump.get_security_blob() == clinic.link.endpoint.export_state()


def test_a_bolus_cut_short_is_logged_with_what_it_delivered_not_its_dose() -> None:
    clinic = Clinic()
    clinic.fill(20, 500)
    clinic.program(continuous(400))
    cfg = {
        "enabled": True,
        "dose_ng": 50_000,
        "duration_s": 3600,
        "max_per_day": 4,
        "lockout_s": 3 * HOUR,
    }
    clinic.ok(MsgType.PATIENT_BOLUS_CONFIG, {"config": cfg, "ack_warnings": 7, "preview": False})
    clinic.ok(MsgType.PATIENT_BOLUS_REQUEST)
    clinic.now += 60
    clinic.program({"kind": int(ChangeKind.STOPPED), "params": {}})
    clinic.now += 2 * HOUR
    clinic.link.receive_data(b"", clinic.now)
    completed = [
        r
        for r in clinic.bench.pump.log_read(LogId.THERAPY, 0, 200)
        if r.event == LogEvent.BOLUS_COMPLETED
    ]
    assert len(completed) == 1
    assert 0 < completed[0].b < 50_000 / 30  # about a minute of a one-hour 50 mcg bolus


def test_a_flood_of_junk_frames_cannot_push_pairing_records_out_of_the_audit_log() -> None:
    from protocol.framing import encode_frame

    clinic = Clinic()
    for seq in range(500):  # unknown message type, no session: refused every time
        clinic.link.receive_data(encode_frame(0x7F, seq, b""), clinic.now)
    info = clinic.ok(MsgType.LOG_INFO, {"log": LogId.AUDIT})  # reading flushes the counts
    records = clinic.bench.pump.log_read(LogId.AUDIT, 0, 1000)
    events = [r.event for r in records]
    assert LogEvent.PAIRED in events and LogEvent.SESSION_OPENED in events
    refused = sum(
        1
        for r in records
        if r.event == LogEvent.REQUEST_REFUSED and r.a == ErrorCode.UNKNOWN_MESSAGE
    )
    counted = sum(
        r.b
        for r in records
        if r.event == LogEvent.REJECTIONS_SUPPRESSED and r.a == ErrorCode.UNKNOWN_MESSAGE
    )
    over_budget = sum(  # dropped unanswered over the unauthenticated budget (ratelimit.py)
        r.b for r in records if r.event == LogEvent.REJECTIONS_SUPPRESSED and r.a == ErrorCode.BUSY
    )
    assert refused + counted + over_budget == 500  # every refusal accounted for
    assert info["count"] < 64  # the ring (capacity 64 here) never filled with junk


def test_a_retryable_refusal_is_final_for_its_request_id() -> None:
    """Retryable means "a new request may succeed later" (docs/PROTOCOL.md sections 4, 5): the
    same request id gets the cached refusal even after the lockout ended, REQUEST_STATUS reports
    it COMPLETED with that status, and a new request id is granted."""
    from protocol import RequestState

    clinic = Clinic()
    clinic.fill()
    clinic.program(continuous(400))
    cfg = {"enabled": True, "dose_ng": 25_000, "duration_s": 600, "max_per_day": 4}
    clinic.ok(
        MsgType.PATIENT_BOLUS_CONFIG,
        {"config": {**cfg, "lockout_s": 3 * HOUR}, "ack_warnings": 7, "preview": False},
    )
    clinic.ok(MsgType.PATIENT_BOLUS_REQUEST)
    clinic.now += HOUR
    (locked,) = clinic.request(MsgType.PATIENT_BOLUS_REQUEST, {"request_id": 7777})
    assert locked.status == ErrorCode.PATIENT_BOLUS_LOCKOUT
    clinic.now += 3 * HOUR  # the lockout is over
    (again,) = clinic.request(MsgType.PATIENT_BOLUS_REQUEST, {"request_id": 7777})
    assert again.status == ErrorCode.PATIENT_BOLUS_LOCKOUT and again.reason == locked.reason
    fate = clinic.ok(MsgType.REQUEST_STATUS, {"request_id": 7777})
    assert fate["state"] == RequestState.COMPLETED
    assert fate["status"] == ErrorCode.PATIENT_BOLUS_LOCKOUT
    assert clinic.ok(MsgType.PATIENT_BOLUS_REQUEST)["dose_ng"] == 25_000  # a new request id


def test_a_log_stream_that_fills_its_frames_exactly_ends_without_an_empty_frame() -> None:
    clinic = Clinic()
    for _ in range(50):
        clinic.ok(MsgType.ALARMS_TEST)
    info = clinic.ok(MsgType.LOG_INFO, {"log": LogId.ALARM})
    assert info["count"] >= 42
    start = info["next_seq"] - 42
    frames = clinic.request(
        MsgType.LOG_READ, {"log": LogId.ALARM, "cursor": start, "max_count": 99}
    )
    assert [len(f.body["records"]) for f in frames] == [42] and not frames[0].more
    assert frames[0].body["next_cursor"] == info["next_seq"]
    # an empty list: next_cursor is the cursor raised to first_seq and capped at next_seq
    for cursor, count, expected in (
        (info["next_seq"] + 1000, 10, info["next_seq"]),
        (start, 0, start),
        (0, 0, info["first_seq"]),
    ):
        (empty,) = clinic.request(
            MsgType.LOG_READ, {"log": LogId.ALARM, "cursor": cursor, "max_count": count}
        )
        assert empty.body == {"records": [], "next_cursor": expected} and not empty.more


def test_status_during_a_clinician_bolus_pauses_the_basal_and_counts_down_the_dose() -> None:
    clinic = Clinic()
    clinic.fill()
    clinic.program(continuous(400))
    bolus = {
        "kind": int(ChangeKind.SINGLE_BOLUS),
        "params": {"dose_ng": 50_000, "duration_s": 3600},
    }
    staged = clinic.ok(MsgType.STAGE_PRESCRIPTION, {"change": bolus})
    assert staged["daily_dose_ng"] == 400_000 and staged["duration_s"] == 3600
    clinic.program(bolus)
    clinic.now += 1800
    status = clinic.ok(MsgType.STATUS)
    assert status["mode"] == status["bolus_mode"] == int(ChangeKind.SINGLE_BOLUS)
    assert status["bolus_remaining_ng"] == 25_000  # half its duration left
    assert status["rate_nl_per_day"] == staged["rate_nl_per_day"]  # the bolus alone
    assert status["daily_dose_ng"] == 400_000  # the basal that resumes
    clinic.now += 1800
    status = clinic.ok(MsgType.STATUS)
    assert status["bolus_mode"] == 0 and status["bolus_remaining_ng"] == 0
    assert status["mode"] == 1  # CONTINUOUS again


def test_the_stage_summary_holds_what_section_6_says_for_every_kind() -> None:
    clinic = Clinic()
    clinic.fill(20, 500)
    clinic.program(continuous(400))

    def stage(change: dict[str, Any]) -> dict[str, Any]:
        summary = clinic.ok(MsgType.STAGE_PRESCRIPTION, {"change": change})
        clinic.ok(MsgType.ABORT_PRESCRIPTION)
        assert summary["next_refill_time"] == summary["low_reservoir_time"]
        return summary

    stopped = stage({"kind": int(ChangeKind.STOPPED), "params": {}})
    assert (stopped["daily_dose_ng"], stopped["rate_nl_per_day"], stopped["duration_s"]) == (
        0,
        0,
        0,
    )
    assert stopped["low_reservoir_time"] == 0
    basal = stage(continuous(300))
    assert (basal["daily_dose_ng"], basal["rate_nl_per_day"], basal["duration_s"]) == (
        300_000,
        600_000,
        0,
    )
    assert basal["low_reservoir_time"] > START
    # flex: the largest day total (weekend 600 mcg/day, weekdays 200 then 400 from noon = 300)
    weekday = [
        {"start_minute": 0, "daily_dose_ng": 200_000},
        {"start_minute": 720, "daily_dose_ng": 400_000},
    ]
    weekend = [{"start_minute": 0, "daily_dose_ng": 600_000}]
    flex = {
        "kind": int(ChangeKind.FLEX),
        "params": {"day_programs": [weekday, weekend], "weekday_program": [0, 0, 0, 0, 0, 1, 1]},
    }
    summary = stage(flex)
    assert summary["daily_dose_ng"] == 600_000 and summary["duration_s"] == 0
    assert summary["rate_nl_per_day"] in (400_000, 800_000, 1_200_000)  # the step in force
    priming = stage({"kind": int(ChangeKind.PRIMING_BOLUS), "params": {"catheter_length_mm": 100}})
    # priming: the basal in force (continuous 400 mcg/day) resumes when the prime ends
    assert priming["daily_dose_ng"] == 400_000 and priming["duration_s"] > 0
    assert priming["low_reservoir_time"] > START  # flow resumes after priming


def test_device_limits_are_the_numbers_the_pump_checks_and_any_role_reads_them() -> None:
    from protocol.codec import encode_reply
    from protocol.framing import MAX_PAYLOAD

    for role in (Role.CLINICIAN, Role.PATIENT):
        clinic = Clinic(role)
        limits = clinic.ok(MsgType.DEVICE_LIMITS)
        profile = clinic.bench.pump.profile
        assert limits["drug"]["hard_max_daily_dose_ng"] == profile.drug.hard_max_daily_dose_ng
        assert limits["drug"]["concentrations_mcg_per_ml"] == list(
            profile.drug.concentrations_mcg_per_ml
        )
        assert limits["clock"]["latest_time"] == profile.clock.latest_pump_time_s
        assert len(encode_reply(MsgType.DEVICE_LIMITS, ErrorCode.OK, limits)) <= MAX_PAYLOAD
    clinic = Clinic()
    clinic.fill(20, limits["drug"]["concentrations_mcg_per_ml"][-1])
    too_much = limits["drug"]["hard_max_daily_dose_ng"] + 1000
    (refused,) = clinic.request(
        MsgType.STAGE_PRESCRIPTION,
        {"change": {"kind": int(ChangeKind.CONTINUOUS), "params": {"daily_dose_ng": too_much}}},
    )
    assert refused.status in (ErrorCode.DOSE_ABOVE_HARD_LIMIT, ErrorCode.RATE_ABOVE_MAXIMUM)


def test_the_largest_device_limits_reply_fits_max_payload() -> None:
    from protocol.codec import encode_reply
    from protocol.framing import MAX_PAYLOAD

    body = Clinic().ok(MsgType.DEVICE_LIMITS)
    body["drug"] = {**body["drug"], "drug_name": "x" * 255, "concentrations_mcg_per_ml": [1] * 255}
    assert len(encode_reply(MsgType.DEVICE_LIMITS, ErrorCode.OK, body)) == 859 <= MAX_PAYLOAD


def test_a_write_is_audited_once_with_its_key_and_a_direct_calls_note_does_not_leak() -> None:
    """A retried refill is carried out once, so it leaves one WRITE_ACCEPTED record; a note left
    by a direct firmware call (no link, no session) is not written into the next request's."""
    clinic = Clinic()
    body = {"request_id": 78, "withdrawn_nl": 0, "added_nl": 10_000_000}
    clinic.ok(MsgType.REFILL, {**body, "concentration_mcg_per_ml": 500})
    clinic.ok(MsgType.REFILL, {**body, "concentration_mcg_per_ml": 500})  # the retry
    clinic.bench.pump.note_write(detail=9, acknowledged=3)  # a direct call's note, unclaimed
    clinic.ok(MsgType.STOP, {"request_id": 79})
    pump = clinic.bench.pump
    writes = [
        WriteAudit.from_record(r.a, r.b, r.flags)
        for r in pump.log_read(LogId.AUDIT, 0, 100)
        if r.event == LogEvent.WRITE_ACCEPTED
    ]
    (key_id,) = clinic.link.endpoint.pairings
    assert writes == [
        WriteAudit(key_id, int(Role.CLINICIAN), int(MsgType.REFILL)),
        WriteAudit(key_id, int(Role.CLINICIAN), int(MsgType.STOP)),
    ]
