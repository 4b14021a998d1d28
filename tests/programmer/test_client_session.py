"""The client over a real pty against the in-process pump: pairing, session, reply matching."""

from __future__ import annotations

import stat

import pytest

from programmer.client import PumpClient
from programmer.errors import AuthenticationError, LinkError
from programmer.keystore import KeyStore
from protocol import MsgType, Role

from .conftest import SERIAL, InProcessPump, make_client


def test_identify_reads_serial_number_without_a_session(
    pump: InProcessPump, keystore: KeyStore
) -> None:
    with make_client(pump, keystore) as client:
        hello = client.identify()
    assert hello["serial_number"] == SERIAL
    assert hello["pairing_window_open"] is False


def test_pairing_stores_the_key_by_serial_with_mode_0600(
    pump: InProcessPump, keystore: KeyStore
) -> None:
    pump.open_wand()
    codes: list[str] = []

    def show_code(code: str) -> bool:
        codes.append(code)
        return True

    with make_client(pump, keystore) as client:
        stored = client.pair(Role.CLINICIAN, show_code=show_code)
    assert codes == [pump.device.pairing_code]
    assert keystore.get(SERIAL) == stored
    assert stored.key_id in pump.device.pairings
    assert stat.S_IMODE(keystore.path.stat().st_mode) == 0o600


def test_pairing_without_the_wand_is_an_authentication_error(
    pump: InProcessPump, keystore: KeyStore
) -> None:
    with make_client(pump, keystore) as client, pytest.raises(AuthenticationError, match="WINDOW"):
        client.pair(Role.CLINICIAN)
    assert keystore.get(SERIAL) is None


def test_declined_code_stores_nothing_on_either_side(
    pump: InProcessPump, keystore: KeyStore
) -> None:
    pump.open_wand()
    with make_client(pump, keystore) as client, pytest.raises(Exception, match="cancelled"):
        client.pair(Role.CLINICIAN, show_code=lambda code: False)
    assert keystore.get(SERIAL) is None
    assert pump.device.pairings == {}


def test_session_opens_with_the_stored_key_and_reads_status(client: PumpClient) -> None:
    assert client.role is Role.CLINICIAN
    status = client.status()
    assert status["daily_dose_ng"] == 400_000


def test_session_without_a_key_says_to_pair(pump: InProcessPump, keystore: KeyStore) -> None:
    with make_client(pump, keystore) as client, pytest.raises(AuthenticationError, match="pair"):
        client.open_session()


def test_session_with_a_key_the_pump_forgot_is_an_authentication_error(
    pump: InProcessPump, paired: KeyStore
) -> None:
    pump.device.pairings.clear()
    with (
        make_client(pump, paired) as client,
        pytest.raises(AuthenticationError, match="UNKNOWN_KEY"),
    ):
        client.open_session()


def test_stale_replies_are_discarded_and_counted(pump: InProcessPump, client: PumpClient) -> None:
    pump.faults.stale_before[MsgType.STATUS] = 1
    client.status()  # a first reply to have something stale to inject
    pump.faults.stale_before[MsgType.STATUS] = 1
    status = client.status()
    assert status["mode"] == 1
    assert client.link.counters.stale_replies >= 3


def test_late_reply_after_a_timeout_does_not_leave_the_client_one_behind(
    pump: InProcessPump, client: PumpClient
) -> None:
    pump.faults.delay_replies[MsgType.STATUS] = 1
    client.status()  # first attempt's reply is held; the retry's reply releases it
    assert client.retries_used == 1
    assert client.link.counters.stale_replies == 1
    pump.app.daily_dose_ng = 123_000
    assert client.status()["daily_dose_ng"] == 123_000


def test_read_only_request_that_never_gets_an_answer_is_a_certain_link_error(
    pump: InProcessPump, client: PumpClient
) -> None:
    pump.faults.deaf = True
    with pytest.raises(LinkError, match="nothing changed"):
        client.status()


def test_session_lost_on_the_pump_is_reopened_transparently(
    pump: InProcessPump, client: PumpClient
) -> None:
    pump.device.session = None  # as after a pump reset
    assert client.status()["mode"] == 1
