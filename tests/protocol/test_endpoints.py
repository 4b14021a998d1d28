"""Endpoint behaviour: pairing, sessions, every rejection reason, idempotent retries."""

from __future__ import annotations

import pytest

from protocol import (
    DeviceEndpoint,
    ErrorCode,
    FrameDecoder,
    FrameRejected,
    LockoutStarted,
    MsgType,
    Notification,
    PairingCompleted,
    Reply,
    Request,
    Role,
    SessionOpened,
)
from protocol.codec import encode_request
from protocol.framing import Flags, encode_frame, seal_frame

from .linkpair import STATUS_BODY, LinkPair


def replies(events: list[object]) -> list[Reply]:
    return [e for e in events if isinstance(e, Reply)]


def rejection_codes(link: LinkPair) -> list[ErrorCode]:
    return [e.code for e in link.device_events if isinstance(e, FrameRejected)]


def test_hello_is_answered_without_a_session() -> None:
    link = LinkPair()
    (reply,) = replies(link.request(MsgType.HELLO))
    assert reply.ok and not reply.authenticated
    assert reply.body["serial_number"] == "VP20-000042"
    assert MsgType.STATUS in reply.body["messages"]
    assert MsgType.TELEMETRY not in reply.body["messages"]  # events are not requests


def test_pairing_both_sides_show_the_same_code_and_store_the_same_key() -> None:
    link = LinkPair()
    key_id, key, code = link.pair(Role.CLINICIAN)
    assert code == link.device.pairing_code
    assert len(code) == 7 and code[3] == " "
    assert link.device.pairings[key_id].key == key
    assert link.device.pairings[key_id].role is Role.CLINICIAN
    assert any(isinstance(e, PairingCompleted) for e in link.device_events)


def test_pairing_outside_the_wand_window_is_refused() -> None:
    link = LinkPair()
    link.request(MsgType.HELLO)
    events = link.roundtrip(
        link.programmer.begin_pairing(Role.CLINICIAN, bytes(range(32)), bytes(16), 9)
    )
    (reply,) = replies(events)
    assert reply.status == ErrorCode.PAIRING_WINDOW_CLOSED


def test_pairing_window_closes_after_its_time() -> None:
    link = LinkPair()
    link.device.open_pairing_window(link.now)
    link.now += link.device.policy.pairing_window_s
    assert not link.device.pairing_window_open(link.now)


def test_wrong_pairing_proof_is_refused_and_counts_as_auth_failure() -> None:
    link = LinkPair()
    link.request(MsgType.HELLO)
    link.device.open_pairing_window(link.now)
    link.roundtrip(link.programmer.begin_pairing(Role.CLINICIAN, bytes(range(32)), bytes(16), 9))
    forged = encode_frame(
        MsgType.PAIR_CONFIRM,
        10,
        encode_request(MsgType.PAIR_CONFIRM, {"programmer_proof": bytes(16)}),
    )
    (reply,) = replies(link.roundtrip(forged))
    assert reply.status == ErrorCode.PAIRING_FAILED
    assert link.device.pairings == {}


def test_session_open_then_status_is_authenticated_both_ways() -> None:
    link = LinkPair()
    link.paired_session()
    (reply,) = replies(link.request(MsgType.STATUS))
    assert reply.ok and reply.authenticated
    assert reply.body["daily_dose_ng"] == STATUS_BODY["daily_dose_ng"]
    assert any(isinstance(e, SessionOpened) for e in link.device_events)


def test_status_without_a_session_is_not_authenticated() -> None:
    link = LinkPair()
    frame = encode_frame(MsgType.STATUS, 1, b"")
    (reply,) = replies(link.roundtrip(frame))
    assert reply.status == ErrorCode.NOT_AUTHENTICATED


def test_session_open_with_an_unknown_key_is_refused() -> None:
    link = LinkPair()
    (reply,) = replies(link.open(0x1234, bytes(32)))
    assert reply.status == ErrorCode.UNKNOWN_KEY


def _status_frame(link: LinkPair) -> bytes:
    return link.programmer.send(Request(MsgType.STATUS, {}, link.next_seq()))


def _flip_tag_byte(wire: bytes) -> bytes:
    """Re-seal an authenticated frame with one tag byte flipped and a valid CRC."""
    from cobs import cobs

    decoded = cobs.decode(wire[:-1])[:-4]
    forged = decoded[:-16] + bytes([decoded[-16] ^ 1]) + decoded[-15:]
    return seal_frame(forged)


def test_forged_tag_replay_reorder_wrong_session_and_wrong_role_have_distinct_reasons() -> None:
    link = LinkPair()
    link.paired_session()
    # forged tag
    link.to_device(_flip_tag_byte(_status_frame(link)))
    # replay: the same bytes twice
    frame = _status_frame(link)
    link.to_device(frame)
    link.to_device(frame)
    # reorder: counter n+2 accepted, then n+1 refused
    first, second = _status_frame(link), _status_frame(link)
    link.to_device(second)
    link.to_device(first)
    # wrong session: a frame from another session id
    session = link.programmer.session
    assert session is not None
    other = encode_frame(
        MsgType.STATUS,
        77,
        b"",
        session_id=session.session_id ^ 1,
        counter=999,
        tag_key=session.send_key,
    )
    link.to_device(other)
    codes = rejection_codes(link)
    assert codes == [
        ErrorCode.BAD_TAG,
        ErrorCode.REPLAYED_COUNTER,
        ErrorCode.REPLAYED_COUNTER,
        ErrorCode.UNKNOWN_SESSION,
    ]
    # wrong role: a patient key asking a clinician-only message
    patient = LinkPair(seed=8)
    patient.paired_session(Role.PATIENT)
    (reply,) = replies(patient.request(MsgType.STOP, {"request_id": 5}))
    assert reply.status == ErrorCode.ROLE_NOT_PERMITTED
    assert reply.authenticated  # the frame verified; only the role is wrong
    assert patient.executed == []


def test_a_forged_frame_never_moves_the_replay_window() -> None:
    link = LinkPair()
    link.paired_session()
    session = link.device.session
    assert session is not None
    before = session.window.last
    link.to_device(_flip_tag_byte(_status_frame(link)))
    assert session.window.last == before


def test_repeated_failed_pairings_lock_out_pairing_but_never_session_open() -> None:
    """Only the low-entropy pairing exchange counts and is locked (tests/security/test_lockout.py
    has the attack); unknown keys on SESSION_OPEN are refused and reported, never counted."""
    link = LinkPair()
    key_id, key, _ = link.pair()
    for _ in range(link.device.policy.failures_before_lockout):
        link.open(0x0BAD, bytes(32))
    assert not any(isinstance(e, LockoutStarted) for e in link.device_events)
    link.device.open_pairing_window(link.now)
    for attempt in range(link.device.policy.failures_before_lockout):
        link.roundtrip(
            link.programmer.begin_pairing(Role.CLINICIAN, bytes(range(32)), bytes(16), 20 + attempt)
        )
        forged = encode_frame(
            MsgType.PAIR_CONFIRM,
            40 + attempt,
            encode_request(MsgType.PAIR_CONFIRM, {"programmer_proof": bytes(16)}),
        )
        link.roundtrip(forged)
    assert any(isinstance(e, LockoutStarted) for e in link.device_events)
    (reply,) = replies(
        link.roundtrip(
            link.programmer.begin_pairing(Role.CLINICIAN, bytes(range(32)), bytes(16), 60)
        )
    )
    assert reply.status == ErrorCode.PAIRING_LOCKED_OUT
    (reply,) = replies(link.open(key_id, key))
    assert reply.ok
    link.now += link.device.policy.lockout_s
    assert not link.device.locked(link.now)


def test_duplicate_state_changing_request_executes_once_and_gets_the_same_reply() -> None:
    link = LinkPair()
    link.paired_session()
    (first,) = replies(
        link.request(
            MsgType.SET_CLOCK, {"request_id": 41, "pump_time": 1_800_000_000, "utc_offset_s": 0}
        )
    )
    (again,) = replies(
        link.request(
            MsgType.SET_CLOCK, {"request_id": 41, "pump_time": 1_800_000_000, "utc_offset_s": 0}
        )
    )
    assert first.ok and again.ok and first.body == again.body
    assert len(link.executed) == 1


def test_request_id_reused_for_another_request_is_refused() -> None:
    link = LinkPair()
    link.paired_session()
    link.request(MsgType.STOP, {"request_id": 41})
    (reply,) = replies(link.request(MsgType.RESUME, {"request_id": 41}))
    assert reply.status == ErrorCode.REQUEST_ID_REUSED
    assert [r.msg for r in link.executed] == [MsgType.STOP]


def test_request_status_reports_unknown_and_completed_requests() -> None:
    link = LinkPair()
    link.paired_session()
    (unknown,) = replies(link.request(MsgType.REQUEST_STATUS, {"request_id": 99}))
    assert unknown.body["state"] == 0
    link.request(MsgType.STOP, {"request_id": 99})
    (done,) = replies(link.request(MsgType.REQUEST_STATUS, {"request_id": 99}))
    assert (
        done.body["state"] == 1
        and done.body["msg_type"] == MsgType.STOP
        and done.body["status"] == 0
    )


def test_request_cache_survives_export_and_import_but_the_session_does_not() -> None:
    link = LinkPair()
    link.paired_session()
    link.request(MsgType.STOP, {"request_id": 7})
    state = link.device.export_state()
    restored = DeviceEndpoint(link.device.info, link.rng.randbytes)
    restored.import_state(state)
    assert restored.pairings == link.device.pairings
    assert restored.cache.get(7) is not None
    assert restored.session is None


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (seal_frame(bytes([2, 0, MsgType.HELLO, 0, 1, 0, 0])), ErrorCode.UNSUPPORTED_VERSION),
        (seal_frame(bytes([1, 0x10, MsgType.HELLO, 0, 1, 0, 0])), ErrorCode.BAD_FLAGS),
        (seal_frame(bytes([1, Flags.RESPONSE, MsgType.HELLO, 0, 1, 0, 0])), ErrorCode.BAD_FLAGS),
        (encode_frame(0x7E, 1, b""), ErrorCode.UNKNOWN_MESSAGE),
        (encode_frame(MsgType.TELEMETRY, 1, b""), ErrorCode.WRONG_DIRECTION),
        (encode_frame(MsgType.HELLO, 1, b"extra"), ErrorCode.MALFORMED_PAYLOAD),
    ],
)
def test_malformed_requests_get_an_explicit_error_not_silence(
    frame: bytes, code: ErrorCode
) -> None:
    link = LinkPair()
    (answer,) = FrameDecoder().feed(link.to_device(frame))
    assert answer.flags & Flags.RESPONSE
    assert int.from_bytes(answer.payload[:2], "big") == code
    assert rejection_codes(link) == [code]


def test_programmer_drops_a_reply_with_a_forged_tag() -> None:
    link = LinkPair()
    link.paired_session()
    wire = link.to_device(_status_frame(link))
    events = link.to_programmer(_flip_tag_byte(wire))
    assert [type(e) for e in events] == [FrameRejected]
    assert events[0].code == ErrorCode.BAD_TAG  # type: ignore[attr-defined]


def test_events_reach_the_programmer_only_inside_a_session() -> None:
    link = LinkPair()
    body = {"alarm": 1, "raised": True, "critical": False, "time": 5}
    assert link.device.send(Notification(MsgType.ALARM_EVENT, 0, body)) == b""
    link.paired_session()
    events = link.to_programmer(link.device.send(Notification(MsgType.ALARM_EVENT, 0, body)))
    assert isinstance(events[0], Notification) and events[0].body == body
    plain = encode_frame(
        MsgType.ALARM_EVENT, 3, encode_request(MsgType.ALARM_EVENT, body), Flags.EVENT
    )
    (rejected,) = link.to_programmer(plain)
    assert isinstance(rejected, FrameRejected) and rejected.code == ErrorCode.NOT_AUTHENTICATED


def test_unpair_forgets_the_key_and_ends_the_session() -> None:
    link = LinkPair()
    link.paired_session()
    (reply,) = replies(link.request(MsgType.UNPAIR, {"request_id": 3, "key_id": 0}))
    assert reply.ok
    assert link.device.pairings == {} and link.device.session is None


def test_a_retry_that_overtakes_the_reply_is_executed_once_and_answered_twice() -> None:
    link = LinkPair()
    link.paired_session()
    first = link.programmer.send(Request(MsgType.STOP, {"request_id": 77}, 50))
    retry = link.programmer.send(Request(MsgType.STOP, {"request_id": 77}, 51))
    events = link.roundtrip(first + retry)
    assert [r.msg for r in link.executed] == [MsgType.STOP]
    assert sorted(r.seq for r in replies(events)) == [50, 51]


def test_hello_from_a_new_programmer_is_readable_while_a_dead_session_is_open() -> None:
    link = LinkPair()
    link.paired_session()
    newcomer = LinkPair()  # another programmer on the same line, knowing no session
    newcomer.device = link.device
    (reply,) = replies(newcomer.request(MsgType.HELLO))
    assert reply.ok and not reply.authenticated


def test_a_request_pending_at_a_reset_is_reported_interrupted_and_never_run_again() -> None:
    link = LinkPair()
    link.paired_session()
    frame = link.programmer.send(Request(MsgType.STOP, {"request_id": 88}, link.next_seq()))
    link.device.receive_data(frame)
    assert isinstance(link.device.next_event(link.now), Request)  # handed over, not yet answered
    state = link.device.export_state()  # what the firmware persisted before carrying it out
    rebooted = DeviceEndpoint(link.device.info, link.rng.randbytes)
    rebooted.import_state(state)
    link.device = rebooted
    key_id, key = next(iter((p.key_id, p.key) for p in rebooted.pairings.values()))
    link.open(key_id, key)
    (status,) = replies(link.request(MsgType.REQUEST_STATUS, {"request_id": 88}))
    assert status.body["state"] == 2  # RequestState.INTERRUPTED
    (again,) = replies(link.request(MsgType.STOP, {"request_id": 88}))
    assert again.status == ErrorCode.REQUEST_INTERRUPTED
    assert link.executed == []


def test_exported_security_state_fits_its_budget_dropping_the_oldest_answers_first() -> None:
    link = LinkPair()
    link.paired_session()
    for rid in range(1, 30):
        link.request(MsgType.STOP, {"request_id": rid})
    link.device.max_state_bytes = 300
    state = link.device.export_state()
    assert len(state) <= 300
    assert link.device.cache.get(29) is not None and link.device.cache.get(1) is None
    assert len(link.device.pairings) == 1  # pairings are never dropped
