"""Finding 14 of issue 9: clock changes have bounds, are logged whole, and big jumps are warned.

The attacks (or slips): ``pumpctl clock sync`` from a computer with a wrong clock moved the
pump's clock back 70 days without a word, so log times went backwards; a SET_CLOCK near 2^32
froze every later time at the 32-bit limit; the CLOCK_CHANGED record held only the change.

The specification: the pump accepts only times within its profile's clock limits (2020-01-01 ..
2090-01-01 for the shipped profiles) and refuses others with CLOCK_INVALID and a reason naming
the date and the limit; the CLOCK_CHANGED record (therapy log) carries the change and the
previous time and is stamped with the new time; ``pumpctl clock sync`` warns in the Finish view
on a jump of more than 15 minutes either way, which needs confirmation or --yes.  Real
``vpump serve``, real ``pumpctl``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware.clock import date_text
from hw_sim.profiles.loader import available_profiles, load_profile
from programmer.client import PumpClient
from programmer.errors import PumpRefused
from programmer.keystore import KeyStore
from programmer.transport import open_transport
from protocol.errors import ErrorCode
from protocol.units import DAY_S as DAY
from tests.integration.harness import ServedPump, served_pump, xdg_env

U32_MAX = 0xFFFF_FFFF


@pytest.fixture
def pump(tmp_path: Path) -> Iterator[ServedPump]:
    with served_pump(tmp_path, xdg_env(tmp_path)) as served:
        served.pair()
        yield served


def client_for(pump: ServedPump) -> PumpClient:
    keys = KeyStore(Path(pump.env["XDG_CONFIG_HOME"]) / "intrathecal-pump" / "keys.json")
    return PumpClient(open_transport(pump.port, timeout=0.5), keys, timeout_s=0.5, retries=1)


def set_clock(pump: ServedPump, pump_time: int) -> int:
    with client_for(pump) as client:
        return client.set_clock(pump_time)


def pump_time(pump: ServedPump) -> int:
    with client_for(pump) as client:
        return int(client.status()["pump_time"])


@pytest.mark.parametrize(
    ("target", "words"),
    [
        (U32_MAX - 100, "is after 2090-01-01, the latest this pump accepts"),
        (U32_MAX, "is after 2090-01-01"),
        (4_102_444_800, "the date 2100-01-01 is after 2090-01-01"),
        (0, "the date 1970-01-01 is before 2020-01-01, the earliest this pump accepts"),
        (1_577_836_799, "the date 2019-12-31 is before 2020-01-01"),
    ],
)
def test_set_clock_outside_the_profile_limits_is_refused(
    pump: ServedPump, target: int, words: str
) -> None:
    before = pump_time(pump)
    with pytest.raises(PumpRefused) as refused:
        set_clock(pump, target)
    assert refused.value.code is ErrorCode.CLOCK_INVALID
    assert words in refused.value.reason
    assert "set the clock to today's date and time" in refused.value.reason
    assert pump_time(pump) == before  # nothing changed


def test_the_limits_themselves_are_accepted(pump: ServedPump) -> None:
    set_clock(pump, 3_786_912_000)  # 2090-01-01T00:00:00Z, the last accepted second
    assert pump_time(pump) == 3_786_912_000
    set_clock(pump, 1_577_836_800)
    assert pump_time(pump) == 1_577_836_800


def test_a_sync_back_from_the_latest_date_is_accepted_with_a_warning(pump: ServedPump) -> None:
    set_clock(pump, 3_786_912_000)  # 2090-01-01: a sync from a computer in 2026 is accepted
    result = pump.pumpctl("--yes", "clock", "sync")
    assert result.code == 0, result
    assert "moves BACK by" in result.out


def test_clock_changed_keeps_the_old_and_the_new_time(pump: ServedPump) -> None:
    start = pump_time(pump)
    back = start - 70 * DAY
    assert set_clock(pump, back) == start
    log = pump.pumpctl("--json", "log", "therapy")
    assert log.code == 0, log
    changes = [r for r in log.json["records"] if r["event"] == "clock_changed"]
    assert changes, log
    last = changes[-1]
    assert last["decoded"]["change_s"] == -70 * DAY
    assert last["decoded"]["previous_time"] == time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)
    )
    assert last["time"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(back))
    text = pump.pumpctl("log", "therapy")
    assert "change_s=-6048000 previous_time=" in text.out, text


def test_clock_sync_warns_when_the_clock_moves_back_a_lot(pump: ServedPump) -> None:
    set_clock(pump, int(time.time()) + 70 * DAY)  # the pump is ahead: sync moves it back
    unconfirmed = pump.pumpctl("clock", "sync")  # no terminal, no --yes
    assert unconfirmed.code == 2, unconfirmed
    synced = pump.pumpctl("--yes", "clock", "sync")
    assert synced.code == 0, synced
    assert re.search(r"WARNING: the pump clock moves BACK by (69|70) d", synced.out), synced
    assert "log records written after this carry earlier times" in synced.out
    assert abs(pump_time(pump) - time.time()) < 60


def test_clock_sync_warns_when_the_clock_moves_forward_a_lot(pump: ServedPump) -> None:
    set_clock(pump, int(time.time()) - 3 * 3600)
    synced = pump.pumpctl("--json", "--yes", "clock", "sync")
    assert synced.code == 0, synced
    warnings = synced.json["finish"]["warnings"]
    assert len(warnings) == 1 and re.search(r"moves FORWARD by (2 h 59 min|3 h)", warnings[0])


def test_clock_sync_of_a_small_drift_has_no_warning(pump: ServedPump) -> None:
    set_clock(pump, int(time.time()) - 120)
    synced = pump.pumpctl("--json", "--yes", "clock", "sync")
    assert synced.code == 0, synced
    assert synced.json["finish"]["warnings"] == []


@pytest.mark.parametrize("name", available_profiles())
def test_the_limits_are_profile_data(name: str) -> None:
    clock = load_profile(name).device.clock
    assert date_text(clock.earliest_pump_time_s) == "2020-01-01"
    assert date_text(clock.latest_pump_time_s) == "2090-01-01"
    assert U32_MAX - clock.latest_pump_time_s > 10 * 365 * DAY  # more than a service life left
