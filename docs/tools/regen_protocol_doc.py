"""Regenerate the generated blocks of docs/PROTOCOL.md (tables, hex examples, vectors).

Usage: ``python docs/tools/regen_protocol_doc.py [--check]``.  Every block sits between
``<!-- BEGIN GENERATED: name -->`` and ``<!-- END GENERATED: name -->``; the text outside the
markers is prose and is never touched.  Tables come from ``doc_tables``; hex examples
and key-derivation vectors from ``doc_examples`` (the real endpoints with fixed keys).  With
``--check`` nothing is written and the exit status says whether the document is up to date.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from doc_examples import render_all
from doc_tables import generated_sections
from state_diagram import state_diagram_sections

DOC = Path(__file__).resolve().parents[1] / "PROTOCOL.md"
BLOCK = re.compile(
    r"(<!-- BEGIN GENERATED: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- END GENERATED: (?P=name) -->)",
    re.DOTALL,
)


def regenerate(text: str) -> str:
    """The document with every generated block replaced by its current rendering."""
    blocks = {**generated_sections(), **render_all(), **state_diagram_sections()}
    found: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in blocks:
            raise SystemExit(f"unknown generated block {name!r} in {DOC.name}")
        found.add(name)
        return f"{match.group(1)}\n{blocks[name]}\n{match.group(4)}"

    result = BLOCK.sub(replace, text)
    missing = sorted(set(blocks) - found)
    if missing:
        raise SystemExit(f"{DOC.name} lacks the marker pairs for: {', '.join(missing)}")
    return result


def main() -> int:
    text = DOC.read_text(encoding="utf-8")
    updated = regenerate(text)
    if "--check" in sys.argv[1:]:
        if updated != text:
            print(f"{DOC} is out of date: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    if updated != text:
        DOC.write_text(updated, encoding="utf-8")
        print(f"updated {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
