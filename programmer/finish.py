"""The Finish view: current and new settings side by side, shown before anything is written.

Why: real clinician programmers have a mandatory Finish screen, because the last look before the
pump is written is where a wrong unit, a wrong concentration or a forgotten stopped pump gets
caught.  Every state-changing ``pumpctl`` command builds one of these, prints it (text, or a dict
inside the ``--json`` document) and only then asks for confirmation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from protocol.catalog import CATHETER_STORED, RefillFlag, StageWarning
from protocol.enums import ChangeKind
from protocol.units import format_mcg, format_utc_offset, mcg, ml

from .clinic_time import local_iso
from .clinical import StagedRefillSummary, StagedSummary
from .flex_grid import grid_text, week_grid
from .therapy import describe_change
from .units import format_duration
from .views import days_between, days_to_low_reservoir, iso_date, iso_time

STOP_WARNING = (
    "The pump will STOP delivering baclofen and stays stopped until `pumpctl resume`. "
    "Abrupt withdrawal is dangerous: finish this session by resuming or programming therapy."
)

WARNING_TEXT = {
    StageWarning.SOFT_DOSE_LIMIT: "daily dose above the drug library's soft limit",
    StageWarning.TITRATION_INCREASE_OVER_LIMIT: "increase larger than the titration limit",
    StageWarning.SECOND_INCREASE_WITHIN_24H: "second dose increase within 24 hours",
    StageWarning.CONCENTRATION_CHANGED_NEEDS_BRIDGE: (
        "concentration changed: program a bridge bolus (`pumpctl bridge`)"
    ),
    StageWarning.LOW_RESERVOIR_SOON: "the reservoir reaches its low-reservoir level soon",
    StageWarning.PRIME_INTO_FULL_CATHETER: "the catheter already holds drug: the prime pushes "
    "it into the patient",
}


@dataclass(frozen=True, slots=True)
class WarningNumbers:
    """The pump's numbers behind its warnings (a stage summary, a patient-bolus summary)."""

    value_ng: int  # the daily dose (or worst day) compared
    baseline_ng: int = 0  # titration baseline, 0: none
    change_permille: int = 0  # against the baseline, in 0.1 %
    titration_limit_pct: int = 0
    soft_limit_ng: int = 0
    to_patient_ng: int = 0  # what a bolus brings to the patient
    what: str = "daily dose"


def _percent(permille: int) -> str:
    sign = "+" if permille >= 0 else "-"
    whole, tenth = divmod(abs(permille), 10)
    return f"{sign}{whole}.{tenth} %"


def _per_day(ng: int) -> str:
    return f"{format_mcg(ng)}/day"


def numbered_warnings(bits: int, numbers: WarningNumbers | None) -> list[str]:
    """Each warning as a sentence with the pump's numbers: baseline, change in %, limit."""
    if numbers is None:
        return warning_names(bits)
    n = numbers
    lines = []
    for flag in StageWarning:
        if not bits & flag:
            continue
        if flag is StageWarning.SOFT_DOSE_LIMIT and n.soft_limit_ng:
            lines.append(
                f"{n.what} {_per_day(n.value_ng)} is above the drug library's soft limit of "
                f"{_per_day(n.soft_limit_ng)}"
            )
        elif flag is StageWarning.TITRATION_INCREASE_OVER_LIMIT and n.baseline_ng:
            lines.append(
                f"{n.what} {_per_day(n.value_ng)} is {_percent(n.change_permille)} over the "
                f"baseline of {_per_day(n.baseline_ng)} (the lowest in force in the last 24 h)"
                f": above the titration limit of +{n.titration_limit_pct} %"
            )
        elif flag is StageWarning.SECOND_INCREASE_WITHIN_24H and n.baseline_ng:
            lines.append(
                f"second dose increase within 24 hours ({_percent(n.change_permille)} over the "
                f"baseline of {_per_day(n.baseline_ng)}; titrate once per 24 h)"
            )
        elif flag is StageWarning.PRIME_INTO_FULL_CATHETER:
            lines.append(
                f"the catheter already holds drug: this prime pushes "
                f"{format_mcg(n.to_patient_ng)} into the patient; prime only a new or emptied "
                "catheter"
            )
        else:
            lines.extend(warning_names(int(flag)))
    unknown = bits & ~sum(int(f) for f in StageWarning)
    if unknown:
        lines.append(f"unknown warning bits {unknown:#x}")
    return lines


@dataclass
class Row:
    label: str
    current: str
    new: str


@dataclass
class FinishView:
    """What will change, for people (``text``) and for ``--json`` (``to_dict``)."""

    action: str
    rows: list[Row] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    current: dict[str, Any] = field(default_factory=dict)
    new: dict[str, Any] = field(default_factory=dict)
    warning_bits: int = 0
    #: Extra lines after the table (the flex week grid).
    grid: list[str] = field(default_factory=list)

    def add(self, label: str, current: Any, new: Any) -> None:
        self.rows.append(Row(label, _text(current), _text(new)))

    def text(self) -> str:
        lines = [f"Finish: {self.action}"]
        if self.rows:
            width = max(len(r.label) for r in self.rows)
            cur = max(len("current"), *(len(r.current) for r in self.rows))
            lines.append(f"  {'':<{width}}  {'current':<{cur}}  new")
            for row in self.rows:
                marker = "  " if row.current == row.new else "* "
                lines.append(f"{marker}{row.label:<{width}}  {row.current:<{cur}}  {row.new}")
        lines += self.grid
        lines += [f"  WARNING: {w}" for w in self.warnings]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "current": self.current,
            "new": self.new,
            "warnings": list(self.warnings),
            "warning_bits": self.warning_bits,
            "notes": list(self.notes),
        }


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):  # exact decimal, never rounded to 6 significant figures
        return format(Decimal(repr(value)).normalize(), "f")
    return str(value)


def warning_names(bits: int) -> list[str]:
    names = []
    for flag in StageWarning:
        if bits & flag:
            names.append(WARNING_TEXT.get(flag, flag.name or str(int(flag))))
    unknown = bits & ~sum(int(f) for f in StageWarning)
    if unknown:
        names.append(f"unknown warning bits {unknown:#x}")
    return names


def for_prescription(
    action: str,
    status: Mapping[str, Any],
    prescription: Mapping[str, Any],
    change: Mapping[str, Any],
    summary: StagedSummary,
) -> FinishView:
    """Old therapy against the staged one, with the pump's own dose, rate and dates."""
    now = int(status["pump_time"])
    current = {
        "therapy": describe_change(prescription["therapy"]),
        "daily_dose_mcg": mcg(int(status["daily_dose_ng"])),
        "rate_ml_per_day": ml(int(status["rate_nl_per_day"])),
        "concentration_mcg_per_ml": int(status["concentration_mcg_per_ml"]),
        "low_reservoir_date": iso_date(int(status["low_reservoir_time"])),
        "days_to_low_reservoir": days_between(now, int(status["low_reservoir_time"])),
        # the pump's refill date is when the low-reservoir alarm would sound
        "next_refill_date": iso_date(int(status["low_reservoir_time"])),
    }
    new = {
        "therapy": describe_change(change),
        "daily_dose_mcg": mcg(summary.daily_dose_ng),
        "rate_ml_per_day": ml(summary.rate_nl_per_day),
        "concentration_mcg_per_ml": int(status["concentration_mcg_per_ml"]),
        "next_refill_date": iso_date(summary.next_refill_time),
        "low_reservoir_date": iso_date(summary.low_reservoir_time),
        "days_to_low_reservoir": days_between(now, summary.low_reservoir_time),
        "bolus_duration_s": summary.duration_s or None,
        "bolus_to_patient_mcg": mcg(summary.to_patient_ng) if summary.duration_s else None,
        "worst_day_mcg": mcg(summary.worst_day_ng),
        "titration_baseline_mcg_per_day": mcg(summary.baseline_ng) if summary.baseline_ng else None,
        "change_vs_baseline_pct": summary.change_permille / 10 if summary.baseline_ng else None,
    }
    view = FinishView(action, current=current, new=new, warning_bits=summary.warnings)
    view.add("therapy", current["therapy"], new["therapy"])
    view.add("daily dose (mcg/day)", current["daily_dose_mcg"], new["daily_dose_mcg"])
    view.add("rate (mL/day)", current["rate_ml_per_day"], new["rate_ml_per_day"])
    view.add(
        "concentration (mcg/mL)",
        current["concentration_mcg_per_ml"],
        new["concentration_mcg_per_ml"],
    )
    view.add("low-reservoir date", current["low_reservoir_date"], new["low_reservoir_date"])
    view.add("next refill date", current["next_refill_date"], new["next_refill_date"])
    if summary.duration_s:
        view.add("bolus duration", None, format_duration(summary.duration_s))
        view.add("to the patient (mcg)", None, new["bolus_to_patient_mcg"])
    if summary.baseline_ng and summary.duration_s == 0 and change.get("kind") != 0:
        view.add(
            "change vs baseline",
            _per_day(summary.baseline_ng),
            _percent(summary.change_permille),
        )
    if summary.worst_day_ng and summary.worst_day_ng != summary.daily_dose_ng:
        view.add("worst day (mcg/day)", None, new["worst_day_mcg"])
    if change.get("kind") == ChangeKind.FLEX:  # the new week at a glance
        grid = week_grid(change)
        view.grid = grid_text(grid)
        new["week_grid_mcg_per_day"] = grid
    view.warnings = numbered_warnings(
        summary.warnings,
        WarningNumbers(
            summary.daily_dose_ng,
            summary.baseline_ng,
            summary.change_permille,
            summary.titration_limit_pct,
            summary.soft_limit_ng,
            summary.to_patient_ng,
        ),
    )
    if change.get("kind") == 0:
        view.warnings.insert(0, STOP_WARNING)
    return view


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def for_refill(status: Mapping[str, Any], summary: StagedRefillSummary) -> FinishView:
    """The refill as the pump staged it: reservoir, concentration, the rate for the same dose,
    the day totals, the dates, the discrepancy against the pump's own threshold and the bridge.
    Every figure is the pump's (STATUS for the current column, the stage summary for the new);
    nothing is recomputed here."""
    now = int(status["pump_time"])
    flags = summary.flags
    old_conc = int(summary["old_concentration_mcg_per_ml"])
    new_conc = int(summary["concentration_mcg_per_ml"])
    discrepancy = int(summary["discrepancy_nl"])
    days = [mcg(int(d)) for d in summary["day_doses_ng"]]
    volumes = [ml(int(v)) for v in summary["day_volumes_nl"]]
    catheter_mm = int(summary["catheter_length_mm"])
    bridge: dict[str, Any] | None = None
    if flags & RefillFlag.BRIDGE_INCLUDED:
        bridge = {
            "from_concentration_mcg_per_ml": old_conc,
            "volume_ml": ml(int(summary["bridge_volume_nl"])),
            "dose_mcg": mcg(int(summary["bridge_dose_ng"])),
            "rate_ml_per_day": ml(int(summary["bridge_rate_nl_per_day"])),
            "duration_s": int(summary["bridge_duration_s"]),
            "end_time": iso_time(int(summary["bridge_end_time"])),
        }
    current = {
        "reservoir_ml": ml(int(summary["expected_nl"])),
        "concentration_mcg_per_ml": old_conc,
        "daily_dose_mcg": mcg(int(summary["daily_dose_ng"])),
        "day_doses_mcg": dict(zip(_WEEKDAYS, days, strict=True)),
        "rate_ml_per_day": ml(int(summary["old_rate_nl_per_day"])),
        "low_reservoir_date": iso_date(int(status["low_reservoir_time"])),
        "days_to_low_reservoir": days_to_low_reservoir(status),
        "catheter_cm": None if catheter_mm == CATHETER_STORED else catheter_mm / 10,
    }
    new = {
        "withdrawn_ml": ml(int(summary["withdrawn_nl"])),
        "expected_withdrawal_ml": ml(int(summary["expected_nl"])),
        "discrepancy_ml": ml(discrepancy),
        "discrepancy_limit_ml": ml(int(summary["discrepancy_limit_nl"])),
        "discrepancy_warning": bool(flags & RefillFlag.DISCREPANCY_WARNING),
        "reservoir_ml": ml(int(summary["reservoir_nl"])),
        "concentration_mcg_per_ml": new_conc,
        "daily_dose_mcg": mcg(int(summary["daily_dose_ng"])),
        "day_doses_mcg": dict(zip(_WEEKDAYS, days, strict=True)),
        "day_volumes_ml": dict(zip(_WEEKDAYS, volumes, strict=True)),
        "rate_ml_per_day": ml(int(summary["rate_nl_per_day"])),
        "low_reservoir_date": iso_date(int(summary["low_reservoir_time"])),
        "days_to_low_reservoir": days_between(now, int(summary["low_reservoir_time"])),
        "next_refill_date": iso_date(int(summary["next_refill_time"])),
        "catheter_cm": current["catheter_cm"],
        "bridge": bridge,
        "bridge_skipped": bool(flags & RefillFlag.BRIDGE_SKIPPED),
    }
    action = "refill"
    if old_conc and new_conc != old_conc:
        action += f" {old_conc} -> {new_conc} mcg/mL"
        action += " with its bridge bolus" if bridge else " WITHOUT a bridge bolus"
    view = FinishView(action, current=current, new=new)
    view.add("reservoir (mL)", current["reservoir_ml"], new["reservoir_ml"])
    view.add("concentration (mcg/mL)", old_conc, new_conc)
    view.add("daily dose (mcg/day)", current["daily_dose_mcg"], new["daily_dose_mcg"])
    if len(set(days)) > 1:  # flex: the day totals, which a refill does not change
        for day, dose in zip(_WEEKDAYS, days, strict=True):
            view.add(f"  {day} (mcg/day)", dose, dose)
    view.add("rate for the same dose (mL/day)", current["rate_ml_per_day"], new["rate_ml_per_day"])
    view.add("withdrawn vs expected (mL)", new["expected_withdrawal_ml"], new["withdrawn_ml"])
    view.add("low-reservoir date", current["low_reservoir_date"], new["low_reservoir_date"])
    view.add(
        "days to low reservoir", current["days_to_low_reservoir"], new["days_to_low_reservoir"]
    )
    view.add("next refill date", current["low_reservoir_date"], new["next_refill_date"])
    view.add("catheter (cm)", current["catheter_cm"], new["catheter_cm"])
    if len(set(volumes)) > 1:
        view.grid.append(
            "  volume per day at the new concentration (mL): "
            + ", ".join(f"{d} {v:g}" for d, v in zip(_WEEKDAYS, volumes, strict=True))
        )
    if bridge is not None:
        view.grid += [
            f"  bridge bolus: {bridge['volume_ml']:g} mL of {old_conc} mcg/mL left in the tubing "
            f"and catheter = {bridge['dose_mcg']:g} mcg,",
            f"    pushed at {bridge['rate_ml_per_day']:g} mL/day ({new['daily_dose_mcg']:g} "
            f"mcg/day) for {format_duration(bridge['duration_s'])}, until {bridge['end_time']}; "
            f"then {new['rate_ml_per_day']:g} mL/day",
        ]
    if new["discrepancy_warning"]:
        view.warnings.append(
            f"withdrawn volume differs from the pump's estimate by {ml(discrepancy):+g} mL "
            f"(more than {new['discrepancy_limit_ml']:g} mL): check for a pocket fill (drug "
            "outside the reservoir) before refilling"
        )
    if new["bridge_skipped"]:
        view.warnings.append(
            f"concentration changes and the bridge is skipped: the tubing and catheter still hold "
            f"{old_conc} mcg/mL, which the pump will push at the new concentration's rate "
            "(program `pumpctl bridge` or watch the patient); the pump logs the skipped bridge"
        )
    return view


def for_settings(
    action: str, rows: list[tuple[str, Any, Any]], warnings: list[str] | None = None
) -> FinishView:
    """A simple before/after view (alarms, patient bolus, clock, stop/resume, unpair)."""
    view = FinishView(action)
    for label, current, new in rows:
        view.add(label, current, new)
        key = label.split(" (")[0].replace(" ", "_").replace("-", "_")
        view.current[key] = current
        view.new[key] = new
    view.warnings = list(warnings or [])
    return view


#: A clock change larger than this (either direction) is a warning in the Finish view.
LARGE_CLOCK_JUMP_S = 15 * 60


def clock_jump_warning(pump_time: int, new_time: int) -> str | None:
    """The Finish-view warning for moving the pump clock by more than 15 minutes, else None."""
    jump = new_time - pump_time
    if abs(jump) <= LARGE_CLOCK_JUMP_S:
        return None
    size = format_duration(abs(jump))
    if jump < 0:
        return (
            f"the pump clock moves BACK by {size} (from {iso_time(pump_time)} to "
            f"{iso_time(new_time)}): log records written after this carry earlier times than "
            "those before it, and today's flex steps and daily limits repeat; check that this "
            "computer's clock is right"
        )
    return (
        f"the pump clock moves FORWARD by {size} (from {iso_time(pump_time)} to "
        f"{iso_time(new_time)}): flex steps and reminders fall due at the new times; check that "
        "this computer's clock is right"
    )


def offset_change_warning(pump_offset_s: int, new_offset_s: int) -> str | None:
    """The Finish-view warning for changing the clinic's UTC offset, else None."""
    if pump_offset_s == new_offset_s:
        return None
    move = new_offset_s - pump_offset_s
    return (
        f"the clinic's UTC offset changes from {format_utc_offset(pump_offset_s)} to "
        f"{format_utc_offset(new_offset_s)}: flex steps and the daily totals' midnight move to "
        f"the new local time ({format_duration(abs(move))} "
        f"{'earlier' if move > 0 else 'later'} in UTC)"
    )


def for_clock(
    pump_time: int, new_time: int, pump_offset_s: int = 0, new_offset_s: int = 0
) -> FinishView:
    """The pump's time (UTC), zone offset and local time now and after the change, with a
    warning on a large jump and on a changed offset."""
    warnings = [
        w
        for w in (
            clock_jump_warning(pump_time, new_time),
            offset_change_warning(pump_offset_s, new_offset_s),
        )
        if w
    ]
    return for_settings(
        "set the pump clock",
        [
            ("pump time", iso_time(pump_time), iso_time(new_time)),
            ("UTC offset", format_utc_offset(pump_offset_s), format_utc_offset(new_offset_s)),
            (
                "local time",
                local_iso(pump_time, pump_offset_s),
                local_iso(new_time, new_offset_s),
            ),
            ("difference (s)", "", new_time - pump_time),
        ],
        warnings,
    )


def for_patient_bolus(
    current: Mapping[str, Any], new: Mapping[str, Any], summary: Mapping[str, Any]
) -> FinishView:
    """Patient-bolus settings before and after, with the pump's worst day (basal + every allowed
    patient bolus), checked like a dose increase: its warnings carry the pump's numbers."""
    rows: list[tuple[str, Any, Any]] = [
        ("enabled", bool(current["enabled"]), bool(new["enabled"])),
        ("dose", format_mcg(int(current["dose_ng"])), format_mcg(int(new["dose_ng"]))),
        (
            "duration",
            format_duration(int(current["duration_s"])),
            format_duration(int(new["duration_s"])),
        ),
        ("max per day", int(current["max_per_day"]), int(new["max_per_day"])),
        (
            "lockout",
            format_duration(int(current["lockout_s"])),
            format_duration(int(new["lockout_s"])),
        ),
        ("basal (mcg/day)", mcg(int(summary["daily_dose_ng"])), mcg(int(summary["daily_dose_ng"]))),
        (
            "worst day (mcg/day)",
            mcg(int(summary["current_worst_day_ng"])),
            mcg(int(summary["worst_day_ng"])),
        ),
    ]
    numbers = WarningNumbers(
        int(summary["worst_day_ng"]),
        int(summary["baseline_ng"]),
        int(summary["change_permille"]),
        int(summary["titration_limit_pct"]),
        int(summary["soft_limit_ng"]),
        what="worst day (basal + all patient boluses)",
    )
    bits = int(summary["warnings"])
    view = for_settings("configure patient bolus", rows, numbered_warnings(bits, numbers))
    view.warning_bits = bits
    view.new["allowance_mcg"] = mcg(int(summary["allowance_ng"]))
    view.new["hard_limit_mcg_per_day"] = mcg(int(summary["hard_limit_ng"]))
    if int(summary["baseline_ng"]):
        view.new["titration_baseline_mcg_per_day"] = mcg(int(summary["baseline_ng"]))
        view.new["change_vs_baseline_pct"] = int(summary["change_permille"]) / 10
    return view
