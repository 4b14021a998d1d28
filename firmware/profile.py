"""Device profile: every number that differs between pump models or that is a simulator choice.

Why: a value we chose (maximum rate, alarm ranges, battery constants...) must live in data, not in
code, and be documented as ours.  Profiles are TOML files under ``hw_sim/profiles/``; the board
loads one and hands the firmware this immutable view.  All fields are integers in the units their
names say (``_nl`` nanolitres, ``_ng`` nanograms, ``_s`` seconds, ``_mcg_per_ml`` micrograms per
millilitre, ``_ppm`` parts per million).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DrugLibrary:
    drug_name: str
    concentrations_mcg_per_ml: tuple[int, ...]  # allowed concentrations
    hard_max_daily_dose_ng: int  # cannot be overridden
    soft_max_daily_dose_ng: int  # above it: a warning that needs acknowledgement
    titration_soft_increase_pct: int  # an increase above this within 24 h is a soft-limit warning
    titration_window_s: int  # 24 h
    max_bolus_ng: int
    min_bolus_duration_s: int
    max_bolus_duration_s: int


@dataclass(frozen=True, slots=True)
class PatientBolusLimits:
    max_dose_ng: int
    min_duration_s: int
    max_duration_s: int
    max_per_day_limit: int  # the largest "boluses per 24 h" a clinician may configure
    min_lockout_s: int
    max_lockout_s: int


@dataclass(frozen=True, slots=True)
class AlarmSettings:
    low_reservoir_default_nl: int
    low_reservoir_min_nl: int
    low_reservoir_max_nl: int
    critical_interval_default_s: int
    critical_interval_min_s: int
    critical_interval_max_s: int
    noncritical_interval_s: int  # "about hourly" single tone
    refill_reminder_default_s: int  # remind this long before the computed low-reservoir date


@dataclass(frozen=True, slots=True)
class ClockLimits:
    """The pump times SET_CLOCK accepts (Unix seconds, UTC), both ends included.

    A clock set before any pump of the model existed, or so late that the 32-bit pump time would
    run out during the pump's service life, is refused (CLOCK_INVALID): log times going back to
    1970, or every later time frozen at 2^32 - 1, would make the therapy log meaningless.
    """

    earliest_pump_time_s: int  # no pump of this model existed before this date
    latest_pump_time_s: int  # leaves more than a service life of 32-bit pump time after it


#: The shipped profiles' ``daily_log_capacity``: 4,096 days are 11.2 years, more than a service life.
DAILY_LOG_CAPACITY = 4_096


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    model: str  # e.g. "VP-20"
    firmware_version: str
    reservoir_capacity_nl: int
    stroke_volume_nl: int
    min_rate_nl_per_day: int
    max_rate_nl_per_day: int
    safe_rate_nl_per_day: int  # rate after a low battery reset or on an empty reservoir
    pump_tubing_volume_nl: int  # 140_000 (0.140 mL)
    catheter_volume_nl_per_cm: int  # 2_600 (0.0026 mL/cm)
    refill_discrepancy_warn_nl: int  # 1 mL (20 mL pump) or 2 mL (40 mL pump)
    max_flex_steps: int  # 13
    eri_remaining_ppm: int  # battery gauge level that raises the elective replacement indicator
    eos_after_eri_s: int  # 90 days
    log_capacity: int  # records per log ring (therapy, alarm, audit each)
    max_pairings: int
    auth_failures_before_lockout: int  # failed pairings (only those) that lock pairing
    auth_lockout_s: int  # pairing locked this long; a wand placement lifts it sooner
    pairing_window_s: int  # how long a wand placement keeps the pairing window open
    persist_interval_s: int  # longest time delivered totals may go unpersisted
    drug: DrugLibrary
    patient_bolus: PatientBolusLimits
    alarms: AlarmSettings
    clock: ClockLimits
    #: Records of the daily-totals ring (one a day: 4,096 hold more than a service life).
    daily_log_capacity: int = DAILY_LOG_CAPACITY
    #: The proximity rule: requests that change the pump need the programmer head over it
    #: (PROGRAMMER_HEAD_AWAY otherwise); reads do not.  False: only pairing needs the head.
    writes_need_head: bool = True
