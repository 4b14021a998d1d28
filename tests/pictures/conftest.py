"""Fixtures of the picture tests: the programmer suite's in-process pump, and pumpctl on it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from programmer.cli import run
from programmer.keystore import KeyStore
from tests.programmer.conftest import ClinicPump, keystore, paired, pump

__all__ = ["keystore", "paired", "pump", "pumpctl"]

Result = tuple[int, str, str]


@pytest.fixture
def pumpctl(
    pump: ClinicPump, paired: KeyStore, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Result]:
    """``pumpctl --port PUMP --keystore PAIRED ARGS...`` in this process: (code, out, err)."""

    def invoke(*args: str) -> Result:
        base = ["--port", pump.port, "--keystore", str(paired.path), "--timeout", "0.25"]
        code = run([*base, *args])
        out, err = capsys.readouterr()
        return code, out, err

    return invoke
