"""CLI start-up benchmark: ``pumpctl --help`` against a bare interpreter start.

Why: a person types ``pumpctl`` dozens of times in a clinic visit and completion runs it on
every TAB, so ``--help``, ``--version`` and usage errors must cost about what the interpreter
itself costs; a command's own dependencies (cryptography, construct, the message catalog) load
only when it runs.  Both are measured in the same run, interleaved, as the median of several
wall-clock runs of a real process; the last line is the JSON summary.  ``ratio`` is
pumpctl / python (lower is better); the target is at most 3.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = int(os.environ.get("CLI_STARTUP_RUNS", "15"))  # fewer in the test of this script
TARGET_RATIO = 3.0


def _pumpctl() -> list[str]:
    script = Path(sys.executable).parent / "pumpctl"
    if script.exists():
        return [str(script)]
    found = shutil.which("pumpctl")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from programmer.cli import main; sys.exit(main())"]


def _once(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def main() -> None:
    pumpctl = _pumpctl()
    cases = {
        "python": [sys.executable, "-c", "pass"],
        "help": [*pumpctl, "--help"],
        "version": [*pumpctl, "--version"],
        "usage_error": [*pumpctl, "no-such-command"],
        "status_help": [*pumpctl, "status", "--help"],
    }
    for argv in cases.values():  # warm the page cache and the bytecode caches
        _once(argv)
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(RUNS):
        for name, argv in cases.items():  # interleaved: a load spike hits every case alike
            samples[name].append(_once(argv))
    median = {name: statistics.median(times) for name, times in samples.items()}
    base = median["python"]
    for name, value in median.items():
        print(f"{name:<12} median {value * 1000:7.1f} ms  ({value / base:.2f} x python -c pass)")
    ratio = median["help"] / base
    print(f"pumpctl --help / python -c pass = {ratio:.2f} (target <= {TARGET_RATIO:g})")
    print(
        json.dumps(
            {
                "metric": "pumpctl_help_startup_s",
                "value": round(median["help"], 4),
                "baseline": round(base, 4),
                "ratio": round(ratio, 2),
                "target_ratio_max": TARGET_RATIO,
                "version_ratio": round(median["version"] / base, 2),
                "usage_error_ratio": round(median["usage_error"] / base, 2),
                "status_help_ratio": round(median["status_help"] / base, 2),
                "runs": RUNS,
                "unit": "s",
            }
        )
    )


if __name__ == "__main__":
    main()
