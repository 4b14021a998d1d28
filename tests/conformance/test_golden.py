"""Golden transcript: one lock-step session over a pty, byte for byte in both directions.

A seeded virtual pump (time frozen except when the bench moves it) in its loudly insecure
test-key mode (``--insecure-test-keys``: keys and nonces from a DRBG keyed by the seed, announced
in HELLO) and a seeded programmer make every byte reproducible, so the decoded transcript in ``golden/session.txt`` must match exactly.
A deliberate change to the protocol shows up in review as a readable diff of decoded frames.

Regenerate after a deliberate change:  UPDATE_GOLDEN=1 pytest tests/conformance/test_golden.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from protocol import AlarmId, LogId, MsgType, Notification, Role
from protocol.catalog import Capability
from protocol.trace import format_trace

from .client import SuiteClient
from .conftest import Launcher
from .messages import continuous, fill, program
from .target import PumpUnderTest

GOLDEN = Path(__file__).with_name("golden") / "session.txt"
PUMP_SEED = 42
PROGRAMMER_SEED = 2026
#: Only this mode makes the pump's keys reproducible; a default pump draws them from the OS.
TEST_KEYS = ("--insecure-test-keys",)


def record_session(pump: PumpUnderTest) -> tuple[str, list[tuple[str, bytes]]]:
    """The scripted clinic visit: its decoded transcript, and the raw bytes per direction."""
    assert pump.bench is not None
    with SuiteClient(pump.url, seed=PROGRAMMER_SEED) as client:
        client.hello()
        client.wait_rejection(client.raw(MsgType.STATUS, b""))  # refused: no session yet
        pump.bench.wand(True)
        key = client.pair(Role.CLINICIAN, accept=pump.bench.accept_pairing)
        # the wand stays over the pump for the visit: requests that change the pump need it
        client.login(key)
        client.ok(MsgType.STATUS)
        fill(client, 20, 500)
        program(client, continuous(400))
        for msg, raised in ((MsgType.STOP, True), (MsgType.RESUME, False)):
            client.ok(msg)

            def pump_stopped_event(e: object, raised: bool = raised) -> bool:
                return (
                    isinstance(e, Notification)
                    and e.body.get("alarm") == AlarmId.PUMP_STOPPED
                    and e.body["raised"] is raised
                )

            client.wait_for(pump_stopped_event, what="PUMP_STOPPED event")
        client.stream(MsgType.LOG_READ, {"log": int(LogId.THERAPY), "cursor": 0, "max_count": 10})
        client.ok(MsgType.SESSION_CLOSE)
        raw = {
            d: b"".join(b for dd, b in client.transcript if dd is d) for d, _ in client.transcript
        }
        return format_trace(client.transcript), sorted((d.name, b) for d, b in raw.items())


def test_a_lockstep_session_matches_the_golden_transcript(
    external_pump: PumpUnderTest | None, launcher: Launcher
) -> None:
    if external_pump is not None:
        pytest.skip("the golden transcript is of the reference virtual pump")
    pump = launcher.start(seed=PUMP_SEED, extra=TEST_KEYS)
    try:
        actual, _ = record_session(pump)
    finally:
        launcher.stop(pump)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(actual, encoding="utf-8")
    expected = GOLDEN.read_text(encoding="utf-8")
    assert actual == expected, (
        "transcript differs; see the diff, then UPDATE_GOLDEN=1 if deliberate"
    )


def test_the_session_is_reproducible_byte_for_byte(
    external_pump: PumpUnderTest | None, launcher: Launcher
) -> None:
    if external_pump is not None:
        pytest.skip("needs two identical virtual pumps")
    transcripts = []
    for _ in range(2):
        pump = launcher.start(seed=PUMP_SEED, extra=TEST_KEYS)
        try:
            transcripts.append(record_session(pump))
        finally:
            launcher.stop(pump)
    (text_a, bytes_a), (text_b, bytes_b) = transcripts
    assert bytes_a == bytes_b and text_a == text_b


def test_a_default_pump_never_repeats_its_keys(
    external_pump: PumpUnderTest | None, launcher: Launcher
) -> None:
    """Without the test mode two pumps of the same seed pair with different keys and nonces:
    what is reproducible is the physics, never the key material (and HELLO says which)."""
    if external_pump is not None:
        pytest.skip("needs two identical virtual pumps")
    transcripts = []
    for _ in range(2):
        pump = launcher.start(seed=PUMP_SEED)
        assert not pump.hello["capabilities"] & Capability.INSECURE_TEST_KEYS
        try:
            transcripts.append(record_session(pump))
        finally:
            launcher.stop(pump)
    (text_a, _), (text_b, _) = transcripts
    device_public = [line for line in text_a.splitlines() if "device_public=" in line]
    assert device_public and device_public[0] not in text_b
