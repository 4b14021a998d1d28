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

Format 2 adds ``binding`` (written by :mod:`hw_sim.board.state_files`): the pump id, serial number and
run generation of the NVM image this file belongs to, and at a clean shutdown the SHA-256 of the
image, so a restart can refuse a side file and an image that do not belong together.  Every
field is checked (names and types) before anything is restored: a damaged file is refused with
its name, never half-applied.

The ``catheter`` section also holds the injected catheter faults and where the outflow went
(``occlusion_ppm``, ``leak_ppm``, ``outflow_fault``, ``to_tissue_nl``/``_pg``, ``blocked_nl``),
and a board with a patient at the catheter tip adds a ``patient`` section
(:meth:`hw_sim.hardware.patient_link.PatientLink.export_state`: the parameters, the concentrations, the
withdrawal clock and dependence, the totals and the newest events).  Both are optional within
format 2: a file without them (written before they existed, or by a board without a patient) is
a patent catheter and no patient.  A damaged patient section is refused like any other field.

A failed save (a full disk) raises OSError and leaves no temporary file behind.
"""

from __future__ import annotations

import json
import os
from collections import deque
from pathlib import Path
from typing import Any

from hw_sim.board.board import VirtualBoard
from hw_sim.hardware.catheter import Catheter
from hw_sim.hardware.patient_link import PatientLink

FORMAT = 2
#: Side files written before the binding existed (no ``binding``); adopted once, see state_files.
LEGACY_FORMAT = 1


def sidecar_path(nvm_path: Path) -> Path:
    return nvm_path.with_name(nvm_path.name + ".board.json")


def export_state(
    board: VirtualBoard, clean: bool, binding: dict[str, Any] | None = None
) -> dict[str, Any]:
    reservoir, motor, battery, catheter = (
        board.reservoir,
        board.motor,
        board.battery,
        board.catheter,
    )
    rng_version, rng_internal, rng_gauss = board.rng.getstate()
    state: dict[str, Any] = {
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
            "pump_bias_ppm": motor.pump_bias_ppm,
            "refill_variation_ppm": motor.refill_variation_ppm,
            "refills": motor.refills,
            "stalled": motor.stalled,
            "stall_from": motor.stall_from,
            "stall_until": _opt_time(motor.stall_until),
            "last_command": _opt_time(motor.last_command),
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
            **_catheter_faults(board),
        },
    }
    if board.patient_link is not None:
        state["patient"] = board.patient_link.export_state()
    if binding is not None:
        state["binding"] = binding
    return state


def _catheter_faults(board: VirtualBoard) -> dict[str, Any]:
    """The catheter's injected faults and where its outflow went (absent from files written
    before the bench could inject them: read as a patent catheter)."""
    catheter = board.catheter
    return {
        "occlusion_ppm": catheter.occlusion_ppm,
        "leak_ppm": catheter.leak_ppm,
        "outflow_fault": catheter.outflow_fault,
        "to_tissue_nl": catheter.to_tissue_nl,
        "to_tissue_pg": catheter.to_tissue_pg,
        "blocked_nl": board.motor.blocked_nl,
    }


#: Optional catheter fields, with the value a file without them means.
CATHETER_FAULT_DEFAULTS: dict[str, Any] = {
    "occlusion_ppm": 0,
    "leak_ppm": 0,
    "outflow_fault": None,
    "to_tissue_nl": 0,
    "to_tissue_pg": 0,
    "blocked_nl": 0,
}
OUTFLOW_FAULTS = (None, "disconnected", "tip_migrated")


def _check_catheter(saved: dict[str, Any]) -> None:
    """The optional catheter fault fields: all or none, each of its type and range."""
    present = set(CATHETER_FAULT_DEFAULTS) & set(saved)
    if not present:
        return
    if present != set(CATHETER_FAULT_DEFAULTS):
        missing = sorted(set(CATHETER_FAULT_DEFAULTS) - present)
        raise ValueError(f"'catheter' has some fault fields but not {missing}")
    for key in ("occlusion_ppm", "leak_ppm"):
        value = saved[key]
        if _kind(value) != "int" or not 0 <= value <= 1_000_000:
            raise ValueError(f"catheter.{key} is not an integer 0-1000000")
    for key in ("to_tissue_nl", "to_tissue_pg", "blocked_nl"):
        if _kind(saved[key]) != "int" or saved[key] < 0:
            raise ValueError(f"catheter.{key} is not a non-negative integer")
    if saved["outflow_fault"] not in OUTFLOW_FAULTS:
        raise ValueError(f"catheter.outflow_fault {saved['outflow_fault']!r} is not known")


def _kind(value: Any) -> str:
    return "bool" if isinstance(value, bool) else type(value).__name__


def _check_section(name: str, saved: Any, template: dict[str, Any]) -> None:
    if not isinstance(saved, dict):
        raise ValueError(f"{name!r} is not an object")
    if set(saved) != set(template):
        missing = sorted(set(template) - set(saved))
        extra = sorted(set(saved) - set(template))
        raise ValueError(f"{name!r} has missing fields {missing} / unknown fields {extra}")
    for key, expected in template.items():
        if _kind(saved[key]) != _kind(expected):
            raise ValueError(f"{name}.{key} is {_kind(saved[key])}, expected {_kind(expected)}")


def check_state(state: dict[str, Any]) -> None:
    """Names and types of every field, before anything is used; ValueError says which."""
    if state.get("format") not in (FORMAT, LEGACY_FORMAT):
        raise ValueError(f"unknown board state format {state.get('format')!r}")
    required = {"format", "clean", "now", "seed", "rng", "reservoir", "motor", "battery"}
    missing = sorted((required | {"catheter"}) - set(state))
    if missing:
        raise ValueError(f"fields missing: {', '.join(missing)}")
    if not isinstance(state["clean"], bool):
        raise ValueError("clean is not true/false")
    for key in ("now", "seed"):
        if _kind(state[key]) != "int" or state[key] < 0:
            raise ValueError(f"{key} is not a non-negative integer")
    rng = state["rng"]
    if not (
        isinstance(rng, list)
        and len(rng) == 3
        and _kind(rng[0]) == "int"
        and isinstance(rng[1], list)
        and all(_kind(v) == "int" for v in rng[1])
        and (rng[2] is None or isinstance(rng[2], float))
    ):
        raise ValueError("rng is not a generator state")
    column = state["catheter"].get("column") if isinstance(state["catheter"], dict) else None
    if not isinstance(column, list) or not all(
        isinstance(part, list) and len(part) == 2 and all(_kind(v) == "int" for v in part)
        for part in column
    ):
        raise ValueError("catheter.column is not a list of [nL, pg] pairs")
    _check_catheter(state["catheter"])
    if "patient" in state:
        delivered = state["catheter"].get("to_patient_pg")
        catheter = Catheter(0, 0, 0)  # only its total outflow is compared
        catheter.to_patient_pg = delivered if _kind(delivered) == "int" else 0
        try:
            PatientLink.restore(state["patient"], catheter)
        except ValueError as exc:
            raise ValueError(f"the patient section is damaged: {exc}") from None


def _opt_time(value: int | None) -> int:
    return -1 if value is None else value


def import_state(board: VirtualBoard, state: dict[str, Any]) -> None:
    """Restore a board created with ``start_time=state["now"]``; raises ValueError if unusable.

    Every section must have exactly the fields (and types) this version writes."""
    check_state(state)
    template = export_state(board, clean=False)
    for section in ("reservoir", "motor", "battery"):
        _check_section(section, state[section], template[section])

    def base(section: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in section.items() if k not in CATHETER_FAULT_DEFAULTS}

    _check_section("catheter", base(state["catheter"]), base(template["catheter"]))
    try:
        version, internal, gauss = state["rng"]
        board.rng.setstate((version, tuple(internal), gauss))
        for name, value in state["reservoir"].items():
            setattr(board.reservoir, name, value)
        motor = dict(state["motor"])
        board.motor._carry_pl = motor.pop("carry_pl")
        for name in ("stall_until", "last_command"):  # -1: none
            motor[name] = None if motor[name] < 0 else motor[name]
        for name, value in motor.items():
            setattr(board.motor, name, value)
        for name, value in state["battery"].items():
            setattr(board.battery, name, value)
        catheter = state["catheter"]
        board.catheter._column = deque([list(part) for part in catheter["column"]])
        board.catheter.to_patient_nl = catheter["to_patient_nl"]
        board.catheter.to_patient_pg = catheter["to_patient_pg"]
        faults = {**CATHETER_FAULT_DEFAULTS, **catheter}
        board.catheter.occlusion_ppm = faults["occlusion_ppm"]
        board.catheter.leak_ppm = faults["leak_ppm"]
        board.catheter.outflow_fault = faults["outflow_fault"]
        board.catheter.to_tissue_nl = faults["to_tissue_nl"]
        board.catheter.to_tissue_pg = faults["to_tissue_pg"]
        board.motor.blocked_nl = faults["blocked_nl"]
        if "patient" in state:
            board.connect_patient(PatientLink.restore(state["patient"], board.catheter))
        else:
            board.patient_link = None
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


def tmp_path(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def save(
    board: VirtualBoard, path: Path, clean: bool, binding: dict[str, Any] | None = None
) -> None:
    """Write atomically (temp file, fsync, rename); on any failure the temp file is removed."""
    tmp = tmp_path(path)
    data = json.dumps(export_state(board, clean, binding), separators=(",", ":"))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            view = memoryview(data.encode())
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
