"""``vpump trial --patient NAME|FILE.toml [--seed N] [--json]``: the screening trial before implant.

Why: the clinic's step before surgery (a 50, 75, 100 mcg lumbar-puncture bolus series, the
decision and the label's start dose) as a command, on a shipped virtual patient, a population
variant of one (``--seed``) or a profile file.  Deterministic: the same arguments print the same
bytes.  Floats are rounded here, at the edge, to 6 decimals.  Exit codes: 0 done (candidate or
not), 2 usage error or a malformed patient profile.
"""

from __future__ import annotations

import json
from typing import Any

import click

from patient.profiles import PatientProfile, PatientProfileError, draw, load_patient_profile
from patient.screening import ScreeningReport, screening_trial


@click.command("trial")
@click.option(
    "--patient",
    "patient_name",
    required=True,
    metavar="spinal_adult|cerebral_adult|child|FILE.toml",
    help="A shipped virtual patient or a patient profile file.",
)
@click.option("--seed", type=int, default=None, help="Draw a population variant with this seed.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (sorted keys).")
def trial_command(patient_name: str, seed: int | None, as_json: bool) -> None:
    """Run the intrathecal baclofen screening trial on a virtual patient and report it."""
    try:
        profile = load_patient_profile(patient_name)
        if seed is not None:
            profile = draw(profile, seed)
    except PatientProfileError as exc:
        raise click.UsageError(str(exc)) from None
    label = profile.name if seed is None else f"{profile.name} (seed {seed})"
    report = screening_trial(profile.params, label)
    click.echo(_to_json(report, profile) if as_json else _to_text(report))


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(item) for item in value]
    return value


def _to_json(report: ScreeningReport, profile: PatientProfile) -> str:
    document = report.to_dict()
    document["seed"] = profile.seed
    return json.dumps(_rounded(document), sort_keys=True, indent=2)


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} h"


def _to_text(report: ScreeningReport) -> str:
    lines = [
        f"screening trial: {report.patient}",
        f"baseline Modified Ashworth score {report.baseline_ashworth_points:.2f}",
        f"response criterion: {report.criterion}",
    ]
    for bolus in report.boluses:
        lines += [
            "",
            f"bolus {bolus.dose_mcg:g} mcg at {bolus.given_at_h:g} h: "
            f"{'response' if bolus.responded else 'inadequate'}",
            f"  onset {_hours(bolus.onset_h)}, peak fall {bolus.peak_fall_points:.2f} points "
            f"at {bolus.peak_h:.2f} h, criterion met for {bolus.response_duration_h:.2f} h",
            "      t   lumbar CSF mcg/mL   effect site mcg/mL   Ashworth",
        ]
        lines += [
            f"  {p.t_h:5.1f}   {p.lumbar_csf_mcg_per_ml:17.4f}   "
            f"{p.effect_site_mcg_per_ml:18.4f}   {p.ashworth_points:8.2f}"
            for p in bolus.timeline
        ]
    lines.append("")
    if report.candidate:
        lines.append(
            f"decision: candidate (effective screening dose {report.effective_dose_mcg:g} mcg)"
        )
        lines.append(f"start dose: {report.start_dose_mcg_per_day:g} mcg/day")
    else:
        lines.append("decision: not a candidate")
    lines.append(f"rule: {report.start_dose_rule}")
    return "\n".join(lines)
