"""The state files of ``vpump serve --state FILE``: one pump, one process, image and side file bound.

Why: the NVM image (``FILE``) and the hardware-truth side file (``FILE.board.json``, see
:mod:`hw_sim.board.board_state`) are one pump only together.  Trusted blindly, a copied image started a
fresh board under it (the motor pumping air while the firmware showed a full reservoir), another
pump's image ran under this pump's serial number, a random file of the right size was overwritten
with factory state, and two processes on one image both wrote it.  This module decides, before
anything is written, whether the files on disk are one pump, and refuses with a clear reason
(:class:`StateError`) and no file modified when they are not.

The rule (docs/ARCHITECTURE.md, "Hardware truth across restarts"):

- The last ``FACTORY_SIZE`` bytes of the image are the board's *factory area*, outside the NVM the
  firmware sees: a random per-pump id, the serial number, the model and a run *generation*, with a
  CRC-32C.  The side file's ``binding`` repeats the id, serial and generation, numbers each save,
  and at a clean shutdown also holds the SHA-256 of the NVM.
- Before the factory area, two *reserve* slots (allocated with the image, so a full disk cannot
  fail them) take the hardware state when the side file cannot be written; a restart uses the
  reserve when it holds a newer save than the side file, so a full disk loses no simulated time.
- A restart needs both files, the same id and serial, the model of ``--profile``, the same
  generation (or the side file one ahead and marked ``booting``: a start interrupted between its
  two writes), and after a clean shutdown the same NVM hash.
- A missing image with a side file, an image that has been written without its side file, an
  unreadable factory area (a file that is not an image) or a damaged side file: refused.
- An image with a blank factory area and a side file of format 1 (written before the binding
  existed) is adopted once: it gets an id, and the side file the binding.
- A new image is created complete (blocks allocated, factory area written) under a temporary name
  and linked into place, so it never exists half made.
- The image is locked (``flock(LOCK_EX | LOCK_NB)``) for the life of the process: a second
  ``vpump serve`` on it is refused, naming the process that holds it.

Each start advances the generation: first the side file is rewritten with the new generation and
``booting`` set, then the factory area; the first regular save clears ``booting``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import struct
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from firmware.nvm_layout import NvmLayout, NvmStore, RecordId, RecordStatus, required_nvm_size
from hw_sim.board import board_state
from hw_sim.board.board import VirtualBoard
from hw_sim.hardware.nvm_file import FileNvm, allocate
from hw_sim.profiles.loader import LoadedProfile
from protocol.crc import crc32c
from protocol.enums import LogId

FACTORY_SIZE = 4096
FACTORY_MAGIC = b"VPFACTRY"
FACTORY_VERSION = 1
_FACTORY = struct.Struct(">8sH16sQB32sB32s")
#: The reserve: two slots for the hardware state when the side file cannot be written.
RESERVE_SLOT_SIZE = 32_768
RESERVE_SLOTS = 2
RESERVE_MAGIC = b"VPRESRV1"
_RESERVE = struct.Struct(">8sQI")  # magic, save number, length; then CRC-32C of header+payload
#: Offset of the factory area within the image's reserved tail (after the reserve slots).
FACTORY_OFFSET = RESERVE_SLOTS * RESERVE_SLOT_SIZE
#: Bytes at the end of the image outside the firmware's NVM: reserve slots, then factory area.
TAIL_SIZE = FACTORY_OFFSET + FACTORY_SIZE


class StateError(Exception):
    """The state files cannot be used as they are; nothing was changed."""


def default_serial(profile: LoadedProfile, seed: int) -> str:
    """The serial number a new board of ``seed`` gets (as ``VirtualBoard`` names it)."""
    return f"{profile.device.model.replace('-', '')}-{seed % 1_000_000:06d}"


@dataclass(frozen=True)
class Factory:
    """The board's factory area: who this pump is, and how many runs its image has seen."""

    pump_id: bytes
    serial_number: str
    model: str
    generation: int

    def encode(self) -> bytes:
        serial, model = self.serial_number.encode(), self.model.encode()
        body = _FACTORY.pack(
            FACTORY_MAGIC,
            FACTORY_VERSION,
            self.pump_id,
            self.generation,
            len(serial),
            serial,
            len(model),
            model,
        )
        return body + struct.pack(">I", crc32c(body))

    @classmethod
    def decode(cls, data: bytes) -> Factory | None:
        """None for a blank area (zeros or 0xFF); ValueError for anything else unreadable."""
        if data == b"\x00" * len(data) or data == b"\xff" * len(data):
            return None
        body = data[: _FACTORY.size]
        (check,) = struct.unpack_from(">I", data, _FACTORY.size)
        magic, version, pump_id, generation, slen, serial, mlen, model = _FACTORY.unpack(body)
        if magic != FACTORY_MAGIC or version != FACTORY_VERSION or crc32c(body) != check:
            raise ValueError("no valid factory area")
        try:
            return cls(pump_id, serial[:slen].decode(), model[:mlen].decode(), generation)
        except UnicodeDecodeError as exc:
            raise ValueError("factory area is damaged") from exc

    @property
    def pump_id_hex(self) -> str:
        return self.pump_id.hex()


def _lock_holder(fd: int) -> int | None:
    """The pid holding a flock on ``fd``'s file, from /proc/locks (None if unknown)."""
    st = os.fstat(fd)
    wanted = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    with contextlib.suppress(OSError):
        for line in Path("/proc/locks").read_text().splitlines():
            parts = line.split()
            if len(parts) > 5 and parts[1] == "FLOCK" and parts[5] == wanted:
                with contextlib.suppress(ValueError):
                    return int(parts[4])
    return None


def _lock(fd: int, path: Path) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _lock_holder(fd)
        who = f"process {pid}" if pid is not None else "another process"
        os.close(fd)
        raise StateError(
            f"--state {path} is in use by {who} (another vpump serve?): one pump, one process. "
            "Stop it first, or use another --state file."
        ) from None


def _image_blank(nvm: FileNvm, profile: LoadedProfile) -> bool:
    """No record and no log slot was ever written (the firmware has not run on it)."""
    store = NvmStore(nvm, NvmLayout(profile.device.log_capacity, profile.device.daily_log_capacity))
    if any(store.load(r).status is not RecordStatus.ERASED for r in RecordId):
        return False
    return not any(store.load_log(log_id) for log_id in LogId)


def nvm_digest(nvm: FileNvm) -> str:
    digest = hashlib.sha256()
    chunk = 1 << 16
    for offset in range(0, nvm.size, chunk):
        digest.update(nvm.read(offset, min(chunk, nvm.size - offset)))
    return digest.hexdigest()


def _create(path: Path, profile: LoadedProfile, seed: int) -> int | None:
    """A new image, complete before it appears at ``path``; its locked fd (None: lost a race)."""
    tmp = path.with_name(f".{path.name}.new-{os.getpid()}")
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        size = profile.hardware.nvm_size_bytes
        try:
            allocate(fd, size)
        except OSError as exc:
            raise StateError(f"--state {path}: no room for a new {size}-byte image: {exc}") from exc
        factory = Factory(os.urandom(16), default_serial(profile, seed), profile.device.model, 0)
        os.pwrite(fd, factory.encode(), size - FACTORY_SIZE)
        os.fsync(fd)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh inode: nobody else has it
        try:
            os.link(tmp, path)
        except FileExistsError:
            os.close(fd)
            return None
        return fd
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        raise
    finally:
        tmp.unlink(missing_ok=True)


@dataclass
class OpenedState:
    """The checked, locked state files of one pump (see the module doc)."""

    path: Path
    side_path: Path
    nvm: FileNvm
    factory: Factory
    saved: dict[str, Any] | None  # the side file to restore; None: a pump fresh from the factory
    notes: list[str] = field(default_factory=list)
    booting: bool = True
    save_seq: int = 0  # number of the last save (side file or reserve)
    next_slot: int = 0

    def binding(self, clean: bool) -> dict[str, Any]:
        return {
            "pump_id": self.factory.pump_id_hex,
            "serial_number": self.factory.serial_number,
            "model": self.factory.model,
            "generation": self.factory.generation,
            "booting": self.booting,
            "save_seq": self.save_seq,
            "nvm_sha256": nvm_digest(self.nvm) if clean else None,
        }

    def begin(self, board: VirtualBoard) -> None:
        """Start a new run (before the firmware boots): side file first, then the factory area."""
        self.factory = replace(self.factory, generation=self.factory.generation + 1)
        self.booting = True
        clean = bool(self.saved and self.saved.get("clean"))
        try:
            board_state.save(board, self.side_path, clean=clean, binding=self.binding(False))
            self.nvm.write_tail(FACTORY_OFFSET, self.factory.encode())
        except OSError as exc:
            raise StateError(f"--state {self.path}: cannot start: {exc}") from exc
        self.booting = False

    def save(self, board: VirtualBoard, clean: bool) -> None:
        """Save the hardware state bound to this image; OSError (no temp file left) if it fails."""
        self.save_seq += 1
        board_state.save(board, self.side_path, clean=clean, binding=self.binding(clean))

    def save_in_reserve(self, board: VirtualBoard, clean: bool) -> None:
        """Save the hardware state into the image's reserve (the side file failed); OSError."""
        self.save_seq += 1
        state = board_state.export_state(board, clean, self.binding(clean))
        payload = json.dumps(state, separators=(",", ":")).encode()
        if _RESERVE.size + 4 + len(payload) > RESERVE_SLOT_SIZE:
            raise OSError(errno.EFBIG, "hardware state larger than the image's reserve slot")
        header = _RESERVE.pack(RESERVE_MAGIC, self.save_seq, len(payload))
        record = header + struct.pack(">I", crc32c(header + payload)) + payload
        self.nvm.write_tail(self.next_slot * RESERVE_SLOT_SIZE, record)
        self.next_slot = 1 - self.next_slot

    def close(self) -> None:
        self.nvm.close()  # closing the descriptor releases the lock


def _read_reserve(nvm: FileNvm) -> tuple[int, int, dict[str, Any]] | None:
    """The newest valid reserve slot: (save number, slot, state), or None."""
    best: tuple[int, int, dict[str, Any]] | None = None
    for slot in range(RESERVE_SLOTS):
        raw = nvm.read_tail(slot * RESERVE_SLOT_SIZE, RESERVE_SLOT_SIZE)
        magic, seq, length = _RESERVE.unpack_from(raw)
        start = _RESERVE.size + 4
        if magic != RESERVE_MAGIC or start + length > RESERVE_SLOT_SIZE:
            continue
        (check,) = struct.unpack_from(">I", raw, _RESERVE.size)
        payload = raw[start : start + length]
        if crc32c(raw[: _RESERVE.size] + payload) != check:
            continue
        try:
            state = json.loads(payload)
        except ValueError:
            continue
        if isinstance(state, dict) and (best is None or seq > best[0]):
            best = (seq, slot, state)
    return best


def _check_binding(
    path: Path, side: Path, factory: Factory, saved: dict[str, Any], nvm: FileNvm
) -> None:
    binding = saved.get("binding")
    if not isinstance(binding, dict):
        raise StateError(f"{side}: the binding to its image is missing: not a file of this pump")
    pump_id, serial = binding.get("pump_id"), binding.get("serial_number")
    if pump_id != factory.pump_id_hex or serial != factory.serial_number:
        raise StateError(
            f"{side} belongs to pump {serial} (id {pump_id}), but the image {path} is pump "
            f"{factory.serial_number} (id {factory.pump_id_hex}): the files are of two pumps. "
            "Put back the pair that belongs together."
        )
    generation, booting = binding.get("generation"), binding.get("booting")
    if not isinstance(generation, int) or not isinstance(booting, bool):
        raise StateError(f"{side}: binding is damaged")
    if not (generation == factory.generation or (booting and generation == factory.generation + 1)):
        raise StateError(
            f"{side} was saved in run {generation} of pump {serial}, the image {path} is at run "
            f"{factory.generation}: one of the two files is an older copy. Put back the pair "
            "saved together."
        )
    digest = binding.get("nvm_sha256")
    if saved["clean"] and not booting and digest != nvm_digest(nvm):
        raise StateError(
            f"the image {path} changed after the clean shutdown that saved {side}: "
            "it is not the image this hardware state was saved with."
        )


def open_state(path: Path, profile: LoadedProfile, seed: int) -> OpenedState:
    """Check and lock the state files of ``--state path``; StateError (nothing changed) if unusable."""
    size = profile.hardware.nvm_size_bytes
    region = size - TAIL_SIZE
    dev = profile.device
    if required_nvm_size(dev.log_capacity, dev.daily_log_capacity) > region:
        raise StateError(
            f"profile {profile.name}: nvm_size_bytes {size} cannot hold its NVM layout "
            f"({required_nvm_size(dev.log_capacity, dev.daily_log_capacity)} bytes) and the board's "
            f"{TAIL_SIZE}-byte reserve and factory area"
        )
    side = board_state.sidecar_path(path)
    try:
        saved = board_state.load(side)
    except ValueError as exc:
        raise StateError(str(exc)) from exc
    if saved is not None:
        try:
            board_state.check_state(saved)
        except ValueError as exc:
            raise StateError(f"{side}: not usable: {exc}") from exc
    fd: int | None = None
    for _attempt in range(2):
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            if saved is not None:
                raise StateError(
                    f"the image {path} is missing but its hardware state {side} exists: "
                    "a new image beside it would be an aged pump passed off as new. Restore the "
                    "image, or remove both files for a pump fresh from the factory."
                ) from None
            try:
                fd = _create(path, profile, seed)
            except OSError as exc:
                raise StateError(f"--state {path}: {exc}") from exc
            if fd is None:
                continue  # someone created it meanwhile: open theirs (and find it locked)
        else:
            _lock(fd, path)
        break
    if fd is None:
        raise StateError(f"--state {path}: could not be created")
    try:
        st = os.fstat(fd)
        if not os.path.isfile(path) or st.st_size != size:
            raise StateError(
                f"--state {path} has {st.st_size} bytes, a {profile.name} image has {size}: "
                "not this profile's NVM image (nothing was changed)"
            )
        nvm = FileNvm(path, region, reserved_tail=TAIL_SIZE, fd=fd)
    except BaseException:
        os.close(fd)
        raise
    try:
        return _classify(path, side, profile, seed, nvm, saved)
    except BaseException:
        nvm.close()
        raise


def _classify(
    path: Path,
    side: Path,
    profile: LoadedProfile,
    seed: int,
    nvm: FileNvm,
    saved: dict[str, Any] | None,
) -> OpenedState:
    try:
        factory = Factory.decode(nvm.read_tail(FACTORY_OFFSET, FACTORY_SIZE))
    except ValueError:
        raise StateError(
            f"--state {path} is not an NVM image of a virtual pump (no valid factory area): "
            "refused, and left as it is"
        ) from None
    legacy = saved is not None and saved["format"] == board_state.LEGACY_FORMAT
    notes: list[str] = []
    if factory is None:
        blank = _image_blank(nvm, profile)
        if saved is None and blank:  # an old-style new image, never run: make it a pump
            serial = default_serial(profile, seed)
            factory = Factory(os.urandom(16), serial, profile.device.model, 0)
        elif saved is not None and legacy and not blank:
            seed = int(saved["seed"])
            factory = Factory(
                os.urandom(16), default_serial(profile, seed), profile.device.model, 0
            )
            notes.append(f"adopted {path} and {side} (written before state binding) as one pump")
        elif saved is None:
            raise StateError(
                f"the image {path} has been used but has no hardware state file {side}: "
                "copy both files together (an image alone would start on a fresh board whose "
                "true reservoir, clock and battery are not this pump's)"
            )
        else:
            raise StateError(
                f"the image {path} has no pump identity but {side} names one: they do not "
                "belong together"
            )
        return OpenedState(path, side, nvm, factory, saved, notes)
    if factory.model != profile.device.model:
        raise StateError(
            f"--state {path} is the image of a {factory.model}, not of --profile "
            f"{profile.name} ({profile.device.model})"
        )
    if saved is None:
        if not _image_blank(nvm, profile):
            raise StateError(
                f"the image {path} of pump {factory.serial_number} has been used but its "
                f"hardware state file {side} is missing: copy both files together (an image "
                "alone would start on a fresh board whose true reservoir, clock and battery are "
                "not this pump's)"
            )
        return OpenedState(path, side, nvm, factory, None, notes)
    if legacy:
        raise StateError(
            f"{side} has no binding but the image {path} is pump {factory.serial_number}"
        )
    _check_binding(path, side, factory, saved, nvm)
    binding = saved["binding"]
    side_seq = binding.get("save_seq", 0)
    if not isinstance(side_seq, int):
        raise StateError(f"{side}: binding is damaged")
    save_seq, next_slot = side_seq, 0
    reserve = _read_reserve(nvm)
    if reserve is not None:
        reserve_seq, slot, kept = reserve
        next_slot = 1 - slot
        save_seq = max(side_seq, reserve_seq)
        if reserve_seq > side_seq:  # saved while the disk was full: newer than the side file
            try:
                board_state.check_state(kept)
            except ValueError as exc:
                raise StateError(f"{path}: the reserve is damaged: {exc}") from exc
            _check_binding(path, side, factory, kept, nvm)
            saved = kept
            notes.append(
                f"restored the hardware state kept in the image's reserve (save {reserve_seq}, "
                f"newer than {side}, save {side_seq})"
            )
    opened = OpenedState(path, side, nvm, factory, saved, notes)
    opened.save_seq, opened.next_slot = save_seq, next_slot
    return opened


class Checkpointer:
    """The serve loop's periodic save: a failure (a full disk) is reported once, never raised."""

    def __init__(self, opened: OpenedState, board: VirtualBoard, err: TextIO = sys.stderr) -> None:
        self.opened = opened
        self.board = board
        self.err = err
        self.failing = False
        self.nvm_failing = False
        self.saved_time: int | None = None

    def __call__(self) -> None:
        self.check_nvm()
        try:
            self.opened.save(self.board, clean=False)
        except OSError as exc:
            try:
                self.opened.save_in_reserve(self.board, clean=False)
                kept = "; kept in the image's reserve meanwhile"
                self.saved_time = self.board.now
            except OSError:
                kept = ""
            if not self.failing:
                self.failing = True
                since = ""
                if not kept and self.saved_time is not None:
                    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.saved_time))
                    since = f" (last saved at board time {when} UTC)"
                print(
                    f"vpump: cannot save the hardware state to {self.opened.side_path}: "
                    f"{exc.strerror or exc}{kept}; the pump keeps running and retries{since}",
                    file=self.err,
                    flush=True,
                )
            return
        self.saved_time = self.board.now
        if self.failing:
            self.failing = False
            print(
                f"vpump: hardware state saved again to {self.opened.side_path}",
                file=self.err,
                flush=True,
            )

    def check_nvm(self) -> None:
        """Say on stderr when the firmware's NVM writes start or stop failing (MEMORY_ERROR)."""
        failing = self.board.powered and self.board.firmware.nvm_write_failing
        if failing != self.nvm_failing:
            self.nvm_failing = failing
            if failing:
                message = (
                    f"NVM writes to {self.opened.path} fail: MEMORY_ERROR raised, the pump keeps "
                    "delivering from RAM and retries"
                )
            else:
                message = f"NVM writes to {self.opened.path} succeed again: MEMORY_ERROR cleared"
            print(f"vpump: {message}", file=self.err, flush=True)
