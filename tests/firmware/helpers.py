"""Shared steps for firmware tests: fill, program, expected integrals."""

from __future__ import annotations

from firmware.prescription import TherapyChange
from firmware.pump import PumpFirmware


def program(pump: PumpFirmware, change: TherapyChange, now: int, ack: bool = True) -> int:
    """Stage and commit a change; returns the new version."""
    staged = pump.stage(change, now)
    return pump.commit(staged.staged_hash, staged.active_version, ack, now)
