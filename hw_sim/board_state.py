"""The hardware's own state across ``vpump serve`` restarts: what the NVM image cannot hold.

Why: the firmware's NVM holds what the firmware knows - its estimate of the reservoir, its
totals.  The *truth* lives in the physical parts: the drug really left in the reservoir, the
charge really drawn from the cell, the fluid column in the catheter, the board clock.  A real
pump keeps all of that through a power cycle, so the virtual one must too, or a restarted pump
would find its reservoir empty and its battery new.  This module saves those parts to a small
JSON file beside the NVM image (``<state>.board.json``), written atomically (temp file and
rename), and restores them before the firmware boots.

``clean`` records whether the file was written at a clean shutdown; if not (the process was
killed), the next boot is a POWER_LOSS reset, and the hardware state is as of the last save.
"""

from __future__ import annotations

import json
import os
from collections import deque
from pathlib import Path
from typing import Any

from .board import VirtualBoard

FORMAT = 1


def sidecar_path(nvm_path: Path) -> Path:
    return nvm_path.with_name(nvm_path.name + ".board.json")


def export_state(board: VirtualBoard, clean: bool) -> dict[str, Any]:
    reservoir, motor, battery, catheter = (
        board.reservoir,
        board.motor,
        board.battery,
        board.catheter,
    )
    rng_version, rng_internal, rng_gauss = board.rng.getstate()
    return {
        "format": FORMAT,
        "clean": clean,
        "now": board.now,
        "seed": board.seed,
        "rng": [rng_version, list(rng_internal), rng_gauss],
        "reservoir": {
            "volume_nl": reservoir.volume_nl,
            "mass_pg": reservoir.mass_pg,
            "pocket_fill_armed": reservoir.pocket_fill_armed,
            "pocket_pg": reservoir.pocket_pg,
            "pocket_nl": reservoir.pocket_nl,
        },
        "motor": {
            "systematic_error_ppm": motor.systematic_error_ppm,
            "stalled": motor.stalled,
            "strokes_commanded": motor.strokes_commanded,
            "strokes_total": motor.strokes_total,
            "pumped_nl": motor.pumped_nl,
            "delivered_nl": motor.delivered_nl,
            "delivered_pg": motor.delivered_pg,
            "air_nl": motor.air_nl,
            "carry_pl": motor._carry_pl,
        },
        "battery": {
            "installed_at": battery.installed_at,
            "strokes_charged": battery.strokes_charged,
            "bytes_charged": battery.bytes_charged,
            "extra_drain_nas": battery.extra_drain_nas,
        },
        "catheter": {
            "column": [list(part) for part in catheter._column],
            "to_patient_nl": catheter.to_patient_nl,
            "to_patient_pg": catheter.to_patient_pg,
        },
    }


def import_state(board: VirtualBoard, state: dict[str, Any]) -> None:
    """Restore a board created with ``start_time=state["now"]``; raises ValueError if unusable."""
    if state.get("format") != FORMAT:
        raise ValueError(f"unknown board state format {state.get('format')!r}")
    try:
        version, internal, gauss = state["rng"]
        board.rng.setstate((version, tuple(internal), gauss))
        for name, value in state["reservoir"].items():
            setattr(board.reservoir, name, value)
        motor = dict(state["motor"])
        board.motor._carry_pl = motor.pop("carry_pl")
        for name, value in motor.items():
            setattr(board.motor, name, value)
        for name, value in state["battery"].items():
            setattr(board.battery, name, value)
        catheter = state["catheter"]
        board.catheter._column = deque([list(part) for part in catheter["column"]])
        board.catheter.to_patient_nl = catheter["to_patient_nl"]
        board.catheter.to_patient_pg = catheter["to_patient_pg"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"board state is damaged: {exc}") from exc


def load(path: Path) -> dict[str, Any] | None:
    """The saved state, or None when there is none (a pump fresh from the factory)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise ValueError(f"{path}: not a board state file ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a board state file")
    return data


def save(board: VirtualBoard, path: Path, clean: bool) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as handle:
        json.dump(export_state(board, clean), handle, separators=(",", ":"))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
