"""At most once: the pump's ledger of state-changing requests - what it remembers of each
request id (the request cache), what runs now, and the retries waiting for a running one.

Why a module of its own: idempotency is one rule with four outcomes (run it, answer it from the
cache, answer it when the first copy completes, refuse it) and it is easier to check written
once than threaded through frame handling.  ``DeviceEndpoint`` asks ``admit`` before a
state-changing request runs, tells ``complete`` when the firmware's reply goes out, and answers
REQUEST_STATUS from ``status``.  What the cache proves and forgets is protocol/request_cache.py's
business (docs/PROTOCOL.md section 5).
"""

from __future__ import annotations

import enum
from typing import Any

from .catalog import MsgType, RequestState
from .codec import request_id_of
from .errors import ErrorCode, Refusal
from .framing import Frame
from .request_cache import CachedOutcome, RequestCache, request_digest


class Admission(enum.Enum):
    RUN = "run"  # new: execute it (written ahead in the cache if the firmware runs it)
    QUEUED = "queued"  # a retry of a running request: answered when that one completes


class RequestLedger:
    """One per ``DeviceEndpoint``; ``cache`` is the part that is persisted."""

    def __init__(self) -> None:
        self.cache = RequestCache()
        self._in_flight: dict[int, tuple[int, bytes]] = {}  # seq -> (request id, digest)
        self._duplicates: dict[int, list[int]] = {}  # seq in flight -> seqs of its retries

    def admit(
        self, msg: MsgType, frame: Frame, key_id: int, write_ahead: bool
    ) -> Admission | bytes:
        """A state-changing request arrived in the session of ``key_id``: RUN it, QUEUED behind
        its first copy, or the cached reply payload to answer it with; Refusal if it may not
        run.  ``write_ahead``: the firmware runs it, so it is recorded as pending first."""
        rid = request_id_of(msg, frame.payload)
        assert rid is not None
        if rid == 0:
            raise Refusal(ErrorCode.INVALID_ARGUMENT, "request_id 0 is reserved")
        digest = request_digest(frame.msg_type, frame.payload)
        cached = self.cache.get(rid)
        if cached is None and self.cache.evicted(rid):
            raise Refusal(
                ErrorCode.REQUEST_EVICTED,
                f"request {rid} reached the pump before and its outcome is no longer "
                "remembered; read the pump's state",
            )
        if cached is not None:
            if cached.msg_type != frame.msg_type or cached.digest != digest:
                raise Refusal(ErrorCode.REQUEST_ID_REUSED, f"request id {rid} was used before")
            if cached.pending:
                first = self._in_flight_seq(rid)
                if first is None:  # pending from before a reset: never run it again
                    raise Refusal(
                        ErrorCode.REQUEST_INTERRUPTED,
                        f"a reset interrupted request {rid}; read the pump's state",
                    )
                # a retry overtook the reply: answer it too when the first completes
                self._duplicates.setdefault(first, []).append(frame.seq)
                return Admission.QUEUED
            return cached.reply_payload
        if write_ahead:
            self._in_flight[frame.seq] = (rid, digest)
            # written ahead, under the key of the session that sent it
            self.cache.put(rid, CachedOutcome(frame.msg_type, digest, b"", key_id))
        return Admission.RUN

    def complete(self, msg: MsgType, seq: int, payload: bytes, key_id: int) -> list[int]:
        """The firmware's final reply to ``seq`` goes out: remember it if ``seq`` was a
        state-changing request; returns the seqs of its retries, to be answered the same."""
        flight = self._in_flight.pop(seq, None)
        if flight is None:
            return []
        rid, digest = flight
        prior = self.cache.get(rid)
        owner = prior.key_id if prior is not None else key_id
        self.cache.put(rid, CachedOutcome(int(msg), digest, payload, owner))
        return self._duplicates.pop(seq, [])

    def record(self, msg: MsgType, frame: Frame, payload: bytes, key_id: int) -> None:
        """The outcome of a state-changing request the endpoint itself executed."""
        rid = request_id_of(msg, frame.payload)
        assert rid is not None
        digest = request_digest(frame.msg_type, frame.payload)
        self.cache.put(rid, CachedOutcome(frame.msg_type, digest, payload, key_id))

    def new_session(self) -> None:
        """A new session: the old one's requests will not be answered in it."""
        self._in_flight.clear()
        self._duplicates.clear()

    def running(self) -> list[int]:
        """Request ids running now (never dropped from the persisted cache)."""
        return [rid for rid, _ in self._in_flight.values()]

    def status(self, request_id: int) -> dict[str, Any]:
        """The REQUEST_STATUS answer for ``request_id``."""
        cached = self.cache.get(request_id)
        if cached is None:
            # EVICTED: it reached the pump, its outcome is forgotten; UNKNOWN: not among the
            # request ids this pump recalls (see request_cache for what that proves)
            evicted = self.cache.evicted(request_id)
            state = RequestState.EVICTED if evicted else RequestState.UNKNOWN
            return {"state": state, "msg_type": 0, "status": 0, "reply": b""}
        if cached.pending:
            running = self._in_flight_seq(request_id) is not None
            state = RequestState.IN_PROGRESS if running else RequestState.INTERRUPTED
            return {"state": state, "msg_type": cached.msg_type, "status": 0, "reply": b""}
        return {
            "state": RequestState.COMPLETED,
            "msg_type": cached.msg_type,
            "status": cached.status,
            "reply": cached.reply_payload[2:],
        }

    def _in_flight_seq(self, request_id: int) -> int | None:
        return next((seq for seq, (rid, _) in self._in_flight.items() if rid == request_id), None)
