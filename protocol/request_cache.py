"""The pump's memory of recent state-changing requests: what makes retries safe.

Why: a programmer that lost a reply cannot know whether its request ran.  It sends the same
request again with the same request id, or asks REQUEST_STATUS; either way the pump answers from
this cache and never executes the request twice.  The cache is bounded (oldest evicted first) and
serialisable, so the firmware persists it with the rest of its security state.

The entry is written *ahead*, pending, before the pump carries the request out, and completed
with the reply afterwards; the firmware persists both.  A reset between the two leaves a pending
entry: the pump then knows it was interrupted and says so (REQUEST_INTERRUPTED, and the state
INTERRUPTED in REQUEST_STATUS) instead of wrongly answering "never seen".

A request id reused for a *different* request (another message type or other fields) is refused
with REQUEST_ID_REUSED instead of being answered with an unrelated reply.
"""

from __future__ import annotations

import hashlib
import struct
from collections import OrderedDict
from dataclasses import dataclass

DEFAULT_CAPACITY = 32
_ENTRY_HEAD = struct.Struct(">IB8sH")


@dataclass(frozen=True, slots=True)
class CachedOutcome:
    msg_type: int
    digest: bytes  # 8 bytes of SHA-256 over msg_type and payload
    reply_payload: bytes  # status + body, exactly as first sent; empty while still pending

    @property
    def pending(self) -> bool:
        """Written ahead, before the request was carried out, and not completed since."""
        return not self.reply_payload

    @property
    def status(self) -> int:
        return int.from_bytes(self.reply_payload[:2], "big")


def request_digest(msg_type: int, payload: bytes) -> bytes:
    return hashlib.sha256(bytes([msg_type]) + payload).digest()[:8]


class RequestCache:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[int, CachedOutcome] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, request_id: int) -> CachedOutcome | None:
        return self._entries.get(request_id)

    def put(self, request_id: int, outcome: CachedOutcome) -> None:
        self._entries[request_id] = outcome
        self._entries.move_to_end(request_id)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def evict_oldest_completed(self) -> bool:
        """Drop the oldest completed entry (pending ones must survive); False if there is none."""
        for rid, outcome in self._entries.items():
            if not outcome.pending:
                del self._entries[rid]
                return True
        return False

    def to_bytes(self) -> bytes:
        parts = [struct.pack(">B", len(self._entries))]
        for rid, e in self._entries.items():
            parts.append(_ENTRY_HEAD.pack(rid, e.msg_type, e.digest, len(e.reply_payload)))
            parts.append(e.reply_payload)
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes, capacity: int = DEFAULT_CAPACITY) -> tuple[RequestCache, int]:
        """A cache and the number of bytes it used; raises ValueError on malformed data."""
        cache = cls(capacity)
        if not data:
            raise ValueError("empty request cache record")
        count, pos = data[0], 1
        for _ in range(count):
            if pos + _ENTRY_HEAD.size > len(data):
                raise ValueError("truncated request cache entry")
            rid, msg_type, digest, length = _ENTRY_HEAD.unpack_from(data, pos)
            pos += _ENTRY_HEAD.size
            reply = data[pos : pos + length]
            if len(reply) != length:
                raise ValueError("truncated request cache reply")
            pos += length
            cache.put(rid, CachedOutcome(msg_type, digest, reply))
        return cache, pos
