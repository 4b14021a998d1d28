"""Payload layouts (construct) shared by several messages of the catalog.

Why: the catalog in ``catalog.py`` is one table; the structures that several of its rows reuse -
a therapy change, an alarm entry - are declared here once, with the unit of every field in its
name (the log record, which the pump also stores, is declared in ``log_record.py``).  Every
layout ends in ``Terminated`` so trailing bytes are refused, and every array is length-prefixed
by a byte or a short, so a hostile length can never ask for more than the frame holds.  The
helpers at the end read a layout's shape, for the tools and tests that walk the layouts.
"""

from __future__ import annotations

from typing import Any

import construct as c

from .enums import ChangeKind

u8 = c.Int8ub
u16 = c.Int16ub
u32 = c.Int32ub
i32 = c.Int32sb
u64 = c.Int64ub

#: Sixteen bytes: nonces, proofs and staged-prescription hashes.
Bytes16 = c.Bytes(16)

#: Short text (model, serial number, error messages): a length byte then UTF-8.
ShortText = c.PascalString(u8, "utf8")

#: Request id carried first by every state-changing request (idempotency key, non-zero).
RequestId = "request_id" / u32

FlexStep = c.Struct(
    "start_minute" / u16,  # minutes after midnight, pump local time (0..1439)
    "daily_dose_ng" / u32,  # dose rate during this step, expressed per day
)

FlexDay = c.PrefixedArray(u8, FlexStep)

#: A therapy change (what STAGE_PRESCRIPTION carries and READ_PRESCRIPTION returns).
TherapyChange = c.Struct(
    "kind" / u8,  # ChangeKind
    "params"
    / c.Switch(
        c.this.kind,
        {
            int(ChangeKind.STOPPED): c.Struct(),
            int(ChangeKind.CONTINUOUS): c.Struct("daily_dose_ng" / u32),
            int(ChangeKind.FLEX): c.Struct(
                "day_programs" / c.PrefixedArray(u8, FlexDay),
                "weekday_program" / c.Array(7, u8),  # Monday first; index into day_programs
            ),
            int(ChangeKind.SINGLE_BOLUS): c.Struct("dose_ng" / u32, "duration_s" / u32),
            int(ChangeKind.PRIMING_BOLUS): c.Struct("catheter_length_mm" / u16),
            int(ChangeKind.BRIDGE_BOLUS): c.Struct("catheter_length_mm" / u16),
        },
        default=c.Error,
    ),
)

AlarmEntry = c.Struct(
    "alarm" / u8,  # AlarmId
    "critical" / c.Flag,
    "acknowledged" / c.Flag,
    "raised_at" / u32,  # pump time, s
    "silenced_until" / u32,  # pump time, s (0: sounding)
)

Empty = c.Struct(c.Terminated)


def strict(*fields: Any) -> c.Struct:
    """A struct that refuses trailing bytes."""
    return c.Struct(*fields, c.Terminated)


# -- reading a layout's shape (the docs tables, the dissector and the test strategies walk them) --


def prefixed_array_parts(node: Any) -> tuple[Any, Any] | None:
    """(count field, item layout) if ``node`` is construct's PrefixedArray, else None."""
    if not isinstance(node, c.FocusedSeq):
        return None
    named = {sub.name: sub for sub in node.subcons}
    if set(named) != {"count", "items"}:
        return None
    count = named["count"].subcon.subcon  # Renamed -> Rebuild -> the count field
    items = named["items"].subcon  # Renamed -> Array(this.count, item)
    return count, items.subcon


def switch_key(node: Any) -> str:
    """The name of the field a construct ``Switch`` selects its case by."""
    return str(node.keyfunc.__getfield__())
