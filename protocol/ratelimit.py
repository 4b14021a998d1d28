"""A token bucket in pump time: how many unauthenticated requests the pump answers.

Why: anyone on the line may send HELLO, and a HELLO is answered by a reply about six times its
size.  Without a bound, a slow flood of HELLOs fills the line with replies (and drains the
battery, since every byte sent costs radio time): the replies queue behind one another and a
clinician's ``status`` waits behind them long after the flood has stopped.  The pump therefore
answers at most ``burst`` unauthenticated requests at once and ``per_s`` more per second of pump
time; beyond that a request is dropped unanswered and counted.  A frame that verifies in the
session is never charged, and it refills the bucket: the programmer holding the key has proved
itself, so the pairing and session-open steps it just took are not held against the next one
(this also keeps a lock-step bench, whose clock stands still, answering its programmers).

Sans-I/O: time arrives as an integer ``now`` (pump seconds); nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Unauthenticated requests answered at once, after a quiet spell.
UNAUTHENTICATED_BURST = 64
#: Unauthenticated requests answered per second of pump time, sustained.  At 115 200 baud sixteen
#: HELLO replies (75 bytes each) are a tenth of the line; a programmer needs two (HELLO,
#: SESSION_OPEN) per session.
UNAUTHENTICATED_PER_S = 16


@dataclass
class TokenBucket:
    """``take(now)`` is True while the budget lasts; integers only."""

    per_s: int = UNAUTHENTICATED_PER_S
    burst: int = UNAUTHENTICATED_BURST
    tokens: int = field(default=-1)
    #: Requests dropped unanswered, since this endpoint started.
    dropped: int = 0
    _last: int | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.per_s < 0 or self.burst < 1:
            raise ValueError("a token bucket needs per_s >= 0 and burst >= 1")
        if self.tokens < 0:
            self.tokens = self.burst

    def _refill(self, now: int) -> None:
        if self._last is not None and now > self._last:
            self.tokens = min(self.burst, self.tokens + (now - self._last) * self.per_s)
        self._last = now  # time that went back (a reset, a restore) earns no credit

    def take(self, now: int, *, count: bool = True) -> bool:
        """Spend one token; False when there is none (and, with ``count``, one more
        ``dropped``: a request dropped unanswered)."""
        self._refill(now)
        if self.tokens > 0:
            self.tokens -= 1
            return True
        if count:
            self.dropped += 1
        return False

    def refill(self) -> None:
        """Back to a full bucket (a frame verified in the session)."""
        self.tokens = self.burst
