"""Casebook: clinic time (issue 11, item 11).

The pump keeps UTC and the clinic's UTC offset, set with the clock; flex steps and the midnight
of the daily totals run on the clinic's local time = UTC + offset.  The programmer sends this
computer's zone offset with the time, and compares the pump's local time with its own.

Common arithmetic: 20 mL of 2000 mcg/mL; a flex day of 00:00 = 300 mcg/day and 07:00 =
600 mcg/day on every weekday.  300 / 2000 = 0.15 mL/day = 150,000 nL/day before the step,
600 / 2000 = 0.3 mL/day = 300,000 nL/day from it.  The visits start on Monday 2026-01-05
00:00:00Z = 1,767,571,200 (Unix seconds) unless said otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware.nvm_layout import NvmLayout, NvmStore, RecordId
from firmware.prescription import Flex, FlexStep
from hw_sim.board.board import VirtualBoard
from hw_sim.link.loopback import Loopback
from hw_sim.profiles.loader import load_profile
from programmer import KeyStore, PumpClient, therapy
from programmer.clinic_time import clock_document, host_time
from programmer.views import status_document, status_text
from protocol.enums import AlarmId, LogEvent, LogId
from protocol.units import format_utc_offset
from tests.integration.harness import served_pump, xdg_env

pytestmark = pytest.mark.timeout(120)

MONDAY = 1_767_571_200  # 2026-01-05T00:00:00Z
HOUR = 3600
BEFORE, AFTER = 300_000, 600_000  # ng/day before and from the 07:00 step
RATE_BEFORE, RATE_AFTER = 150_000, 300_000  # nL/day at 2000 mcg/mL


def _flex_0700() -> therapy.TherapyChange:
    steps = [therapy.FlexStep(0, BEFORE), therapy.FlexStep(7 * 60, AFTER)]
    return therapy.flex(steps, therapy.parse_weekdays(None), None)


@pytest.fixture
def keys(tmp_path: Path) -> KeyStore:
    return KeyStore(tmp_path / "keys")


def _visit(name: str, keys: KeyStore, start: int) -> tuple[Loopback, PumpClient]:
    loop = Loopback.fresh(
        name, serial_number="VP20-000111", start_time=start, auto_accept_pairing=True
    )
    loop.bench.set_wand(True)
    client = PumpClient(loop.transport(), keys, timeout_s=0.5)
    client.pair()
    return loop, client


@pytest.fixture(params=["vp20", "vp40"])
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def monday(name: str, keys: KeyStore) -> Iterator[tuple[Loopback, PumpClient]]:
    loop, client = _visit(name, keys, MONDAY)
    with client:
        yield loop, client


def _program_flex(client: PumpClient) -> None:
    client.refill(0, 20_000_000, 2000)
    staged = client.stage(_flex_0700())
    client.commit(staged, staged.warnings)


def _dose_at(loop: Loopback, client: PumpClient, pump_time: int) -> tuple[int, int]:
    """(daily_dose_ng, rate_nl_per_day) the pump reports at ``pump_time``."""
    loop.advance(pump_time - loop.bench.now)
    body = client.status()
    assert body["pump_time"] == pump_time
    return int(body["daily_dose_ng"]), int(body["rate_nl_per_day"])


@pytest.mark.parametrize(
    ("offset", "utc_hour", "local_text"),
    [("+01:00", 6, "2026-01-05T01:00:00+01:00"), ("-05:00", 12, "2026-01-04T19:00:00-05:00")],
)
def test_clock_sync_across_time_zones_puts_the_0700_step_at_0700_local(
    monday: tuple[Loopback, PumpClient], offset: str, utc_hour: int, local_text: str
) -> None:
    """A clinic in Paris in winter (UTC+01:00 = +3,600 s) and one in New York (UTC-05:00 =
    -18,000 s) sync the clock at 2026-01-05T00:00:00Z, then program 07:00 = 600 mcg/day.
    07:00 local = 07:00 - 1 h = 06:00Z in Paris and 07:00 + 5 h = 12:00Z in New York:
    at 05:59:59Z (11:59:59Z) the pump still gives 300 mcg/day (150,000 nL/day), at 06:00:00Z
    (12:00:00Z) 600 mcg/day (300,000 nL/day).  The old pump ran the step at 07:00Z.
    The pump's own local time at the sync is 00:00Z + offset: 01:00 on the 5th in Paris,
    19:00 on the 4th in New York; STATUS reports the offset the programmer sent."""
    loop, client = monday
    host = host_time(utc_offset=offset, utc_s=loop.bench.now)
    assert host.utc_offset_s == {"+01:00": 3600, "-05:00": -18_000}[offset]
    assert client.set_clock(host.utc_s, host.utc_offset_s) == MONDAY
    _program_flex(client)
    body = client.status()
    assert body["utc_offset_s"] == host.utc_offset_s
    clock = clock_document(body, host)
    assert clock["pump_local_time"] == local_text
    assert clock["off_by_s"] == 0 and clock["warning"] is None
    step = MONDAY + utc_hour * HOUR
    assert _dose_at(loop, client, step - 1) == (BEFORE, RATE_BEFORE)
    assert _dose_at(loop, client, step) == (AFTER, RATE_AFTER)


def test_the_daily_total_closes_at_the_clinics_midnight(
    monday: tuple[Loopback, PumpClient],
) -> None:
    """New York, UTC-05:00, synced at 2026-01-05T00:00:00Z (19:00 on the 4th, local), then
    continuous 480 mcg/day (0.24 mL/day = 240,000 nL/day).  Local midnight is 05:00Z: the
    DAILY_TOTAL record of the 4th is stamped 2026-01-05T05:00:00Z (not 00:00Z: that is when
    the old pump, on UTC, closed its day) and counts the 5 h since the start:
    programmed 480,000 ng x 5 / 24 = 100,000 ng; the next one follows 24 h later, at
    2026-01-06T05:00:00Z, with the whole day: 480,000 ng."""
    loop, client = monday
    client.set_clock(MONDAY, -5 * HOUR)
    client.refill(0, 20_000_000, 2000)
    staged = client.stage(therapy.continuous(480_000))
    client.commit(staged, staged.warnings)
    loop.advance(MONDAY + 30 * HOUR - loop.bench.now)
    daily = [r for r in client.log_read(LogId.DAILY) if r.event == LogEvent.DAILY_TOTAL]
    assert [(r.time, r.b) for r in daily] == [
        (MONDAY + 5 * HOUR, 100_000),
        (MONDAY + 29 * HOUR, 480_000),
    ]


def test_a_daylight_saving_change_is_warned_and_a_resync_moves_the_step_back(
    name: str, keys: KeyStore
) -> None:
    """Paris, synced on Saturday 2026-03-28T00:00:00Z at UTC+01:00 (CET) with 07:00 = 600
    mcg/day.  On Sunday 29 March at 01:00Z Paris goes to UTC+02:00 (CEST).  On Monday
    2026-03-30T00:00:00Z this computer (zone Europe/Paris) reads 02:00 local; the pump, still
    on +01:00, reads 01:00: 1 h behind, beyond the 300 s threshold, so the status view warns
    and names both offsets.  Not yet synced, the step comes at 07:00 CET = 06:00Z, which is
    08:00 on the clinic's clocks.  A re-sync sends +02:00 (7,200 s): the warning is gone and
    the step is at 07:00 CEST = 05:00Z: 300 mcg/day at 04:59:59Z, 600 mcg/day at 05:00:00Z."""
    saturday = 1_774_656_000  # 2026-03-28T00:00:00Z
    monday = saturday + 2 * 24 * HOUR
    loop, client = _visit(name, keys, saturday)
    with client:
        winter = host_time(tz="Europe/Paris", utc_s=saturday)
        assert winter.utc_offset_s == 3600
        client.set_clock(winter.utc_s, winter.utc_offset_s)
        _program_flex(client)
        assert _dose_at(loop, client, monday) == (BEFORE, RATE_BEFORE)
        summer = host_time(tz="Europe/Paris", utc_s=monday)
        assert summer.utc_offset_s == 7200
        body = client.status()
        clock = clock_document(body, summer)
        assert clock["off_by_s"] == -3600
        assert clock["pump_local_time"] == "2026-03-30T01:00:00+01:00"
        assert clock["here_local_time"] == "2026-03-30T02:00:00+02:00"
        warning = clock["warning"]
        assert warning is not None
        assert warning.startswith("the pump clock is 1 h behind this computer's local time")
        assert "the pump is on UTC+01:00, this computer on UTC+02:00 (Europe/Paris)" in warning
        assert "daylight-saving" in warning and "pumpctl clock sync" in warning
        doc = status_document(body)
        doc["clock"] = clock
        assert "\nWARNING: the pump clock is 1 h behind" in status_text(doc)
        # not re-synced, Monday's step would come at 06:00Z; re-synced it comes at 05:00Z
        assert client.set_clock(summer.utc_s, summer.utc_offset_s) == monday
        after = clock_document(client.status(), summer)
        assert after["off_by_s"] == 0 and after["warning"] is None
        assert _dose_at(loop, client, monday + 5 * HOUR - 1) == (BEFORE, RATE_BEFORE)
        assert _dose_at(loop, client, monday + 5 * HOUR) == (AFTER, RATE_AFTER)


def test_an_old_pump_image_without_an_offset_is_a_pump_on_utc(name: str) -> None:
    """A pump whose CONFIG record was written by firmware before the clinic's offset existed
    (the record ends before the offset and the catheter appended after it) boots without a memory error and reads the offset as 0:
    it keeps running the 07:00 step at 07:00Z, as it always did (06:59:59Z: 300 mcg/day,
    07:00:00Z: 600 mcg/day).  Synced at UTC+01:00 on the Tuesday at 00:00Z, the next step
    comes at 06:00Z on the Tuesday (07:00 - 1 h)."""
    profile = load_profile(name)
    board = VirtualBoard(profile, 5, start_time=MONDAY)
    board.power_on()
    fw = board.firmware
    board.inject(20_000_000, 2000, MONDAY)
    fw.refill(0, 20_000_000, 2000, MONDAY)
    flex = Flex(((FlexStep(0, BEFORE), FlexStep(7 * 60, AFTER)),), (0,) * 7)
    staged = fw.stage(flex, MONDAY)
    fw.commit(staged.staged_hash, staged.active_version, staged.warnings, MONDAY)
    board.flush()
    store = NvmStore(board.nvm, NvmLayout(profile.device.log_capacity))
    record = store.load(RecordId.CONFIG).payload
    # today's record: ..., utc_offset_s = 0, catheter_length_mm = none (appended after it)
    assert record[-12:] == bytes(4) + b"\xff" * 8
    store.save(RecordId.CONFIG, record[:-12])  # as the earlier firmware wrote it
    board.power_loss(MONDAY + 60)
    fw = board.firmware
    status = fw.status(MONDAY + 60)
    assert status.utc_offset_s == 0
    assert AlarmId.MEMORY_ERROR not in {a.alarm_id for a in status.alarms}
    board.run_until(MONDAY + 7 * HOUR - 1)
    assert fw.status(board.now).daily_dose_ng == BEFORE
    board.run_until(MONDAY + 7 * HOUR)
    assert fw.status(board.now).daily_dose_ng == AFTER
    tuesday = MONDAY + 24 * HOUR
    board.run_until(tuesday)
    fw.set_clock(tuesday, tuesday, 3600)
    board.run_until(tuesday + 6 * HOUR - 1)
    assert fw.status(board.now).daily_dose_ng == BEFORE
    board.run_until(tuesday + 6 * HOUR)
    assert fw.status(board.now).daily_dose_ng == AFTER


@pytest.mark.parametrize(("slow_s", "warned"), [(600, "10 min"), (300, None), (301, "5 min 1 s")])
def test_a_clock_off_by_ten_minutes_is_warned(
    monday: tuple[Loopback, PumpClient], slow_s: int, warned: str | None
) -> None:
    """Paris, UTC+01:00.  The pump was set 10 min (600 s) slow: at 2026-01-05T00:00:00Z
    (01:00 local) it reads 23:50Z (00:50 local).  600 s is above the profile's 300 s threshold
    ([clock] drift_warning_s, STATUS clock_drift_warning_s): the warning says "10 min behind"
    and that the offsets agree, so the clock itself is slow.  300 s slow is within the
    threshold (no warning), 301 s is past it ("5 min 1 s")."""
    loop, client = monday
    host = host_time(utc_offset="+01:00", utc_s=loop.bench.now)
    client.set_clock(host.utc_s - slow_s, 3600)
    body = client.status()
    assert body["clock_drift_warning_s"] == 300
    clock = clock_document(body, host)
    assert clock["off_by_s"] == -slow_s
    if warned is None:
        assert clock["warning"] is None
        return
    assert clock["warning"] is not None
    assert clock["warning"].startswith(f"the pump clock is {warned} behind this computer's")
    assert f"its clock is {warned} behind in UTC" in clock["warning"]
    assert "daylight-saving" not in clock["warning"]


def test_pumpctl_syncs_in_the_clinics_zone_and_warns_where_the_pump_is_off(
    name: str, tmp_path: Path
) -> None:
    """Real ``vpump serve --lockstep`` (its clock stands still between commands) and real
    ``pumpctl``.  The factory clock reads 2026-01-05T00:00:00Z on UTC+00:00.

    1. ``clock sync --utc-offset +01:00`` sends this computer's time and +3,600 s: the pump
       reports UTC+01:00 and its local time is the UTC time + 1 h; the Finish view warned of
       the new offset (flex steps move) and of the jump from 2026-01-05; the therapy log holds
       UTC_OFFSET_CHANGED a = 3,600 (new), b = 0 (previous).
    2. ``status --utc-offset +01:00``: off by the few seconds the commands took (under the
       300 s threshold): no warning.  ``--tz Europe/Paris`` is the same +01:00 in winter
       (no warning) and +02:00 in summer (a warning).
    3. ``status --utc-offset +02:00`` (the clinic after the spring change): 1 h (3,600 s plus
       those seconds) behind: a WARNING in the text, and in the JSON ``clock.warning``.
    4. ``program flex`` from a computer on New York winter time (TZ=EST+5, -05:00): the step
       hours would run 6 h off the clinic's clock (less the seconds the frozen pump clock lost
       since the sync), so its Finish view warns before the write.
    A zone that does not exist is a usage error (exit 2), before the pump is asked."""
    env = xdg_env(tmp_path)
    env["TZ"] = "Europe/Paris"  # vpump never reads it; pumpctl's own zone is given below
    with served_pump(tmp_path, env, extra=("--profile", name)) as pump:
        pump.pair()
        pump.fill_and_program()
        synced = pump.pumpctl("--json", "--yes", "clock", "sync", "--utc-offset", "+01:00")
        assert synced.code == 0, synced
        doc = synced.json
        assert (doc["previous_utc_offset"], doc["utc_offset"]) == ("UTC+00:00", "UTC+01:00")
        assert doc["previous_time"] == "2026-01-05T00:00:00Z"
        assert doc["local_time"].endswith("+01:00")
        warnings = doc["finish"]["warnings"]
        assert any("moves FORWARD" in w for w in warnings)
        assert any("changes from UTC+00:00 to UTC+01:00" in w for w in warnings)
        log = pump.pumpctl("--json", "log", "therapy")
        changed = [r for r in log.json["records"] if r["event"] == "utc_offset_changed"]
        assert [(r["a"], r["b"], r["decoded"]["utc_offset"]) for r in changed] == [
            (3600, 0, "UTC+01:00")
        ]

        now = pump.pumpctl("--json", "status", "--utc-offset", "+01:00")
        assert now.code == 0, now
        assert now.json["utc_offset_s"] == 3600
        assert now.json["clock"]["pump_utc_offset"] == "UTC+01:00"
        assert -60 < now.json["clock"]["off_by_s"] <= 0
        assert now.json["clock"]["warning"] is None
        paris = pump.pumpctl("--json", "status", "--tz", "Europe/Paris")
        in_paris = host_time(tz="Europe/Paris")  # +01:00 in winter, +02:00 in summer
        assert paris.json["clock"]["here_utc_offset"] == format_utc_offset(in_paris.utc_offset_s)
        assert (paris.json["clock"]["warning"] is None) == (in_paris.utc_offset_s == 3600)

        summer = pump.pumpctl("status", "--utc-offset", "+02:00")
        assert summer.code == 0, summer
        assert "local time" in summer.out and "(UTC+01:00)" in summer.out
        assert "WARNING: the pump clock is 1 h" in summer.out
        assert "the pump is on UTC+01:00, this computer on UTC+02:00" in summer.out

        pump.env["TZ"] = "EST+5"  # UTC-05:00 all year (a POSIX zone, no daylight saving)
        flex = pump.pumpctl(
            "--json", "--yes", "--ack-warnings", "program", "flex",
            "--step", "00:00=300mcg/day", "--step", "07:00=600mcg/day",
        )  # fmt: skip
        assert flex.code == 0, flex
        ahead = re.compile(r"the pump clock is (6 h|5 h 59 min \d+ s) ahead of this computer's")
        assert any(ahead.match(w) for w in flex.json["finish"]["warnings"]), flex.json["finish"]

        wrong = pump.pumpctl("status", "--tz", "Mars/Olympus_Mons")
        assert wrong.code == 2 and "not a time zone name" in wrong.err
