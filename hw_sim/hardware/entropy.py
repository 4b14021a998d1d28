"""Key material for the virtual board: the operating system's CSPRNG, or a loudly insecure DRBG.

Why: private keys, nonces and session ids must be unpredictable to anyone on the line, so they
never come from the simulation's seeded ``random.Random`` (a Mersenne Twister is cloned from 624
observed 32-bit outputs, and the serial number reveals the seed).  By default the board reads
``os.urandom``, as a real device reads its TRNG.

Golden transcripts need byte-identical sessions, so there is one explicit exception:
``InsecureTestEntropy``, an HMAC-DRBG (NIST SP 800-90A, SHA-256) keyed from the seed.  Anyone who
knows the seed knows every key, so it is only for tests: the pump announces it in HELLO
(``Capability.INSECURE_TEST_KEYS``), ``vpump serve`` prints a warning, and the programmer warns
before every session.  Its stream is not persisted: a restarted pump in this mode repeats it.
"""

from __future__ import annotations

import hashlib
import hmac
import os

#: Personalisation string of the test DRBG: a different seed use than the physics generator.
TEST_DRBG_LABEL = b"vpump INSECURE deterministic test keys v1"


class SystemEntropy:
    """Implements ``firmware.hal.EntropySource`` with the operating system's CSPRNG."""

    deterministic = False

    def random_bytes(self, count: int) -> bytes:
        if count < 0:
            raise ValueError("count must not be negative")
        return os.urandom(count)


class InsecureTestEntropy:
    """HMAC-DRBG (SHA-256) keyed from ``seed``: reproducible, and therefore predictable.

    Implements ``firmware.hal.EntropySource``; never use it outside tests (see module doc).
    """

    deterministic = True

    def __init__(self, seed: int) -> None:
        self._key = b"\x00" * 32
        self._value = b"\x01" * 32
        self._update(TEST_DRBG_LABEL + str(seed).encode("ascii"))

    def random_bytes(self, count: int) -> bytes:
        if count < 0:
            raise ValueError("count must not be negative")
        out = bytearray()
        while len(out) < count:
            self._value = self._hmac(self._key, self._value)
            out += self._value
        self._update(b"")
        return bytes(out[:count])

    @staticmethod
    def _hmac(key: bytes, data: bytes) -> bytes:
        return hmac.new(key, data, hashlib.sha256).digest()

    def _update(self, provided: bytes) -> None:
        """HMAC_DRBG_Update of SP 800-90A section 10.1.2.2."""
        self._key = self._hmac(self._key, self._value + b"\x00" + provided)
        self._value = self._hmac(self._key, self._value)
        if provided:
            self._key = self._hmac(self._key, self._value + b"\x01" + provided)
            self._value = self._hmac(self._key, self._value)
