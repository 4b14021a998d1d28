"""The pump's security record as bytes: pairings, lockout and request cache, for its NVM.

Why a module of its own: the layout is a persistence format with versions to keep reading, a
size budget (the NVM bank) and an eviction rule, none of which is the endpoint's business of
checking frames.  ``DeviceEndpoint.export_state`` / ``import_state`` call these two functions.

Layout (big-endian), version 2::

    u8 version | u8 pairings | u32 locked_until | u8 failures | failures x u32 time
    pairings x (u32 key_id | u8 role | 32 key | u64 programmer_id | u32 paired_time)
    request cache (protocol/request_cache.py)

Version 1 (still read) had no failure count, pairing records of key_id, role and key only, and
the legacy request cache without key ids or evicted-id records.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from .enums import Role
from .request_cache import RequestCache

STATE_VERSION = 2
_PAIRING_RECORD = {1: struct.Struct(">IB32s"), 2: struct.Struct(">IB32sQI")}
#: At most this many failure times are kept (the count fits one byte).
MAX_FAILURES_KEPT = 255


@dataclass(frozen=True, slots=True)
class Pairing:
    key_id: int
    role: Role
    key: bytes = field(repr=False)
    programmer_id: int = 0  # 0: anonymous (or paired before the pump recorded it)
    paired_time: int = 0  # pump time the key was stored; 0: not recorded


@dataclass(slots=True)
class SecurityState:
    pairings: dict[int, Pairing]
    locked_until: int
    failures: deque[int]  # pump times of the failed pairing exchanges still counted
    cache: RequestCache


def encode(state: SecurityState, max_bytes: int, running: Iterable[int] = ()) -> bytes:
    """The record in at most ``max_bytes``: the oldest cache entries are dropped to fit (never
    pairings, the requests ``running`` now, or the record of evicted request ids).  A dropped
    entry is an eviction like any other: its request id is still recalled (EVICTED), so dropping
    a pending one is as safe as keeping it (INTERRUPTED) - both say "it may have run".  Cache
    entries of keys no longer paired are forgotten first."""
    failures = list(state.failures)[-MAX_FAILURES_KEPT:]
    parts = [
        struct.pack(">BBIB", STATE_VERSION, len(state.pairings), state.locked_until, len(failures)),
        b"".join(struct.pack(">I", t) for t in failures),
    ]
    record = _PAIRING_RECORD[STATE_VERSION]
    for p in sorted(state.pairings.values(), key=lambda p: p.key_id):
        parts.append(record.pack(p.key_id, int(p.role), p.key, p.programmer_id, p.paired_time))
    head = b"".join(parts)
    cache = state.cache
    cache.retain_keys(set(state.pairings))
    running = list(running)
    body = cache.to_bytes()
    while len(head) + len(body) > max_bytes and cache.evict_oldest(running):
        body = cache.to_bytes()
    return head + body


def decode(data: bytes) -> SecurityState:
    """The record of ``data`` (this version or version 1); ValueError if it is malformed."""
    if len(data) < 6 or data[0] not in _PAIRING_RECORD:
        raise ValueError("unknown security state version")
    version, count, locked_until = struct.unpack_from(">BBI", data)
    pos, failures = 6, deque[int]()
    if version >= 2:
        (n_failures,) = struct.unpack_from(">B", data, pos)
        failures.extend(struct.unpack_from(f">{n_failures}I", data, pos + 1))
        pos += 1 + 4 * n_failures
    pairings, record = {}, _PAIRING_RECORD[version]
    for _ in range(count):
        key_id, role, key, *rest = record.unpack_from(data, pos)
        pos += record.size
        pairings[key_id] = Pairing(key_id, Role(role), key, *rest)
    cache, _used = RequestCache.from_bytes(data[pos:], legacy=version < 2)
    return SecurityState(pairings, locked_until, failures, cache)
