"""CRC-32C is pinned by its catalogue check value, so a changed crcmod table cannot go unseen."""

from __future__ import annotations

import zlib

from hypothesis import given
from hypothesis import strategies as st

from protocol.crc import CRC_CHECK_VALUE, CRC_NAME, crc32c


def test_crc_is_crc32c_with_its_catalogue_check_value() -> None:
    assert CRC_NAME == "crc-32c"
    assert CRC_CHECK_VALUE == 0xE3069283
    assert crc32c(b"123456789") == CRC_CHECK_VALUE


def test_crc_of_empty_input_is_zero() -> None:
    assert crc32c(b"") == 0


def test_crc32c_differs_from_the_zip_crc32() -> None:
    # Guards against someone swapping in zlib.crc32 (CRC-32/ISO-HDLC, check value 0xCBF43926).
    assert zlib.crc32(b"123456789") == 0xCBF43926
    assert crc32c(b"123456789") != zlib.crc32(b"123456789")


@given(st.binary(min_size=1, max_size=256), st.integers(min_value=0), st.integers(1, 255))
def test_crc_detects_every_single_byte_change(data: bytes, where: int, delta: int) -> None:
    position = where % len(data)
    corrupted = bytearray(data)
    corrupted[position] ^= delta
    assert crc32c(bytes(corrupted)) != crc32c(data)
