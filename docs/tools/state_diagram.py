"""The endpoints' state diagrams for docs/PROTOCOL.md, drawn from protocol/states.py's tables.

Why: a diagram drawn by hand drifts from the code; this one is the tables themselves.  Each
machine becomes a Mermaid ``stateDiagram-v2`` block (GitHub draws it) followed by the same
transitions as a plain table (readable anywhere, and what a reviewer greps).  The block sits
between ``<!-- BEGIN GENERATED: state-machines -->`` markers; tests/protocol/test_state_tables.py
checks that the document holds what this module renders now.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from protocol.states import MACHINES, Machine

SECTION = "state-machines"


def mermaid(machine: Machine[Any, Any]) -> str:
    """One machine as a Mermaid state diagram; parallel edges share one arrow."""
    lines = ["```mermaid", "stateDiagram-v2"]
    for state in _used_states(machine):
        lines.append(f'    state "{state.value}" as {state.name}')
    lines.append(f"    [*] --> {machine.initial.name}")
    edges: dict[tuple[Enum, Enum], list[str]] = {}
    for state, event, after in machine.transitions():
        edges.setdefault((state, after), []).append(event.name)
    for (state, after), events in edges.items():
        lines.append(f"    {state.name} --> {after.name}: {' / '.join(events)}")
    lines.append("```")
    return "\n".join(lines)


def table(machine: Machine[Any, Any]) -> str:
    """One machine's transitions as a Markdown table; a step not listed is refused."""
    rows = ["| state | event | next state |", "|---|---|---|"]
    for state, event, after in machine.transitions():
        rows.append(f"| `{state.name}` | `{event.name}`: {event.value} | `{after.name}` |")
    return "\n".join(rows)


def _used_states(machine: Machine[Any, Any]) -> list[Enum]:
    """The states the machine's table mentions, in declaration order (the device never opens
    a session in two steps, so it has no OPENING)."""
    used = {machine.initial}
    for state, _event, after in machine.transitions():
        used |= {state, after}
    return [s for s in machine.states if s in used]


def render() -> str:
    """The whole generated block: every machine, diagram then table."""
    parts = []
    for machine in MACHINES:
        states = ", ".join(f"`{s.name}`" for s in _used_states(machine))
        parts.append(
            f"**{machine.name.capitalize()}** (states {states}; starts in `{machine.initial.name}`)"
        )
        parts.append(mermaid(machine))
        parts.append(table(machine))
    return "\n\n".join(parts) + "\n"


def state_diagram_sections() -> dict[str, str]:
    """Marker name -> Markdown, for ``regen_protocol_doc.py``."""
    return {SECTION: render()}
