"""Plotting lives in hw_sim and programmer only, and is loaded only when a picture is drawn."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("package", ["protocol", "firmware", "patient"])
def test_the_core_and_the_patient_never_mention_matplotlib(package: str) -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / package).rglob("*.py"))
        if "matplotlib" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_importing_every_module_of_hw_sim_and_programmer_loads_no_matplotlib() -> None:
    code = (
        "import sys, importlib, pkgutil\n"
        "for name in ('hw_sim', 'programmer'):\n"
        "    pkg = importlib.import_module(name)\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, name + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "print('matplotlib' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "False"
