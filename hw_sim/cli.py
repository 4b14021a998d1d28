"""The ``vpump`` command (placeholder until the virtual pump lands)."""

import sys


def main() -> None:
    print("vpump: not yet available", file=sys.stderr)
    sys.exit(2)
