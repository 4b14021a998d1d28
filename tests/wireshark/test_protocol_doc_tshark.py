"""docs/PROTOCOL.md quotes what tshark really prints for its STATUS example, and says how to open
a capture in Wireshark in one line."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from .tshark import TSHARK, tshark_version

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "PROTOCOL.md").read_text(encoding="utf-8")


def _regen_tool() -> ModuleType:
    path = ROOT / "docs" / "tools" / "regen_wireshark.py"
    spec = importlib.util.spec_from_file_location("regen_wireshark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_document_says_how_to_open_a_capture_in_wireshark() -> None:
    assert 'wireshark -X lua_script:"$(pumpctl trace --dissector)" line.pcapng' in DOC
    assert "LINKTYPE_USER0" in DOC and "epb_flags" in DOC


@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (make sysdeps installs it)")
def test_the_quoted_tshark_output_is_what_tshark_prints_for_the_status_example() -> None:
    tool = _regen_tool()
    match = tool.BLOCK.search(DOC)
    assert match is not None, "the TSHARK: status markers are missing"
    quoted = match["body"].strip("\n") + "\n"
    assert TSHARK is not None
    printed = tool.tshark_status_block(DOC, TSHARK)
    assert quoted == printed, f"{tshark_version()}: run python docs/tools/regen_wireshark.py"
    for line in ("ITBP, STATUS request", "ITBP, STATUS reply", "reservoir_nl: 18000000 nL"):
        assert line in quoted
