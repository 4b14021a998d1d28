"""The insecure test-key mode cannot be used by mistake: the pump says so and pumpctl warns.

``vpump serve --insecure-test-keys`` makes key material reproducible for golden transcripts, and
therefore computable by anyone who knows the seed.  A programmer that talked to such a pump
without a word would let a test rig's convenience reach a clinic.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol.catalog import Capability
from tests.integration.harness import served_pump, xdg_env

pytestmark = pytest.mark.timeout(60)


def test_pumpctl_warns_about_a_pump_in_insecure_test_key_mode(tmp_path: Path) -> None:
    env = xdg_env(tmp_path)
    with served_pump(tmp_path, env, extra=("--insecure-test-keys",)) as pump:
        assert pump.identity["capabilities"] & Capability.INSECURE_TEST_KEYS
        result = pump.pumpctl("--json", "identify")
        assert result.code == 0, result
        assert result.json["insecure_test_keys"] is True
        assert "INSECURE TEST-KEY MODE" in result.err
    assert "WARNING: --insecure-test-keys" in pump.log()


def test_a_default_pump_gets_no_warning(tmp_path: Path) -> None:
    env = xdg_env(tmp_path)
    with served_pump(tmp_path, env) as pump:
        result = pump.pumpctl("--json", "identify")
        assert result.code == 0, result
        assert result.json["insecure_test_keys"] is False
        assert "INSECURE" not in result.err
