"""What the distribution ships: every package of ours, the conformance suite as a pytest plugin,
and the data files the tools read (the Wireshark dissector, the golden transcript)."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def test_every_package_of_ours_is_listed_for_the_distribution() -> None:
    ours = find_packages(
        str(ROOT), include=["protocol*", "firmware*", "hw_sim*", "programmer*", "patient*"]
    )
    assert set(ours) <= set(CONFIG["packages"])
    assert CONFIG["package-dir"] == {"conformance": "tests/conformance"}
    assert (ROOT / "tests" / "conformance" / "__init__.py").is_file()


def test_the_data_files_the_tools_read_are_package_data() -> None:
    data = CONFIG["package-data"]
    assert "wireshark/*.lua" in data["programmer"]
    assert "golden/*.txt" in data["conformance"]
    assert (ROOT / "programmer" / "wireshark" / "itbp.lua").is_file()
    assert any((ROOT / "tests" / "conformance" / "golden").glob("*.txt"))


def test_the_conformance_plugin_is_registered_and_its_options_reach_pytest(tmp_path: Path) -> None:
    plugins = {e.name: e.value for e in importlib.metadata.entry_points(group="pytest11")}
    assert plugins.get("itbp-conformance") == "conformance.plugin"
    # far from the repository's conftest files: the options come from the installed plugin only
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--pyargs",
            "conformance",
            "--collect-only",
            "-q",
            "--pump-port",
            "/dev/null",
            "-p",
            "no:cacheprovider",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "test_identify.py::" in done.stdout and "tests collected" in done.stdout
