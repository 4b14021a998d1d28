"""Entropy source of the virtual board, drawn from the board's single seeded generator.

Why: nonces and keys must be reproducible in simulation (same seed, same session bytes); a real
device would read its TRNG here.  Never use this for anything but simulation.
"""

from __future__ import annotations

import random


class SeededEntropy:
    """Implements ``firmware.hal.EntropySource`` over the board rng."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def random_bytes(self, count: int) -> bytes:
        if count < 0:
            raise ValueError("count must not be negative")
        return self._rng.randbytes(count)
