"""Hypothesis strategies built from the catalog's construct layouts, not written per message.

Walking the layout (Struct, PrefixedArray, Array, Switch, Bytes, PascalString, Flag, integer
fields, GreedyBytes) means a message added to the catalog is covered by the round-trip tests the
moment it exists, and a construct the walker does not know fails loudly instead of being
skipped.  Values are those the codec accepts, not those the pump would: a u8 ``role`` is any u8.
"""

from __future__ import annotations

import struct
from typing import Any

import construct as c
from hypothesis import strategies as st

from protocol.catalog import CATALOG, MessageKind, MessageSpec
from protocol.layouts import prefixed_array_parts, switch_key

#: Longest list generated for a length-prefixed array (keeps most payloads under MAX_PAYLOAD).
MAX_ITEMS = 6
#: Longest text generated for a PascalString, in characters (at most 4 bytes each: < 256 bytes).
MAX_TEXT_CHARS = 40


def _integers(fmtstr: str) -> st.SearchStrategy[int]:
    size = struct.calcsize(fmtstr)
    bits = size * 8
    if fmtstr[-1].islower():  # signed struct codes are lower case
        return st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    return st.integers(0, (1 << bits) - 1)


def _count_limit(count_field: Any) -> int:
    return int((1 << (8 * struct.calcsize(count_field.fmtstr))) - 1)


def strategy_for(node: Any) -> st.SearchStrategy[Any]:
    """A strategy of values that ``node`` can build (and that parse back to themselves)."""
    if isinstance(node, c.Renamed):
        return strategy_for(node.subcon)
    if isinstance(node, c.Struct):
        return _struct(node)
    array = prefixed_array_parts(node)
    if array is not None:
        count, item = array
        limit = min(MAX_ITEMS, _count_limit(count))
        return st.lists(strategy_for(item), max_size=limit)
    if isinstance(node, c.Array):
        return st.lists(strategy_for(node.subcon), min_size=node.count, max_size=node.count)
    if isinstance(node, c.Bytes):
        return st.binary(min_size=node.length, max_size=node.length)
    if isinstance(node, c.StringEncoded):
        return st.text(max_size=MAX_TEXT_CHARS).filter(
            lambda s: len(s.encode(node.encoding)) <= 0xFF
        )
    if node is c.Flag:
        return st.booleans()
    if node is c.GreedyBytes:
        return st.binary(max_size=64)
    if isinstance(node, c.FormatField):
        return _integers(node.fmtstr)
    raise TypeError(f"strategies.py has no rule for {node!r}: add one")


def _struct(node: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Fields in order; a Switch picks a case and sets its key field to match."""
    fields: dict[str, st.SearchStrategy[Any]] = {}
    switches: dict[str, Any] = {}
    for sub in node.subcons:
        if sub is c.Terminated:
            continue
        if sub.name is None:
            raise TypeError(f"unnamed field {sub!r} in a struct: add a rule")
        inner = sub.subcon
        if isinstance(inner, c.Switch):
            switches[sub.name] = inner
        else:
            fields[sub.name] = strategy_for(inner)
    if not switches:
        return st.fixed_dictionaries(fields)
    if len(switches) > 1:
        raise TypeError("strategies.py handles one Switch per struct: extend it")
    ((name, switch),) = switches.items()
    key = switch_key(switch)

    def with_case(value: int) -> st.SearchStrategy[dict[str, Any]]:
        chosen = dict(fields, **{key: st.just(value), name: strategy_for(switch.cases[value])})
        return st.fixed_dictionaries(chosen)

    return st.sampled_from(sorted(switch.cases)).flatmap(with_case)


def request_bodies(spec: MessageSpec) -> st.SearchStrategy[dict[str, Any]]:
    """Request (or event) payload fields of a catalog row."""
    return strategy_for(spec.request)


def reply_bodies(spec: MessageSpec) -> st.SearchStrategy[dict[str, Any]]:
    """Success reply body fields of a request row."""
    assert spec.kind is MessageKind.REQUEST
    return strategy_for(spec.reply)


REQUESTS = [s for s in CATALOG.values() if s.kind is MessageKind.REQUEST]
EVENTS = [s for s in CATALOG.values() if s.kind is MessageKind.EVENT]
