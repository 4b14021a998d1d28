"""Load a device profile (TOML) into the firmware's ``DeviceProfile`` plus the board's hardware data.

Why: every number we chose for the simulator lives in ``hw_sim/profiles/*.toml``, next to a
comment saying whether it is public or ours.  This loader is strict: a missing, unknown or
mistyped key is an error that names the file, the table and the key, so a typo can never
silently fall back to a default.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware.profile import (
    AlarmSettings,
    ClockLimits,
    DeviceProfile,
    DrugLibrary,
    PatientBolusLimits,
)

PROFILE_DIR = Path(__file__).resolve().parent


class ProfileError(ValueError):
    """A profile file is missing, unreadable or malformed; the message names the key."""


@dataclass(frozen=True, slots=True)
class HardwareProfile:
    """What only the virtual board needs: the physics constants of our models."""

    stroke_noise_sd_ppm: int  # per-stroke Gaussian spread of the stroke volume
    battery_capacity_nas: int  # nominal charge of the primary cell, nanoampere-seconds
    quiescent_current_na: int  # continuous drain
    charge_per_stroke_nas: int
    charge_per_telemetry_byte_nas: int
    default_catheter_length_cm: int
    nvm_size_bytes: int


@dataclass(frozen=True, slots=True)
class LoadedProfile:
    """A profile as the board uses it: the firmware's view and the hardware constants."""

    name: str  # the file stem, e.g. "vp20"
    device: DeviceProfile
    hardware: HardwareProfile


# TOML table -> dataclass it fills.  ``device`` holds DeviceProfile's scalar fields.
_NESTED = {
    "drug": DrugLibrary,
    "patient_bolus": PatientBolusLimits,
    "alarms": AlarmSettings,
    "clock": ClockLimits,
}


def available_profiles() -> list[str]:
    """Names of the profiles shipped with the simulator, sorted."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def resolve_profile_path(name_or_path: str | Path) -> Path:
    """``"vp20"`` -> the shipped file; anything that looks like a path is taken as a path."""
    text = str(name_or_path)
    if text.endswith(".toml") or "/" in text or "\\" in text:
        return Path(text)
    path = PROFILE_DIR / f"{text}.toml"
    if not path.is_file():
        raise ProfileError(
            f"unknown profile {text!r}; shipped profiles: {', '.join(available_profiles())}"
        )
    return path


def load_profile(name_or_path: str | Path) -> LoadedProfile:
    """Load a shipped profile by name (``"vp20"``) or any profile TOML file by path."""
    path = resolve_profile_path(name_or_path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ProfileError(f"profile file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path.name}: not valid TOML: {exc}") from None
    return parse_profile(data, source=path.name, name=path.stem)


def parse_profile(data: dict[str, Any], source: str, name: str) -> LoadedProfile:
    """Build a ``LoadedProfile`` from already-parsed TOML; ``source`` prefixes error messages."""
    expected_tables = {"device", "hardware", *_NESTED}
    _reject_unknown(data, expected_tables, source, "top level")
    device_table = _table(data, "device", source)
    nested = {
        key: _build(cls, _table(data, key, source), source, key) for key, cls in _NESTED.items()
    }
    scalar_fields = [f.name for f in dataclasses.fields(DeviceProfile) if f.name not in _NESTED]
    device_values = _fields_from(device_table, DeviceProfile, scalar_fields, source, "device")
    device = DeviceProfile(**device_values, **nested)
    hardware = _build(HardwareProfile, _table(data, "hardware", source), source, "hardware")
    _check_consistency(device, hardware, source)
    return LoadedProfile(name=name, device=device, hardware=hardware)


def _table(data: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise ProfileError(f"{source}: missing table [{key}]")
    return value


def _reject_unknown(table: dict[str, Any], known: set[str], source: str, where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise ProfileError(f"{source}: [{where}] unknown key {unknown[0]!r}")


def _build(cls: Any, table: dict[str, Any], source: str, where: str) -> Any:
    names = [f.name for f in dataclasses.fields(cls)]
    return cls(**_fields_from(table, cls, names, source, where))


def _fields_from(
    table: dict[str, Any], cls: Any, names: list[str], source: str, where: str
) -> dict[str, Any]:
    _reject_unknown(table, set(names), source, where)
    types = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key in names:
        if key not in table:
            raise ProfileError(f"{source}: [{where}] missing key {key!r}")
        values[key] = _coerce(table[key], types[key], f"{source}: [{where}] {key}")
    return values


def _coerce(value: Any, type_name: str, label: str) -> Any:
    if type_name == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProfileError(f"{label}: expected an integer, got {value!r}")
        if value < 0:
            raise ProfileError(f"{label}: must not be negative, got {value}")
        return value
    if type_name == "bool":
        if not isinstance(value, bool):
            raise ProfileError(f"{label}: expected true or false, got {value!r}")
        return value
    if type_name == "str":
        if not isinstance(value, str) or not value:
            raise ProfileError(f"{label}: expected a non-empty string, got {value!r}")
        return value
    if type_name.startswith("tuple[int"):
        if not isinstance(value, list) or not value:
            raise ProfileError(f"{label}: expected a non-empty list of integers, got {value!r}")
        items = tuple(_coerce(v, "int", label) for v in value)
        if any(v == 0 for v in items) or list(items) != sorted(set(items)):
            raise ProfileError(f"{label}: expected positive integers in increasing order")
        return items
    raise ProfileError(f"{label}: unsupported field type {type_name}")  # pragma: no cover


def _check_consistency(device: DeviceProfile, hardware: HardwareProfile, source: str) -> None:
    """Cross-field rules: ranges ordered, defaults inside them, positive physical constants."""

    def need(ok: bool, key: str, why: str) -> None:
        if not ok:
            raise ProfileError(f"{source}: {key}: {why}")

    a, d, p = device.alarms, device.drug, device.patient_bolus
    need(device.reservoir_capacity_nl > 0, "[device] reservoir_capacity_nl", "must be positive")
    need(device.stroke_volume_nl > 0, "[device] stroke_volume_nl", "must be positive")
    need(
        0 < device.min_rate_nl_per_day <= device.max_rate_nl_per_day,
        "[device] min_rate_nl_per_day",
        "must be positive and not above max_rate_nl_per_day",
    )
    need(
        device.min_rate_nl_per_day <= device.safe_rate_nl_per_day <= device.max_rate_nl_per_day,
        "[device] safe_rate_nl_per_day",
        "must lie within [min_rate_nl_per_day, max_rate_nl_per_day]",
    )
    need(device.max_flex_steps >= 1, "[device] max_flex_steps", "must be at least 1")
    need(device.eri_remaining_ppm < 1_000_000, "[device] eri_remaining_ppm", "must be below 1e6")
    need(device.log_capacity >= 1, "[device] log_capacity", "must be at least 1")
    need(device.daily_log_capacity >= 1, "[device] daily_log_capacity", "must be at least 1")
    need(
        d.soft_max_daily_dose_ng <= d.hard_max_daily_dose_ng,
        "[drug] soft_max_daily_dose_ng",
        "must not exceed hard_max_daily_dose_ng",
    )
    need(
        0 < d.min_bolus_duration_s <= d.max_bolus_duration_s,
        "[drug] min_bolus_duration_s",
        "must be positive and not above max_bolus_duration_s",
    )
    need(
        p.min_duration_s <= p.max_duration_s,
        "[patient_bolus] min_duration_s",
        "above max_duration_s",
    )
    need(p.min_lockout_s <= p.max_lockout_s, "[patient_bolus] min_lockout_s", "above max_lockout_s")
    need(
        a.low_reservoir_min_nl <= a.low_reservoir_default_nl <= a.low_reservoir_max_nl,
        "[alarms] low_reservoir_default_nl",
        "must lie within [low_reservoir_min_nl, low_reservoir_max_nl]",
    )
    need(
        0 < a.critical_interval_min_s <= a.critical_interval_default_s <= a.critical_interval_max_s,
        "[alarms] critical_interval_default_s",
        "must lie within [critical_interval_min_s, critical_interval_max_s] (min > 0)",
    )
    need(a.noncritical_interval_s > 0, "[alarms] noncritical_interval_s", "must be positive")
    need(hardware.battery_capacity_nas > 0, "[hardware] battery_capacity_nas", "must be positive")
    need(hardware.nvm_size_bytes > 0, "[hardware] nvm_size_bytes", "must be positive")
    c = device.clock
    need(
        0 < c.earliest_pump_time_s < c.latest_pump_time_s < 0xFFFF_FFFF,
        "[clock] latest_pump_time_s",
        "must lie after earliest_pump_time_s (> 0) and before 2^32 - 1",
    )
