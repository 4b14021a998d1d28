"""The key store and the journal are private (0600) and replaced atomically."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from programmer.errors import UsageError
from programmer.journal import Journal, PendingRequest
from programmer.keystore import KeyStore, StoredKey, default_keystore_path
from protocol import MsgType, Role

KEY = StoredKey("VP20-000001", 0x1234, Role.CLINICIAN, bytes(range(32)), "2026-01-05T00:00:00Z")


def test_key_store_file_is_created_mode_0600_in_a_private_directory(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "cfg" / "keys.json")
    store.put(KEY)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    assert store.get("VP20-000001") == KEY
    assert store.get("VP20-999999") is None


def test_keys_are_kept_per_serial_and_removed_individually(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys.json")
    other = StoredKey("VP40-000002", 7, Role.PATIENT, b"\x01" * 32)
    store.put(KEY)
    store.put(other)
    assert store.serials() == ["VP20-000001", "VP40-000002"]
    assert store.remove("VP20-000001") is True
    assert store.remove("VP20-000001") is False
    assert store.serials() == ["VP40-000002"]
    assert store.get("VP40-000002") == other


def test_a_failed_write_leaves_the_previous_store_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = KeyStore(tmp_path / "keys.json")
    store.put(KEY)
    before = store.path.read_bytes()

    def broken_dump(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("programmer.keystore.json.dump", broken_dump)
    with pytest.raises(OSError):
        store.put(StoredKey("VP40-000002", 7, Role.PATIENT, b"\x01" * 32))
    assert store.path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keys.json"]  # no temporary left behind


def test_key_store_location_follows_xdg_config_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_keystore_path() == tmp_path / "intrathecal-pump" / "keys.json"


def test_damaged_key_store_is_a_usage_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text("{not json")
    path.chmod(0o600)  # a group/world-readable store is refused before it is parsed
    with pytest.raises(UsageError, match=r"keys\.json"):
        KeyStore(path).get("VP20-000001")
    path.write_text(json.dumps({"pumps": {"VP20-000001": {"key_id": 1, "role": "x", "key": ""}}}))
    with pytest.raises(UsageError, match="damaged"):
        KeyStore(path).get("VP20-000001")


def test_journal_records_and_removes_pending_requests_per_pump(tmp_path: Path) -> None:
    journal = Journal.beside(tmp_path / "keys.json")
    first = PendingRequest("VP20-000001", 11, MsgType.STOP, "stop pump", "t")
    second = PendingRequest("VP40-000002", 12, MsgType.REFILL, "refill", "t")
    first = journal.record(first)  # with its ordinal: requests sent to that pump so far
    second = journal.record(second)
    assert (first.ordinal, second.ordinal) == (1, 1)
    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600
    assert journal.entries("VP20-000001") == [first]
    journal.remove("VP20-000001", 11)
    assert journal.entries() == [second]
