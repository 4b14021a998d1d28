"""A struct-module fast path for the catalog's flat layouts, derived from the construct layouts.

Why: construct is the single declaration of every payload, but even compiled it spends most of a
status round trip building and walking containers.  Most layouts are flat - fixed-size integers,
flags and byte strings, with at most one length-prefixed array of flat records, itself optionally
followed by more flat fields (fields appended to a reply after its array) - and for
those this module derives one precompiled ``struct.Struct`` per part *from the construct layout
itself*, so there is still one source of truth.  Layouts it cannot express (switches, text,
greedy bytes) return None and stay with construct.  tests/protocol/test_fastcodec.py checks that
both paths agree on every message: the same bytes built, the same fields parsed, the same bytes
refused.

Strictness is kept: decoding demands the exact length (construct's ``Terminated``), byte strings
must have their declared length on encode (``struct`` would silently pad them), and integers out
of range raise.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import construct as c


@dataclass(frozen=True, slots=True)
class _Flat:
    fmt: struct.Struct
    names: tuple[str, ...]
    byte_sizes: tuple[tuple[str, int], ...]  # fields that are fixed-size byte strings
    #: Generated ``values -> dict`` and ``body -> values``: a dict display and a tuple display
    #: run about twice as fast as dict(zip(...)) and a list comprehension on the status path.
    to_dict: Callable[[tuple[Any, ...]], dict[str, Any]]
    to_values: Callable[[Mapping[str, Any]], tuple[Any, ...]]

    def check_bytes(self, body: Mapping[str, Any]) -> None:
        for name, size in self.byte_sizes:
            value = body[name]
            if not isinstance(value, bytes | bytearray) or len(value) != size:
                raise ValueError(f"{name} must be {size} bytes")


@dataclass(frozen=True, slots=True)
class FlatCodec:
    head: _Flat
    array_name: str | None = None
    count: struct.Struct | None = None
    item: _Flat | None = None
    tail: _Flat | None = None  # flat fields after the array

    def encode(self, body: Mapping[str, Any]) -> bytes:
        head = self.head
        if head.byte_sizes:
            head.check_bytes(body)
        out = head.fmt.pack(*head.to_values(body))
        if self.array_name is None:
            return out
        assert self.count is not None and self.item is not None
        items = body[self.array_name]
        parts = [out, self.count.pack(len(items))]
        item = self.item
        for entry in items:
            if item.byte_sizes:
                item.check_bytes(entry)
            parts.append(item.fmt.pack(*item.to_values(entry)))
        tail = self.tail
        if tail is not None:
            if tail.byte_sizes:
                tail.check_bytes(body)
            parts.append(tail.fmt.pack(*tail.to_values(body)))
        return b"".join(parts)

    def decode(self, payload: bytes) -> dict[str, Any]:
        head = self.head
        size = head.fmt.size
        if self.array_name is None:
            if len(payload) != size:
                raise ValueError(f"expected {size} bytes, got {len(payload)}")
            return head.to_dict(head.fmt.unpack(payload))
        assert self.count is not None and self.item is not None
        if len(payload) < size + self.count.size:
            raise ValueError("payload shorter than its fixed part")
        body = head.to_dict(head.fmt.unpack_from(payload))
        (n,) = self.count.unpack_from(payload, size)
        pos = size + self.count.size
        item = self.item
        end = pos + n * item.fmt.size
        tail = self.tail
        if len(payload) != end + (0 if tail is None else tail.fmt.size):
            raise ValueError("array length does not match its count")
        to_dict = item.to_dict
        body[self.array_name] = [
            to_dict(values) for values in item.fmt.iter_unpack(payload[pos:end])
        ]
        if tail is not None:
            body.update(tail.to_dict(tail.fmt.unpack_from(payload, end)))
        return body


def _field(subcon: Any) -> tuple[str, int | None] | None:
    """struct format of a scalar construct field, and its byte length if it is a byte string."""
    if subcon is c.Flag:
        return "?", None
    if isinstance(subcon, c.FormatField):
        fmt = subcon.fmtstr
        return (fmt[1:], None) if fmt[0] == ">" or len(fmt) == 1 else None
    if isinstance(subcon, c.Bytes) and isinstance(subcon.length, int):
        return f"{subcon.length}s", subcon.length
    return None


def _flat(subcons: list[Any]) -> _Flat | None:
    fmt, names, sizes = ">", [], []
    for sc in subcons:
        if not isinstance(sc, c.Renamed):
            return None
        field = _field(sc.subcon)
        if field is None:
            return None
        fmt += field[0]
        names.append(sc.name)
        if field[1] is not None:
            sizes.append((sc.name, field[1]))
    return _Flat(struct.Struct(fmt), tuple(names), tuple(sizes), *_converters(names))


def _converters(
    names: list[str],
) -> tuple[
    Callable[[tuple[Any, ...]], dict[str, Any]], Callable[[Mapping[str, Any]], tuple[Any, ...]]
]:
    """Generate the two field converters for ``names`` (identifiers checked before use)."""
    if not all(n.isidentifier() for n in names):
        raise ValueError(f"field names must be identifiers: {names}")
    items = ", ".join(f"{n!r}: v[{i}]" for i, n in enumerate(names))
    values = "".join(f"b[{n!r}], " for n in names)
    namespace: dict[str, Any] = {}
    exec(
        f"def to_dict(v):\n    return {{{items}}}\ndef to_values(b):\n    return ({values})",
        namespace,
    )
    return namespace["to_dict"], namespace["to_values"]


def _prefixed_array(sc: Any) -> tuple[struct.Struct, _Flat] | None:
    """(count struct, item codec) of a PrefixedArray of a flat Struct, else None."""
    inner = sc.subcon if isinstance(sc, c.Renamed) else None
    if not isinstance(inner, c.FocusedSeq) or len(inner.subcons) != 2:
        return None
    count, items = inner.subcons
    if getattr(count, "name", None) != "count" or not isinstance(items.subcon, c.Array):
        return None
    counter = count.subcon.subcon if isinstance(count.subcon, c.Rebuild) else count.subcon
    count_field = _field(counter)
    element = items.subcon.subcon
    if count_field is None or count_field[1] is not None or not isinstance(element, c.Struct):
        return None
    item = _flat(list(element.subcons))
    return (struct.Struct(">" + count_field[0]), item) if item is not None else None


def flat_codec(layout: Any) -> FlatCodec | None:
    """A FlatCodec equivalent to ``layout``, or None if the layout is not flat."""
    if not isinstance(layout, c.Struct):
        return None
    subcons = list(layout.subcons)
    if not subcons or not isinstance(subcons[-1], c.Terminated.__class__):
        return None
    subcons = subcons[:-1]
    for at, sc in enumerate(subcons):
        array = _prefixed_array(sc)
        if array is None:
            continue
        head = _flat(subcons[:at])
        after = subcons[at + 1 :]
        tail = _flat(after) if after else None
        if head is None or (after and tail is None):
            return None
        return FlatCodec(head, sc.name, array[0], array[1], tail)
    head = _flat(subcons)
    return FlatCodec(head) if head is not None else None
