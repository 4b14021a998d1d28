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

**Evicted is not never received.**  The cache is bounded, so an outcome is eventually forgotten;
before, REQUEST_STATUS then said UNKNOWN, which a programmer reads as "it never ran" - and the
patient's remote sending 32 requests was enough to make a clinician's executed bolus look as if it
had not run.  So the cache also keeps, *per pairing key*, the request ids of that key's most
recently evicted entries (``RECALLED_PER_KEY`` of them, 4 bytes each; an entry dropped to fit the
NVM blob is an eviction too).  Eviction follows acceptance order, so the pump always recalls the
ids of at least the last ``RECALLED_PER_KEY`` state-changing requests of every paired key, and
another key's traffic can never push them out.  A recalled id without its outcome is answered
EVICTED ("it reached the pump; check what it did"), and a request that reuses it is refused
(REQUEST_EVICTED), never executed again.  UNKNOWN therefore means: none of this key's last
``RECALLED_PER_KEY`` requests - so a programmer that has sent fewer than that many with the same key
since may conclude "never received"; any other may not (docs/PROTOCOL.md section 5).
"""

from __future__ import annotations

import hashlib
import struct
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_CAPACITY = 32
#: Evicted request ids recalled per pairing key (with the cache: at least the key's last this many).
RECALLED_PER_KEY = 16
_ENTRY_HEAD_V1 = struct.Struct(">IB8sH")  # request id, msg type, digest, reply length
_ENTRY_HEAD = struct.Struct(">IIB8sH")  # request id, key id, msg type, digest, reply length
_RING_HEAD = struct.Struct(">IB")  # key id, number of ids


@dataclass(frozen=True, slots=True)
class CachedOutcome:
    msg_type: int
    digest: bytes  # 8 bytes of SHA-256 over msg_type and payload
    reply_payload: bytes  # status + body, exactly as first sent; empty while still pending
    key_id: int = 0  # the pairing key whose session sent it (0: unknown, an old state layout)

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
    def __init__(
        self, capacity: int = DEFAULT_CAPACITY, recalled_per_key: int = RECALLED_PER_KEY
    ) -> None:
        self.capacity = capacity
        self.recalled_per_key = recalled_per_key
        self._entries: OrderedDict[int, CachedOutcome] = OrderedDict()
        self._evicted: dict[int, deque[int]] = {}  # key id -> evicted request ids, oldest first

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, request_id: int) -> CachedOutcome | None:
        return self._entries.get(request_id)

    def evicted(self, request_id: int) -> bool:
        """True if the pump received ``request_id`` but no longer holds its outcome."""
        return request_id not in self._entries and any(
            request_id in ring for ring in self._evicted.values()
        )

    def evicted_ids(self, key_id: int) -> list[int]:
        return list(self._evicted.get(key_id, ()))

    def put(self, request_id: int, outcome: CachedOutcome) -> None:
        """Add or complete an entry.  Completing keeps the entry's place: the order is the order
        in which requests were accepted, and eviction takes the oldest."""
        self._entries[request_id] = outcome
        while len(self._entries) > self.capacity:
            self._remember(*self._entries.popitem(last=False))

    def evict_oldest(self, keep: Iterable[int] = ()) -> bool:
        """Evict the oldest entry not in ``keep`` (requests being carried out right now); False
        if there is none.  Its id stays recalled, so this is safe for pending entries too."""
        kept = set(keep)
        for rid in self._entries:
            if rid not in kept:
                self._remember(rid, self._entries.pop(rid))
                return True
        return False

    def retain_keys(self, key_ids: Iterable[int]) -> None:
        """Forget the evicted ids of keys no longer paired (key 0, of an old layout, is kept)."""
        keep = set(key_ids) | {0}
        for key_id in [k for k in self._evicted if k not in keep]:
            del self._evicted[key_id]

    def _remember(self, request_id: int, outcome: CachedOutcome) -> None:
        ring = self._evicted.setdefault(outcome.key_id, deque(maxlen=self.recalled_per_key))
        if request_id not in ring:
            ring.append(request_id)

    def to_bytes(self) -> bytes:
        parts = [struct.pack(">B", len(self._entries))]
        for rid, e in self._entries.items():
            parts.append(
                _ENTRY_HEAD.pack(rid, e.key_id, e.msg_type, e.digest, len(e.reply_payload))
            )
            parts.append(e.reply_payload)
        rings = [(k, ring) for k, ring in sorted(self._evicted.items()) if ring]
        parts.append(struct.pack(">B", len(rings)))
        for key_id, ring in rings:
            parts.append(_RING_HEAD.pack(key_id, len(ring)))
            parts.append(struct.pack(f">{len(ring)}I", *ring))
        return b"".join(parts)

    @classmethod
    def from_bytes(
        cls, data: bytes, capacity: int = DEFAULT_CAPACITY, *, legacy: bool = False
    ) -> tuple[RequestCache, int]:
        """A cache and the number of bytes it used; raises ValueError on malformed data.
        ``legacy``: the layout of security state version 1 (no key ids, no evicted ids)."""
        cache = cls(capacity)
        if not data:
            raise ValueError("empty request cache record")
        head = _ENTRY_HEAD_V1 if legacy else _ENTRY_HEAD
        count, pos = data[0], 1
        for _ in range(count):
            if pos + head.size > len(data):
                raise ValueError("truncated request cache entry")
            if legacy:
                rid, msg_type, digest, length = head.unpack_from(data, pos)
                key_id = 0
            else:
                rid, key_id, msg_type, digest, length = head.unpack_from(data, pos)
            pos += head.size
            reply = data[pos : pos + length]
            if len(reply) != length:
                raise ValueError("truncated request cache reply")
            pos += length
            cache.put(rid, CachedOutcome(msg_type, digest, reply, key_id))
        if legacy:
            return cache, pos
        if pos >= len(data):
            raise ValueError("truncated request cache: no evicted-id record")
        rings, pos = data[pos], pos + 1
        for _ in range(rings):
            if pos + _RING_HEAD.size > len(data):
                raise ValueError("truncated evicted-id record")
            key_id, n = _RING_HEAD.unpack_from(data, pos)
            pos += _RING_HEAD.size
            if pos + 4 * n > len(data):
                raise ValueError("truncated evicted-id record")
            ring = cache._evicted.setdefault(key_id, deque(maxlen=cache.recalled_per_key))
            ring.extend(struct.unpack_from(f">{n}I", data, pos))
            pos += 4 * n
        return cache, pos
