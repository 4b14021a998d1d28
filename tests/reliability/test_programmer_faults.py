"""Campaign 5 - the programmer dies mid-change: the pump keeps nothing half-applied, and the next
programmer session finds and settles the uncertain outcome through its journal.

A real ``pumpctl program continuous`` process talks to a real ``vpump serve`` through the relay,
whose frame filter places the fault exactly: the COMMIT request is held back (the programmer is
killed between stage and commit), or the COMMIT reply is swallowed (killed between send and
reply).  The programmer is SIGKILLed the moment the filter fires.  The next ``pumpctl`` session
with the same key store must report the request in ``resolved_requests`` with the right fate,
and the pump's prescription must be the old one whole or the new one whole accordingly.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hw_sim.link.noisy_relay import NoisyRelay, RelayHop
from programmer.errors import UncertainOutcome
from programmer.keystore import KeyStore
from programmer.transport import Transport, open_transport
from protocol import MsgType

from .harness import (
    campaign_seed,
    campaign_size,
    fill_and_program,
    open_client,
    pair,
    report_figures,
    served_pump,
)
from .mutators import decoded

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(600)]

PUMPCTL = [sys.executable, "-c", "import sys; from programmer.cli import main; sys.exit(main())"]


def msg_type_of(frame: bytes) -> int | None:
    inner = decoded(frame)
    return inner[2] if inner is not None and len(inner) >= 7 else None


class KillAt:
    """A relay frame filter that swallows the first frame of one type in one direction and
    SIGKILLs the programmer process at that instant."""

    def __init__(self, direction: RelayHop, msg: MsgType) -> None:
        self.direction, self.msg = direction, msg
        self.process: subprocess.Popen[str] | None = None
        self.fired = threading.Event()

    def __call__(self, direction: RelayHop, frame: bytes) -> bool:
        if self.fired.is_set() or direction is not self.direction:
            return True
        if msg_type_of(frame) != self.msg:
            return True
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
        self.fired.set()
        return False


def pumpctl(
    port: str, keys: Path, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *PUMPCTL,
            "--port",
            port,
            "--keystore",
            str(keys),
            "--json",
            "--yes",
            "--timeout",
            "0.5",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def killed_mid_change(tmp_path: Path, where: str, dose_mcg: int) -> dict[str, Any]:
    """One trial: returns the prescription before/after and what the next session resolved."""
    keys = KeyStore(tmp_path / f"{where}-keys.json")
    with served_pump(tmp_path / f"{where}.nvm") as pump:
        pair(pump, keys)
        with open_client(pump.port, keys) as setup:
            setup.open_session()
            fill_and_program(setup)
            before = setup.read_prescription()
        direction = RelayHop.TO_PUMP if where == "stage_commit" else RelayHop.TO_PROGRAMMER
        killer = KillAt(direction, MsgType.COMMIT_PRESCRIPTION)
        with NoisyRelay(pump.port, frame_filter=killer) as relay:
            killer.process = subprocess.Popen(
                [
                    *PUMPCTL,
                    "--port",
                    relay.path,
                    "--keystore",
                    str(keys.path),
                    "--json",
                    "--yes",
                    "--ack-warnings",
                    "--timeout",
                    "5",
                    "program",
                    "continuous",
                    "--dose",
                    f"{dose_mcg}mcg/day",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                stdin=subprocess.DEVNULL,
            )
            try:
                killer.process.wait(timeout=60)
            finally:
                if killer.process.poll() is None:
                    killer.process.kill()
                    killer.process.wait()
            fired = killer.fired.is_set()
            assert relay.error is None
        journal = (
            json.loads((keys.path.parent / "unresolved.json").read_text())
            if (keys.path.parent / "unresolved.json").exists()
            else {"pending": []}
        )
        nxt = pumpctl(pump.port, keys.path, "status")  # the next session: settles the journal
        document = json.loads(nxt.stdout) if nxt.stdout.strip() else {}
        with open_client(pump.port, keys) as probe:
            probe.open_session()
            final = probe.read_prescription()
    return {
        "fired": fired,
        "killed_by_signal": killer.process.returncode == -signal.SIGKILL,
        "before": before,
        "after_kill": final,
        "journal_after_kill": journal["pending"],
        "resolved": document.get("resolved_requests", []),
        "next_exit": nxt.returncode,
    }


def test_programmer_killed_between_stage_and_commit_or_send_and_reply(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    trials = campaign_size("programmer", bounded=1, full=10)
    seed = campaign_seed(5)
    figures = {"trials": 0, "half_applied": 0, "unresolved": 0, "wrong_resolution": 0}
    for trial in range(trials):
        for where in ("stage_commit", "send_reply"):
            dose = 440 + 10 * ((seed + trial) % 5)
            result = killed_mid_change(tmp_path / f"t{trial}", where, dose)
            figures["trials"] += 1
            assert result["fired"] and result["killed_by_signal"], result
            old_v = result["before"]["version"]
            after = result["after_kill"]
            whole_old = (
                after["version"] == old_v and after["therapy"] == result["before"]["therapy"]
            )
            whole_new = after["version"] == old_v + 1 and after["therapy"]["params"] == {
                "daily_dose_ng": dose * 1000
            }
            expected_new = where == "send_reply"
            if not (whole_new if expected_new else whole_old):
                figures["half_applied"] += 1
            commits = [e for e in result["resolved"] if e["message"] == "COMMIT_PRESCRIPTION"]
            pending = [e for e in result["journal_after_kill"] if e["msg"] == "COMMIT_PRESCRIPTION"]
            if len(pending) != 1 or len(commits) != 1:
                figures["unresolved"] += 1
            elif commits[0]["executed"] != expected_new:
                figures["wrong_resolution"] += 1
            assert result["next_exit"] == 0, result
    report_figures(record_property, "programmer_faults", {**figures, "seed": seed})
    assert figures["half_applied"] == 0
    assert figures["unresolved"] == 0
    assert figures["wrong_resolution"] == 0


class ReplyLostThenPortGone:
    """Transport: after the COMMIT goes out, its reply is read and thrown away and the pump
    process dies - the programmer's own port vanishes between send and reply."""

    def __init__(self, inner: Transport, on_commit_executed: Callable[[], None]) -> None:
        self.inner = inner
        self.on_commit_executed = on_commit_executed
        self.armed = True

    def write(self, data: bytes) -> None:
        self.inner.write(data)
        if self.armed and msg_type_of(data.lstrip(b"\x00")) == MsgType.COMMIT_PRESCRIPTION:
            self.armed = False
            reply = b""
            while not reply.endswith(b"\x00"):
                chunk = self.inner.read(5.0)
                assert chunk, "the pump did not answer the commit"
                reply += chunk
            self.on_commit_executed()

    def read(self, timeout_s: float) -> bytes:
        return self.inner.read(timeout_s)

    def close(self) -> None:
        self.inner.close()


def test_a_port_lost_after_the_commit_was_sent_is_an_uncertain_outcome(tmp_path: Path) -> None:
    from programmer import therapy
    from programmer.client import PumpClient

    keys = KeyStore(tmp_path / "keys.json")
    with served_pump(tmp_path / "pump.nvm") as pump:
        pair(pump, keys)
        with open_client(pump.port, keys) as setup:
            setup.open_session()
            fill_and_program(setup)
        transport = ReplyLostThenPortGone(open_transport(pump.port, timeout=0.3), pump.kill)
        client = PumpClient(transport, keys, timeout_s=0.3, retries=1)
        client.open_session()
        staged = client.stage(therapy.continuous(480_000))
        try:
            with pytest.raises(UncertainOutcome):
                client.commit(staged, staged.warnings)  # actual: LinkError "lost the link"
        finally:
            with contextlib.suppress(Exception):
                transport.close()
        pending = [e.msg for e in client.journal.entries()]
        assert pending == [MsgType.COMMIT_PRESCRIPTION]
