"""The loopback itself: waits pass in pump time, faults fire exactly, copies are separate pumps."""

from __future__ import annotations

import copy
import inspect
import textwrap
from pathlib import Path

import pytest

import hw_sim.link.loopback
from hw_sim.link.loopback import Loopback
from programmer.client import PumpClient
from programmer.errors import AuthenticationError
from programmer.keystore import KeyStore
from protocol import ErrorCode, MsgType, Role

from .conftest import SERIAL, START_TIME, ClinicPump, make_client


def test_a_lost_reply_costs_its_timeout_in_pump_time(pump: ClinicPump, client: PumpClient) -> None:
    before = pump.clock.monotonic()
    pump.faults.drop_replies[MsgType.STATUS] = 1
    client.status()
    assert client.retries_used == 1
    assert pump.clock.monotonic() - before == pytest.approx(0.25)
    assert pump.requests_seen[MsgType.STATUS] == 2 and pump.executed[MsgType.STATUS] == 2


def test_a_dead_line_costs_every_attempt_and_nothing_else(
    pump: ClinicPump, client: PumpClient
) -> None:
    before = pump.clock.monotonic()
    pump.faults.deaf = True
    with pytest.raises(Exception, match="nothing changed"):
        client.status()
    assert client.retries_used == 3
    assert pump.clock.monotonic() - before == pytest.approx(3 * 0.25)
    assert pump.executed[MsgType.STATUS] == 0


def test_the_pump_runs_while_time_is_advanced(pump: ClinicPump, client: PumpClient) -> None:
    delivered = client.status()["delivered_ng"]
    pump.advance(86_400)
    status = client.status()
    assert status["pump_time"] == START_TIME + 86_400
    assert status["delivered_ng"] - delivered == pytest.approx(400_000, rel=0.01)


def test_pairing_waits_for_the_person_at_the_pump_in_pump_time(tmp_path: Path) -> None:
    loop = Loopback.fresh(serial_number=SERIAL)
    loop.bench.set_wand(True)
    start = loop.bench.now
    accepted_at: list[int] = []

    def accept() -> None:
        code = loop.bench.link.endpoint.pairing_code
        assert code is not None
        loop.bench.accept_pairing(code)
        accepted_at.append(loop.bench.now)

    loop.at(start + 30, accept)
    client = PumpClient(loop.transport(), KeyStore(tmp_path / "keys.json"), timeout_s=0.25)
    stored = client.pair(Role.CLINICIAN, poll_interval_s=0.5)
    assert stored.serial_number == SERIAL
    assert accepted_at == [start + 30]
    assert 30 <= loop.clock.monotonic() - start < 31  # the next poll after the acceptance


def test_a_code_nobody_accepts_times_out_in_pump_time(tmp_path: Path) -> None:
    loop = Loopback.fresh(serial_number=SERIAL)
    loop.bench.set_wand(True)
    before = loop.clock.monotonic()
    client = PumpClient(loop.transport(), KeyStore(tmp_path / "keys.json"), timeout_s=0.25)
    with pytest.raises(AuthenticationError) as refused:
        client.pair(Role.CLINICIAN, confirm_timeout_s=120)
    assert refused.value.code is ErrorCode.PAIRING_AWAITING_CONFIRMATION
    assert 120 <= loop.clock.monotonic() - before < 121


def test_a_copy_of_a_loopback_is_a_separate_pump(pump: ClinicPump, keystore: KeyStore) -> None:
    twin = copy.deepcopy(pump)
    twin.open_wand()
    with make_client(twin, keystore) as client:
        client.pair(Role.CLINICIAN)
        client.open_session()
        client.stop()
    assert twin.executed[MsgType.STOP] == 1 and twin.mode == 0
    assert pump.executed == {} and pump.requests_seen == {} and pump.mode == 1
    assert pump.device.pairings == {}


def test_the_usage_example_in_the_module_docstring_runs(tmp_path: Path) -> None:
    doc = inspect.getdoc(hw_sim.link.loopback) or ""
    example = doc.split("imports nothing of the programmer):", 1)[1].split("\nLimits:", 1)[0]
    exec(textwrap.dedent(example), {"path": tmp_path / "keys.json"})
