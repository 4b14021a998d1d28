"""Finding 12 of issue 9: the key store's files are created safely and used only when private.

The attacks: (1) the temporary file of an atomic key store update had a predictable name
(``.keys.json.<pid>.tmp``) and was opened with ``O_CREAT | O_TRUNC`` only, so a symlink planted
under that name by another local user received the clinician's pairing key; (2) a key store that
group or others could read, or one in a directory anyone could write to, was used without a word.

The specification (ssh's StrictModes): temporary files are created ``O_EXCL | O_NOFOLLOW``, 0600,
under an unguessable name; ``pumpctl`` refuses (exit 2, naming the chmod that fixes it) a key
store or journal that is group/world readable or writable, a symlink, another user's file, or in
a directory (or below one) writable by group or others without the sticky bit.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from programmer.errors import UsageError
from programmer.journal import Journal, PendingRequest
from programmer.keystore import KeyStore, StoredKey
from protocol.catalog import MsgType
from protocol.enums import Role
from tests.integration.harness import ServedPump, served_pump, xdg_env

KEY = StoredKey("VP20-000001", 5, Role.CLINICIAN, bytes(range(32)), "2026-01-05T00:00:00+00:00")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return xdg_env(tmp_path)


@pytest.fixture
def paired_pump(tmp_path: Path, env: dict[str, str]) -> Iterator[ServedPump]:
    with served_pump(tmp_path, env) as pump:
        pump.pair()
        yield pump


def _keys(pump: ServedPump) -> Path:
    return Path(pump.env["XDG_CONFIG_HOME"]) / "intrathecal-pump" / "keys.json"


def test_a_planted_symlink_at_the_old_temporary_name_receives_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o700)
    shared.chmod(0o1777)  # like /tmp: anyone may create files, nobody may replace others'
    loot = tmp_path / "attacker-loot"
    monkeypatch.setattr("programmer.keystore.os.getpid", lambda: 4242)
    planted = shared / ".keys.json.4242.tmp"
    planted.symlink_to(loot)

    KeyStore(shared / "keys.json").put(KEY)

    assert not loot.exists(), "the pairing key was written through the planted symlink"
    assert planted.is_symlink()  # left alone
    assert KeyStore(shared / "keys.json").get(KEY.serial_number) == KEY
    assert stat.S_IMODE((shared / "keys.json").stat().st_mode) == 0o600


def test_the_temporary_file_is_created_exclusively_without_following_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    real_open = os.open

    def spy_open(path: str | os.PathLike[str], flags: int, *args: int) -> int:
        if str(path).endswith(".tmp"):
            seen.append(flags)
            assert args == (0o600,)
        return real_open(path, flags, *args)

    monkeypatch.setattr("programmer.keystore.os.open", spy_open)
    KeyStore(tmp_path / "keys.json").put(KEY)
    assert seen and all(f & os.O_EXCL and f & os.O_NOFOLLOW and f & os.O_CREAT for f in seen)


def test_temporary_names_are_unguessable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names: list[str] = []
    real_replace = os.replace

    def spy_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        names.append(Path(str(src)).name)
        real_replace(src, dst)

    monkeypatch.setattr("programmer.keystore.os.replace", spy_replace)
    store = KeyStore(tmp_path / "keys.json")
    store.put(KEY)
    store.put(KEY)
    assert len(set(names)) == 2 and all(
        len(n) > len(f".keys.json.{os.getpid()}.tmp") for n in names
    )


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606])
def test_pumpctl_refuses_a_key_store_others_can_read_or_write(
    paired_pump: ServedPump, mode: int
) -> None:
    keys = _keys(paired_pump)
    keys.chmod(mode)
    result = paired_pump.pumpctl("status")
    assert result.code == 2, result
    assert f"chmod 600 {keys}" in result.err
    keys.chmod(0o600)
    assert paired_pump.pumpctl("status").code == 0


def test_pumpctl_refuses_a_key_store_in_a_directory_others_can_write(
    paired_pump: ServedPump,
) -> None:
    directory = _keys(paired_pump).parent
    directory.chmod(0o777)
    result = paired_pump.pumpctl("--json", "status")
    assert result.code == 2, result
    assert f"chmod go-w {directory}" in result.err
    assert result.json["ok"] is False
    directory.chmod(0o1777)  # sticky: others cannot replace our file, as with /tmp
    assert paired_pump.pumpctl("status").code == 0
    directory.chmod(0o700)
    config = directory.parent
    config.chmod(0o775)  # an ancestor counts too
    result = paired_pump.pumpctl("status")
    assert result.code == 2 and f"chmod go-w {config}" in result.err, result
    config.chmod(0o700)


def test_a_symlinked_key_store_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    KeyStore(real).put(KEY)
    link = tmp_path / "keys.json"
    link.symlink_to(real)
    with pytest.raises(UsageError, match="symbolic link"):
        KeyStore(link).get(KEY.serial_number)


def test_the_journal_follows_the_same_rules(tmp_path: Path) -> None:
    journal = Journal.beside(tmp_path / "keys.json")
    journal.record(PendingRequest("VP20-000001", 11, MsgType.STOP, "stop pump", "t"))
    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600
    journal.path.chmod(0o666)
    with pytest.raises(UsageError, match="chmod 600"):
        journal.entries()


def test_missing_directories_are_created_private_even_under_umask_0(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        KeyStore(tmp_path / "a" / "b" / "keys.json").put(KEY)
    finally:
        os.umask(old)
    for place in (tmp_path / "a", tmp_path / "a" / "b"):
        assert stat.S_IMODE(place.stat().st_mode) == 0o700
