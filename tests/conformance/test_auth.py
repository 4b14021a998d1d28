"""Authentication: nothing but HELLO without a session, pairing only in the wand window, and
inside a session every frame verified - session id, then tag, then counter - so forged,
replayed, rolled-back and foreign frames are refused with distinct codes and never move the
replay window.  Repeated failed pairings lock pairing out (a wand placement lifts it); no
failure ever locks SESSION_OPEN with a paired key."""

from __future__ import annotations

from typing import Any

import pytest
from cobs import cobs

from protocol import CATALOG, ErrorCode, LogEvent, LogId, MessageKind, MsgType, Role
from protocol.codec import encode_request
from protocol.crc import crc32c
from protocol.crypto import MAX_COUNTER_STEP
from protocol.framing import Flags
from protocol.log_record import LogRecordLayout

from .client import SuiteClient
from .messages import minimal_body
from .target import PumpUnderTest

AUTH_REQUESTS = [m for m, s in CATALOG.items() if s.kind is MessageKind.REQUEST and s.auth]
CLINICIAN_ONLY = [
    m
    for m, s in CATALOG.items()
    if s.kind is MessageKind.REQUEST and s.auth and Role.PATIENT not in s.roles
]


def sealed(
    client: SuiteClient, msg: MsgType, body: dict[str, Any] | None = None, **over: Any
) -> int:
    return client.sealed(msg, body, **over)


def audit_events(client: SuiteClient, since: int) -> list[int]:
    frames = client.stream(
        MsgType.LOG_READ, {"log": LogId.AUDIT, "cursor": since, "max_count": 500}
    )
    return [LogRecordLayout.parse(r).event for f in frames for r in f.body["records"]]


def audit_next_seq(client: SuiteClient) -> int:
    return int(client.ok(MsgType.LOG_INFO, {"log": LogId.AUDIT})["next_seq"])


@pytest.mark.parametrize("msg", AUTH_REQUESTS, ids=lambda m: m.name)
def test_an_unauthenticated_peer_may_send_only_hello_pairing_and_session_open(
    pump: PumpUnderTest, msg: MsgType
) -> None:
    with pump.client() as client:
        seq = client.raw(msg, b"")
        reply = client.wait_rejection(seq)
    assert reply.status == ErrorCode.NOT_AUTHENTICATED and not reply.authenticated


def test_pairing_outside_the_wand_window_is_refused(pump: PumpUnderTest) -> None:
    if pump.bench is not None:
        pump.bench.wand(False)
    elif pump.hello["pairing_window_open"]:
        pytest.skip("the device's pairing window is open and there is no bench to close it")
    with pump.client() as client:
        client.hello()
        reply = client.begin_pairing(Role.CLINICIAN)
    assert reply.status == ErrorCode.PAIRING_WINDOW_CLOSED


def test_pair_confirm_without_pair_begin_is_refused(pump: PumpUnderTest) -> None:
    with pump.client() as client:
        seq = client.raw(MsgType.PAIR_CONFIRM, bytes(16))
        assert client.wait_rejection(seq).status == ErrorCode.NO_PAIRING_IN_PROGRESS


def test_pairing_shows_the_same_code_on_both_sides_and_opens_a_session(
    fresh_pump: PumpUnderTest,
) -> None:
    bench = fresh_pump.require_bench("open the pairing window")
    bench.wand(True)
    with fresh_pump.client() as client:
        assert client.hello()["pairing_window_open"]
        key = client.pair(Role.CLINICIAN, accept=bench.accept_pairing)
        shown = bench.hw_status().get("pairing_code")  # our bench shows the pump's display
        if shown is not None:
            assert shown == client.pairing_code
        assert not client.hello()["pairing_window_open"]  # one pairing per window
        client.login(key)
        assert client.ok(MsgType.STATUS)["pump_time"] > 0
        assert client.hello()["paired_keys"] == 1
    bench.wand(False)


def test_a_second_pairing_waits_and_a_rejected_code_stores_nothing(
    fresh_pump: PumpUnderTest,
) -> None:
    """One pairing at a time; the key is stored only once the code is accepted at the pump."""
    bench = fresh_pump.require_bench("open the pairing window and reject a code")
    bench.wand(True)
    try:
        with fresh_pump.client() as first:
            first.hello()
            assert first.begin_pairing(Role.CLINICIAN).ok
            seq = first.next_seq()
            first.write(first.endpoint.confirm_pairing(seq))
            waiting = first.wait_reply(MsgType.PAIR_CONFIRM, seq)
            assert waiting.status == ErrorCode.PAIRING_AWAITING_CONFIRMATION
            again_seq = first.next_seq()
            again = first.endpoint.confirm_pairing(again_seq)  # the first pairing's next poll
            busy = first.begin_pairing(Role.CLINICIAN)  # another programmer's keys
            assert busy.status == ErrorCode.PAIRING_BUSY  # the first pairing is not replaced
            bench.reject_pairing()
            first.write(again)
            rejected = first.wait_reply(MsgType.PAIR_CONFIRM, again_seq)
            assert rejected.status == ErrorCode.PAIRING_REJECTED
            assert first.hello()["paired_keys"] == 0
    finally:
        bench.wand(False)


def test_pairing_with_a_wrong_proof_fails_and_stores_no_key(isolated_pump: PumpUnderTest) -> None:
    isolated_pump.spend_failures(1)
    bench = isolated_pump.require_bench("open the pairing window")
    bench.wand(True)
    try:
        with isolated_pump.client() as client:
            keys_before = client.hello()["paired_keys"]
            assert client.begin_pairing(Role.CLINICIAN).ok
            seq = client.raw(MsgType.PAIR_CONFIRM, b"\x55" * 16)
            assert client.wait_rejection(seq).status == ErrorCode.PAIRING_FAILED
            assert client.hello()["paired_keys"] == keys_before
    finally:
        bench.wand(False)


def test_session_open_with_an_unknown_key_is_refused(isolated_pump: PumpUnderTest) -> None:
    isolated_pump.spend_failures(1)
    with isolated_pump.client() as client:
        body = {"key_id": 0x7FFF_FFF1, "programmer_nonce": bytes(16)}
        seq = client.raw(MsgType.SESSION_OPEN, encode_request(MsgType.SESSION_OPEN, body))
        assert client.wait_rejection(seq).status == ErrorCode.UNKNOWN_KEY


def test_replies_in_a_session_are_authenticated_with_rising_counters(
    clinician: SuiteClient,
) -> None:
    for _ in range(3):
        assert clinician.request(MsgType.STATUS).authenticated
    counters = [f.counter for f in clinician.frames if f.flags & Flags.AUTH]
    assert len(counters) >= 3 and counters == sorted(set(counters))  # type: ignore[type-var]


def test_a_forged_tag_is_refused_and_does_not_move_the_replay_window(
    isolated_pump: PumpUnderTest,
) -> None:
    isolated_pump.spend_failures(1)
    with isolated_pump.session() as client:
        start = audit_next_seq(client)
        session = client.endpoint.session
        assert session is not None
        next_counter = session.send_counter + 1
        seq = sealed(client, MsgType.STATUS, tag_key=bytes(32))
        reply = client.wait_rejection(seq)
        assert reply.status == ErrorCode.BAD_TAG and not reply.authenticated
        seq = sealed(client, MsgType.STATUS, counter=next_counter)  # the same counter, genuine
        assert client.wait_reply(MsgType.STATUS, seq).ok
        assert LogEvent.AUTH_FAILURE in audit_events(client, start)


def test_a_truncated_tag_is_refused(isolated_pump: PumpUnderTest) -> None:
    with isolated_pump.session() as client:
        session = client.endpoint.session
        assert session is not None
        wire = client.encode(MsgType.STATUS, None, client.next_seq())
        frame = cobs.decode(wire[:-1])
        body = frame[: -4 - 8]  # drop the last 8 bytes of the tag: the length no longer adds up
        cut = body + crc32c(body).to_bytes(4, "big")
        before = len(client.frames)
        client.write(cobs.encode(cut) + b"\x00")
        # Dropped by the framer (BAD_LENGTH): the next genuine frame is still answered.
        assert client.request(MsgType.STATUS).ok
        assert len(client.frames) == before + 1


def test_a_replayed_frame_is_refused_with_replayed_counter(isolated_pump: PumpUnderTest) -> None:
    isolated_pump.spend_failures(1)
    with isolated_pump.session() as client:
        seq = client.next_seq()
        wire = client.encode(MsgType.ALARMS_READ, None, seq)
        client.write(wire)
        assert client.wait_reply(MsgType.ALARMS_READ, seq).ok
        start = audit_next_seq(client)
        client.write(wire)  # byte for byte
        reply = client.wait_rejection(seq)
        assert reply.status == ErrorCode.REPLAYED_COUNTER and not reply.authenticated
        assert client.request(MsgType.STATUS).ok  # the session goes on
        assert LogEvent.AUTH_FAILURE in audit_events(client, start)


def test_a_counter_rolled_back_or_repeated_is_refused(isolated_pump: PumpUnderTest) -> None:
    isolated_pump.spend_failures(3)
    with isolated_pump.session() as client:
        for _ in range(3):
            assert client.request(MsgType.STATUS).ok
        session = client.endpoint.session
        assert session is not None
        last = session.send_counter
        for counter in (last, last - 1, 1):
            seq = sealed(client, MsgType.STATUS, counter=counter)
            assert client.wait_rejection(seq).status == ErrorCode.REPLAYED_COUNTER
        seq = sealed(client, MsgType.STATUS, counter=last + 1000)  # gaps are allowed
        assert client.wait_reply(MsgType.STATUS, seq).ok
        session.send_counter = last + 1000
        assert client.request(MsgType.STATUS).ok


def test_a_frame_for_another_session_id_is_refused(isolated_pump: PumpUnderTest) -> None:
    isolated_pump.spend_failures(1)
    with isolated_pump.session() as client:
        session = client.endpoint.session
        assert session is not None
        seq = sealed(client, MsgType.STATUS, session_id=session.session_id ^ 0x5A5A5A5A)
        assert client.wait_rejection(seq).status == ErrorCode.UNKNOWN_SESSION


def test_a_closed_session_accepts_no_more_frames(isolated_pump: PumpUnderTest) -> None:
    isolated_pump.spend_failures(1)
    with isolated_pump.session() as client:
        session = client.endpoint.session
        assert session is not None
        assert client.request(MsgType.SESSION_CLOSE).ok
        seq = sealed(client, MsgType.STATUS)
        assert client.wait_rejection(seq).status == ErrorCode.UNKNOWN_SESSION


def test_a_new_session_ends_the_previous_one(isolated_pump: PumpUnderTest) -> None:
    isolated_pump.spend_failures(1)
    key = isolated_pump.clinician_key()
    with isolated_pump.client() as client:
        client.hello()
        client.login(key)
        old = client.endpoint.session
        assert old is not None
        client.login(key)
        new = client.endpoint.session
        assert new is not None and new.session_id != old.session_id
        client.endpoint.session = old
        seq = sealed(client, MsgType.STATUS)
        assert client.wait_rejection(seq).status == ErrorCode.UNKNOWN_SESSION


@pytest.mark.parametrize("msg", CLINICIAN_ONLY, ids=lambda m: m.name)
def test_a_patient_key_may_not_send_clinician_messages(pump: PumpUnderTest, msg: MsgType) -> None:
    pump.require_message(msg)
    with pump.session(Role.PATIENT) as client:
        seq = sealed(client, msg, minimal_body(msg, client.request_id()))
        reply = client.wait_rejection(seq)
        assert reply.status == ErrorCode.ROLE_NOT_PERMITTED and reply.authenticated


def test_a_patient_key_may_read_status_and_alarms(pump: PumpUnderTest) -> None:
    with pump.session(Role.PATIENT) as client:
        assert client.request(MsgType.STATUS).ok
        assert client.request(MsgType.ALARMS_READ).ok


@pytest.mark.timeout(60)
def test_failed_session_opens_and_forged_frames_never_lock_out_a_paired_key(
    isolated_pump: PumpUnderTest,
) -> None:
    """Unknown keys and invented sessions are refused and audited but lock nothing: counting
    them would let anyone on the line lock the clinician out (and STOP with it)."""
    key = isolated_pump.clinician_key()
    with isolated_pump.client() as client:
        client.hello()
        client.login(key)
        body = {"key_id": 0x7FFF_FFF2, "programmer_nonce": bytes(16)}
        codes = []
        for _ in range(8):
            seq = client.raw(MsgType.SESSION_OPEN, encode_request(MsgType.SESSION_OPEN, body))
            codes.append(client.wait_rejection(seq).status)
        assert codes == [ErrorCode.UNKNOWN_KEY] * 8
        for counter in range(8):
            seq = sealed(client, MsgType.STATUS, session_id=0x0BAD_5E55, counter=counter + 1)
            assert client.wait_rejection(seq).status == ErrorCode.UNKNOWN_SESSION
        assert client.request(MsgType.STATUS).ok, "an established session keeps working"
        assert LogEvent.AUTH_FAILURE in audit_events(client, 0)
        assert LogEvent.LOCKOUT_STARTED not in audit_events(client, 0)
    with isolated_pump.client() as client:
        client.hello()
        client.login(key)  # at once: SESSION_OPEN with a paired key is never locked
        assert client.request(MsgType.STOP, {"request_id": client.request_id()}).ok


@pytest.mark.timeout(60)
def test_repeated_failed_pairings_lock_pairing_until_the_wand_is_placed_again(
    isolated_pump: PumpUnderTest,
) -> None:
    bench = isolated_pump.require_bench("open the pairing window")
    key = isolated_pump.clinician_key()
    bench.wand(True)
    try:
        with isolated_pump.client() as client:
            client.hello()
            assert client.begin_pairing(Role.CLINICIAN).ok
            statuses = []
            for _ in range(6):  # forged proofs against the one pending pairing (it is kept)
                forged = encode_request(MsgType.PAIR_CONFIRM, {"programmer_proof": bytes(16)})
                seq = client.raw(MsgType.PAIR_CONFIRM, forged)
                statuses.append(client.wait_rejection(seq).status)
            assert statuses[:5] == [ErrorCode.PAIRING_FAILED] * 5
            assert statuses[-1] == ErrorCode.PAIRING_LOCKED_OUT
            client.login(key)  # pairing is locked, a paired key is not
            assert LogEvent.LOCKOUT_STARTED in audit_events(client, 0)
        bench.wand(False)
        bench.wand(True)  # proximity lifts the lockout
        with isolated_pump.client() as client:
            client.hello()
            assert client.begin_pairing(Role.CLINICIAN).ok
    finally:
        bench.wand(False)


def test_a_counter_jump_beyond_the_documented_step_is_refused_and_the_session_lives(
    pump: PumpUnderTest,
) -> None:
    """docs/PROTOCOL.md section 2: a counter more than MAX_COUNTER_STEP above the last accepted
    one is refused like a replay, so a buggy jump to 2**64 - 1 cannot end the session."""
    with pump.session() as client:
        session = client.endpoint.session
        assert session is not None
        for counter in (session.send_counter + MAX_COUNTER_STEP + 1, 2**64 - 1):
            seq = sealed(client, MsgType.STATUS, counter=counter)
            assert client.wait_rejection(seq).status == ErrorCode.REPLAYED_COUNTER
        session.send_counter += MAX_COUNTER_STEP - 1  # the next frame: the largest step allowed
        assert client.request(MsgType.STATUS).ok
