"""Binary records declared once: a frozen dataclass whose fields name their own encoding.

Why: an NVM record's layout, its encoder, its decoder and its documentation must not drift
apart.  Each field of a :class:`Record` dataclass carries a codec (``nvm(U32)``); the record's
bytes are its fields in declaration order, big-endian, after a format byte.  Runs of fixed-size
fields are packed by one precompiled :class:`struct.Struct`, so a record costs a handful of
struct calls however many fields it has.  :meth:`Record.layout` lists the fields with their
struct codes for the docs and tests.

A new persistent field is one line in the record's declaration; an existing image keeps loading
as long as fields are only appended at the end, declared ``nvm(codec, default, appended=True)``:
an image that ends before such a field (from firmware that did not know it yet) reads it as its
factory value.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Self


class FixedCodec:
    """A fixed-size field: ``code`` is its struct format (without byte order)."""

    def __init__(
        self,
        code: str,
        pack: Callable[[Any], tuple[int, ...]],
        unpack: Callable[[tuple[int, ...]], Any],
        doc: str = "",
    ) -> None:
        self.code = code
        self.width = len(struct.unpack(">" + code, bytes(struct.calcsize(">" + code))))
        self.pack = pack
        self.unpack = unpack
        self.doc = doc


def scalar(
    code: str,
    to_int: Callable[[Any], int] = int,
    from_int: Callable[[int], Any] = int,
    doc: str = "",
) -> FixedCodec:
    """One integer on the wire, converted to and from the field's type."""
    return FixedCodec(code, lambda v: (to_int(v),), lambda t: from_int(t[0]), doc)


def _opt(value: int | None) -> int:
    return -1 if value is None else value


def _from_opt(value: int) -> int | None:
    return None if value < 0 else value


U8 = scalar("B")
U32 = scalar("I")
U64 = scalar("Q")
I32 = scalar("i")
I64 = scalar("q")
FLAG = scalar("B", int, bool, "0/1")
#: A board or pump time that may be absent: -1 means None.
OPT_I64 = scalar("q", _opt, _from_opt, "-1 = none")


class VarCodec:
    """A variable-size field: writes its bytes, reads them back from an offset."""

    def __init__(
        self,
        code: str,
        write: Callable[[Any], bytes],
        read: Callable[[bytes, int], tuple[Any, int]],
        doc: str = "",
    ) -> None:
        self.code = code
        self.write = write
        self.read = read
        self.doc = doc


def blob(
    length_code: str, encode: Callable[[Any], bytes], decode: Callable[[bytes], Any], doc: str
) -> VarCodec:
    """Bytes with a length prefix, made and read by the given functions."""
    prefix = struct.Struct(">" + length_code)

    def write(value: Any) -> bytes:
        data = encode(value)
        return prefix.pack(len(data)) + data

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        (length,) = _unpack(prefix, data, pos)
        pos += prefix.size
        chunk = data[pos : pos + length]
        if len(chunk) != length:
            raise ValueError("record truncated")
        return decode(chunk), pos + length

    return VarCodec(f"{length_code} length + bytes", write, read, doc)


def array(count_code: str, item: FixedCodec, doc: str) -> VarCodec:
    """A count followed by that many fixed-size items; the field is a tuple of them."""
    count = struct.Struct(">" + count_code)
    layout = struct.Struct(">" + item.code)

    def write(values: Sequence[Any]) -> bytes:
        return count.pack(len(values)) + b"".join(layout.pack(*item.pack(v)) for v in values)

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        (n,) = _unpack(count, data, pos)
        pos += count.size
        items = []
        for _ in range(n):
            items.append(item.unpack(_unpack(layout, data, pos)))
            pos += layout.size
        return tuple(items), pos

    return VarCodec(f"{count_code} count + {item.code} each", write, read, doc)


def _unpack(layout: struct.Struct, data: bytes, pos: int) -> tuple[Any, ...]:
    try:
        return layout.unpack_from(data, pos)
    except struct.error:
        raise ValueError("record truncated") from None


Codec = FixedCodec | VarCodec


_NO_DEFAULT: Any = dataclasses.MISSING


def nvm(codec: Codec, default: Any = _NO_DEFAULT, *, appended: bool = False) -> Any:
    """Declare a record field, its encoding and optionally its factory value:
    ``drawn_nl: int = nvm(U64)``, ``version: int = nvm(U32, 0)``.  ``appended=True`` marks a
    field added after the first release (with a factory value): an image written before it
    existed ends before it and reads it as the factory value."""
    return dataclasses.field(default=default, metadata={"codec": codec, "appended": appended})


@dataclasses.dataclass(frozen=True, slots=True)
class _FixedRun:
    """Consecutive fixed-size fields, packed by one Struct."""

    layout: struct.Struct
    fields: tuple[tuple[str, FixedCodec], ...]


@dataclasses.dataclass(frozen=True, slots=True)
class _VarField:
    name: str
    codec: VarCodec


class _Plan:
    """A record class compiled into steps: runs of fixed fields and variable fields."""

    def __init__(self, cls: type[Record]) -> None:
        self.steps: list[_FixedRun | _VarField] = []
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        #: Fields appended since the first release (``nvm(..., appended=True)``) may be missing
        #: from older images: each is a step of its own, so an image may end before any of them.
        appended = [i for i, f in enumerate(fields) if f.metadata.get("appended")]
        tail = appended[0] if appended else len(fields)
        for f in fields[tail:]:
            if not f.metadata.get("appended") or f.default is _NO_DEFAULT:
                raise TypeError(
                    f"{cls.__name__}.{f.name}: a field after an appended one must be appended "
                    "too, with a factory value"
                )
        run: list[tuple[str, FixedCodec]] = []
        for index, f in enumerate(fields):
            codec = f.metadata.get("codec")
            if codec is None:
                raise TypeError(f"{cls.__name__}.{f.name} has no nvm() codec")
            if index >= tail:
                self._close(run)
                run = []
            if isinstance(codec, FixedCodec):
                run.append((f.name, codec))
                continue
            self._close(run)
            run = []
            self.steps.append(_VarField(f.name, codec))
        self._close(run)
        self._first_optional_step = len(self.steps) - (len(fields) - tail)

    def may_end_at(self, index: int) -> bool:
        """An older image may end before step ``index``: it and every later one are appended."""
        return index >= self._first_optional_step

    def _close(self, run: list[tuple[str, FixedCodec]]) -> None:
        if run:
            layout = struct.Struct(">" + "".join(c.code for _, c in run))
            self.steps.append(_FixedRun(layout, tuple(run)))


_PLANS: dict[type, _Plan] = {}


def _plan(cls: type[Record]) -> _Plan:
    plan = _PLANS.get(cls)
    if plan is None:
        plan = _PLANS[cls] = _Plan(cls)
    return plan


class Record:
    """Base of the NVM records: frozen dataclasses whose fields are declared with :func:`nvm`."""

    __slots__ = ()
    #: First byte of the record; decoding refuses any other value.
    FORMAT_VERSION: ClassVar[int] = 1

    def encode(self) -> bytes:
        parts = [bytes((self.FORMAT_VERSION,))]
        for step in _plan(type(self)).steps:
            if isinstance(step, _FixedRun):
                values: list[int] = []
                for name, fixed in step.fields:
                    values.extend(fixed.pack(getattr(self, name)))
                parts.append(step.layout.pack(*values))
            else:
                parts.append(step.codec.write(getattr(self, step.name)))
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Inverse of :meth:`encode`; ValueError on a wrong format byte or a short record.
        Bytes after the last field are ignored.  An image that ends where appended fields
        begin (written before they existed) decodes with their defaults, if they all have one."""
        if not data:
            raise ValueError("record truncated")
        if data[0] != cls.FORMAT_VERSION:
            raise ValueError(f"{cls.__name__} format {data[0]} unknown")
        pos = 1
        values: dict[str, Any] = {}
        plan = _plan(cls)
        for index, step in enumerate(plan.steps):
            if pos == len(data) and plan.may_end_at(index):
                break  # an older image: the fields appended since read as their factory values
            if isinstance(step, _FixedRun):
                raw = _unpack(step.layout, data, pos)
                pos += step.layout.size
                at = 0
                for name, fixed in step.fields:
                    values[name] = fixed.unpack(raw[at : at + fixed.width])
                    at += fixed.width
            else:
                values[step.name], pos = step.codec.read(data, pos)
        return cls(**values)

    @classmethod
    def layout(cls) -> list[tuple[str, str, str]]:
        """(field, encoding, note) in byte order, the format byte first: for docs and tests."""
        rows = [("format", "B", f"= {cls.FORMAT_VERSION}")]
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            codec: Codec = f.metadata["codec"]
            rows.append((f.name, codec.code, codec.doc))
        return rows
