"""Campaign 3 - fuzzing both endpoints: no crash, no hang, no state change without authentication.

Frames come from three sources: seeded mutations of a real captured clinic session (wire-level,
and inside the frame with CRC and COBS repaired so they reach the later gates), hypothesis-built
frames and byte streams, and - where it installs - a coverage-guided atheris run.  They go into
the pump's firmware through ``CommandLink`` in-process (a paired pump with a session open, its
counters spent), and into the programmer's endpoint in session, while opening a session and
while confirming a pairing.  A state change is anything only an authenticated, permitted request
may change: prescription, staged change, status, pairings, request cache, therapy and alarm logs.

The pumps here draw their keys from the seeded test DRBG (``test_keys=True``), so the captured
session and every mutant repeat exactly for one seed and a finding can be replayed; what is
fuzzed is the parsing and the checks, not the key source (campaign 7 attacks that).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hw_sim.bench.bench import BenchPump
from protocol import (
    NEED_DATA,
    MsgType,
    Notification,
    PairingCode,
    PairingCompleted,
    ProgrammerEndpoint,
    Reply,
    Role,
)
from protocol.events import SessionOpened
from protocol.framing import Flags, encode_frame

from .harness import campaign_seed, campaign_size, full_campaign, report_figures
from .inprocess import (
    InProcessProgrammer,
    captured_clinic,
    clinic_session,
    make_pump,
    pump_fingerprint,
)
from .mutators import carries_genuine_frame, decoded, encoded, mutate

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800), pytest.mark.xdist_group("fuzzing")]

# CPU seconds one frame may never take (CPU, not wall: a loaded machine is no hang)
HANG_LIMIT_S = 0.5


@dataclass
class FuzzFigures:
    frames: int = 0
    crashes: int = 0
    hangs: int = 0
    unauthenticated_state_changes: int = 0
    slowest_frame_ms: float = 0.0
    findings: list[str] = field(default_factory=list)

    def note(self, kind: str, frame: bytes, detail: object) -> None:
        if len(self.findings) < 10:
            self.findings.append(f"{kind}: {frame.hex()} -> {detail!r}")


def feed_pump(pump: BenchPump, frame: bytes, figures: FuzzFigures) -> None:
    """One fuzz frame into the pump; crash, hang and state change are counted."""
    before = pump_fingerprint(pump)
    figures.frames += 1
    started = time.thread_time()
    try:
        pump.receive(frame, pump.now)
        pump.take_output()
    except Exception as exc:
        figures.crashes += 1
        figures.note("crash", frame, exc)
        return
    elapsed = time.thread_time() - started
    figures.slowest_frame_ms = max(figures.slowest_frame_ms, elapsed * 1000)
    if elapsed > HANG_LIMIT_S:
        figures.hangs += 1
        figures.note("hang", frame, elapsed)
    after = pump_fingerprint(pump)
    if after != before:
        figures.unauthenticated_state_changes += 1
        changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
        figures.note("state change", frame, changed)


# -- the pump ------------------------------------------------------------------------------------
def test_mutated_captured_frames_never_crash_hang_or_change_the_pump(
    record_property: Callable[[str, object], None],
) -> None:
    count = campaign_size("fuzz", bounded=4_000, full=200_000)
    seed = campaign_seed(31337)
    rng = random.Random(seed)
    pump, programmer = captured_clinic(seed, test_keys=True)
    corpus = programmer.capture.to_pump
    figures = FuzzFigures()
    for _ in range(count):
        frame = mutate(rng, corpus)
        if carries_genuine_frame(frame, corpus):
            continue  # a replay, not a forgery: the attack campaign's business
        feed_pump(pump, frame, figures)
    # the pump still answers its own programmer (after any lockout the fuzzing provoked)
    pump.advance_to(pump.now + pump.board.profile.device.auth_lockout_s)
    programmer.open_session()
    assert programmer.ok(MsgType.STATUS)["prescription_version"] == 2
    _report(record_property, "fuzz_device_mutation", figures, seed)
    _assert_clean(figures)


_PUMP_FOR_HYPOTHESIS: dict[str, Any] = {}


def _shared_pump() -> tuple[BenchPump, InProcessProgrammer]:
    if "pump" not in _PUMP_FOR_HYPOTHESIS:
        _PUMP_FOR_HYPOTHESIS["pump"], _PUMP_FOR_HYPOTHESIS["programmer"] = captured_clinic(
            5, test_keys=True
        )
    return _PUMP_FOR_HYPOTHESIS["pump"], _PUMP_FOR_HYPOTHESIS["programmer"]


EXAMPLES = 3_000 if full_campaign() else 150


@st.composite
def forged_frames(draw: st.DrawFn) -> bytes:
    """Well-formed frames (COBS and CRC right) with any header, payload and - if AUTH - tag."""
    _pump, programmer = _shared_pump()
    session = programmer.endpoint.session
    auth = draw(st.booleans())
    msg_type = draw(st.integers(0, 255))
    seq = draw(st.integers(0, 0xFFFF))
    payload = draw(st.binary(max_size=80))
    flags = Flags(draw(st.integers(0, 15)) & ~int(Flags.AUTH))
    if not auth:
        return encode_frame(msg_type, seq, payload, flags)
    session_id = draw(
        st.sampled_from([session.session_id if session else 1, draw(st.integers(0, 2**32 - 1))])
    )
    counter = draw(st.integers(0, 2**64 - 1))
    key = draw(st.binary(min_size=32, max_size=32))
    return encode_frame(
        msg_type, seq, payload, flags, session_id=session_id, counter=counter, tag_key=key
    )


def test_hypothesis_frames_and_noise_never_crash_or_change_the_pump(
    record_property: Callable[[str, object], None],
) -> None:
    """Hypothesis drives the frames; the figures of the whole run are reported at its end."""
    figures = FuzzFigures()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not full_campaign(),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.lists(st.one_of(forged_frames(), st.binary(max_size=200)), min_size=1, max_size=8))
    def run(chunks: list[bytes]) -> None:
        pump, _programmer = _shared_pump()
        for chunk in chunks:
            feed_pump(pump, chunk, figures)
        _assert_clean(figures)

    run()
    _report(record_property, "fuzz_device_hypothesis", figures, 0)
    _assert_clean(figures)


# -- the programmer --------------------------------------------------------------------------------
def _programmer_targets(
    seed: int,
) -> dict[str, tuple[Callable[[], ProgrammerEndpoint], list[bytes]]]:
    """Endpoints in three states, each rebuilt from the captured session's own secrets."""
    pump = make_pump(seed, test_keys=True)
    p = InProcessProgrammer(pump, seed)
    p.pump.set_wand(True)
    p.ok(MsgType.HELLO)
    serial = p.endpoint.serial_number
    private, nonce, begin_seq = p.rng.randbytes(32), p.rng.randbytes(16), p.next_seq()
    begun = p.exchange(p.endpoint.begin_pairing(Role.CLINICIAN, private, nonce, begin_seq))
    begin_reply = p.capture.to_programmer[-1]
    p.exchange(p.endpoint.confirm_pairing(p.next_seq()))  # the pump waits for the person
    pump.accept_pairing(next(e.code for e in begun if isinstance(e, PairingCode)))
    confirm_seq = p.next_seq()
    events = p.exchange(p.endpoint.confirm_pairing(confirm_seq))
    done = next(e for e in events if isinstance(e, PairingCompleted))
    confirm_reply = p.capture.to_programmer[-1]
    open_nonce, open_seq = p.rng.randbytes(16), p.next_seq()
    p.exchange(p.endpoint.open_session(done.key_id, done.pairing_key, open_nonce, open_seq))
    open_reply = p.capture.to_programmer[-1]
    clinic_session(p)
    in_session = p.endpoint

    def confirming() -> ProgrammerEndpoint:
        ep = ProgrammerEndpoint()
        ep.serial_number = serial
        ep.begin_pairing(Role.CLINICIAN, private, nonce, begin_seq)
        ep.receive_data(begin_reply)
        while ep.next_event() is not NEED_DATA:
            pass
        ep.confirm_pairing(confirm_seq)
        return ep

    def opening() -> ProgrammerEndpoint:
        ep = ProgrammerEndpoint()
        ep.serial_number = serial
        ep.open_session(done.key_id, done.pairing_key, open_nonce, open_seq)
        return ep

    corpus = p.capture.to_programmer
    assert confirm_reply in corpus and open_reply in corpus
    return {
        "in_session": (lambda: in_session, corpus),
        "confirming_pairing": (confirming, corpus),
        "opening_session": (opening, corpus),
    }


def _session_state(ep: ProgrammerEndpoint) -> tuple[object, ...]:
    s = ep.session
    if s is None:
        return (None,)
    return (s.session_id, s.send_counter, s.window.last)


def test_mutated_pump_frames_never_crash_or_fool_the_programmer(
    record_property: Callable[[str, object], None],
) -> None:
    count = campaign_size("fuzz", bounded=4_000, full=200_000)
    seed = campaign_seed(4242)
    rng = random.Random(seed)
    targets = _programmer_targets(seed)
    figures = FuzzFigures()
    per_target = count // len(targets)
    for name, (build, corpus) in targets.items():
        endpoint = build()
        for index in range(per_target):
            if index % 200 == 0 and name != "in_session":
                endpoint = build()  # keep the handshake pending, however the fuzz ended it
            frame = mutate(rng, corpus)
            if carries_genuine_frame(frame, corpus):
                continue
            before = _session_state(endpoint)
            figures.frames += 1
            try:
                endpoint.receive_data(frame)
                events = []
                while (event := endpoint.next_event()) is not NEED_DATA:
                    events.append(event)
            except Exception as exc:
                figures.crashes += 1
                figures.note(f"crash ({name})", frame, exc)
                continue
            fooled = [
                e
                for e in events
                if (isinstance(e, Reply) and e.authenticated)
                or isinstance(e, Notification | PairingCompleted | SessionOpened)
            ]
            if fooled or _session_state(endpoint) != before:
                figures.unauthenticated_state_changes += 1
                figures.note(f"accepted ({name})", frame, fooled)
    _report(
        record_property,
        "fuzz_programmer_mutation",
        figures,
        seed,
    )
    _assert_clean(figures)


# -- coverage-guided ------------------------------------------------------------------------------
ATHERIS_TARGET = Path(__file__).with_name("atheris_device.py")


def test_coverage_guided_fuzzing_of_the_pump_with_atheris(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    try:
        import atheris  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"atheris is not installed for this Python ({exc}); `pip install atheris`")
    runs = campaign_size("atheris", bounded=3_000, full=300_000)
    seed = campaign_seed(99)
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), *sys.path]))
    done = subprocess.run(
        [
            sys.executable,
            str(ATHERIS_TARGET),
            f"-runs={runs}",
            f"-seed={seed}",
            f"-artifact_prefix={tmp_path}/",
            "-max_len=1200",
            "-timeout=5",
        ],
        capture_output=True,
        text=True,
        timeout=1500,
        env=env,
        check=False,
    )
    tail = "\n".join(done.stderr.splitlines()[-15:])
    findings = [line for line in done.stderr.splitlines() if line.startswith("FINDING")]
    figures = FuzzFigures(frames=runs, crashes=int(done.returncode != 0))
    figures.unauthenticated_state_changes = len(findings)
    figures.findings = findings[:10]
    _report(record_property, "fuzz_device_atheris", figures, seed)
    assert done.returncode == 0, tail


def _report(
    record_property: Callable[[str, object], None],
    name: str,
    figures: FuzzFigures,
    seed: int,
    **extra: int,
) -> None:
    report_figures(
        record_property,
        name,
        {
            "frames_tried": figures.frames,
            "crashes": figures.crashes,
            "hangs": figures.hangs,
            "unauthenticated_state_changes": figures.unauthenticated_state_changes,
            "slowest_frame_ms": round(figures.slowest_frame_ms, 2),
            "seed": seed,
            **extra,
        },
    )


def _assert_clean(figures: FuzzFigures) -> None:
    assert (figures.crashes, figures.hangs, figures.unauthenticated_state_changes) == (0, 0, 0), (
        figures.findings
    )


def _session_open_reply_with_role(role_byte: int) -> tuple[ProgrammerEndpoint, bytes]:
    """A programmer opening a session, and the pump's genuine reply with its role byte set."""
    pump = make_pump(21, test_keys=True)
    p = InProcessProgrammer(pump, 21)
    p.pair(Role.PATIENT)
    nonce, seq = p.rng.randbytes(16), p.next_seq()
    request = p.endpoint.open_session(p.key_id, p.pairing_key, nonce, seq)
    pump.receive(request, pump.now)
    inner = decoded(pump.take_output())
    assert inner is not None and inner[-1] == Role.PATIENT  # the role is the reply's last byte
    ep = ProgrammerEndpoint()
    ep.serial_number = p.endpoint.serial_number
    ep.open_session(p.key_id, p.pairing_key, nonce, seq)
    return ep, encoded(inner[:-1] + bytes([role_byte]))


def test_a_session_open_reply_with_an_unknown_role_is_rejected_not_raised() -> None:
    endpoint, reply = _session_open_reply_with_role(33)
    endpoint.receive_data(reply)
    events = []
    while (event := endpoint.next_event()) is not NEED_DATA:
        events.append(event)
    assert endpoint.session is None
    assert not any(isinstance(e, SessionOpened) for e in events)


def test_a_session_open_reply_with_a_forged_role_is_not_believed() -> None:
    endpoint, reply = _session_open_reply_with_role(int(Role.CLINICIAN))
    endpoint.receive_data(reply)
    events = []
    while (event := endpoint.next_event()) is not NEED_DATA:
        events.append(event)
    opened = [e for e in events if isinstance(e, SessionOpened)]
    assert not opened or opened[0].role is Role.PATIENT
