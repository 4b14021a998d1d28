"""Root conftest: the conformance suite's options, and hypothesis settings for every suite.

The options live here because pytest reads options only from the rootdir's conftest and plugins;
everything else about the suite lives in tests/conformance/.

Hypothesis: no per-example deadline (a loaded two-core CI machine makes timing noise, and
pytest-timeout already bounds every test); under CI (``CI=true``) the examples are derandomized,
so a CI run is reproducible and a failure there is a real one, not a lucky draw.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

settings.register_profile("default", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")


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
