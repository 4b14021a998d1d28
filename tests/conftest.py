"""Command-line options of the conformance suite (tests/conformance): which device to judge.

Kept here, in the root conftest, because pytest reads options only from the rootdir's conftest
and plugins; everything else about the suite lives in tests/conformance/.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "pump conformance suite (tests/conformance)")
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
