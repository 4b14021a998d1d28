"""The clinic's local time: this computer's zone, the pump's clock, and how far apart they are.

Why: the pump keeps UTC and the clinic's UTC offset (set with the clock), and runs flex steps
and the daily totals' midnight on local time = UTC + offset, as the reference device keeps the
clinic's local time.  The pump has no time zone database and never looks one up; this module is
where the programmer does: the host's zone (or ``--utc-offset`` / ``--tz``) gives the offset
that ``clock sync`` sends, and comparing the pump's local time with this computer's shows a
drifting clock and a daylight-saving change (the pump still on the old offset: 1 h off).

The warning threshold is the pump's (STATUS ``clock_drift_warning_s``, profile key
``[clock] drift_warning_s``); the comparison is local time against local time, so a UTC drift
and a changed offset both count.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from protocol.units import format_utc_offset

from .errors import UsageError
from .units import format_duration

#: The zone options of ``clock sync`` and ``status``: this computer's zone unless one is given.
UTC_OFFSET_HELP = "The clinic's UTC offset, e.g. +01:00 or -05:00 (default: this computer's zone)."
TZ_HELP = "The clinic's time zone, e.g. Europe/Paris: its offset now, daylight saving included."

_OFFSET = re.compile(
    r"^(?:UTC|GMT)?\s*(?:(?P<z>Z)|(?P<sign>[+-])(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?)$"
)


def parse_utc_offset(text: str) -> int:
    """``+01:00``, ``-05:00``, ``+0530``, ``UTC+1``, ``Z`` -> seconds east of UTC."""
    cleaned = text.strip().upper()
    if cleaned in ("0", "UTC", "GMT"):
        return 0
    match = _OFFSET.match(cleaned)
    if match is None:
        raise UsageError(f"--utc-offset {text!r}: write it as +01:00 or -05:00 (hours:minutes)")
    if match["z"]:
        return 0
    hours, minutes = int(match["h"]), int(match["m"] or 0)
    if minutes >= 60:
        raise UsageError(f"--utc-offset {text!r}: minutes must be below 60")
    seconds = hours * 3600 + minutes * 60
    return -seconds if match["sign"] == "-" else seconds


@dataclass(frozen=True, slots=True)
class HostTime:
    """This computer's time (UTC, Unix seconds) and its zone's offset at that moment."""

    utc_s: int
    utc_offset_s: int
    zone: str  # where the offset comes from, for people: "Europe/Paris", "given with --utc-offset"

    @property
    def local_s(self) -> int:
        return self.utc_s + self.utc_offset_s


def host_time(
    utc_offset: str | None = None, tz: str | None = None, utc_s: int | None = None
) -> HostTime:
    """Now, in this computer's zone, or in the zone of ``--tz`` / the offset of ``--utc-offset``.

    ``--tz`` names an IANA zone (``Europe/Paris``): its offset at this moment, daylight saving
    included.  Without either, the computer's own zone (the TZ environment variable or the
    system setting)."""
    now = int(time.time()) if utc_s is None else utc_s
    if utc_offset is not None and tz is not None:
        raise UsageError("give --utc-offset or --tz, not both")
    if utc_offset is not None:
        offset = parse_utc_offset(utc_offset)
        return HostTime(now, offset, "given with --utc-offset")
    moment = datetime.fromtimestamp(now, UTC)
    if tz is not None:
        try:
            zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise UsageError(f"--tz {tz!r}: not a time zone name (e.g. Europe/Paris)") from None
        delta = moment.astimezone(zone).utcoffset() or timedelta(0)
        return HostTime(now, int(delta.total_seconds()), tz)
    local = moment.astimezone()
    delta = local.utcoffset() or timedelta(0)
    return HostTime(now, int(delta.total_seconds()), local.tzname() or "this computer's zone")


def local_iso(utc_s: int, utc_offset_s: int) -> str:
    """A UTC time shown in a zone: ``2026-03-01T08:00:00+01:00``."""
    zone = timezone(timedelta(seconds=utc_offset_s))
    return datetime.fromtimestamp(utc_s, zone).isoformat()


def local_hhmm(utc_s: int, utc_offset_s: int) -> str:
    zone = timezone(timedelta(seconds=utc_offset_s))
    return datetime.fromtimestamp(utc_s, zone).strftime("%H:%M")


def drift_warning(
    pump_utc_s: int, pump_offset_s: int, host: HostTime, threshold_s: int
) -> str | None:
    """The warning when the pump's local time is more than ``threshold_s`` off this computer's,
    else None.  Names the cause: the clock (UTC) drifted, the zone offset changed, or both."""
    off_by = pump_utc_s + pump_offset_s - host.local_s
    if abs(off_by) <= threshold_s:
        return None
    side = "behind" if off_by < 0 else "ahead of"
    causes = []
    if pump_offset_s != host.utc_offset_s:
        causes.append(
            f"the pump is on {format_utc_offset(pump_offset_s)}, this computer on "
            f"{format_utc_offset(host.utc_offset_s)} ({host.zone}): a daylight-saving change "
            "or another time zone"
        )
    utc_drift = pump_utc_s - host.utc_s
    if abs(utc_drift) > threshold_s or not causes:
        causes.append(f"its clock is {format_duration(abs(utc_drift))} {_side(utc_drift)} in UTC")
    return (
        f"the pump clock is {format_duration(abs(off_by))} {side} this computer's local time "
        f"(pump {local_hhmm(pump_utc_s, pump_offset_s)} {format_utc_offset(pump_offset_s)}, "
        f"here {local_hhmm(host.utc_s, host.utc_offset_s)} "
        f"{format_utc_offset(host.utc_offset_s)}; {'; '.join(causes)}): flex steps run at the "
        f"pump's local time, {format_duration(abs(off_by))} "
        f"{'early' if off_by > 0 else 'late'} by this clock; run `pumpctl clock sync`"
    )


def _side(seconds: int) -> str:
    return "behind" if seconds < 0 else "ahead"


def clock_warning(body: Mapping[str, Any], host: HostTime) -> str | None:
    """The drift warning for a STATUS reply against this computer's time, or None."""
    return drift_warning(
        int(body["pump_time"]),
        int(body["utc_offset_s"]),
        host,
        int(body["clock_drift_warning_s"]),
    )


def clock_document(body: Mapping[str, Any], host: HostTime) -> dict[str, Any]:
    """The pump's clock against this computer's, from a STATUS reply (``status --json``
    ``clock``): both local times with their offsets, the difference and the warning, if any."""
    pump_utc, offset = int(body["pump_time"]), int(body["utc_offset_s"])
    threshold = int(body["clock_drift_warning_s"])
    return {
        "pump_local_time": local_iso(pump_utc, offset),
        "pump_utc_offset": format_utc_offset(offset),
        "pump_utc_offset_s": offset,
        "here_local_time": local_iso(host.utc_s, host.utc_offset_s),
        "here_utc_offset": format_utc_offset(host.utc_offset_s),
        "here_zone": host.zone,
        "off_by_s": pump_utc + offset - host.local_s,
        "warning_threshold_s": threshold,
        "warning": drift_warning(pump_utc, offset, host, threshold),
    }
