"""``make demo``: the whole product in one command, with the real commands a user would type.

Why: a newcomer should see a virtual pump start on a pty, a programmer pair with it, fill,
prime and program it, time pass, and the pump's own status and alarm log - without reading any
docs first.  Everything runs as separate processes through the public CLIs (``vpump serve``,
started with hw_sim.link.launcher; ``vpump ctl``, ``pumpctl``), exactly as in the README;
nothing is imported from the programmer.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hw_sim.link.launcher import INHERIT, start_pump

BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    candidate = BIN / name
    return str(candidate) if candidate.exists() else name


def _step(title: str, argv: list[str], env: dict[str, str]) -> None:
    shown = " ".join(shlex.quote(a) for a in [Path(argv[0]).name, *argv[1:]])
    print(f"\n\033[1m== {title}\033[0m\n$ {shown}", flush=True)
    result = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, timeout=120, check=False)
    if result.returncode != 0:
        raise SystemExit(f"demo: step failed with exit code {result.returncode}: {shown}")


def _pair(pumpctl: list[str], ctl: list[str], env: dict[str, str]) -> None:
    """``pumpctl pair`` waits until the person at the pump accepts the code it shows; its
    output is relayed here line by line, so its code appears at this step, next to the pump's."""
    argv = [*pumpctl, "pair", "--role", "clinician"]
    shown = " ".join(shlex.quote(a) for a in [Path(argv[0]).name, *argv[1:]])
    print("\n\033[1m== Pair as a clinician (compare the code with the pump's)\033[0m", flush=True)
    print(f"$ {shown}", flush=True)
    pairing = subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert pairing.stdout is not None
    programmer_code = ""
    for line in pairing.stdout:  # the code line comes before pumpctl starts waiting
        print(f"  {line.rstrip()}", flush=True)
        found = re.search(r"Confirmation code: (\d{3}) (\d{3})", line)
        if found:
            programmer_code = found[1] + found[2]
        if line.startswith("Waiting for the code"):  # printed just after the code
            break
    code = ""
    deadline = time.monotonic() + 60
    while not code and pairing.poll() is None and time.monotonic() < deadline:
        status = subprocess.run(
            [*ctl, "--json", "pairing", "status"], env=env, capture_output=True, text=True
        )
        if status.returncode == 0 and json.loads(status.stdout)["state"] == "awaiting_acceptance":
            code = str(json.loads(status.stdout)["code"]).replace(" ", "")
        else:
            time.sleep(0.2)
    if not code:
        pairing.kill()
        raise SystemExit("demo: the pump never showed a pairing code")
    same = "the same" if code == programmer_code else "NOT the same: someone is in the middle"
    print(
        f"\nThe programmer shows {programmer_code[:3]} {programmer_code[3:]}, "
        f"the pump shows {code[:3]} {code[3:]}: {same}.",
        flush=True,
    )
    if code != programmer_code:
        pairing.kill()
        raise SystemExit("demo: the codes differ; not accepting the pairing")
    _step(
        "Accept the code at the pump (the person at the bench)",
        [*ctl, "pairing", "accept", code],
        env,
    )
    for line in pairing.stdout:
        print(f"  {line.rstrip()}", flush=True)
    if pairing.wait(timeout=60) != 0:
        raise SystemExit(f"demo: step failed with exit code {pairing.returncode}: {shown}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="vpump-demo-") as folder:
        _demo(Path(folder))  # the folder (pump image, keys, sockets) goes with the demo


def _demo(work: Path) -> None:
    env = dict(os.environ, XDG_CONFIG_HOME=str(work / "config"), XDG_STATE_HOME=str(work / "state"))
    pump = start_pump(
        state=work / "pump.nvm",
        control=work / "bench.ctl",
        env=env,
        stderr=INHERIT,  # the pump's console (its pairing code) shows between the steps
        command=[_tool("vpump")],
    )
    try:
        port, control = pump.port, pump.control
        print(f"virtual pump on {port} (bench control {control})", flush=True)
        pumpctl = [_tool("pumpctl"), "--port", port, "--keystore", str(work / "keys.json")]
        ctl = [_tool("vpump"), "ctl", "--control", control]
        _step("Who is there?", [*pumpctl, "identify"], env)
        _step("Hold the programmer head over the pump", [*ctl, "wand", "on"], env)
        _pair(pumpctl, ctl, env)
        _step(
            "Fill the empty pump: 20 mL of 2000 mcg/mL",
            [
                *pumpctl,
                "--yes",
                "refill",
                "--withdrawn",
                "0mL",
                "--added",
                "20mL",
                "--concentration",
                "2000mcg/mL",
            ],
            env,
        )
        _step(
            "Prime the pump tubing and a 60 cm catheter",
            [*pumpctl, "--yes", "prime", "--catheter-length", "60cm"],
            env,
        )
        # 0.296 mL at 24 mL/day: 17 min 46 s; then, with no program yet, pump_stopped sounds
        _step("Let the priming bolus finish", [*ctl, "advance", "18min"], env)
        _step(
            "Program 400 mcg/day, simple continuous",
            [*pumpctl, "--yes", "program", "continuous", "--dose", "400mcg/day"],
            env,
        )
        _step("Thirty days later...", [*ctl, "advance", "30d"], env)
        _step("Interrogate the pump", [*pumpctl, "status"], env)
        _step("Another 60 days: the reservoir runs low", [*ctl, "advance", "60d"], env)
        _step("Status again", [*pumpctl, "status"], env)
        _step("The alarm log", [*pumpctl, "log", "alarm"], env)
        _step("What the bench measures (true reservoir, tones)", [*ctl, "hw-status"], env)
    finally:
        code = pump.stop(timeout_s=30)
    print(f"\nvpump serve stopped cleanly (exit {code}); its files are removed", flush=True)
    if code != 0:
        raise SystemExit(code)


if __name__ == "__main__":
    main()
