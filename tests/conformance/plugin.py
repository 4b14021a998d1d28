"""The conformance suite as a pytest plugin: its command-line options, wherever pytest runs.

Why: a team with its own pump firmware installs this package and runs
``pytest --pyargs conformance --pump-port /dev/ttyUSB0`` without this repository.  pytest reads
options only from plugins and the rootdir's conftest, so the options live here, registered by the
``pytest11`` entry point ``itbp-conformance`` (pyproject.toml); the fixtures live in the suite's
own ``conftest.py``, which pytest loads when it collects the suite.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(
        "conformance", "pump conformance suite (pytest --pyargs conformance, tests/conformance)"
    )
    group.addoption(
        "--pump-port",
        metavar="URL",
        default=None,
        help="judge the device on this port or pyserial URL (/dev/ttyUSB0, rfc2217://host:port) "
        "instead of the suite's own virtual pumps",
    )
    group.addoption(
        "--pump-key",
        metavar="FILE",
        default=None,
        help="JSON pairing key for --pump-port: {serial, key_id, role, key (hex)}",
    )
    group.addoption(
        "--pump-control",
        metavar="PATH",
        default=None,
        help="bench control socket of the --pump-port device (wand, time, faults)",
    )
