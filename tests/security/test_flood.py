"""Finding 6 of issue 9: a slow flood of HELLOs must not outlive itself, nor delay a session.

The attack: anyone on the line sends unauthenticated HELLOs (13 bytes each), each answered by a
75-byte reply.  At 115 200 baud a flood of a few hundred HELLOs a second asks for more reply
bytes than the line carries; the pump used to queue every reply first-in-first-out (up to
4 MiB), so a clinician's ``status`` and the pump's alarm events waited behind the backlog - for
30 s after a 20 s flood had stopped.

The specification: unauthenticated requests are answered within a token bucket in pump time
(protocol/ratelimit.py), the rest dropped and counted; their replies wait in a small queue of
their own (hw_sim/hardware/telemetry.py) that session replies and alarm events always overtake; so
during the flood an open session answers at once, an alarm event raised during the flood
reaches the programmer promptly, and right after the flood a new ``pumpctl status`` works.

Real processes: ``vpump serve --baud 115200`` in real time, ``pumpctl`` and the programmer
library over the pump's pty; the flood is written to the same pty by a thread of this test.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from programmer.client import PumpClient
from programmer.keystore import KeyStore
from programmer.transport import open_transport
from protocol.catalog import MsgType
from protocol.framing import encode_frame
from tests.integration.harness import ServedPump, served_pump, xdg_env

BAUD = 115_200
#: HELLOs per second: 5 200 bytes a second in, 30 000 asked for out - 2.6 times the line.
FLOOD_PER_S = 400
FLOOD_S = 5.0
#: pumpctl's own defaults: 1 s per reply, 2 retries.
TIMEOUT_S, RETRIES = 1.0, 2
#: From the bench's ``advance`` (which itself runs 75 days of therapy) to the alarm event.
ALARM_DEADLINE_S = 1.0


class HelloFlood:
    """A thread writing HELLO frames to the pump's line at ``per_s``, whole frames per write."""

    def __init__(self, port: str, per_s: int) -> None:
        self._fd = os.open(port, os.O_WRONLY | os.O_NOCTTY)
        self._per_s = per_s
        self._stop = threading.Event()
        self.sent = 0
        self._thread = threading.Thread(target=self._run, name="hello-flood", daemon=True)

    def __enter__(self) -> HelloFlood:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        start = time.monotonic()
        while not self._stop.is_set():
            due = int((time.monotonic() - start) * self._per_s) - self.sent
            if due > 0:
                burst = b"".join(
                    encode_frame(MsgType.HELLO, 0xF000 | ((self.sent + i) & 0x0FFF), b"")
                    for i in range(min(due, 16))
                )
                os.write(self._fd, burst)
                self.sent += min(due, 16)
            time.sleep(0.005)

    def stop(self) -> None:
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join(timeout=5)
            os.close(self._fd)


@pytest.fixture
def paced_pump(tmp_path: Path) -> Iterator[ServedPump]:
    env = xdg_env(tmp_path)
    with served_pump(tmp_path, env, lockstep=False, extra=("--baud", str(BAUD))) as pump:
        pump.pair()
        pump.fill_and_program()
        yield pump


def programmer(pump: ServedPump) -> PumpClient:
    keys = KeyStore(Path(pump.env["XDG_CONFIG_HOME"]) / "intrathecal-pump" / "keys.json")
    return PumpClient(open_transport(pump.port, timeout=0.5), keys, TIMEOUT_S, 0)


def test_a_hello_flood_neither_delays_a_session_nor_outlives_itself(
    paced_pump: ServedPump,
) -> None:
    pump = paced_pump
    client = programmer(pump)
    client.open_session()
    status_s: list[float] = []
    with HelloFlood(pump.served_on, FLOOD_PER_S) as flood:
        flood_end = time.monotonic() + FLOOD_S
        time.sleep(FLOOD_S / 2)  # the flood has had time to build a backlog, if it can
        while len(status_s) < 5:  # during the flood: an open session answers at once
            started = time.monotonic()
            client.status()  # retries=0: one timeout fails the test
            status_s.append(time.monotonic() - started)
        raised_at = time.monotonic()
        pump.bench("advance", duration="75d")  # the refill reminder falls due: an alarm event
        event = client.link.next_notification(ALARM_DEADLINE_S)
        alarm_s = time.monotonic() - raised_at
        time.sleep(max(0.0, flood_end - time.monotonic()))
        flood.stop()
        stopped = time.monotonic()
        client.close()
        after = pump.pumpctl("--json", "status", timeout_s=TIMEOUT_S, retries=RETRIES)
        after_s = time.monotonic() - stopped
    assert event is not None and event.msg is MsgType.ALARM_EVENT, (
        f"no alarm event within {ALARM_DEADLINE_S} s of the fault, during the flood"
    )
    assert after.code == 0, f"status right after the flood failed:\n{after}"
    hw = pump.bench("hw-status")
    assert flood.sent >= FLOOD_PER_S * FLOOD_S * 0.8  # the flood really ran
    assert hw["unauthenticated_dropped"] > 0  # most of it was dropped, not answered
    print(
        f"flood {flood.sent} HELLOs; status in session {max(status_s):.3f} s at worst; "
        f"alarm event after {alarm_s:.3f} s; pumpctl status after the flood done in "
        f"{after_s:.2f} s (process start included); dropped {hw['unauthenticated_dropped']}"
    )
    assert max(status_s) < TIMEOUT_S
    assert alarm_s < ALARM_DEADLINE_S


# -- the parts, in process ------------------------------------------------------------------------


def test_the_bucket_answers_a_burst_then_a_steady_rate_in_pump_time() -> None:
    from protocol.ratelimit import TokenBucket

    bucket = TokenBucket(per_s=2, burst=4)
    assert [bucket.take(100) for _ in range(6)] == [True] * 4 + [False] * 2
    assert bucket.dropped == 2
    assert [bucket.take(101) for _ in range(3)] == [True, True, False]
    assert bucket.take(50) is False  # time going back earns nothing
    bucket.refill()
    assert bucket.take(50) is True


def test_session_frames_overtake_waiting_hello_replies_and_frames_stay_whole() -> None:
    from hw_sim.hardware.telemetry import BufferedTelemetry

    hello = [encode_frame(MsgType.HELLO, seq, b"x" * 60) for seq in range(30)]
    session = encode_frame(MsgType.STATUS, 1, b"s" * 40)
    port = BufferedTelemetry(low_priority_max_bytes=4 * len(hello[0]))
    port.send(b"".join(hello), low_priority=True)  # one chunk of 30 frames: only 4 are kept
    first = port.drain(10)  # a HELLO reply has started to leave ...
    port.send(session)
    rest = port.drain()
    assert first + rest[: len(hello[0]) - 10] == hello[26]  # ... and is finished first
    assert rest[len(hello[0]) - 10 :] == session + b"".join(hello[27:])
    assert port.dropped_bytes() == {"normal": 0, "low_priority": 26 * len(hello[0])}


def test_hello_replies_are_low_priority_and_a_flood_is_cut_to_the_budget() -> None:
    from hw_sim.bench.bench import BenchPump
    from hw_sim.board.board import VirtualBoard
    from hw_sim.profiles.loader import load_profile
    from protocol.ratelimit import UNAUTHENTICATED_BURST

    pump = BenchPump(VirtualBoard(load_profile("vp20"), 1, None))
    flood = b"".join(encode_frame(MsgType.HELLO, seq, b"") for seq in range(500))
    pump.receive(flood, pump.now)
    assert pump.link.endpoint.unauthenticated.dropped == 500 - UNAUTHENTICATED_BURST
    assert pump.hw_status()["unauthenticated_dropped"] == 500 - UNAUTHENTICATED_BURST
    assert pump.pending_output() <= 1024  # a few replies wait, never a backlog
