"""The programmer's pairing keys, one per pump serial number, in a private JSON file.

Why: a pairing key lets its holder reprogram a drug pump, so the file is created with mode 0600
from the first byte (``os.open`` with 0o600, never chmod after the fact) and replaced atomically
(write a temporary file with a unique name in the same directory, ``O_EXCL | O_NOFOLLOW`` so a
planted symlink receives nothing, fsync, ``os.replace``) so a crash never leaves a half-written
store.  Like ssh (StrictModes) the programmer refuses a key store that group or others may read
or write, that is not the user's own regular file, or that lives in a directory another user
could write to (see ``check_private_directory``); the message names the chmod that fixes it.  The default location follows XDG: ``$XDG_CONFIG_HOME/intrathecal-pump/
keys.json`` (``~/.config/...`` when unset); ``--keystore PATH`` overrides it.

Layout::

    {"version": 1, "programmer_id": 1234567890123,
     "pumps": {"VP20-000001": {"key_id": 123, "role": "clinician",
                               "key": "<64 hex digits>", "paired_at": "..."}}}

``programmer_id`` is a random non-zero u64 made on first use and sent in PAIR_BEGIN: a pump this
programmer pairs with again replaces its earlier key instead of filling a new slot.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shlex
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocol.enums import Role

from .errors import UsageError

APP_DIR = "intrathecal-pump"
_FORMAT_VERSION = 1


def default_config_dir() -> Path:
    """``$XDG_CONFIG_HOME/intrathecal-pump`` or ``~/.config/intrathecal-pump``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / APP_DIR


def default_keystore_path() -> Path:
    return default_config_dir() / "keys.json"


def write_private_json(path: Path, document: Mapping[str, Any]) -> None:
    """Atomically replace ``path`` with ``document`` as JSON, readable by the owner only.

    The temporary file has a unique, unguessable name in the same directory and is created with
    ``O_CREAT | O_EXCL | O_NOFOLLOW`` and mode 0600, so nothing planted there (a symlink, a file
    of another user) can receive the key; it is fsynced, renamed over ``path`` and the directory
    fsynced.  The directory must pass ``check_private_directory`` first.
    """
    make_private_directory(path.parent)
    check_private_directory(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2, sort_keys=True)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON document at ``path``, or None if there is no file.

    Refuses (UsageError naming the fix) a file that is a symlink, not a regular file, owned by
    someone else or readable or writable by group or others, and one in an unsafe directory
    (``check_private_directory``): the rules of ssh's StrictModes.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UsageError(
                f"{path} is a symbolic link; a key store or journal must be a regular file "
                f"(replace the link by the file it points to, or pass --keystore with the real path)"
            ) from None
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        check_private_file(path, os.fstat(handle.fileno()))
        check_private_directory(path.parent)
        raw = handle.read()
    try:
        document = json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"{path} is not valid JSON ({exc}); move it away to start afresh"
        ) from None
    if not isinstance(document, dict):
        raise UsageError(f"{path} does not hold a JSON object")
    return document


# -- StrictModes --------------------------------------------------------------------------------
# A pairing key lets its holder reprogram a drug pump, so like ssh with ~/.ssh the programmer
# refuses to use a key store (or the journal beside it):
#   * that is not a regular file owned by this user, or that group or others may read or write
#     (any of the bits 0o077);
#   * whose directory, or any directory above it, is owned by another user than this one or root,
#     or is writable by group or others without the sticky bit (/tmp is fine, a 0777 directory
#     is not: anyone could swap the file).
# Each refusal names the chmod command that fixes it.


def check_private_file(path: Path, st: os.stat_result) -> None:
    """Refuse a key store file that is not a private regular file of this user."""
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{path} is not a regular file; move it away")
    if st.st_uid != os.geteuid():
        raise UsageError(
            f"{path} belongs to user id {st.st_uid}, not to you ({os.geteuid()}): a key store "
            "must be your own file; move it away"
        )
    loose = stat.S_IMODE(st.st_mode) & 0o077
    if loose:
        raise UsageError(
            f"{path} is {_mode_words(loose)} (mode {stat.S_IMODE(st.st_mode):04o}): it holds "
            f"pairing keys and must be private. Fix it with: chmod 600 {_quoted(path)}"
        )


def check_private_directory(directory: Path) -> None:
    """Refuse a directory (or ancestor) that another user could use to swap the file."""
    uid = os.geteuid()
    current = Path(os.path.realpath(directory))
    for place in (current, *current.parents):
        try:
            st = os.stat(place)
        except FileNotFoundError:
            continue
        if st.st_uid not in (uid, 0):
            raise UsageError(
                f"{place} (which holds the key store {directory}) belongs to user id {st.st_uid}:"
                " a key store must live in directories owned by you or root; pass --keystore "
                "with a path in your own directory"
            )
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o022 and not mode & stat.S_ISVTX:
            raise UsageError(
                f"{place} (which holds the key store {directory}) is writable by group or others "
                f"(mode {mode:04o}): anyone could replace the key store. Fix it with: "
                f"chmod go-w {_quoted(place)}"
            )


def make_private_directory(directory: Path) -> None:
    """Create ``directory`` and any missing parents with mode 0700 (never 0777 under umask 0)."""
    missing: list[Path] = []
    place = directory
    while not place.exists():
        missing.append(place)
        if place.parent == place:
            break
        place = place.parent
    for new in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(new, 0o700)


def _mode_words(bits: int) -> str:
    words = []
    if bits & 0o044:
        words.append("readable")
    if bits & 0o022:
        words.append("writable")
    if bits & 0o011:
        words.append("executable")
    return " and ".join(words) + " by group or others"


def _quoted(path: Path) -> str:
    return shlex.quote(str(path))


@dataclass(frozen=True, slots=True)
class StoredKey:
    """One pairing: the pump's serial number, the key id the pump knows it by, role and key."""

    serial_number: str
    key_id: int
    role: Role
    key: bytes = field(repr=False)
    paired_at: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "role": self.role.name.lower(),
            "key": self.key.hex(),
            "paired_at": self.paired_at,
        }

    @classmethod
    def from_json(cls, serial: str, entry: Mapping[str, Any]) -> StoredKey:
        try:
            key = bytes.fromhex(str(entry["key"]))
            role = Role[str(entry["role"]).upper()]
            key_id = int(entry["key_id"])
        except (KeyError, ValueError, TypeError) as exc:
            raise UsageError(f"key store entry for {serial} is damaged ({exc})") from None
        if len(key) != 32:
            raise UsageError(f"key store entry for {serial} has a key of {len(key)} bytes, not 32")
        return cls(serial, key_id, role, key, str(entry.get("paired_at", "")))


class KeyStore:
    """Pairing keys on disk, keyed by pump serial number."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_keystore_path()

    @property
    def directory(self) -> Path:
        return self.path.parent

    def _load(self) -> dict[str, Any]:
        document = read_json(self.path)
        if document is None:
            return {}
        pumps = document.get("pumps", {})
        if not isinstance(pumps, dict):
            raise UsageError(f"{self.path}: 'pumps' is not an object")
        return pumps

    def _save(self, pumps: Mapping[str, Any], programmer_id: int | None = None) -> None:
        document: dict[str, Any] = {"version": _FORMAT_VERSION, "pumps": dict(pumps)}
        programmer_id = programmer_id or _programmer_id_of(read_json(self.path) or {})
        if programmer_id:
            document["programmer_id"] = programmer_id
        write_private_json(self.path, document)

    def programmer_id(self) -> int:
        """This programmer's identity towards pumps (random, made and stored on first use)."""
        existing = _programmer_id_of(read_json(self.path) or {})
        if existing:
            return existing
        new = secrets.randbits(64) or 1
        self._save(self._load(), programmer_id=new)
        return new

    def get(self, serial_number: str) -> StoredKey | None:
        """The key for a pump, or None if this programmer is not paired with it."""
        entry = self._load().get(serial_number)
        return None if entry is None else StoredKey.from_json(serial_number, entry)

    def put(self, stored: StoredKey) -> None:
        """Store (or replace) the key for ``stored.serial_number``."""
        pumps = self._load()
        pumps[stored.serial_number] = stored.to_json()
        self._save(pumps)

    def remove(self, serial_number: str) -> bool:
        """Forget a pump's key; True if there was one."""
        pumps = self._load()
        if pumps.pop(serial_number, None) is None:
            return False
        self._save(pumps)
        return True

    def serials(self) -> list[str]:
        return sorted(self._load())


def _programmer_id_of(document: Mapping[str, Any]) -> int:
    value = document.get("programmer_id")
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 1 << 64:
        return value
    return 0
