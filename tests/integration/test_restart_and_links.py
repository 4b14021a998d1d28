"""The pump survives restarts, and the programmer reaches it over every kind of link.

A restart on the same ``--state`` keeps therapy and pairing.  Besides the pump's own pty, the
same session works over a socat pty pair (``vpump serve --port`` on one end), over TCP
(``socket://``, socat bridging to the pump's pty) and through pyserial's ``spy://`` tracer,
whose capture ``pumpctl trace`` then decodes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness import ServedPump, Socat, run_pumpctl, served_pump

pytestmark = pytest.mark.integration


def test_a_restart_on_the_same_state_keeps_therapy_and_pairing(
    tmp_path: Path, env: dict[str, str]
) -> None:
    with served_pump(tmp_path, env) as first:
        first.pair()
        for args in (
            ("refill", "--withdrawn", "0mL", "--added", "20mL", "--concentration", "2000mcg/mL"),
            ("program", "continuous", "--dose", "500mcg/day"),
        ):
            assert first.pumpctl("--json", "--yes", *args).code == 0
        first.advance("10d")
        before = first.pumpctl("--json", "status").json
    # served_pump stopped it with SIGTERM and checked exit 0; now the same state file again
    with served_pump(tmp_path, env) as second:
        assert second.identity["serial_number"] == before["serial_number"]
        after = second.pumpctl("--json", "status")  # no pairing: the key survived in NVM
        assert after.code == 0, after
        doc = after.json
        for key in ("mode", "daily_dose_mcg", "rate_ml_per_day", "prescription_version"):
            assert doc[key] == before[key], key
        assert doc["pump_time"] == before["pump_time"]
        assert doc["reservoir_ml"] == pytest.approx(before["reservoir_ml"], abs=0.001)
        resets = second.pumpctl("--json", "log", "therapy").json["records"]
        assert resets[-1]["event"] == "reset"


def test_a_socat_pty_pair_carries_the_session(
    socat: str, tmp_path: Path, env: dict[str, str]
) -> None:
    pair = Socat("pty,raw,echo=0", "pty,raw,echo=0")
    try:
        pump_end, programmer_end = pair.pty_pair()
        with served_pump(
            tmp_path, env, extra=("--port", pump_end), client_port=programmer_end
        ) as pump:
            assert pump.served_on == pump_end
            assert pump.pumpctl("--json", "identify").code == 0
            pump.pair()
            status = pump.pumpctl("--json", "status")
            assert status.code == 0, status
            assert status.json["serial_number"] == pump.identity["serial_number"]
    finally:
        pair.close()


def test_socket_url_reaches_the_pump_through_a_tcp_bridge(
    socat: str, paired_pump: ServedPump
) -> None:
    # one TCP connection, bridged to the pump's pty; socat exits when the programmer hangs up
    bridge = Socat("TCP-LISTEN:0,bind=127.0.0.1,reuseaddr", f"FILE:{paired_pump.port},raw,echo=0")
    try:
        url = f"socket://127.0.0.1:{bridge.listening_port()}"
        changed = paired_pump.pumpctl(
            "--json",
            "--yes",
            "refill",
            "--withdrawn",
            "0mL",
            "--added",
            "10mL",
            "--concentration",
            "500mcg/mL",
            port=url,
        )
        assert changed.code == 0, changed
        assert changed.json["reservoir_ml"] == 10.0
        assert bridge.process.wait(timeout=10) == 0  # the bridge let go of the pty
    finally:
        bridge.close()
    after = paired_pump.pumpctl("--json", "status")
    assert after.code == 0, after
    assert after.json["reservoir_ml"] == 10.0 and after.json["concentration_mcg_per_ml"] == 500


def test_spy_url_traces_the_session_and_pumpctl_trace_decodes_it(
    paired_pump: ServedPump, tmp_path: Path
) -> None:
    capture = tmp_path / "trace.txt"
    traced = paired_pump.pumpctl(
        "--json", "status", port=f"spy://{paired_pump.port}?file={capture}"
    )
    assert traced.code == 0, traced
    assert " TX " in capture.read_text() and " RX " in capture.read_text()

    decoded = run_pumpctl(None, "--json", "trace", str(capture), env=paired_pump.env)
    assert decoded.code == 0, decoded
    frames = decoded.json["frames"]
    assert decoded.json["dropped"] == 0
    exchange = [(f["direction"], f["kind"], f["message"]) for f in frames]
    assert ("to_pump", "request", "STATUS") in exchange
    assert ("from_pump", "reply", "STATUS") in exchange
    status_reply = next(f for f in frames if f["message"] == "STATUS" and f["kind"] == "reply")
    assert status_reply["authenticated"] is True
    assert "mode=STOPPED" in status_reply["payload"]

    text = run_pumpctl(None, "trace", str(capture), env=paired_pump.env)
    assert text.code == 0 and "-> request SESSION_OPEN" in text.out
