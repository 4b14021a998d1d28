"""The lint run covers the whole tree at one strictness: the folders `make lint` hands ruff are
the ones pyproject.toml gives mypy, every folder with Python in it is among them, no mypy
override relaxes more than a missing third-party import, and CI lints before it tests."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MYPY = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf-8")
SKIPPED = {"build", "__pycache__"}


def _make_variable(name: str) -> list[str]:
    found = re.search(rf"^{name}\s*:=\s*(.*)$", MAKEFILE, re.MULTILINE)
    assert found, f"{name} is not set in the Makefile"
    return found.group(1).split()


def _recipe(target: str) -> list[str]:
    found = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", MAKEFILE, re.MULTILINE)
    assert found, f"no recipe for {target}"
    return [line.strip() for line in found.group(1).splitlines()]


def _python_folders() -> set[Path]:
    """Every folder of the tree holding a .py file (not the venv, caches or build output)."""
    folders = set()
    for here, dirs, files in os.walk(ROOT):
        dirs[:] = [
            d for d in dirs if not (d.startswith(".") or d in SKIPPED or d.endswith(".egg-info"))
        ]
        if Path(here) != ROOT and any(f.endswith(".py") for f in files):
            folders.add(Path(here).relative_to(ROOT))
    return folders


def test_ruff_and_mypy_check_the_same_folders() -> None:
    assert _make_variable("LINT_PATHS") == MYPY["files"]


def test_every_folder_with_python_is_linted() -> None:
    linted = [Path(p) for p in MYPY["files"]]
    missed = {f for f in _python_folders() if not any(f.is_relative_to(p) for p in linted)}
    assert missed == set()


def test_mypy_runs_once_strict_and_overrides_only_excuse_untyped_libraries() -> None:
    assert MYPY["strict"] is True
    for override in MYPY.get("overrides", []):
        assert set(override) <= {"module", "ignore_missing_imports"}, override
    mypy_lines = [line for line in _recipe("lint") if "mypy" in line]
    assert mypy_lines == ["$(BIN)/mypy"]  # no arguments: files and strictness from the config


def test_ci_lints_before_it_tests() -> None:
    steps = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if line.strip().startswith("make ")
    ]
    assert steps == ["make lint", "make test"]
