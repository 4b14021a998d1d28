"""A seeded fault-injecting relay between a programmer and a pump: a bad line on demand.

Why: a pump and a programmer that survive a clean pty prove little; the link to an implant is
noisy.  This relay opens the pump's port (a pty slave or any serial device path), creates a new
pty for the programmer, and copies bytes both ways through a fault model: byte flips, byte drops,
duplicated bytes, delayed chunks, chunks split into small writes, and bursts of line noise.
Every decision comes from one ``random.Random`` per direction, seeded, so a given byte stream
meets the same faults on every run (wall-clock timing of reads is the only thing not replayed).

Tests can also install a frame filter that sees each whole frame (up to its 0x00 delimiter) and
decides whether it passes: that is how a test drops exactly the reply to a commit, or holds a
request back, without touching either endpoint.

Use from tests: ``with NoisyRelay(pump_port, FaultModel(flip_rate=0.01), seed=7) as relay:`` and
point the programmer at ``relay.path``.  From a shell::

    python -m hw_sim.link.noisy_relay /dev/pts/5 --seed 7 --flip 0.01 --drop 0.01

prints ``PORT <path>`` (flushed), relays until SIGINT/SIGTERM, then prints its counters as JSON
on stderr.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import random
import selectors
import signal
import sys
import termios
import threading
import time
import tty
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass

import click

#: Longest run of bytes held while waiting for a delimiter when a frame filter is installed.
MAX_HELD_FRAME = 4096
READ_CHUNK = 4096


class RelayHop(enum.Enum):
    """Which way bytes cross the relay: the hop towards the pump or towards the programmer."""

    TO_PUMP = "to_pump"
    TO_PROGRAMMER = "to_programmer"


@dataclass(frozen=True, slots=True)
class FaultModel:
    """Probabilities of each fault; byte faults are per byte, chunk faults per read chunk."""

    flip_rate: float = 0.0  # a byte XORed with a random non-zero value
    drop_rate: float = 0.0  # a byte lost
    duplicate_rate: float = 0.0  # a byte sent twice
    delay_rate: float = 0.0  # a chunk (and all after it) held back
    max_delay_s: float = 0.05
    split_rate: float = 0.0  # a chunk written as several small writes
    burst_rate: float = 0.0  # a burst of random bytes inserted into a chunk
    max_burst: int = 16

    def __post_init__(self) -> None:
        for name in (
            "flip_rate",
            "drop_rate",
            "duplicate_rate",
            "delay_rate",
            "split_rate",
            "burst_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.max_delay_s < 0 or self.max_burst < 1:
            raise ValueError("max_delay_s must be >= 0 and max_burst >= 1")


CLEAN = FaultModel()

#: Decides whether a whole frame (wire bytes with their delimiter) passes; False drops it.
FrameFilter = Callable[[RelayHop, bytes], bool]


class _Lane:
    """One direction: its fault generator, frame reassembly, release queue and counters."""

    def __init__(self, direction: RelayHop, seed: int) -> None:
        self.direction = direction
        self.rng = random.Random(f"noisy-relay:{seed}:{direction.value}")
        self.counts: Counter[str] = Counter()
        self.partial = bytearray()
        self.queue: deque[tuple[float, bytes]] = deque()  # (release time, bytes), in order
        self.out = bytearray()

    def frames(self, data: bytes, frame_filter: FrameFilter | None) -> bytes:
        """Apply the frame filter (if any) to complete frames; return what passes."""
        if frame_filter is None:
            return data
        self.partial += data
        passed = bytearray()
        while (end := self.partial.find(0)) >= 0:
            frame = bytes(self.partial[: end + 1])
            del self.partial[: end + 1]
            if frame == b"\x00" or frame_filter(self.direction, frame):
                passed += frame
            else:
                self.counts["frames_filtered"] += 1
        if len(self.partial) > MAX_HELD_FRAME:  # garbage with no delimiter: pass it on
            passed += self.partial
            self.partial.clear()
        return bytes(passed)

    def corrupt(self, data: bytes, faults: FaultModel) -> bytes:
        rng, counts = self.rng, self.counts
        out = bytearray()
        byte_faults = faults.flip_rate + faults.drop_rate + faults.duplicate_rate
        for byte in data:
            if byte_faults:
                r = rng.random()
                if r < faults.drop_rate:
                    counts["dropped"] += 1
                    continue
                r -= faults.drop_rate
                if r < faults.flip_rate:
                    byte ^= rng.randrange(1, 256)
                    counts["flipped"] += 1
                elif r - faults.flip_rate < faults.duplicate_rate:
                    out.append(byte)
                    counts["duplicated"] += 1
            out.append(byte)
        if faults.burst_rate and rng.random() < faults.burst_rate:
            burst = rng.randbytes(rng.randint(1, faults.max_burst))
            at = rng.randint(0, len(out))
            out[at:at] = burst
            counts["bursts"] += 1
        return bytes(out)

    def schedule(self, data: bytes, faults: FaultModel, now: float) -> None:
        """Queue ``data`` for release, possibly delayed or split; order is always kept."""
        if not data:
            return
        rng = self.rng
        release = max(now, self.queue[-1][0] if self.queue else now)
        if faults.delay_rate and rng.random() < faults.delay_rate:
            release += rng.uniform(0.0, faults.max_delay_s)
            self.counts["delayed"] += 1
        if faults.split_rate and len(data) > 1 and rng.random() < faults.split_rate:
            self.counts["split"] += 1
            pos = 0
            while pos < len(data):
                size = rng.randint(1, max(1, len(data) // 3))
                self.queue.append((release, data[pos : pos + size]))
                release += rng.uniform(0.0, 0.002)
                pos += size
            return
        self.queue.append((release, data))

    def release_due(self, now: float) -> float | None:
        """Move due chunks to the output buffer; the time the next one falls due (or None)."""
        while self.queue and self.queue[0][0] <= now:
            self.out += self.queue.popleft()[1]
        return self.queue[0][0] if self.queue else None


class NoisyRelay:
    """Relays bytes between the pump's port and a new pty through a seeded ``FaultModel``."""

    def __init__(
        self,
        target: str,
        faults: FaultModel = CLEAN,
        seed: int = 0,
        frame_filter: FrameFilter | None = None,
    ) -> None:
        self.target = target
        self.faults = faults
        self.seed = seed
        self.frame_filter = frame_filter
        self._pump_fd = os.open(target, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        with contextlib.suppress(termios.error):
            tty.setraw(self._pump_fd, termios.TCSANOW)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave, termios.TCSANOW)
        attrs = termios.tcgetattr(self._slave)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(self._slave, termios.TCSANOW, attrs)
        os.set_blocking(self._master, False)
        #: The programmer's end: open this path instead of the pump's.
        self.path = os.ttyname(self._slave)
        self._lanes = {
            RelayHop.TO_PUMP: _Lane(RelayHop.TO_PUMP, seed),
            RelayHop.TO_PROGRAMMER: _Lane(RelayHop.TO_PROGRAMMER, seed),
        }
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._stop = False
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    # -- control -----------------------------------------------------------------------------
    def set_faults(self, faults: FaultModel) -> None:
        """Change the fault model from now on (e.g. ``CLEAN`` for a verification phase)."""
        with self._lock:
            self.faults = faults

    def stats(self) -> dict[str, dict[str, int]]:
        """Counters per direction: bytes in/out, flipped, dropped, duplicated, delayed..."""
        with self._lock:
            return {d.value: dict(lane.counts) for d, lane in self._lanes.items()}

    def start(self) -> NoisyRelay:
        self._thread = threading.Thread(target=self._run_guarded, name="noisy-relay", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop = True
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for fd in (self._pump_fd, self._master, self._slave, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> NoisyRelay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    # -- the loop ------------------------------------------------------------------------------
    def _run_guarded(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # reported to the test through ``error``
            self.error = exc

    def run(self) -> None:
        """Relay until ``stop()`` (or a signal, when run as a command)."""
        sources = {self._pump_fd: RelayHop.TO_PROGRAMMER, self._master: RelayHop.TO_PUMP}
        sinks = {RelayHop.TO_PUMP: self._pump_fd, RelayHop.TO_PROGRAMMER: self._master}
        sel = selectors.DefaultSelector()
        for fd in sources:
            sel.register(fd, selectors.EVENT_READ)
        sel.register(self._wake_r, selectors.EVENT_READ)
        try:
            while not self._stop:
                timeout = self._pump_output(sinks)
                for fd, want_write in (
                    (self._pump_fd, RelayHop.TO_PUMP),
                    (self._master, RelayHop.TO_PROGRAMMER),
                ):
                    mask = selectors.EVENT_READ
                    if self._lanes[want_write].out:
                        mask |= selectors.EVENT_WRITE
                    sel.modify(fd, mask)
                for key, mask in sel.select(timeout):
                    if key.fd == self._wake_r:
                        with contextlib.suppress(BlockingIOError):
                            os.read(self._wake_r, 512)
                    elif mask & selectors.EVENT_READ:
                        self._read(key.fd, sources[key.fd])
        finally:
            sel.close()

    def _read(self, fd: int, direction: RelayHop) -> None:
        try:
            data = os.read(fd, READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""  # EIO: the other side closed; keep relaying for the next client
        if not data:
            if fd == self._pump_fd:
                time.sleep(0.005)  # the pump is gone (restarting): do not spin
            return
        with self._lock:
            lane = self._lanes[direction]
            lane.counts["bytes_in"] += len(data)
            passed = lane.frames(data, self.frame_filter)
            noisy = lane.corrupt(passed, self.faults)
            lane.schedule(noisy, self.faults, time.monotonic())

    def _pump_output(self, sinks: dict[RelayHop, int]) -> float | None:
        """Write what is due in both directions; seconds until the next release (or None)."""
        now = time.monotonic()
        waits: list[float] = []
        with self._lock:
            for direction, lane in self._lanes.items():
                due = lane.release_due(now)
                if due is not None:
                    waits.append(max(0.0, due - now))
                if lane.out:
                    try:
                        written = os.write(sinks[direction], lane.out)
                    except (BlockingIOError, InterruptedError):
                        written = 0
                    except OSError:
                        written = len(lane.out)  # nobody to deliver to: the line drops it
                        lane.counts["lost_no_peer"] += written
                    lane.counts["bytes_out"] += written
                    del lane.out[:written]
        return min(waits) if waits else None


@click.command()
@click.argument("target")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the fault draws.")
@click.option("--flip", default=0.0, type=click.FloatRange(0, 1), help="Per-byte flip rate.")
@click.option("--drop", default=0.0, type=click.FloatRange(0, 1), help="Per-byte drop rate.")
@click.option(
    "--duplicate", default=0.0, type=click.FloatRange(0, 1), help="Per-byte duplicate rate."
)
@click.option("--delay", default=0.0, type=click.FloatRange(0, 1), help="Per-chunk delay rate.")
@click.option("--max-delay", default=0.05, show_default=True, type=float, help="Longest delay, s.")
@click.option("--split", default=0.0, type=click.FloatRange(0, 1), help="Per-chunk split rate.")
@click.option(
    "--burst", default=0.0, type=click.FloatRange(0, 1), help="Per-chunk noise-burst rate."
)
@click.option("--max-burst", default=16, show_default=True, type=click.IntRange(1, 4096))
def main(
    target: str,
    seed: int,
    flip: float,
    drop: float,
    duplicate: float,
    delay: float,
    max_delay: float,
    split: float,
    burst: float,
    max_burst: int,
) -> None:
    """Relay between the pump on TARGET and a new pty (printed as `PORT <path>`), adding faults."""
    faults = FaultModel(flip, drop, duplicate, delay, max_delay, split, burst, max_burst)
    relay = NoisyRelay(target, faults, seed)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    relay.start()
    sys.stdout.write(f"PORT {relay.path}\n")
    sys.stdout.flush()
    while not stop.wait(0.5):
        if relay.error is not None:
            break
    relay.stop()
    report = {"faults": asdict(faults), "seed": seed, "stats": relay.stats()}
    print(json.dumps(report, sort_keys=True), file=sys.stderr)
    if relay.error is not None:
        raise click.ClickException(f"relay failed: {relay.error}")


if __name__ == "__main__":
    main()
