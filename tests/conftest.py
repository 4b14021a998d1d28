"""Root conftest: hypothesis settings for every suite.

The conformance suite's options (``--pump-port``...) come from its plugin, ``conformance.plugin``,
registered by the package's ``pytest11`` entry point.

Hypothesis: no per-example deadline (a loaded two-core CI machine makes timing noise, and
pytest-timeout already bounds every test); under CI (``CI=true``) the examples are derandomized,
so a CI run is reproducible and a failure there is a real one, not a lucky draw.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("default", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")
