"""The struct fast path (protocol/fastcodec.py) and the construct layouts agree on every message.

The codec encodes and decodes a flat layout with ``fastcodec`` and everything else with construct,
so the two must be indistinguishable: for every message part the fast path takes on, the same
body builds to the same bytes, the same bytes parse to the same fields, and bytes one of them
refuses the other refuses too.  Bodies come from the catalog's layouts (strategies.py), so a new
message is covered the moment it exists.
"""

from __future__ import annotations

import struct
from typing import Any

import construct as c
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.catalog import CATALOG, MessageKind
from protocol.codec import plain
from protocol.fastcodec import FlatCodec, flat_codec

from .strategies import strategy_for

EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: (id, layout, its fast codec) of every catalog part the fast path handles.
FLAT: list[tuple[str, Any, FlatCodec]] = []
#: ids of the parts it leaves to construct (switches, text, greedy bytes).
CONSTRUCT_ONLY: list[str] = []
for _spec in CATALOG.values():
    _parts = [("event" if _spec.kind is MessageKind.EVENT else "request", _spec.request)]
    if _spec.kind is MessageKind.REQUEST:
        _parts.append(("reply", _spec.reply))
    for _part, _layout in _parts:
        _codec = flat_codec(_layout)
        if _codec is None:
            CONSTRUCT_ONLY.append(f"{_spec.name}.{_part}")
        else:
            FLAT.append((f"{_spec.name}.{_part}", _layout, _codec))

IDS = [name for name, _, _ in FLAT]


def _fast_or_none(codec: FlatCodec, data: bytes) -> dict[str, Any] | None:
    try:
        return codec.decode(data)
    except (ValueError, struct.error):
        return None


def _construct_parse(layout: Any, data: bytes) -> dict[str, Any] | None:
    try:
        return plain(layout.parse(data))  # type: ignore[no-any-return]
    except c.ConstructError:
        return None


def test_the_fast_path_takes_most_messages_and_leaves_the_rest_to_construct() -> None:
    assert len(FLAT) > len(CONSTRUCT_ONLY) > 0
    assert "STATUS.reply" in IDS  # the hot path of every poll


@pytest.mark.parametrize(("name", "layout", "codec"), FLAT, ids=IDS)
@EXAMPLES
@given(data=st.data())
def test_fast_and_construct_build_the_same_bytes_and_parse_them_to_the_same_fields(
    name: str, layout: Any, codec: FlatCodec, data: st.DataObject
) -> None:
    body = data.draw(strategy_for(layout))
    wire = codec.encode(body)
    assert wire == layout.build(body)
    assert codec.decode(wire) == plain(layout.parse(wire)) == body


@pytest.mark.parametrize(("name", "layout", "codec"), FLAT, ids=IDS)
@EXAMPLES
@given(data=st.data())
def test_fast_and_construct_refuse_the_same_bytes(
    name: str, layout: Any, codec: FlatCodec, data: st.DataObject
) -> None:
    valid = codec.encode(data.draw(strategy_for(layout)))
    cut = data.draw(st.integers(0, len(valid) + 4))
    noise = data.draw(st.binary(max_size=8))
    # a prefix of a valid payload, or one with junk after it, or junk alone
    wire = data.draw(st.sampled_from([valid[:cut], valid + noise, noise, valid[:cut] + noise]))
    assert _fast_or_none(codec, wire) == _construct_parse(layout, wire)


def _out_of_range(sub: Any) -> list[Any]:
    """Values the field ``sub`` cannot carry: integers beyond its range, bytes of another length."""
    inner = sub.subcon
    if isinstance(inner, c.FormatField):
        bits = 8 * struct.calcsize(inner.fmtstr)
        if inner.fmtstr[-1].islower():  # signed
            return [-(1 << (bits - 1)) - 1, 1 << (bits - 1)]
        return [-1, 1 << bits]
    if isinstance(inner, c.Bytes):
        return [bytes(inner.length - 1), bytes(inner.length + 1)]
    return []  # a Flag takes any truth value on both paths


def _shown(value: Any) -> str:
    return f"{len(value)}_bytes" if isinstance(value, bytes) else str(value)


BAD_FIELDS = [
    (f"{name}.{sub.name}={_shown(value)}", layout, codec, sub.name, value)
    for name, layout, codec in FLAT
    for sub in layout.subcons
    if sub.name in codec.head.names
    for value in _out_of_range(sub)
]


@pytest.mark.parametrize(
    ("case", "layout", "codec", "field", "value"), BAD_FIELDS, ids=[b[0] for b in BAD_FIELDS]
)
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_fast_and_construct_refuse_the_same_out_of_range_fields(
    case: str, layout: Any, codec: FlatCodec, field: str, value: Any, data: st.DataObject
) -> None:
    body = {**data.draw(strategy_for(layout)), field: value}
    with pytest.raises((ValueError, struct.error)):
        codec.encode(body)
    with pytest.raises(c.ConstructError):
        layout.build(body)
