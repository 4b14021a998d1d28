"""The architecture's import rules, checked on the real modules (not by reading source)."""

from __future__ import annotations

import subprocess
import sys

import pytest

RULES = {
    "protocol": {"serial", "click", "firmware", "hw_sim", "programmer"},
    "firmware": {"serial", "click", "hw_sim", "programmer"},
    "programmer": {"firmware", "hw_sim"},
    "hw_sim": {"programmer"},
    # the simulated body: stdlib only (test_the_patient_imports_only_the_stdlib checks that)
    "patient": {"protocol", "firmware", "programmer", "hw_sim", "serial", "click"},
}
SANS_IO = {"threading", "socket", "selectors", "asyncio", "random", "serial", "subprocess"}


def _loaded_after_import(package: str) -> set[str]:
    code = (
        "import sys, importlib, pkgutil\n"
        f"pkg = importlib.import_module({package!r})\n"
        "for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "    importlib.import_module(m.name)\n"
        "print('\\n'.join(sorted({n.split('.')[0] for n in sys.modules})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return set(out.stdout.split())


@pytest.mark.parametrize("package", sorted(RULES))
def test_each_part_imports_only_what_the_architecture_allows(package: str) -> None:
    assert _loaded_after_import(package) & RULES[package] == set()


def test_import_protocol_loads_no_serial_click_firmware_hw_sim_or_programmer() -> None:
    code = "import protocol, sys; print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in {'serial','click','firmware','hw_sim','programmer'})))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("package", ["protocol", "firmware"])
def test_the_sans_io_core_touches_no_threads_sockets_or_randomness(package: str) -> None:
    # stdlib modules that other imports drag in are fine only if our own code does not use them:
    # check our own source for direct imports instead of the interpreter's module list.
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[1] / package
    pattern = re.compile(r"^\s*(?:import|from)\s+(\w+)", re.MULTILINE)
    used = {m for path in root.rglob("*.py") for m in pattern.findall(path.read_text())}
    assert used & (SANS_IO | {"time", "os", "io"}) == set()


def test_the_patient_imports_only_the_stdlib() -> None:
    # what the interpreter itself loads at start-up (site, editable-install finders) is not ours
    startup = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; print('\\n'.join({n.split('.')[0] for n in sys.modules}))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    foreign = _loaded_after_import("patient") - set(startup.stdout.split()) - {"patient"}
    assert foreign - set(sys.stdlib_module_names) == set()


#: Inside hw_sim, each folder builds on the ones listed for it (and itself): the hardware models
#: know no board, the board no bench, the bench no line, and only the command line knows them all.
#: ``scenarios.timeparse`` (standard library only: durations, dates, DAY_S) is open to every
#: folder, since the board's clock starts at its DEFAULT_START_TIME.
HW_SIM_LAYERS = {
    "hardware": set(),
    "profiles": set(),
    "board": {"hardware", "profiles"},
    "bench": {"hardware", "profiles", "board"},
    "link": {"hardware", "profiles", "board", "bench"},
    "scenarios": {"hardware", "profiles", "board"},
    "studies": {"hardware", "profiles", "board", "scenarios"},
    "cli": {"hardware", "profiles", "board", "bench", "link", "scenarios", "studies"},
}
OPEN_TO_ALL = {"hw_sim.scenarios.timeparse"}


def _hw_sim_imports() -> dict[str, set[str]]:
    """Module path (``folder/module.py``) -> the hw_sim modules and top-level packages it imports."""
    import ast
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[1] / "hw_sim"
    found: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        found[path.relative_to(root).as_posix()] = names
    return found


def test_every_hw_sim_module_lives_in_a_folder() -> None:
    loose = [path for path in _hw_sim_imports() if "/" not in path and path != "__init__.py"]
    assert loose == []
    assert set(HW_SIM_LAYERS) == {path.split("/")[0] for path in _hw_sim_imports() if "/" in path}


def test_each_hw_sim_folder_imports_only_the_folders_below_it() -> None:
    wrong = []
    for path, names in _hw_sim_imports().items():
        folder = path.split("/")[0]
        if folder not in HW_SIM_LAYERS:
            continue
        allowed = HW_SIM_LAYERS[folder] | {folder}
        for name in names - OPEN_TO_ALL:
            parts = name.split(".")
            if parts[0] == "hw_sim" and len(parts) > 1 and parts[1] not in allowed:
                wrong.append(f"{path} imports {name}")
    assert wrong == []


def test_click_is_imported_only_by_the_command_lines() -> None:
    users = {path for path, names in _hw_sim_imports().items() if "click" in names}
    # the noisy relay is also a command of its own (python -m hw_sim.link.noisy_relay)
    assert {path for path in users if not path.startswith("cli/")} <= {"link/noisy_relay.py"}
