"""The ``pumpctl`` command (placeholder until the programmer lands)."""

import sys


def main() -> None:
    print("pumpctl: not yet available", file=sys.stderr)
    sys.exit(2)
