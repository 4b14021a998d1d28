"""Hardware abstraction layer: everything the firmware needs from the board, and nothing more.

Why: the firmware must be portable to a microcontroller and deterministic, so it never reads a
clock, opens a file or draws randomness on its own.  The board (``hw_sim.board.board.VirtualBoard``, or
a test double) implements these interfaces; time always arrives as an ``now`` argument in whole
seconds of board time.  All quantities are integers: nanolitres, strokes, seconds, bytes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from protocol.enums import ResetCause  # on the wire: the RESET log record's argument

__all__ = ["ResetCause"]


class TonePattern(enum.IntEnum):
    """Buzzer patterns, as on the reference device."""

    SINGLE = 1  # non-critical alarm: one tone, repeated about hourly
    TWO_TONE = 2  # critical alarm: two-tone, repeated at the programmable critical interval
    TEST = 3  # alarm test requested by the clinician


class Motor(Protocol):
    """Peristaltic motor.  The firmware counts strokes; the board knows the true volume moved."""

    def deliver_strokes(self, count: int, now: int) -> int:
        """Command ``count`` strokes spread over the interval ending at ``now``.

        Returns the strokes actually completed: fewer than ``count`` only when the motor stalls.
        """
        ...


class BatteryGauge(Protocol):
    """Fuel gauge of the primary cell."""

    def remaining_ppm(self, now: int) -> int:
        """Remaining usable charge in parts per million of the nominal capacity (0..1_000_000)."""
        ...


@dataclass(frozen=True, slots=True)
class ToneRepeat:
    """A tone the buzzer sounds by itself: ``pattern`` at ``first + k * period_s``, k = 0, 1, ..."""

    pattern: TonePattern
    first: int  # board time of one tone of the series (it may lie in the past)
    period_s: int


class Buzzer(Protocol):
    """The alarm buzzer: single tones, and repeats it sounds by itself between wakeups."""

    def play(self, pattern: TonePattern, now: int) -> None:
        """Sound ``pattern`` once, at ``now``."""
        ...

    def repeat(self, repeats: tuple[ToneRepeat, ...], now: int, until: int) -> None:
        """Sound ``repeats`` at their times after ``now`` and before ``until`` (the firmware's
        next wakeup), so the processor sleeps through them.

        Replaces what an earlier call programmed for the times after ``now`` (its tones up to
        ``now`` have sounded).  Tones of one second sound in the order of ``repeats``, and before
        any tone ``play`` sounds at that second.  ``repeat((), now, now)`` ends every repeat.
        """
        ...


class NvmWriteError(Exception):
    """Raised by :meth:`NvmStorage.write` when the memory did not take the write.

    The range written may hold the old bytes, the new ones or a mix (as after a torn write); the
    firmware's record layout keeps the previous copy of every record readable.  The firmware
    never lets this escape: it keeps running from RAM, raises MEMORY_ERROR and retries.
    """

    def __init__(self, offset: int, length: int, reason: str) -> None:
        super().__init__(f"NVM write of {length} bytes at {offset} failed: {reason}")
        self.offset = offset
        self.length = length
        self.reason = reason


class NvmStorage(Protocol):
    """Byte-addressed non-volatile memory.  A write may be torn by a power cut: the firmware's
    record layout (two banks, checks) is what makes updates atomic, not this interface.  A write
    the memory refuses (worn cells; for the virtual board, a full or failing disk) raises
    :class:`NvmWriteError`."""

    @property
    def size(self) -> int: ...

    def read(self, offset: int, length: int) -> bytes: ...

    def write(self, offset: int, data: bytes) -> None: ...


class TelemetryPort(Protocol):
    """The firmware's side of the telemetry link: it pushes bytes out (replies, events).

    Each call carries whole frames.  ``low_priority`` marks replies to unauthenticated requests
    (HELLO, refusals of frames from anyone): the link sends them only when no session reply or
    alarm event is waiting, keeps only a few of them, and never splits a frame between classes.
    """

    def send(self, data: bytes, low_priority: bool = False) -> None: ...


class EntropySource(Protocol):
    """Random bytes for private keys, nonces and session ids: a cryptographic source (a real
    device's TRNG, the virtual board's ``os.urandom``), never the simulation's seeded generator.

    ``deterministic`` is True only for an insecure test source whose output follows from a seed
    (golden transcripts); the firmware then announces ``Capability.INSECURE_TEST_KEYS`` in HELLO.
    """

    @property
    def deterministic(self) -> bool: ...

    def random_bytes(self, count: int) -> bytes: ...


class Hal(Protocol):
    """The whole board as the firmware sees it (read-only members, so any board type fits)."""

    @property
    def motor(self) -> Motor: ...

    @property
    def battery(self) -> BatteryGauge: ...

    @property
    def buzzer(self) -> Buzzer: ...

    @property
    def nvm(self) -> NvmStorage: ...

    @property
    def telemetry(self) -> TelemetryPort: ...

    @property
    def entropy(self) -> EntropySource: ...
