"""The virtual patient at the catheter tip: CSF pharmacokinetics, effect, withdrawal, screening."""

from __future__ import annotations

from patient.model import PatientEvent, PatientStatus, VirtualPatient
from patient.parameters import PatientParameters
from patient.profiles import PatientProfile, PatientProfileError, draw, load_patient_profile
from patient.screening import ScreeningReport, screening_trial

__all__ = [
    "PatientEvent",
    "PatientParameters",
    "PatientProfile",
    "PatientProfileError",
    "PatientStatus",
    "ScreeningReport",
    "VirtualPatient",
    "draw",
    "load_patient_profile",
    "screening_trial",
]
