"""The benchmarks' sample messages stay encodable as the catalog grows.

Why: ``bench/`` is not run by ``make test``, so a STATUS field appended to the catalog used to
break ``make bench`` unnoticed.  Encoding each sample body once here catches that in CI.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

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
