"""Shared fixtures for the patient model's tests."""

from __future__ import annotations

import pytest

from patient.parameters import PatientParameters
from patient.profiles import load_patient_profile


@pytest.fixture
def spinal() -> PatientParameters:
    """The shipped spinal-origin adult."""
    return load_patient_profile("spinal_adult").params
