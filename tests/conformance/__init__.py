"""The ITBP conformance suite: judges any implementation of docs/PROTOCOL.md over a serial line.

This directory is installed as the top-level package ``conformance`` (pyproject.toml maps it), so
a team without this repository runs ``pytest --pyargs conformance [--pump-port URL --pump-key FILE
--pump-control PATH]``; here ``make test`` collects it as ``tests/conformance`` (once).  Without
``--pump-port`` it starts its own virtual pumps (``vpump serve --lockstep``).  The options come
from the ``pytest11`` plugin ``conformance.plugin``; docs/CONFORMANCE.md says what each module
proves.
"""
