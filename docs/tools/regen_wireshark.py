"""Regenerate the Wireshark dissector shipped in the package: ``programmer/wireshark/itbp.lua``.

Usage: ``python docs/tools/regen_wireshark.py [--check]``.  The Lua is rendered from the message
catalog by ``protocol.wireshark_lua.render_dissector`` (a pure function); this tool only writes it.
With ``--check`` nothing is written and the exit status says whether the file is current
(tests/wireshark/test_dissector.py checks the same).
"""

from __future__ import annotations

import sys
from pathlib import Path

from protocol.wireshark_lua import render_dissector

LUA = Path(__file__).resolve().parents[2] / "programmer" / "wireshark" / "itbp.lua"


def main() -> int:
    rendered = render_dissector()
    current = LUA.read_text(encoding="utf-8") if LUA.exists() else ""
    if "--check" in sys.argv[1:]:
        if rendered != current:
            print(f"{LUA} is out of date: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    if rendered != current:
        LUA.write_text(rendered, encoding="utf-8")
        print(f"updated {LUA}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
