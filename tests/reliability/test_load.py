"""Campaign 6 - load: status polling, a telemetry subscription and log downloads at once.

A real ``vpump serve`` runs in real time (simulated time at 120x) while one programmer session
keeps a telemetry subscription, polls STATUS, downloads the therapy and alarm logs again and
again, and now and then stops and resumes the pump so that alarms are raised and cleared.  For
the whole soak: every poll is answered, the pump's resident memory (VmRSS from /proc) does not
grow beyond what its bounded logs may take, and every alarm the pump raised reached the
programmer as an ALARM_EVENT notification.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from programmer.keystore import KeyStore
from protocol import AlarmId, LogEvent, LogId, MsgType

from .harness import campaign_size, fill_and_program, open_client, pair, report_figures, served_pump

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(3600)]

TIME_SCALE = 120.0
TELEMETRY_INTERVAL_S = 30  # pump seconds: four frames per wall second at 120x
#: Allowed VmRSS growth after warm-up: the RAM log rings may fill (3 x 2048 records) and
#: Python's allocator keeps arenas; a leak per request would exceed this within the soak.
RSS_GROWTH_LIMIT_KB = 4096
POLL_PERIOD_S = 0.02


def test_pump_serves_polls_telemetry_and_log_downloads_without_growth_or_missed_alarms(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    soak_s = campaign_size("load_seconds", bounded=15, full=180)
    keys = KeyStore(tmp_path / "keys.json")
    with served_pump(tmp_path / "pump.nvm", lockstep=False, time_scale=TIME_SCALE) as pump:
        pair(pump, keys)
        client = open_client(pump.port, keys, timeout_s=2.0, retries=2)
        with client:
            client.open_session()
            fill_and_program(client)
            alarm_mark = int(client.log_info(LogId.ALARM)["next_seq"])
            client.subscribe(TELEMETRY_INTERVAL_S)
            polls = downloads = records = stops = 0
            rss_samples: list[int] = []
            alarm_events: list[tuple[int, bool]] = []
            started = time.monotonic()
            warm_rss = None
            while time.monotonic() - started < soak_s:
                status = client.status()
                polls += 1
                assert "mode" in status
                if polls % 10 == 0:
                    for log in (LogId.THERAPY, LogId.ALARM):
                        records += len(client.log_read(log))
                        downloads += 1
                if polls % 20 == 0:
                    client.stop()
                    client.resume()
                    stops += 1
                # pace the polls (about 50 a second) by waiting for telemetry on the line
                while (event := client.link.next_notification(POLL_PERIOD_S)) is not None:
                    if event.msg is MsgType.ALARM_EVENT:
                        alarm_events.append((int(event.body["alarm"]), bool(event.body["raised"])))
                rss_samples.append(pump.rss_kb())
                if warm_rss is None and time.monotonic() - started > min(3.0, soak_s / 4):
                    warm_rss = max(rss_samples)
            telemetry = client.link.counters.notifications
            client.subscribe(0)
            for event in client.notifications(timeout_s=0.5):  # late ones still on the line
                if event.msg is MsgType.ALARM_EVENT:
                    alarm_events.append((int(event.body["alarm"]), bool(event.body["raised"])))
            raised_logged = [
                r.a
                for r in client.log_read(LogId.ALARM, since=alarm_mark)
                if r.event == LogEvent.ALARM_RAISED
            ]
    raised_notified = [alarm for alarm, raised in alarm_events if raised]
    missed = len(raised_logged) - len(raised_notified)
    end_rss = max(rss_samples[-5:])
    warm = warm_rss if warm_rss is not None else rss_samples[0]
    report_figures(
        record_property,
        "load",
        {
            "soak_s": soak_s,
            "status_polls": polls,
            "log_downloads": downloads,
            "log_records_downloaded": records,
            "telemetry_frames": telemetry,
            "stops": stops,
            "alarms_raised_logged": len(raised_logged),
            "alarm_events_received": len(raised_notified),
            "missed_alarm_events": missed,
            "rss_warm_kb": warm,
            "rss_end_kb": end_rss,
            "rss_growth_kb": end_rss - warm,
        },
    )
    assert polls > 0 and telemetry > 0
    assert raised_notified.count(AlarmId.PUMP_STOPPED) == stops
    assert sorted(raised_notified) == sorted(raised_logged), "an alarm event was missed"
    assert end_rss - warm <= RSS_GROWTH_LIMIT_KB
