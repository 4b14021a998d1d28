"""The shipped dissector is the catalog's, and the pcapng writers agree with it (no tshark needed).

``programmer/wireshark/itbp.lua`` must be exactly what ``docs/tools/wireshark_lua.py`` renders from the
catalog today (regenerate with ``python docs/tools/regen_wireshark.py``), and it must declare a
field for every field of every message.  The run splitter behind both pcapng writers
cuts at delimiters (tests/programmer/test_trace_cmd.py runs ``pumpctl trace --pcapng``).
"""

from __future__ import annotations

import re
import stat
import time
from pathlib import Path

import pytest
from doc_tables import layout_rows
from wireshark_lua import message_abbrev, render_dissector

from hw_sim.link.capture import LineCapture
from programmer.commands.trace_cmd import dissector_path
from protocol.catalog import CATALOG, MessageKind
from protocol.pcapng import PacketDirection, RunSplitter

from .tshark import read_pcapng


def test_the_shipped_dissector_is_the_one_the_catalog_renders_today() -> None:
    shipped = dissector_path().read_text(encoding="utf-8")
    assert shipped == render_dissector(), "run: python docs/tools/regen_wireshark.py"


def test_the_dissector_declares_every_message_and_every_field_with_its_unit() -> None:
    lua = render_dissector()
    for spec in CATALOG.values():
        assert f'name = "{spec.name}"' in lua
        parts = ["event"] if spec.kind is MessageKind.EVENT else ["request", "reply"]
        for part in parts:
            layout = spec.request if part != "reply" else spec.reply
            for row in layout_rows(layout):
                if row.wire_type == "(empty)":
                    continue
                prefix = re.escape(message_abbrev(spec.msg, part))
                pattern = rf'ProtoField\.\w+\("{prefix}\.([\w.]+\.)?{re.escape(row.leaf.removesuffix("[]"))}"'
                assert re.search(pattern, lua), f"{spec.name}.{part}.{row.path}"
    assert 'unit = "nL/day"' in lua and 'unit = "ng/day"' in lua and "time = true" in lua
    assert 'DissectorTable.get("wtap_encap"):add(wtap.USER0, itbp)' in lua


def test_runs_are_cut_at_delimiters_idle_bytes_skipped_and_the_open_run_kept() -> None:
    splitter = RunSplitter()
    assert splitter.feed(b"\x00\x00\x02\x01") == []
    assert splitter.feed(b"\x00\x00\x03\x01\x01\x00\x04") == [b"\x02\x01\x00", b"\x03\x01\x01\x00"]
    assert splitter.flush() == b"\x04"


def test_a_line_capture_is_private_stamps_pump_or_wall_time_and_keeps_an_open_run(
    tmp_path: Path,
) -> None:
    path = tmp_path / "line.pcapng"
    capture = LineCapture(path, "pump")
    capture.to_pump(b"\x02\x01\x00\x03", 1_767_571_200)
    capture.from_pump(b"\x00\x02\x09\x00", 1_767_571_201)
    capture.to_pump(b"\x01", 1_767_571_202)  # the run "03 01" is still open at the end
    capture.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    linktype, packets = read_pcapng(path)
    assert linktype == 147
    assert packets == [
        (1_767_571_200_000_000, b"\x02\x01\x00", PacketDirection.TO_PUMP),
        (1_767_571_201_000_000, b"\x02\x09\x00", PacketDirection.FROM_PUMP),
        (1_767_571_202_000_000, b"\x03\x01", PacketDirection.TO_PUMP),
    ]

    wall = LineCapture(tmp_path / "wall.pcapng", "wall")
    before = time.time()
    wall.from_pump(b"\x01\x00", 0)
    wall.close()
    ((stamp, _, _),) = read_pcapng(tmp_path / "wall.pcapng")[1]
    assert before - 1 <= stamp / 1e6 <= time.time() + 1


def test_a_capture_is_never_written_through_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_bytes(b"keep")
    link = tmp_path / "line.pcapng"
    link.symlink_to(target)
    with pytest.raises(OSError):
        LineCapture(link)
    assert target.read_bytes() == b"keep"
