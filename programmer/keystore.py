"""The programmer's pairing keys, one per pump serial number, in a private JSON file.

Why: a pairing key lets its holder reprogram a drug pump, so the file is created with mode 0600
from the first byte (``os.open`` with 0o600, never chmod after the fact) and replaced atomically
(write a temporary file in the same directory, fsync, ``os.replace``) so a crash never leaves a
half-written store.  The default location follows XDG: ``$XDG_CONFIG_HOME/intrathecal-pump/
keys.json`` (``~/.config/...`` when unset); ``--keystore PATH`` overrides it.

Layout::

    {"version": 1, "programmer_id": 1234567890123,
     "pumps": {"VP20-000001": {"key_id": 123, "role": "clinician",
                               "key": "<64 hex digits>", "paired_at": "..."}}}

``programmer_id`` is a random non-zero u64 made on first use and sent in PAIR_BEGIN: a pump this
programmer pairs with again replaces its earlier key instead of filling a new slot.
"""

from __future__ import annotations

import json
import os
import secrets
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
    """Atomically replace ``path`` with ``document`` as JSON, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
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
    """The JSON document at ``path``, or None if there is no file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{path} is not valid JSON ({exc}); move it away to start afresh"
        ) from None
    if not isinstance(document, dict):
        raise UsageError(f"{path} does not hold a JSON object")
    return document


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
