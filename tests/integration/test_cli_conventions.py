"""Issue 12 for real processes: vpump -h, vpump ctl's messages and times, vpump serve --link
and its registry entry (``pumpctl ports``), identify in names, shell completion, the options of
a real ``pumpctl`` after the subcommand."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from .harness import PUMPCTL, VPUMP, ServedPump, served_pump

pytestmark = pytest.mark.integration


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_vpump_h_and_pumpctl_version(env: dict[str, str]) -> None:
    done = _run([*VPUMP, "-h"], env)
    assert done.returncode == 0 and "serve" in done.stdout
    done = _run([*PUMPCTL, "--version"], env)
    assert done.returncode == 0 and done.stdout.startswith("pumpctl, version")


def test_ctl_without_a_pump_says_so_without_a_traceback(
    env: dict[str, str], tmp_path: Path
) -> None:
    for control in (tmp_path / "none.sock", Path("/etc/passwd/x.sock")):
        done = _run([*VPUMP, "ctl", "--control", str(control), "wand", "on"], env)
        assert done.returncode == 1
        assert "vpump serve" in done.stderr and "Traceback" not in done.stderr


def test_serve_with_an_unusable_control_path_is_a_usage_error(
    env: dict[str, str], tmp_path: Path
) -> None:
    argv = [*VPUMP, "serve", "--lockstep", "--state", str(tmp_path / "p.nvm")]
    done = _run([*argv, "--control", "/etc/passwd/bench.ctl"], env)
    assert done.returncode == 2
    assert "--control" in done.stderr and "Traceback" not in done.stderr


def test_ctl_prints_iso_times_and_refuses_to_go_back(pump: ServedPump) -> None:
    ctl = [*VPUMP, "ctl", "--control", pump.control]
    done = _run([*ctl, "advance", "1d"], pump.env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("time is now 20") and done.stdout.strip().endswith("Z")
    before = pump.now()
    done = _run([*ctl, "advance", "-1d"], pump.env)
    assert done.returncode == 2
    assert "only moves forward" in done.stderr and "No such option" not in done.stderr
    assert pump.now() == before
    done = _run([*ctl, "hw-status"], pump.env)
    assert "time               20" in done.stdout


def test_identify_prints_names(pump: ServedPump) -> None:
    result = pump.pumpctl("identify")
    assert result.code == 0, result
    assert "capabilities" in result.out and "pairing" in result.out and "flex" in result.out
    assert re.search(r"^pairing window open +no$", result.out, re.M)
    assert re.search(r"^protocol +versions? 1", result.out, re.M)
    assert "[1, 1]" not in result.out and "False" not in result.out


def test_options_after_the_subcommand_in_a_real_process(filled_pump: ServedPump) -> None:
    done = _run([*PUMPCTL, "status", "--json", "--port", filled_pump.port], filled_pump.env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["mode"] == "continuous"
    done = _run([*PUMPCTL, "stop", "--port", filled_pump.port, "--dry-run"], filled_pump.env)
    assert done.returncode == 0, done.stderr
    assert "Finish: stop the pump" in done.stdout
    assert filled_pump.pumpctl("--json", "status").json["mode"] == "continuous"
    done = _run([*PUMPCTL, "stop", "--port", filled_pump.port], filled_pump.env)
    assert done.returncode == 2  # no terminal, no --yes: the Finish view, then the refusal
    assert "Finish: stop the pump" in done.stdout and "--yes" in done.stderr


def test_missing_port_exits_2(env: dict[str, str]) -> None:
    done = _run([*PUMPCTL, "status"], env)
    assert done.returncode == 2
    assert "PUMP_PORT" in done.stderr and "Traceback" not in done.stderr


def test_serve_link_and_the_registry_seen_by_pumpctl_ports(
    tmp_path: Path, env: dict[str, str]
) -> None:
    link = tmp_path / "pump-link"
    with served_pump(tmp_path, env, extra=("--link", str(link))) as pump:
        assert os.readlink(link) == pump.served_on
        assert "LINK " + str(link) not in pump.log()  # on stdout, after PORT and CONTROL
        assert pump.identify(str(link))["serial_number"] == pump.identity["serial_number"]
        done = _run([*PUMPCTL, "ports", "--json"], env)
        assert done.returncode == 0, done.stderr
        virtual = json.loads(done.stdout)["virtual_pumps"]
        assert [(v["port"], v["link"], v["control"]) for v in virtual] == [
            (pump.served_on, str(link), pump.control)
        ]
        assert virtual[0]["serial_number"] == pump.identity["serial_number"]
        text = _run([*PUMPCTL, "ports"], env).stdout
        assert str(link) in text and "Virtual pumps" in text
    assert not link.exists() and not link.is_symlink()
    registry = Path(env["XDG_RUNTIME_DIR"]) / "intrathecal-pump" / "pumps"
    assert list(registry.glob("*.json")) == []


def test_ports_skips_a_stale_registry_entry(env: dict[str, str]) -> None:
    registry = Path(env["XDG_RUNTIME_DIR"]) / "intrathecal-pump" / "pumps"
    registry.mkdir(parents=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (registry / f"{dead.pid}.json").write_text(json.dumps({"port": "/dev/pts/99", "pid": dead.pid}))
    done = _run([*PUMPCTL, "ports", "--json"], env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["virtual_pumps"] == []


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(env: dict[str, str], shell: str) -> None:
    done = _run([*PUMPCTL, "completion", shell], env)
    assert done.returncode == 0, done.stderr
    assert "_PUMPCTL_COMPLETE" in done.stdout
    if shell == "bash":  # what the script asks pumpctl for when TAB is pressed after "st"
        complete = dict(
            env, _PUMPCTL_COMPLETE="bash_complete", COMP_WORDS="pumpctl st", COMP_CWORD="1"
        )
        done = _run([*PUMPCTL], complete)
        assert "status" in done.stdout and "stop" in done.stdout


ROOT = Path(__file__).resolve().parents[2]


def test_make_demo_installs_only_the_package(tmp_path: Path) -> None:
    done = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "demo", f"VENV={tmp_path / 'venv'}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    installs = [line for line in done.stdout.splitlines() if "pip install" in line and "-e" in line]
    assert installs and all(line.rstrip().endswith("-e .") for line in installs), done.stdout


def test_the_license_is_an_spdx_string() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT"


def test_the_demo_shows_the_code_at_the_pair_step_and_leaves_no_folder(
    tmp_path: Path, env: dict[str, str]
) -> None:
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "hw_sim.cli.demo"],
        env=dict(env, TMPDIR=str(tmp_path)),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    step = next(i for i, line in enumerate(lines) if "== Pair as a clinician" in line)
    accept = next(i for i, line in enumerate(lines) if "== Accept the code" in line)
    between = "\n".join(lines[step:accept])
    assert re.search(r"Confirmation code: \d{3} \d{3}", between)
    assert re.search(r"The programmer shows (\d{3} \d{3}), the pump shows \1: the same", between)
    assert list(tmp_path.glob("vpump-demo-*")) == []


def test_the_startup_bench_ends_with_its_json_line(env: dict[str, str]) -> None:
    import sys

    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "cli_startup.py")],
        env=dict(env, CLI_STARTUP_RUNS="2"),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["metric"] == "pumpctl_help_startup_s"
    assert summary["baseline"] > 0 and summary["ratio"] == pytest.approx(
        summary["value"] / summary["baseline"], rel=0.05
    )


def test_ctl_on_a_socket_it_may_not_open_explains_whose_it_is(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import socket

    from click.testing import CliRunner

    from hw_sim.cli.main import main

    def refuse(self: socket.socket, address: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    result = CliRunner().invoke(main, ["ctl", "--control", str(tmp_path / "b.ctl"), "wand", "on"])
    assert result.exit_code == 1
    assert "permission denied" in result.output and "as that user" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_ports_ignores_a_registry_others_may_write_to(env: dict[str, str]) -> None:
    registry = Path(env["XDG_RUNTIME_DIR"]) / "intrathecal-pump" / "pumps"
    registry.mkdir(parents=True)
    (registry / f"{os.getpid()}.json").write_text(
        json.dumps({"port": "/dev/pts/99", "pid": os.getpid()})
    )
    done = _run([*PUMPCTL, "ports", "--json"], env)
    assert [v["port"] for v in json.loads(done.stdout)["virtual_pumps"]] == ["/dev/pts/99"]
    registry.chmod(0o777)
    done = _run([*PUMPCTL, "ports", "--json"], env)
    assert json.loads(done.stdout)["virtual_pumps"] == []
