"""The noisy relay itself: clean when asked, seeded faults, frame filter, command line."""

from __future__ import annotations

import os
import subprocess
import sys
import termios
import tty

from hw_sim.link.noisy_relay import CLEAN, FaultModel, NoisyRelay, RelayHop, _Lane
from tests.reliability.harness import _read_lines


def pty_pair() -> tuple[int, str]:
    master, slave = os.openpty()
    tty.setraw(slave, termios.TCSANOW)
    return master, os.ttyname(slave)


def read_exactly(fd: int, count: int) -> bytes:
    data = b""
    while len(data) < count:
        data += os.read(fd, count - len(data))
    return data


def test_a_clean_relay_passes_every_byte_both_ways_unchanged() -> None:
    pump_master, pump_path = pty_pair()
    with NoisyRelay(pump_path, CLEAN, seed=1) as relay:
        programmer = os.open(relay.path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(programmer, termios.TCSANOW)
        payload = bytes(range(256)) * 4
        os.write(programmer, payload)
        assert read_exactly(pump_master, len(payload)) == payload
        os.write(pump_master, payload[::-1])
        assert read_exactly(programmer, len(payload)) == payload[::-1]
        os.close(programmer)
    os.close(pump_master)


def test_the_same_seed_gives_the_same_faults_on_the_same_bytes() -> None:
    faults = FaultModel(flip_rate=0.05, drop_rate=0.05, duplicate_rate=0.05, burst_rate=0.5)
    data = bytes(range(256)) * 8
    runs = [_Lane(RelayHop.TO_PUMP, 7).corrupt(data, faults) for _ in range(2)]
    other = _Lane(RelayHop.TO_PUMP, 8).corrupt(data, faults)
    assert runs[0] == runs[1]
    assert runs[0] != data and other != runs[0]


def test_fault_rates_are_near_what_was_asked() -> None:
    lane = _Lane(RelayHop.TO_PROGRAMMER, 3)
    lane.corrupt(bytes(100_000), FaultModel(flip_rate=0.01, drop_rate=0.01))
    assert 800 < lane.counts["flipped"] < 1200
    assert 800 < lane.counts["dropped"] < 1200


def test_a_frame_filter_drops_exactly_the_frames_it_refuses() -> None:
    pump_master, pump_path = pty_pair()
    refuse = lambda direction, frame: frame != b"\x02bad\x00"  # noqa: E731
    with NoisyRelay(pump_path, frame_filter=refuse) as relay:
        programmer = os.open(relay.path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(programmer, termios.TCSANOW)
        os.write(programmer, b"\x02ok\x00\x02bad\x00\x03end\x00")
        assert read_exactly(pump_master, 9) == b"\x02ok\x00\x03end\x00"
        assert relay.stats()["to_pump"]["frames_filtered"] == 1
        os.close(programmer)
    os.close(pump_master)


def test_the_command_announces_its_port_and_reports_its_counters() -> None:
    pump_master, pump_path = pty_pair()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hw_sim.link.noisy_relay",
            pump_path,
            "--seed",
            "3",
            "--flip",
            "0.5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    line = _read_lines(process.stdout.fileno(), 1, 20.0)[0]
    assert line.startswith("PORT /dev/")
    process.terminate()
    _, err = process.communicate(timeout=10)
    assert process.returncode == 0
    assert b'"flip_rate": 0.5' in err
    os.close(pump_master)
