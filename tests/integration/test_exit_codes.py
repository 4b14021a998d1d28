"""``pumpctl``'s documented exit codes, each provoked for real against a running pump.

0 done; 1 refused by the pump; 2 usage; 3 pairing or authentication; 4 link or timeout (nothing
changed); 5 uncertain outcome (a state-changing request whose fate the programmer could not
learn).  Every refusal must also leave the pump exactly as it was.
"""

from __future__ import annotations

import os
import threading
import tty
from collections.abc import Iterator

import pytest
import serial

from protocol.catalog import MsgType
from protocol.framing import FrameDecoder

from .harness import ServedPump, run_pumpctl

pytestmark = pytest.mark.integration


def version(pump: ServedPump) -> int:
    result = pump.pumpctl("--json", "status")
    assert result.code == 0, result
    return int(result.json["prescription_version"])


WRONG_DOSES = {
    "60mcg/h": "per day",  # the flex-mode accident: per hour instead of per day
    "400": "no unit",
    "-5mcg/day": "400mcg/day",
    "400mL/day": "mass unit",
}


def test_a_dose_in_the_wrong_unit_is_refused_before_anything_is_sent(
    filled_pump: ServedPump,
) -> None:
    before = version(filled_pump)
    for dose, expected in WRONG_DOSES.items():
        result = filled_pump.pumpctl("--json", "--yes", "program", "continuous", "--dose", dose)
        assert result.code == 2, result
        assert expected in result.err, result.err
        assert "--dose" in result.err
    assert version(filled_pump) == before


def test_a_change_without_yes_and_without_a_terminal_is_refused(filled_pump: ServedPump) -> None:
    before = version(filled_pump)
    result = filled_pump.pumpctl("program", "continuous", "--dose", "450mcg/day")
    assert result.code == 2, result
    assert "--yes" in result.err and "no terminal" in result.err
    assert version(filled_pump) == before


def test_a_soft_limit_needs_ack_warnings_and_a_hard_limit_cannot_be_overridden(
    filled_pump: ServedPump,
) -> None:
    before = version(filled_pump)
    soft = filled_pump.pumpctl("--json", "--yes", "program", "continuous", "--dose", "1600mcg/day")
    assert soft.code == 1, soft
    assert soft.json["code"] == "WARNINGS_NOT_ACKNOWLEDGED"
    assert "--ack-warnings" in soft.json["message"]
    assert version(filled_pump) == before  # the staged change was aborted

    hard = filled_pump.pumpctl(
        "--json", "--yes", "--ack-warnings", "program", "continuous", "--dose", "3500mcg/day"
    )
    assert hard.code == 1, hard
    assert "LIMIT" in hard.json["code"]
    assert version(filled_pump) == before

    acked = filled_pump.pumpctl(
        "--json", "--yes", "program", "continuous", "--dose", "1600mcg/day", "--ack-warnings"
    )
    assert acked.code == 0, acked
    assert version(filled_pump) == before + 1


def test_an_unpaired_programmer_gets_exit_3(pump: ServedPump) -> None:
    result = pump.pumpctl("--json", "status")
    assert result.code == 3, result
    assert "not paired" in result.json["message"] and "pumpctl pair" in result.json["message"]


def test_a_port_where_no_pump_answers_gets_exit_4(env: dict[str, str]) -> None:
    master, slave = os.openpty()  # a line with nobody on the other end
    tty.setraw(slave)
    try:
        result = run_pumpctl(os.ttyname(slave), "--json", "identify", env=env, timeout_s=0.2)
    finally:
        os.close(master)
        os.close(slave)
    assert result.code == 4, result
    assert "no answer" in result.json["message"]


def test_a_missing_port_gets_exit_4(env: dict[str, str]) -> None:
    result = run_pumpctl("/dev/does-not-exist", "--json", "status", env=env)
    assert result.code == 4, result
    assert "cannot open" in result.json["message"]


class ReplyCutter:
    """A pty between pumpctl and the pump that stops passing replies once it sees ``cut_after``.

    The request reaches the pump (and runs), but no answer ever comes back: the outcome is
    uncertain for the programmer.
    """

    def __init__(self, pump_port: str, cut_after: MsgType) -> None:
        self.pump = serial.Serial(pump_port, timeout=0.05)
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self.cut_after = cut_after
        self.cut = threading.Event()
        self.stop = threading.Event()
        self._decoder = FrameDecoder()
        self._threads = [
            threading.Thread(target=self._to_pump, daemon=True),
            threading.Thread(target=self._to_programmer, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _to_pump(self) -> None:
        import select

        while not self.stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            if any(f.msg_type == self.cut_after for f in self._decoder.feed(data)):
                self.cut.set()
            self.pump.write(data)

    def _to_programmer(self) -> None:
        while not self.stop.is_set():
            data = self.pump.read(4096)
            if data and not self.cut.is_set():
                os.write(self.master, data)

    def close(self) -> None:
        if self.stop.is_set():
            return
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        self.pump.close()
        os.close(self.master)
        os.close(self._slave)


@pytest.fixture
def cutter(filled_pump: ServedPump) -> Iterator[ReplyCutter]:
    proxy = ReplyCutter(filled_pump.port, MsgType.STOP)
    yield proxy
    proxy.close()


def test_an_unanswered_stop_is_uncertain_then_settled_by_the_next_session(
    filled_pump: ServedPump, cutter: ReplyCutter
) -> None:
    result = filled_pump.pumpctl("--json", "--yes", "stop", port=cutter.path, timeout_s=0.3)
    assert result.code == 5, result
    assert cutter.cut.is_set()
    assert result.json["request"] == "STOP"
    assert "pumpctl status" in result.json["message"]

    cutter.close()  # the broken link goes away; the pump's own port is used from now on
    settled = filled_pump.pumpctl("--json", "status")
    assert settled.code == 0, settled
    doc = settled.json
    assert doc["mode"] == "stopped"  # the STOP had run
    [resolved] = doc["resolved_requests"]
    assert resolved["message"] == "STOP" and resolved["executed"] is True
    assert resolved["request_id"] == result.json["request_id"]
    again = filled_pump.pumpctl("--json", "status")
    assert "resolved_requests" not in again.json  # settled once, then forgotten
