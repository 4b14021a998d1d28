"""NVM images: file and memory variants read back what was written, tear writes, corrupt bytes."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from hw_sim.hardware.nvm_file import FileNvm, MemoryNvm, PowerCut


def test_new_file_image_reads_as_zeros_and_keeps_writes_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "pump.nvm"
    nvm = FileNvm(path, 4096)
    assert nvm.read(0, 16) == bytes(16)
    nvm.write(100, b"therapy")
    nvm.close()
    assert path.stat().st_size == 4096
    again = FileNvm(path, 4096)
    assert again.read(100, 7) == b"therapy"
    again.close()


def test_file_image_of_another_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pump.nvm"
    FileNvm(path, 4096).close()
    with pytest.raises(ValueError, match="expected 8192"):
        FileNvm(path, 8192)


@pytest.mark.parametrize("cut_after", [0, 1, 5, 9])
def test_torn_write_lands_only_the_bytes_before_the_cut(tmp_path: Path, cut_after: int) -> None:
    for nvm in (MemoryNvm(64), FileNvm(tmp_path / f"t{cut_after}.nvm", 64)):
        nvm.write(0, b"A" * 10)
        nvm.arm_power_cut(cut_after)
        with pytest.raises(PowerCut) as raised:
            nvm.write(0, b"B" * 10)
        assert raised.value.written == cut_after
        assert nvm.read(0, 10) == b"B" * cut_after + b"A" * (10 - cut_after)
        assert not nvm.power_cut_armed
        nvm.write(0, b"C" * 10)  # power is back: writes complete again
        assert nvm.read(0, 10) == b"C" * 10
        nvm.close()


def test_power_cut_counts_bytes_across_several_writes() -> None:
    nvm = MemoryNvm(64)
    nvm.arm_power_cut(12)
    nvm.write(0, b"x" * 8)
    with pytest.raises(PowerCut):
        nvm.write(8, b"y" * 8)
    assert nvm.read(0, 16) == b"x" * 8 + b"y" * 4 + bytes(4)


def test_memory_error_changes_every_byte_of_the_range_deterministically() -> None:
    images = []
    for _ in range(2):
        nvm = MemoryNvm(256)
        nvm.write(0, bytes(range(256)))
        nvm.corrupt(random.Random(5), 16, 32)
        images.append(nvm.read(0, 256))
    first = images[0]
    assert first == images[1]
    assert first[:16] == bytes(range(16)) and first[48:] == bytes(range(48, 256))
    assert all(first[i] != i for i in range(16, 48))


def test_access_outside_the_image_is_refused() -> None:
    nvm = MemoryNvm(32)
    with pytest.raises(ValueError, match="outside"):
        nvm.write(30, b"abc")
    with pytest.raises(ValueError, match="outside"):
        nvm.read(-1, 2)
