"""A board from its state files: the same pump again, or one fresh from the factory, and back.

Why a module of its own: ``vpump serve`` is one user of the state files (``--state FILE``), not
the only one; tests and bench scripts that run a pump in process restore it the same way.  The
rule of what may be restored is :mod:`hw_sim.board.state_files`; this module builds the board
those files describe (its clock, reservoir, battery, catheter and patient as they were), boots it
with the reset cause the last shutdown earned, and at the end saves it back.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

from firmware.hal import ResetCause
from hw_sim.board import board_state
from hw_sim.board.board import VirtualBoard
from hw_sim.board.state_files import OpenedState, StateError, open_state
from hw_sim.hardware.entropy import InsecureTestEntropy
from hw_sim.profiles.loader import LoadedProfile
from hw_sim.scenarios.timeparse import DEFAULT_START_TIME
from patient.profiles import PatientProfile


def open_pump(
    state: Path,
    profile: LoadedProfile,
    seed: int,
    *,
    start_time: int = DEFAULT_START_TIME,
    insecure_test_keys: bool = False,
    patient: PatientProfile | None = None,
) -> tuple[OpenedState, VirtualBoard]:
    """Open (check and lock) ``state`` and build its board, not yet powered on.

    A pump restored from its files keeps its own seed, clock and hardware; ``seed`` and
    ``start_time`` only make a new one.  The run has begun when this returns (the generation
    advanced, see :meth:`OpenedState.begin`); :func:`power_on` boots it.  Refused (nothing
    changed, nothing left open): :class:`StateError`, or ``OSError`` from the file system.
    """
    state.parent.mkdir(parents=True, exist_ok=True)
    opened = open_state(state, profile, seed)  # checked and locked; refused: nothing changed
    nvm, saved, serial = opened.nvm, opened.saved, opened.factory.serial_number
    try:
        board_seed = seed if saved is None else int(saved["seed"])
        entropy = InsecureTestEntropy(board_seed) if insecure_test_keys else None
        if saved is None:
            board = VirtualBoard(
                profile, seed, nvm, start_time=start_time, serial_number=serial, entropy=entropy
            )
        else:  # the same pump again: its clock, reservoir, battery and catheter as they were
            board = VirtualBoard(
                profile,
                board_seed,
                nvm,
                start_time=int(saved["now"]),
                serial_number=serial,
                entropy=entropy,
            )
            board_state.import_state(board, saved)
        opened.notes.extend(place_patient(board, patient))
        opened.begin(board)
    except StateError:
        opened.close()
        raise
    except ValueError as exc:  # a side file that passed the checks but cannot be restored
        opened.close()
        raise StateError(f"{opened.side_path}: {exc}") from exc
    return opened, board


def power_on(board: VirtualBoard, saved: dict[str, Any] | None) -> None:
    """Boot a board :func:`open_pump` built: a power loss unless its last shutdown was clean."""
    if saved is None:
        board.power_on()
    else:
        board.power_on(cause=ResetCause.POWER_ON if saved.get("clean") else ResetCause.POWER_LOSS)


def place_patient(board: VirtualBoard, wanted: PatientProfile | None) -> list[str]:
    """Attach ``wanted`` to a board, or keep the patient its saved state brought back; notes.

    The patient is part of the hardware truth: a restart never swaps or drops the body at the
    catheter tip.  A saved patient is kept with or without ``--patient`` (the same one: no
    note; none asked: a note); a different ``--patient`` is refused (StateError); a saved pump
    without a patient gets the asked one from now on, drug-free (a note).
    """
    link = board.patient_link
    if link is None:
        if wanted is None:
            return []
        board.attach_patient(wanted.params, wanted.name).population_seed = wanted.seed
        return [f"virtual patient {_label(wanted.name, wanted.seed)} at the catheter tip"]
    saved = _label(link.name, link.population_seed)
    if wanted is None:
        return [f"kept the saved virtual patient {saved} at the catheter tip (no --patient given)"]
    again = f"--patient {link.name}" + (
        "" if link.population_seed is None else f" --patient-seed {link.population_seed}"
    )
    if (wanted.name, wanted.seed) != (link.name, link.population_seed):
        raise StateError(
            f"the saved hardware state has the virtual patient {saved} at the catheter tip, "
            f"not --patient {_label(wanted.name, wanted.seed)}: a restart does not swap the "
            f"patient. Restart with {again} (or without --patient), or use another --state "
            "for another patient."
        )
    if wanted.params != link.patient.params:
        raise StateError(
            f"--patient {wanted.name}: the profile's parameters differ from those of the saved "
            f"virtual patient {saved} (was the file edited?): a restart does not change the "
            "patient. Restart without --patient to keep the saved one, or use another --state."
        )
    return []


def _label(name: str, seed: int | None) -> str:
    return name if seed is None else f"{name} (population seed {seed})"


def shut_down(opened: OpenedState, board: VirtualBoard, err: TextIO | None = None) -> bool:
    """Flush the NVM, save the hardware state and close the files; say on ``err`` (default:
    stderr) what could not be saved.  True: everything the next start needs was stored."""
    out = sys.stderr if err is None else err
    ok = True
    try:
        board.flush()
    except OSError as exc:
        print(f"vpump: NVM flush of {opened.path} failed: {exc}", file=out)
        ok = False
    nvm_unsaved = board.powered and board.firmware.nvm_write_failing
    if nvm_unsaved:
        print(
            f"vpump: NVM writes to {opened.path} still fail: the last changes were not stored; "
            "the next start is a power-loss boot from what the image holds",
            file=out,
        )
        ok = False
    clean = ok  # an image missing writes is not a clean shutdown: the next boot says POWER_LOSS
    try:
        opened.save(board, clean=clean)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        try:
            opened.save_in_reserve(board, clean=clean)
            print(
                f"vpump: hardware state not saved to {opened.side_path} ({reason}): kept in the "
                "image's reserve; the next start resumes from it",
                file=out,
            )
        except OSError:
            print(
                f"vpump: hardware state not saved at shutdown ({opened.side_path}: {reason}); "
                "the next start resumes from its last save",
                file=out,
            )
            ok = False
    try:
        opened.close()
    except OSError as exc:
        print(f"vpump: closing {opened.path} failed: {exc}", file=out)
        ok = False
    return ok
