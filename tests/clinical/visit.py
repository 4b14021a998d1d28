"""A clinic visit over the loopback line: a programmer paired with a fresh virtual pump.

Why: the casebook's programmer-side visits all start the same way (a new pump of one profile,
the programmer head over it, pairing accepted at the pump) and read the status text the same way;
one definition keeps the visits about the clinic, not the set-up.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hw_sim.link.loopback import Loopback
from programmer import KeyStore, PumpClient


@contextmanager
def clinic_visit(
    profile: str, serial_number: str, keys: Path
) -> Iterator[tuple[Loopback, PumpClient]]:
    """A fresh ``profile`` pump with the head over it, and a programmer paired with it."""
    loop = Loopback.fresh(profile, serial_number=serial_number, auto_accept_pairing=True)
    loop.bench.set_wand(True)
    with PumpClient(loop.transport(), KeyStore(keys), timeout_s=0.5) as client:
        client.pair()
        yield loop, client


def status_line(text: str, label: str) -> str:
    """The value of one ``label  value`` line of the status text."""
    for line in text.splitlines():
        if line.startswith(label + "  "):
            return line[len(label) :].strip()
    raise AssertionError(f"no {label!r} line in:\n{text}")
