"""The scenario file format (docs/SCENARIOS.md): parse and validate a TOML scenario.

Why: a scenario is what a clinic and a bench do to one pump over its life, written as data so it
can be replayed byte for byte.  This module only reads and checks the file and converts the
user's units (mL, mcg, durations) to the integers the pump uses; ``scenario_runner`` plays it.
Every mistake is reported with the action number, its ``do`` and the key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hw_sim.scenarios.timeparse import (
    DEFAULT_START_TIME,
    parse_clock,
    parse_datetime,
    parse_duration,
    parse_instant,
)
from patient.profiles import PatientProfile, PatientProfileError, draw, load_patient_profile
from protocol.enums import AlarmId


class ScenarioError(ValueError):
    """The scenario file is malformed; the message says where."""


def _ml(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"expected a volume in mL (a number >= 0), got {value!r}")
    return round(value * 1_000_000)


def _mcg(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"expected a dose in mcg (a number >= 0), got {value!r}")
    return round(value * 1_000)


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a whole number >= 0, got {value!r}")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _duration(value: Any) -> int:
    if not isinstance(value, str | int):
        raise ValueError(f'expected a duration such as "30m", got {value!r}')
    return parse_duration(value)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _full_or_ml(value: Any) -> int | None:
    return None if value == "full" else _ml(value)


def _steps(value: Any) -> tuple[tuple[int, int], ...]:
    """``[["00:00", 400], ["08:00", 600]]`` -> ((0, 400000), (480, 600000)) (minute, ng/day)."""
    if not isinstance(value, list) or not value:
        raise ValueError('expected a list of ["HH:MM", mcg_per_day] pairs')
    steps = []
    for item in value:
        if not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], str):
            raise ValueError(f'expected ["HH:MM", mcg_per_day], got {item!r}')
        steps.append((parse_clock(item[0]), _mcg(item[1])))
    return tuple(steps)


def _programs(value: Any) -> tuple[tuple[tuple[int, int], ...], ...]:
    if not isinstance(value, list) or not value:
        raise ValueError("expected a list of day programs (each a list of steps)")
    return tuple(_steps(program) for program in value)


def _weekdays(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) != 7:
        raise ValueError("expected 7 program indexes, Monday first")
    return tuple(_int(v) for v in value)


def _alarm_names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError("expected a list of alarm names")
    known = [a.name.lower() for a in AlarmId]
    for name in value:
        if _str(name) not in known:
            raise ValueError(f"unknown alarm {name!r}; known: {', '.join(known)}")
    return tuple(value)


_FAULTS = (
    "motor-stall",
    "low-battery-reset",
    "over-infusion",
    "memory-error",
    "pocket-fill",
    "power-loss",
    "catheter-occlusion",
    "catheter-kink",
    "catheter-leak",
    "catheter-disconnect",
    "catheter-migration",
    "clear",
)


def _fault(value: Any) -> str:
    name = _str(value)
    if name not in _FAULTS:
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(_FAULTS)}")
    return name


Parser = Callable[[Any], Any]
_ACK = {"ack_warnings": _bool}
#: do -> {key: parser}.  Keys not listed are refused.
ACTION_KEYS: dict[str, dict[str, Parser]] = {
    "refill": {
        "added_ml": _full_or_ml,
        "concentration": _int,
        "withdrawn_ml": _ml,
        "pocket_fill": _bool,
    },
    "prime": {"catheter_cm": _int, **_ACK},
    "bridge": {"catheter_cm": _int, **_ACK},
    "continuous": {
        "mcg_per_day": _mcg,
        "screening_bolus_mcg": _mcg,
        "from_screening": _bool,
        **_ACK,
    },
    "flex": {"steps": _steps, "programs": _programs, "weekdays": _weekdays, **_ACK},
    "titrate": {"to_mcg_per_day": _mcg, "step_pct": _int, "every": _duration, **_ACK},
    "bolus": {"mcg": _mcg, "over": _duration, **_ACK},
    "stop": {"ack_warnings": _bool},
    "resume": {},
    "patient_bolus_config": {
        "enabled": _bool,
        "mcg": _mcg,
        "over": _duration,
        "max_per_day": _int,
        "lockout": _duration,
        **_ACK,
    },
    "patient_bolus": {},
    "alarms_config": {"low_reservoir_ml": _ml, "critical_interval": _duration},
    "ack_alarms": {"alarms": _alarm_names},
    "alarm_test": {},
    "set_clock": {"to": _str, "offset": _str},
    "power_cycle": {},
    "fault": {"fault": _fault, "pct": _number},
    "access_port_aspirate": {"ml": _ml},
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "refill": ("concentration",),
    "titrate": ("to_mcg_per_day", "step_pct"),
    "bolus": ("mcg", "over"),
    "patient_bolus_config": ("mcg", "over", "max_per_day", "lockout"),
    "fault": ("fault",),
    "access_port_aspirate": ("ml",),
}


@dataclass(frozen=True, slots=True)
class Action:
    index: int  # position in the file, 1-based (also the same-time order)
    at: int  # board time
    do: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RefillRule:
    """Recurring refills: every ``days`` (inclusive range, drawn from the board rng) or when the
    pump's estimate falls below ``below_nl``; starting after the first refill."""

    every_days: tuple[int, int] | None
    below_nl: int | None
    added_nl: int | None  # None = fill to capacity
    concentration: int | None  # None = keep the last one


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    profile: str  # name or resolved path
    seed: int
    start: int
    serial_number: str | None
    catheter_cm: int | None
    end_at: int | None  # None = end after end of service
    end_after_eos_s: int
    max_end: int
    actions: tuple[Action, ...]
    refill_rule: RefillRule | None = None
    source: str = field(default="")
    patient: PatientProfile | None = None  # attached to the catheter tip at the start


_TOP_KEYS = {
    "name",
    "profile",
    "seed",
    "start",
    "serial",
    "catheter_cm",
    "end",
    "end_after_eos",
    "max_duration",
    "action",
    "refill_rule",
    "patient",
}


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(f"scenario file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path.name}: not valid TOML: {exc}") from None
    return parse_scenario(data, source=path.name, base_dir=path.parent)


def parse_scenario(
    data: dict[str, Any], source: str = "<scenario>", base_dir: Path | None = None
) -> Scenario:
    """Validate already-parsed TOML; profile paths are relative to ``base_dir``."""

    def fail(where: str, why: str) -> ScenarioError:
        return ScenarioError(f"{source}: {where}: {why}")

    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise fail(unknown[0], "unknown key")
    try:
        profile = _str(data.get("profile", "vp20"))
        if profile.endswith(".toml") and base_dir is not None and not Path(profile).is_absolute():
            profile = str(base_dir / profile)
        seed = _int(data.get("seed", 0))
        start = parse_datetime(_str(data["start"])) if "start" in data else DEFAULT_START_TIME
        end_text = data.get("end", "eos")
        end_at = None if end_text == "eos" else parse_instant(end_text, start)
        end_after_eos = _duration(data.get("end_after_eos", "1d"))
        max_end = start + _duration(data.get("max_duration", "10y"))
        serial = _str(data["serial"]) if "serial" in data else None
        catheter_cm = _int(data["catheter_cm"]) if "catheter_cm" in data else None
        name = _str(data.get("name", Path(source).stem))
    except (ValueError, KeyError) as exc:
        raise fail("top level", str(exc)) from None

    raw_actions = data.get("action", [])
    if not isinstance(raw_actions, list):
        raise fail("action", "use [[action]] tables")
    actions = [_parse_action(i + 1, raw, start, fail) for i, raw in enumerate(raw_actions)]
    actions.sort(key=lambda a: (a.at, a.index))
    rule = _parse_refill_rule(data.get("refill_rule"), fail)
    patient = _parse_patient(data.get("patient"), base_dir, fail)
    for action in actions:
        if action.args.get("from_screening") and patient is None:
            raise fail(f"action {action.index} (continuous)", "from_screening needs a [patient]")
    return Scenario(
        name=name,
        profile=profile,
        seed=seed,
        start=start,
        serial_number=serial,
        catheter_cm=catheter_cm,
        end_at=end_at,
        end_after_eos_s=end_after_eos,
        max_end=max_end if end_at is None else max(end_at, start),
        actions=tuple(actions),
        refill_rule=rule,
        source=source,
        patient=patient,
    )


def _parse_action(
    index: int, raw: Any, start: int, fail: Callable[[str, str], ScenarioError]
) -> Action:
    if not isinstance(raw, dict):
        raise fail(f"action {index}", "must be a table")
    do = raw.get("do")
    where = f"action {index} ({do})"
    if do not in ACTION_KEYS:
        raise fail(f"action {index}", f"unknown do {do!r}; known: {', '.join(ACTION_KEYS)}")
    if "at" not in raw:
        raise fail(where, "missing key 'at'")
    try:
        at = parse_instant(raw["at"], start)
    except ValueError as exc:
        raise fail(f"{where} at", str(exc)) from None
    if at < start:
        raise fail(f"{where} at", "before the scenario start")
    spec = ACTION_KEYS[do]
    args: dict[str, Any] = {}
    for key, value in raw.items():
        if key in ("do", "at"):
            continue
        if key not in spec:
            raise fail(where, f"unknown key {key!r}; allowed: {', '.join(spec) or 'none'}")
        try:
            args[key] = spec[key](value)
        except ValueError as exc:
            raise fail(f"{where} {key}", str(exc)) from None
    for key in _REQUIRED.get(do, ()):
        if key not in args:
            raise fail(where, f"missing key {key!r}")
    _check_combinations(do, args, where, fail)
    return Action(index=index, at=at, do=do, args=args)


def _check_combinations(
    do: str, args: dict[str, Any], where: str, fail: Callable[[str, str], ScenarioError]
) -> None:
    starts = ("mcg_per_day", "screening_bolus_mcg", "from_screening")
    if do == "continuous" and sum(key in args for key in starts) != 1:
        raise fail(where, "give exactly one of mcg_per_day, screening_bolus_mcg or from_screening")
    if do == "continuous" and args.get("from_screening") is False:
        raise fail(where, "from_screening = true, or leave it out")
    if do == "flex" and ("steps" in args) == ("programs" in args):
        raise fail(where, "give exactly one of steps (every day) or programs + weekdays")
    if do == "flex" and "programs" in args and "weekdays" not in args:
        raise fail(where, "programs needs weekdays (7 program indexes, Monday first)")
    if do == "set_clock" and ("to" in args) == ("offset" in args):
        raise fail(where, 'give exactly one of to (UTC date/time) or offset (e.g. "-1h")')
    if do == "fault" and args["fault"] in ("over-infusion", "catheter-leak") and "pct" not in args:
        raise fail(where, f"{args['fault']} needs pct")
    pct = args.get("pct")
    catheter_fault = do == "fault" and args["fault"].startswith("catheter-")
    if catheter_fault and pct is not None and not 0 <= pct <= 100:
        raise fail(where, "pct must be 0-100 for a catheter fault")


def _parse_refill_rule(raw: Any, fail: Callable[[str, str], ScenarioError]) -> RefillRule | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise fail("refill_rule", "must be a table")
    unknown = sorted(set(raw) - {"every_days", "below_ml", "added_ml", "concentration"})
    if unknown:
        raise fail("refill_rule", f"unknown key {unknown[0]!r}")
    try:
        every = raw.get("every_days")
        if every is not None:
            if not isinstance(every, list) or len(every) != 2:
                raise ValueError("every_days must be [min_days, max_days]")
            low, high = _int(every[0]), _int(every[1])
            if not 1 <= low <= high:
                raise ValueError("every_days must satisfy 1 <= min <= max")
            every = (low, high)
        below = _ml(raw["below_ml"]) if "below_ml" in raw else None
        if (every is None) == (below is None):
            raise ValueError("give exactly one of every_days or below_ml")
        added = _full_or_ml(raw.get("added_ml", "full"))
        conc = _int(raw["concentration"]) if "concentration" in raw else None
    except ValueError as exc:
        raise fail("refill_rule", str(exc)) from None
    return RefillRule(every_days=every, below_nl=below, added_nl=added, concentration=conc)


def _parse_patient(
    raw: Any, base_dir: Path | None, fail: Callable[[str, str], ScenarioError]
) -> PatientProfile | None:
    """``[patient]``: profile (a shipped name or a path) and an optional population seed."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise fail("patient", "must be a table: [patient] profile = ..., seed = ...")
    unknown = sorted(set(raw) - {"profile", "seed"})
    if unknown:
        raise fail("patient", f"unknown key {unknown[0]!r}")
    try:
        name = _str(raw.get("profile", "spinal_adult"))
        seed = _int(raw["seed"]) if "seed" in raw else None
    except ValueError as exc:
        raise fail("patient", str(exc)) from None
    if name.endswith(".toml") and base_dir is not None and not Path(name).is_absolute():
        name = str(base_dir / name)
    try:
        profile = load_patient_profile(name)
        return profile if seed is None else draw(profile, seed)
    except PatientProfileError as exc:
        raise fail("patient", str(exc)) from None


def parse_clock_offset(text: str) -> int:
    """``"+1h"`` / ``"-30m"`` -> signed seconds."""
    sign = -1 if text.startswith("-") else 1
    return sign * parse_duration(text.lstrip("+-"))
