"""Nothing a client does to the line kills the pump: garbage, half frames, vanishing clients.

After each abuse the pump must still be running, answer a fresh programmer session, and count
what it dropped.
"""

from __future__ import annotations

import contextlib
import random
import signal
import subprocess
from typing import Any

import pytest
import serial

from .harness import PUMPCTL, LineReader, ServedPump

pytestmark = pytest.mark.integration


def still_serves(pump: ServedPump) -> dict[str, Any]:
    pump.check_alive()
    result = pump.pumpctl("--json", "status")
    assert result.code == 0, result
    return result.json


def test_garbage_on_the_line_is_dropped_and_counted_never_fatal(paired_pump: ServedPump) -> None:
    rng = random.Random(4)
    noise = [
        bytes(rng.randrange(256) for _ in range(4096)),
        b"\x00" * 512,
        b"\x03\x1a\x11\x13\x7f" * 200,  # ^C, ^Z, XON/XOFF, DEL: a cooked tty would act on these
        b"\xff" * 70_000,  # far beyond the largest frame, no delimiter
        b"\x00",
    ]
    with serial.Serial(paired_pump.port, timeout=0.2) as line:
        for chunk in noise:
            line.write(chunk)
        line.flush()
    dropped = paired_pump.bench("hw-status")["frames_dropped"]
    assert sum(dropped.values()) > 0 and dropped["oversize"] >= 1
    assert still_serves(paired_pump)["mode"] == "stopped"


def test_clients_closing_mid_frame_or_mid_session_never_kill_the_pump(
    paired_pump: ServedPump,
) -> None:
    hello_prefix = b"\x02\x01\x04\x01"  # the start of a HELLO frame, never finished
    for _ in range(10):
        with serial.Serial(paired_pump.port, timeout=0.1) as line:
            line.write(hello_prefix)
    # a programmer killed while it waits for telemetry, its session still open on the pump
    watcher = subprocess.Popen(
        [*PUMPCTL, "--port", paired_pump.port, "watch", "--count", "5"],
        env=paired_pump.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert watcher.stdout is not None
    lines = LineReader(watcher.stdout)
    try:
        for _attempt in range(50):  # lock-step: telemetry flows only as pump time advances
            paired_pump.advance("1m")
            with contextlib.suppress(TimeoutError):
                lines.readline(0.2)  # the first telemetry line: the session is open
                break
        else:
            pytest.fail("watch printed no telemetry")
    finally:
        lines.close()
        watcher.send_signal(signal.SIGKILL)
        watcher.wait(timeout=10)
        watcher.stdout.close()
    doc = still_serves(paired_pump)
    assert doc["serial_number"] == paired_pump.identity["serial_number"]
    assert paired_pump.identify()["paired_keys"] == 1


def test_line_noise_from_the_bench_is_survived_by_retries(paired_pump: ServedPump) -> None:
    paired_pump.bench("fault", name="line-noise", arg="0.0005")
    results = [paired_pump.pumpctl("--json", "status", retries=4) for _ in range(3)]
    paired_pump.bench("fault", name="clear")
    assert [r.code for r in results] == [0, 0, 0], results
    assert still_serves(paired_pump)["mode"] == "stopped"
