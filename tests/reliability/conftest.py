"""Campaign figures: each campaign test reports one JSON line; the run prints them at the end.

Why here: with pytest-xdist the tests run in worker processes whose stdout is captured, so a
campaign also attaches its figures to its report (``user_properties``), which travels back to
the controller; this hook prints every such line in the terminal summary, one per campaign.
"""

from __future__ import annotations

import pytest

from .harness import FIGURES_PROPERTY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines: list[str] = []
    for outcome in ("passed", "failed", "xfailed", "xpassed"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") != "call":
                continue
            for name, value in getattr(report, "user_properties", []):
                if name == FIGURES_PROPERTY:
                    lines.append(str(value))
    if lines:
        terminalreporter.section("campaign figures (JSON lines)")
        for line in sorted(lines):
            terminalreporter.write_line(line)
