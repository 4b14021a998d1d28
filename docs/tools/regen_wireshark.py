"""Regenerate the Wireshark dissector and the tshark output quoted in docs/PROTOCOL.md.

Usage: ``python docs/tools/regen_wireshark.py [--check]``.

- ``programmer/wireshark/itbp.lua`` (shipped as package data) is rendered from the message catalog
  by ``wireshark_lua.render_dissector`` (a pure function, beside this tool); this tool only writes it.
- The block between ``<!-- BEGIN TSHARK: status -->`` and ``<!-- END TSHARK: status -->`` in
  docs/PROTOCOL.md is what ``tshark -V -O itbp`` prints for the document's own STATUS example
  frames (section 10, ``status-request`` and ``status-reply``), put in a pcapng capture the way
  ``vpump serve --capture`` writes one.  Only the ITBP trees are kept (tshark's own frame lines
  vary between versions).  Needs tshark; without it the block is left alone.

With ``--check`` nothing is written and the exit status says whether both are current
(tests/wireshark/ checks the same).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from wireshark_lua import render_dissector

from protocol import pcapng

ROOT = Path(__file__).resolve().parents[2]
LUA = ROOT / "programmer" / "wireshark" / "itbp.lua"
DOC = ROOT / "docs" / "PROTOCOL.md"
BLOCK = re.compile(
    r"(<!-- BEGIN TSHARK: status -->\n)(?P<body>.*?)(<!-- END TSHARK: status -->)", re.DOTALL
)
EXAMPLES = ("status-request", "status-reply")
#: The command the block quotes (``-O itbp``: only our protocol in detail).
COMMAND = "tshark -r status.pcapng -X lua_script:itbp.lua -V -O itbp"


def example_wire(doc: str, name: str) -> bytes:
    """The ``hex wire`` bytes of the document's example ``name``."""
    start = doc.index(f'<!-- example name="{name}"')
    match = re.search(r"```hex wire\n(.*?)```", doc[start:], re.DOTALL)
    assert match is not None, name
    return bytes.fromhex(match.group(1))


def status_capture(doc: str) -> bytes:
    """A pcapng capture of the document's STATUS request and reply, one second apart."""
    start_us = 1_767_571_200 * pcapng.TS_PER_SECOND
    request, reply = (example_wire(doc, name) for name in EXAMPLES)
    return (
        pcapng.file_header("docs/tools/regen_wireshark.py", "itbp-line", "PROTOCOL.md examples")
        + pcapng.enhanced_packet(start_us, request, pcapng.PacketDirection.TO_PUMP)
        + pcapng.enhanced_packet(start_us + 1_000_000, reply, pcapng.PacketDirection.FROM_PUMP)
    )


def itbp_trees(verbose: str) -> str:
    """The ITBP trees of ``tshark -V -O itbp`` output, a blank line between packets."""
    trees, current, inside = [], [], False
    for line in verbose.splitlines():
        if line.startswith("ITBP"):
            inside, current = True, [line]
        elif inside and line.startswith(" "):
            current.append(line)
        elif inside:
            trees.append("\n".join(current))
            inside = False
    if inside:
        trees.append("\n".join(current))
    return "\n\n".join(trees)


def tshark_status_block(doc: str, tshark: str, lua: Path = LUA) -> str:
    """The Markdown of the block: the command, then tshark's trees for the STATUS exchange."""
    with tempfile.TemporaryDirectory() as tmp:
        capture = Path(tmp) / "status.pcapng"
        capture.write_bytes(status_capture(doc))
        done = subprocess.run(
            [tshark, "-r", str(capture), "-X", f"lua_script:{lua}", "-V", "-O", "itbp"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env={**os.environ, "TZ": "UTC", "LC_ALL": "C"},
        )
    return f"```console\n$ {COMMAND}\n{itbp_trees(done.stdout)}\n```\n"


def regenerate_doc(doc: str, tshark: str) -> str:
    match = BLOCK.search(doc)
    if match is None:
        raise SystemExit(f"{DOC.name} lacks the TSHARK: status markers")
    body = tshark_status_block(doc, tshark)
    return doc[: match.start("body")] + "\n" + body + "\n" + doc[match.end("body") :]


def main() -> int:
    check = "--check" in sys.argv[1:]
    stale = []
    rendered = render_dissector()
    current = LUA.read_text(encoding="utf-8") if LUA.exists() else ""
    if rendered != current:
        stale.append(LUA)
        if not check:
            LUA.write_text(rendered, encoding="utf-8")
            print(f"updated {LUA}")
    tshark = shutil.which("tshark")
    if tshark is None:
        print("tshark not found: the quoted tshark output was not checked", file=sys.stderr)
    else:
        doc = DOC.read_text(encoding="utf-8")
        updated = regenerate_doc(doc, tshark)
        if updated != doc:
            stale.append(DOC)
            if not check:
                DOC.write_text(updated, encoding="utf-8")
                print(f"updated {DOC}")
    if check and stale:
        names = ", ".join(str(p) for p in stale)
        print(f"out of date: {names}: run {Path(__file__).name}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
