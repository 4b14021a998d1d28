"""Patient profiles as data (TOML), each number with its unit and its provenance; population draws.

Why: a parameter without a source or a unit is the virtual-patient world's most common
complaint, so this loader refuses one.  Every parameter is an inline table

    csf_half_life_h = { value = 1.5, low = 0.9, high = 5.0, source = "public: <where>" }

in one of the tables ``[pharmacokinetics]``, ``[effect]``, ``[withdrawal]``, ``[overdose]``:
``source`` must be ``"public: <source>"`` or ``"simulator choice"`` (optionally followed by
``: <why>``); the name must end in a unit suffix (``UNIT_SUFFIXES``); ``low``/``high`` (both or
neither) give the published or chosen range that ``draw`` samples within.

``draw(profile, seed)`` makes a population variant: ``random.Random(seed)`` draws each ranged
parameter, in the fixed order of ``PatientParameters``'s fields, from a triangular distribution
on the log scale (mode at the profile's value: most patients near the typical figure, none
outside the range).  A draw whose half-life and clearance imply a distribution volume above
``lumbar_distribution_volume_max_ml`` is drawn again (at most ``MAX_REDRAWS`` times, all from
the same generator), so the same seed always gives the same patient.
"""

from __future__ import annotations

import dataclasses
import math
import random
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patient.parameters import ParameterError, PatientParameters

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
SECTIONS = ("pharmacokinetics", "effect", "withdrawal", "overdose")
UNIT_SUFFIXES = (
    "_h",
    "_per_h",
    "_ml",
    "_ml_per_h",
    "_mcg",
    "_mcg_per_ml",
    "_points",
    "_ratio",
    "_unitless",
)
MAX_REDRAWS = 1000
_FIELDS = tuple(field.name for field in dataclasses.fields(PatientParameters))


class PatientProfileError(ValueError):
    """A patient profile is missing, unreadable or malformed; the message names the key."""


@dataclass(frozen=True, slots=True)
class ParameterSpec:
    """One parameter as the profile states it."""

    value: float
    source: str
    low: float | None = None
    high: float | None = None

    @property
    def is_public(self) -> bool:
        """True for a published figure, False for a simulator choice."""
        return self.source.startswith("public:")


@dataclass(frozen=True, slots=True)
class PatientProfile:
    """A loaded profile: its name, description, parameters and their provenance."""

    name: str
    description: str
    params: PatientParameters
    specs: dict[str, ParameterSpec]
    seed: int | None = None  # set on a population variant


def available_patient_profiles() -> list[str]:
    """Names of the shipped profiles, sorted."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def load_patient_profile(name_or_path: str | Path) -> PatientProfile:
    """Load a shipped profile by name (``"spinal_adult"``) or any profile file by path."""
    text = str(name_or_path)
    if text.endswith(".toml") or "/" in text or "\\" in text:
        path = Path(text)
    else:
        path = PROFILE_DIR / f"{text}.toml"
        if not path.is_file():
            raise PatientProfileError(
                f"unknown patient {text!r}; shipped: {', '.join(available_patient_profiles())}"
            )
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise PatientProfileError(f"patient profile not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PatientProfileError(f"{path.name}: not valid TOML: {exc}") from None
    return parse_patient_profile(data, source=path.name, name=path.stem)


def parse_patient_profile(data: dict[str, Any], source: str, name: str) -> PatientProfile:
    """Check and convert a profile's TOML data; every error names the file and key."""
    unknown = set(data) - {"profile", *SECTIONS}
    if unknown:
        raise PatientProfileError(f"{source}: unknown table(s) {sorted(unknown)}")
    meta = data.get("profile", {})
    description = meta.get("description", "") if isinstance(meta, dict) else ""
    if not isinstance(description, str) or not description:
        raise PatientProfileError(f"{source}: [profile] needs a description string")
    specs: dict[str, ParameterSpec] = {}
    for section in SECTIONS:
        table = data.get(section)
        if not isinstance(table, dict):
            raise PatientProfileError(f"{source}: missing table [{section}]")
        for key, raw in table.items():
            where = f"{source}: [{section}] {key}"
            if key in specs:
                raise PatientProfileError(f"{where}: given twice")
            specs[key] = _parse_spec(raw, where)
    missing = [f for f in _FIELDS if f not in specs]
    if missing:
        raise PatientProfileError(f"{source}: missing parameter(s) {missing}")
    extra = sorted(set(specs) - set(_FIELDS))
    if extra:
        raise PatientProfileError(f"{source}: unknown parameter(s) {extra}")
    try:
        params = PatientParameters(**{f: specs[f].value for f in _FIELDS})
    except ParameterError as exc:
        raise PatientProfileError(f"{source}: {exc}") from None
    return PatientProfile(name, description, params, specs)


def _parse_spec(raw: object, where: str) -> ParameterSpec:
    if not any(where.endswith(suffix) for suffix in UNIT_SUFFIXES):
        raise PatientProfileError(
            f"{where}: the name carries no unit (end it in one of {', '.join(UNIT_SUFFIXES)})"
        )
    if not isinstance(raw, dict):
        raise PatientProfileError(
            f'{where}: write {{ value = ..., source = "public: ..." }} (a bare number has no '
            "provenance)"
        )
    unknown = set(raw) - {"value", "source", "low", "high"}
    if unknown:
        raise PatientProfileError(f"{where}: unknown field(s) {sorted(unknown)}")
    source = raw.get("source")
    if not isinstance(source, str) or not _is_provenance(source):
        raise PatientProfileError(
            f'{where}: needs source = "public: <source>" or "simulator choice", got {source!r}'
        )
    value = _number(raw.get("value"), f"{where}.value")
    low = high = None
    if ("low" in raw) != ("high" in raw):
        raise PatientProfileError(f"{where}: give both low and high, or neither")
    if "low" in raw:
        low = _number(raw["low"], f"{where}.low")
        high = _number(raw["high"], f"{where}.high")
        if not low <= value <= high:
            raise PatientProfileError(f"{where}: value {value} outside [{low}, {high}]")
    return ParameterSpec(value, source, low, high)


def _is_provenance(source: str) -> bool:
    if source.startswith("public:"):
        return bool(source.removeprefix("public:").strip())
    return source == "simulator choice" or source.startswith("simulator choice:")


def _number(raw: object, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise PatientProfileError(f"{where}: must be a finite number, got {raw!r}")
    return float(raw)


def draw(profile: PatientProfile, seed: int) -> PatientProfile:
    """A population variant of ``profile``: the same seed gives the same patient."""
    rng = random.Random(seed)
    for _ in range(MAX_REDRAWS):
        values = {name: _draw_one(rng, profile.specs[name]) for name in _FIELDS}
        try:
            params = PatientParameters(**values)
        except ParameterError:
            continue
        return dataclasses.replace(profile, params=params, seed=seed)
    raise PatientProfileError(
        f"{profile.name}: no valid population variant in {MAX_REDRAWS} draws (seed {seed})"
    )


def _draw_one(rng: random.Random, spec: ParameterSpec) -> float:
    if spec.low is None or spec.high is None or spec.low == spec.high:
        return spec.value
    if spec.low > 0:
        drawn = math.exp(
            rng.triangular(math.log(spec.low), math.log(spec.high), math.log(spec.value))
        )
    else:
        drawn = rng.triangular(spec.low, spec.high, spec.value)
    return min(spec.high, max(spec.low, drawn))
