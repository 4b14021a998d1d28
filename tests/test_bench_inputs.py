"""The benchmarks' inputs stay valid as the pump grows: sample messages encode, profiles fit.

Why: ``bench/`` is not run by ``make test``, so a STATUS field appended to the catalog, or a log
ring added to the NVM layout, used to break ``make bench`` unnoticed.  Checking each input once
here catches that in CI.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from firmware.nvm_layout import required_nvm_size
from hw_sim.board.state_files import TAIL_SIZE
from hw_sim.profiles.loader import load_profile
from protocol.catalog import MsgType
from protocol.codec import decode_reply, encode_reply
from protocol.errors import ErrorCode

pytestmark = pytest.mark.timeout(60)

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_codec_benchmarks_status_reply_encodes_and_decodes_to_itself() -> None:
    body = _load("codec").STATUS_BODY
    payload = encode_reply(MsgType.STATUS, ErrorCode.OK, body)
    status, decoded, _reason = decode_reply(MsgType.STATUS, payload)
    assert status == ErrorCode.OK
    flat = {k: v for k, v in body.items() if k != "alarms"}
    assert {k: decoded[k] for k in flat} == flat
    assert len(decoded["alarms"]) == len(body["alarms"])


@pytest.mark.parametrize(
    "profile", ["vp20", "vp40", str(BENCH / "vp20-biglog.toml")], ids=["vp20", "vp40", "biglog"]
)
def test_every_profile_the_benchmarks_serve_holds_its_nvm_layout(profile: str) -> None:
    """``vpump serve`` refuses a profile whose rings (therapy, alarm, audit, daily) and the
    board's reserve do not fit in ``nvm_size_bytes``; the benchmarks' profiles must fit."""
    loaded = load_profile(profile)
    dev = loaded.device
    needed = required_nvm_size(dev.log_capacity, dev.daily_log_capacity) + TAIL_SIZE
    assert needed <= loaded.hardware.nvm_size_bytes
