"""Shared steps for firmware tests: fill, program, expected integrals."""

from __future__ import annotations

from firmware.prescription import TherapyChange
from firmware.pump import PumpFirmware


def program(pump: PumpFirmware, change: TherapyChange, now: int) -> int:
    """Stage and commit a change, acknowledging the warnings it raises; returns the new version."""
    staged = pump.stage(change, now)
    return pump.commit(staged.staged_hash, staged.active_version, staged.warnings, now)
