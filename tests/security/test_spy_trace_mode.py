"""Finding 1 of issue 9 (its ``spy://`` part): trace files are private.

The attack: ``pumpctl --port 'spy:///dev/pts/3?file=trace.txt'`` let pyserial create the trace
with a plain ``open(path, 'w')``, mode 0644 under the usual umask, so any local user could read a
capture holding pairing public values, nonces, session ids and tags; a symlink planted at the
path received the trace.

The specification: the programmer creates the trace file 0600 itself (or tightens an existing
one of the user's to 0600) before pyserial opens it, and refuses a symlink there.  Real ``vpump
serve`` and real ``pumpctl`` processes, under umask 022.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import ServedPump, served_pump, xdg_env


@pytest.fixture
def pump(tmp_path: Path) -> Iterator[ServedPump]:
    old = os.umask(0o022)  # the children inherit the everyday umask
    try:
        with served_pump(tmp_path, xdg_env(tmp_path)) as served:
            yield served
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_trace_file_is_created_0600(pump: ServedPump, tmp_path: Path) -> None:
    capture = tmp_path / "trace.txt"
    pump.pair()
    # a session: the trace holds the SESSION_OPEN nonces and proofs and every tag
    result = pump.pumpctl("--json", "status", port=f"spy://{pump.port}?file={capture}")
    assert result.code == 0, result
    assert " TX " in capture.read_text()  # pyserial wrote its hexdump there
    assert _mode(capture) == 0o600


def test_an_existing_trace_file_is_tightened_to_0600(pump: ServedPump, tmp_path: Path) -> None:
    capture = tmp_path / "old-trace.txt"
    capture.write_text("an earlier capture\n")
    capture.chmod(0o644)
    result = pump.pumpctl("identify", port=f"spy://{pump.port}?file={capture}")
    assert result.code == 0, result
    assert _mode(capture) == 0o600
    assert " RX " in capture.read_text()


def test_a_symlink_at_the_trace_path_is_refused(pump: ServedPump, tmp_path: Path) -> None:
    loot = tmp_path / "attacker-readable"
    capture = tmp_path / "trace.txt"
    capture.symlink_to(loot)
    result = pump.pumpctl("identify", port=f"spy://{pump.port}?file={capture}")
    assert result.code == 2, result
    assert "symbolic link" in result.err
    assert not loot.exists()
