"""Therapy changes as the wire carries them (``protocol.layouts.TherapyChange``), built safely.

Why: the CLI speaks in doses and times; the pump takes a ``TherapyChange`` structure.  Building
it here, with integer nanograms and minutes only, keeps the CLI free of wire details and makes the
flex rule testable on its own: the listed weekdays get the new day program, the other days keep
the program they have now (or get the new one too when the pump is not on a flex schedule).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from protocol.catalog import CATHETER_STORED
from protocol.enums import ChangeKind
from protocol.units import format_mcg

from .errors import UsageError
from .units import format_duration

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_FLEX_STEPS = 13

TherapyChange = dict[str, Any]


def stopped() -> TherapyChange:
    return {"kind": int(ChangeKind.STOPPED), "params": {}}


def continuous(daily_dose_ng: int) -> TherapyChange:
    return {"kind": int(ChangeKind.CONTINUOUS), "params": {"daily_dose_ng": daily_dose_ng}}


def single_bolus(dose_ng: int, duration_s: int) -> TherapyChange:
    return {
        "kind": int(ChangeKind.SINGLE_BOLUS),
        "params": {"dose_ng": dose_ng, "duration_s": duration_s},
    }


def priming_bolus(catheter_length_mm: int) -> TherapyChange:
    return {
        "kind": int(ChangeKind.PRIMING_BOLUS),
        "params": {"catheter_length_mm": catheter_length_mm},
    }


def bridge_bolus(catheter_length_mm: int) -> TherapyChange:
    return {
        "kind": int(ChangeKind.BRIDGE_BOLUS),
        "params": {"catheter_length_mm": catheter_length_mm},
    }


@dataclass(frozen=True, slots=True)
class FlexStep:
    start_minute: int  # minutes after the clinic's local midnight (pump UTC + its UTC offset)
    daily_dose_ng: int  # the dose rate during the step, expressed per day

    def to_wire(self) -> dict[str, int]:
        return {"start_minute": self.start_minute, "daily_dose_ng": self.daily_dose_ng}


def parse_weekdays(text: str | None) -> list[int]:
    """ "mon,tue" -> [0, 1] (Monday first); None or "" -> every day."""
    if not text:
        return list(range(7))
    days: list[int] = []
    for part in text.split(","):
        name = part.strip().lower()[:3]
        if name not in WEEKDAYS:
            raise UsageError(f"--days: {part!r} is not a weekday; use mon,tue,wed,thu,fri,sat,sun")
        index = WEEKDAYS.index(name)
        if index not in days:
            days.append(index)
    return sorted(days)


def day_program(steps: Iterable[FlexStep]) -> list[FlexStep]:
    """Steps sorted by start; the first must start at 00:00, starts distinct, at most 13."""
    ordered = sorted(steps, key=lambda s: s.start_minute)
    if not ordered:
        raise UsageError("flex: give at least one --step HH:MM=DOSE/day")
    if ordered[0].start_minute != 0:
        raise UsageError(
            "flex: the first step must start at 00:00 so every minute of the day has a dose "
            "(add --step 00:00=...mcg/day)"
        )
    starts = [s.start_minute for s in ordered]
    if len(set(starts)) != len(starts):
        raise UsageError("flex: two steps start at the same time")
    if len(ordered) > MAX_FLEX_STEPS:
        raise UsageError(f"flex: at most {MAX_FLEX_STEPS} steps per day, got {len(ordered)}")
    return ordered


def flex(
    new_program: Sequence[FlexStep],
    weekdays: Sequence[int],
    current: Mapping[str, Any] | None,
) -> TherapyChange:
    """A flex change: ``weekdays`` get ``new_program``; other days keep the current flex program.

    ``current`` is READ_PRESCRIPTION's ``therapy`` (or None).  From continuous therapy the other
    days keep its dose, as a one-step day from 00:00; from anything else (stopped, never
    programmed) there is nothing to keep, so only all seven days may be given (UsageError).
    """
    new_wire = [s.to_wire() for s in new_program]
    programs: list[list[dict[str, int]]]
    kind = None if current is None else current.get("kind")
    if current is not None and kind == ChangeKind.FLEX:
        params = current["params"]
        programs = [[dict(step) for step in day] for day in params["day_programs"]]
        mapping = list(params["weekday_program"])
    elif current is not None and kind == ChangeKind.CONTINUOUS:
        kept = FlexStep(0, int(current["params"]["daily_dose_ng"])).to_wire()
        programs, mapping = [[kept]], [0] * 7
    elif sorted(weekdays) != list(range(7)):
        raise UsageError(
            "flex --days: the other days would have no program to keep (the pump is not on "
            "continuous or flex therapy); give every day, or program them first"
        )
    else:
        programs, mapping = [new_wire], [0] * 7
    if new_wire not in programs:
        programs.append(new_wire)
    new_index = programs.index(new_wire)
    for day in weekdays:
        mapping[day] = new_index
    # keep only the programs still used, in order of first use
    used: list[int] = []
    for index in mapping:
        if index not in used:
            used.append(index)
    return {
        "kind": int(ChangeKind.FLEX),
        "params": {
            "day_programs": [programs[i] for i in used],
            "weekday_program": [used.index(i) for i in mapping],
        },
    }


def _mcg(ng: int) -> str:
    """Exact micrograms (no rounding: the clinician confirms what will be committed)."""
    return format_mcg(int(ng)).removesuffix(" mcg")


def describe_change(change: Mapping[str, Any]) -> str:
    """One line for people: "continuous 400 mcg/day", "flex: mon-sun 3 steps"..."""
    kind = ChangeKind(change["kind"])
    params = change.get("params", {})
    if kind is ChangeKind.CONTINUOUS:
        return f"continuous {_mcg(params['daily_dose_ng'])} mcg/day"
    if kind is ChangeKind.SINGLE_BOLUS:
        over = format_duration(int(params["duration_s"]))
        return f"single bolus {_mcg(params['dose_ng'])} mcg over {over}"
    if kind in (ChangeKind.PRIMING_BOLUS, ChangeKind.BRIDGE_BOLUS):
        label = "priming" if kind is ChangeKind.PRIMING_BOLUS else "bridge"
        length = int(params["catheter_length_mm"])
        if length == CATHETER_STORED:
            return f"{label} bolus for the catheter the pump knows"
        return f"{label} bolus for a {length / 10:g} cm catheter"
    if kind is ChangeKind.FLEX:
        parts = []
        mapping = list(params["weekday_program"])
        for index, steps in enumerate(params["day_programs"]):
            days = [WEEKDAYS[d] for d, i in enumerate(mapping) if i == index]
            if not days:
                continue
            text = ", ".join(
                f"{s['start_minute'] // 60:02d}:{s['start_minute'] % 60:02d}="
                f"{_mcg(s['daily_dose_ng'])}"
                for s in steps
            )
            label = "every day" if len(days) == 7 else ",".join(days)
            parts.append(f"{label} {text}")
        return "flex mcg/day: " + "; ".join(parts)
    return "stopped"
