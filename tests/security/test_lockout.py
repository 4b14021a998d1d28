"""Finding 2 of issue 9: the authentication lockout could be used as a weapon.

The attack: anyone on the line (no key needed) sent five authenticated-looking frames with an
invented session id, or replayed one recorded session; each refusal (UNKNOWN_SESSION, BAD_TAG,
REPLAYED_COUNTER, UNKNOWN_KEY) counted towards a lockout of PAIR_BEGIN, PAIR_CONFIRM *and*
SESSION_OPEN for 600 s, renewable at will - so the clinician could not even open a session to
send STOP.  A 128-bit tag cannot be guessed, so counting those failures bought nothing.

The specification now: only a failed pairing exchange (PAIRING_FAILED on PAIR_BEGIN or
PAIR_CONFIRM, the low-entropy part) counts, and a lockout locks only pairing.  Every other failure
is still audited.  SESSION_OPEN with a paired key is never locked, so STOP always gets through.
Placing the programmer head over the pump (proximity) lifts a pairing lockout, and the failure
count survives a power cycle and a restart of ``vpump serve``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from programmer.client import PumpClient
from programmer.keystore import KeyStore
from programmer.transport import open_transport
from protocol import ErrorCode, FrameRejected, LockoutStarted, MsgType, Reply, Request, Role
from protocol.codec import encode_request
from protocol.framing import encode_frame
from protocol.programmer import ProgrammerEndpoint
from tests.integration.harness import ServedPump, xdg_env
from tests.protocol.linkpair import LinkPair

FAILURES = 5  # LinkPair's policy and the profiles' auth_failures_before_lockout


def _replies(events: list[object]) -> list[Reply]:
    return [e for e in events if isinstance(e, Reply)]


def _codes(link: LinkPair) -> list[ErrorCode]:
    return [e.code for e in link.device_events if isinstance(e, FrameRejected)]


def _invented_session_frame(rng: random.Random, msg: MsgType = MsgType.STOP) -> bytes:
    """An authenticated-looking frame with a made-up session id, counter and tag: no key needed."""
    body = {"request_id": rng.randrange(1, 2**32)} if msg is MsgType.STOP else {}
    return encode_frame(
        msg,
        rng.randrange(2**16),
        encode_request(msg, body),
        session_id=rng.randrange(1, 2**32),
        counter=rng.randrange(1, 2**32),
        tag_key=rng.randbytes(32),
    )


def _failed_pairing(link: LinkPair, rng: random.Random) -> None:
    """An intruder begins pairing in the open window and sends a proof it cannot know."""
    intruder = ProgrammerEndpoint()
    intruder.serial_number = link.device.info.serial_number
    link.to_device(intruder.begin_pairing(Role.CLINICIAN, rng.randbytes(32), rng.randbytes(16), 1))
    forged = {"programmer_proof": rng.randbytes(16)}
    link.to_device(
        encode_frame(MsgType.PAIR_CONFIRM, 2, encode_request(MsgType.PAIR_CONFIRM, forged))
    )


def _stop(link: LinkPair, key_id: int, key: bytes, request_id: int) -> Reply:
    opened = _replies(link.open(key_id, key))
    assert opened and opened[0].ok, opened
    (stop,) = _replies(link.request(MsgType.STOP, {"request_id": request_id}))
    return stop


def test_five_invented_session_frames_lock_nobody_out_and_stop_works_at_once() -> None:
    link = LinkPair()
    key_id, key, _ = link.pair()
    rng = random.Random(2)
    for _ in range(4 * FAILURES):
        link.to_device(_invented_session_frame(rng))
    for _ in range(FAILURES):  # and unknown keys on SESSION_OPEN
        link.open(rng.randrange(1, 2**32), rng.randbytes(32))
    codes = _codes(link)
    assert codes.count(ErrorCode.UNKNOWN_SESSION) == 4 * FAILURES  # each one still reported
    assert codes.count(ErrorCode.UNKNOWN_KEY) == FAILURES
    assert not any(isinstance(e, LockoutStarted) for e in link.device_events)
    assert not link.device.locked(link.now) and link.device.failure_count == 0
    stop = _stop(link, key_id, key, 0x5709)
    assert stop.ok and stop.authenticated
    assert [r.msg for r in link.executed] == [MsgType.STOP]


def test_a_replayed_recording_locks_nobody_out() -> None:
    link = LinkPair()
    key_id, key, _ = link.pair()
    recording = bytearray()
    nonce = link.rng.randbytes(16)
    recording += link.programmer.open_session(key_id, key, nonce, link.next_seq())
    link.to_programmer(link.to_device(bytes(recording)))
    body: dict[str, Any]
    for body in ({}, {}, {}):
        frame = link.programmer.send(Request(MsgType.STATUS, body, link.next_seq()))
        recording += frame
        link.to_device(frame)
    frame = link.programmer.send(Request(MsgType.STOP, {"request_id": 77}, link.next_seq()))
    recording += frame
    link.to_device(frame)
    link.device_events.clear()
    for _ in range(FAILURES):  # the whole recording, five times over
        link.to_device(bytes(recording))
    assert ErrorCode.UNKNOWN_SESSION in _codes(link) or ErrorCode.REPLAYED_COUNTER in _codes(link)
    assert not any(isinstance(e, LockoutStarted) for e in link.device_events)
    assert [r.msg for r in link.executed] == [MsgType.STOP]  # the replayed STOP never ran again
    assert _stop(link, key_id, key, 78).ok


def test_repeated_failed_pairings_still_lock_pairing_but_never_session_open() -> None:
    link = LinkPair()
    key_id, key, _ = link.pair()
    rng = random.Random(3)
    link.device.open_pairing_window(link.now)
    for _ in range(FAILURES):
        _failed_pairing(link, rng)
    assert _codes(link).count(ErrorCode.PAIRING_FAILED) == FAILURES
    assert any(isinstance(e, LockoutStarted) for e in link.device_events)
    assert link.device.locked(link.now)
    events = link.roundtrip(
        link.programmer.begin_pairing(Role.CLINICIAN, rng.randbytes(32), rng.randbytes(16), 60)
    )
    (begin,) = _replies(events)
    assert begin.status == ErrorCode.PAIRING_LOCKED_OUT
    assert _stop(link, key_id, key, 0x57).ok  # a paired key proves itself: never locked
    link.now += link.device.policy.lockout_s
    assert not link.device.locked(link.now)


def test_placing_the_programmer_head_lifts_a_pairing_lockout() -> None:
    link = LinkPair()
    rng = random.Random(4)
    link.request(MsgType.HELLO)
    link.device.open_pairing_window(link.now)
    for _ in range(FAILURES):
        _failed_pairing(link, rng)
    assert link.device.locked(link.now)
    link.device.close_pairing_window()  # the clinician lifts the wand and places it again
    link.now += 1
    key_id, _key, _code = link.pair()  # pair() opens the window: the wand over the pump
    assert key_id in link.device.pairings
    assert not link.device.locked(link.now)


def test_the_failure_count_survives_a_reset_of_the_endpoint() -> None:
    link = LinkPair()
    rng = random.Random(5)
    link.request(MsgType.HELLO)
    link.device.open_pairing_window(link.now)
    for _ in range(FAILURES - 1):
        _failed_pairing(link, rng)
    assert link.device.failure_count == FAILURES - 1
    state = link.device.export_state()
    link.device = type(link.device)(link.device.info, rng.randbytes, link.device.policy)
    link.device.import_state(state)
    assert link.device.failure_count == FAILURES - 1
    link.device.open_pairing_window(link.now)
    _failed_pairing(link, rng)
    assert link.device.locked(link.now)


def test_security_state_of_version_1_is_still_read() -> None:
    """A blob written before this change (no failure count, no request-id record) still loads."""
    import struct

    key = bytes(range(32))
    v1 = struct.pack(">BBI", 1, 1, 4242) + struct.pack(">IB32s", 0xABCD, int(Role.CLINICIAN), key)
    v1 += struct.pack(">B", 1) + struct.pack(">IB8sH", 99, int(MsgType.STOP), bytes(8), 2) + b"\0\0"
    link = LinkPair()
    link.device.import_state(v1)
    assert link.device.pairings[0xABCD].key == key
    assert link.device.locked_until == 4242 and link.device.failure_count == 0
    cached = link.device.cache.get(99)
    assert cached is not None and cached.status == 0


# -- a real `vpump serve`: power cycles and restarts ---------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedPump]:
    pump = ServedPump(tmp_path, xdg_env(tmp_path)).start()
    try:
        yield pump
    finally:
        pump.kill()


def _raw_client(pump: ServedPump) -> PumpClient:
    keystore = KeyStore(pump.workdir / "intruder-keys.json")
    return PumpClient(open_transport(pump.port, timeout=0.5), keystore, 0.5, 0)


def _fail_pairing_on_the_line(pump: ServedPump, rng: random.Random) -> ErrorCode:
    """A PAIR_BEGIN and a forged PAIR_CONFIRM over the pump's real port; the confirm's status."""
    with _raw_client(pump) as client:
        hello = client.identify()
        intruder = ProgrammerEndpoint()
        intruder.serial_number = str(hello["serial_number"])
        seq = client.link.next_seq()
        client.link.send(
            intruder.begin_pairing(Role.CLINICIAN, rng.randbytes(32), rng.randbytes(16), seq)
        )
        begin = client.link.wait_reply(MsgType.PAIR_BEGIN, seq, 5.0)
        assert begin is not None
        if not begin.ok and begin.status != ErrorCode.PAIRING_BUSY:
            return ErrorCode(begin.status)
        # a forged proof against the pairing pending at the pump (ours, or the one before it)
        seq = client.link.next_seq()
        forged = {"programmer_proof": rng.randbytes(16)}
        client.link.send(
            encode_frame(MsgType.PAIR_CONFIRM, seq, encode_request(MsgType.PAIR_CONFIRM, forged))
        )
        confirm = client.link.wait_reply(MsgType.PAIR_CONFIRM, seq, 5.0)
        assert confirm is not None
        return ErrorCode(confirm.status)


@pytest.mark.timeout(120)
def test_the_failure_count_survives_a_power_cycle_and_a_restart_of_vpump_serve(
    served: ServedPump,
) -> None:
    rng = random.Random(6)
    served.bench("wand", on=True)
    assert _fail_pairing_on_the_line(served, rng) is ErrorCode.PAIRING_FAILED
    assert _fail_pairing_on_the_line(served, rng) is ErrorCode.PAIRING_FAILED
    served.bench("power-cycle")  # RAM lost; the board boots from NVM with the wand still on
    served.identify()
    assert _fail_pairing_on_the_line(served, rng) is ErrorCode.PAIRING_FAILED
    assert _fail_pairing_on_the_line(served, rng) is ErrorCode.PAIRING_FAILED
    assert served.stop() == 0  # and the process itself goes away and comes back
    served.start()
    served.bench("wand", on=True)
    assert _fail_pairing_on_the_line(served, rng) is ErrorCode.PAIRING_FAILED  # the fifth
    assert _fail_pairing_on_the_line(served, rng) is ErrorCode.PAIRING_LOCKED_OUT
    served.bench("wand", on=False)
    served.bench("power-cycle")  # the lockout itself survives too
    served.identify()
    assert _fail_pairing_on_the_line(served, rng) is ErrorCode.PAIRING_LOCKED_OUT
    served.bench("wand", on=True)  # proximity: the programmer head placed over the pump
    assert _fail_pairing_on_the_line(served, rng) is ErrorCode.PAIRING_FAILED


@pytest.mark.timeout(120)
def test_on_a_real_pump_a_flood_of_invented_sessions_leaves_stop_working(
    served: ServedPump,
) -> None:
    served.pair()
    rng = random.Random(7)
    with _raw_client(served) as attacker:
        for _ in range(4 * FAILURES):
            attacker.link.send(_invented_session_frame(rng))
        attacker.identify()  # the pump has answered (refused) every frame by now
    stop = served.pumpctl("--yes", "stop")
    assert stop.code == 0, stop
