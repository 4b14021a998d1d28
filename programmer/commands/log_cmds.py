"""``log therapy|alarm|audit|daily`` (streamed download) and ``watch`` (live telemetry).

The daily totals (one DAILY_TOTAL record per pump day) are a log of their own, ``daily``, so
that years of them never push the implant, refill and prescription records out of ``therapy``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from protocol.catalog import MsgType
from protocol.enums import LogId
from protocol.log_record import LogRecord
from protocol.units import mcg, ml

from ..cli_support import connected, emit, note, options
from ..errors import ProgrammerError, UnitError, UsageError
from ..log_events import arguments_text, decode_arguments
from ..terminal import safe_json, safe_output
from ..transport import Deadline
from ..units import parse_duration
from ..views import alarm_name, iso_time, mode_name


def record_document(record: LogRecord) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "time": iso_time(record.time),
        "event": record.event_name,
        "a": record.a,
        "b": record.b,
        "decoded": decode_arguments(record.event, record.a, record.b, record.flags),
        "flags": record.flags,
        "check_ok": record.check_ok,
    }


def parse_since(text: str) -> tuple[str, int]:
    """``--since``: a sequence number (``120``), a date or time (``2026-03-01``,
    ``2026-03-01T08:00Z``, UTC unless it says otherwise) or a duration back from the pump's
    clock (``7d``, ``12h``, ``30min``).  Returns ("seq", n), ("time", t) or ("ago", seconds)."""
    text = text.strip()
    if text.isdigit():
        return "seq", int(text)
    if text[:4].isdigit() and text[4:5] == "-":
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise click.BadParameter(
                f"{text!r} is not a date or time; use e.g. 2026-03-01 or 2026-03-01T08:00Z"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return "time", int(when.timestamp())
    try:
        return "ago", parse_duration(text, "--since")
    except UnitError:
        raise click.BadParameter(
            f"{text!r}: expected a sequence number (120), a date or time (2026-03-01, "
            "2026-03-01T08:00Z) or a duration back from the pump's clock (7d, 12h, 30min)"
        ) from None


def _check_out_path(out: Path) -> None:
    """Refuse an --out FILE that cannot be written, before anything is downloaded."""
    parent = out.parent if str(out.parent) else Path(".")
    if out.is_dir():
        raise UsageError(f"--out {out} is a directory; give a file name, e.g. {out}/log.jsonl")
    if not parent.is_dir():
        raise UsageError(
            f"--out {out}: the directory {parent} does not exist; create it or choose another "
            "path (nothing was downloaded)"
        )
    if not os.access(parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise UsageError(f"--out {out}: not writable by you; choose another path")


@click.command()
@click.argument("which", type=click.Choice(["therapy", "alarm", "alarms", "audit", "daily"]))
@click.option(
    "--since",
    metavar="SEQ|DATE|DURATION",
    default=None,
    help="From a sequence number (120), a date or time (2026-03-01, 2026-03-01T08:00Z; UTC) "
    "or a duration back from the pump's clock (7d, 12h).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the records to FILE as JSON lines (the path is checked before downloading).",
)
@click.option(
    "--jsonl", is_flag=True, help="Print the records on stdout as JSON lines, one per record."
)
@click.option(
    "--plot",
    "plot_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="therapy only: draw daily totals (from the daily log), refills and changes to FILE.png "
    "(needs matplotlib).",
)
def log(
    which: str, since: str | None, out: Path | None, jsonl: bool, plot_file: Path | None
) -> None:
    """Download the therapy, alarm, audit or daily-totals log (streamed; progress on a terminal).

    \b
    Examples:
      pumpctl log daily --since 30d
      pumpctl --port /dev/pts/3 log alarm --since 120 --out alarms.jsonl
      pumpctl log therapy --since 7d
      pumpctl log audit --since 2026-03-01 --jsonl | jq .event
      pumpctl log therapy --plot therapy.png
    """
    which = which.rstrip("s") if which == "alarms" else which
    cursor = parse_since(since) if since is not None else None
    if out is not None:
        _check_out_path(out)
    if plot_file is not None:
        if which != "therapy":
            raise UsageError(f"--plot draws the therapy log only, not the {which} log")
        from ..plots import check_plot_path

        check_plot_path(plot_file)
    log_id = LogId[which.upper()]
    show_progress = sys.stderr.isatty()
    with connected() as client:
        bar: Any = None

        def progress(done: int, total: int) -> None:
            nonlocal bar
            if not show_progress:
                return
            if bar is None:
                bar = click.progressbar(length=max(total, 1), label=f"{which} log", file=sys.stderr)
                bar.__enter__()
            bar.update(done - bar.pos)

        threshold: int | None = None
        if cursor is not None and cursor[0] == "time":
            threshold = cursor[1]
        elif cursor is not None and cursor[0] == "ago":
            threshold = int(client.status()["pump_time"]) - cursor[1]
        clock = client.link.clock
        started = clock.monotonic()
        try:
            seq = cursor[1] if cursor is not None and cursor[0] == "seq" else None
            records = client.log_read(log_id, seq, progress)
        finally:
            if bar is not None:
                bar.__exit__(None, None, None)
        elapsed = clock.monotonic() - started
        if threshold is not None:
            records = [r for r in records if r.time >= threshold]
        info = client.log_info(log_id) if not records else None
        daily = client.log_read(LogId.DAILY, None) if plot_file is not None else []
    documents = [record_document(r) for r in records]
    bad = sum(1 for r in records if not r.check_ok)
    if bad:
        note(f"warning: {bad} record(s) fail their check")
    if out is not None:
        try:
            with out.open("w", encoding="utf-8") as handle:
                for doc in documents:
                    handle.write(json.dumps(doc, sort_keys=True) + "\n")
        except OSError as exc:
            raise UsageError(f"--out {out}: cannot write: {exc.strerror or exc}") from None
    summary: dict[str, Any] = {
        "log": which,
        "count": len(records),
        "bad_checks": bad,
        "seconds": round(elapsed, 3),
    }
    if since is not None:
        summary["since"] = since
    if plot_file is not None:
        from ..plots import plot_therapy_log, therapy_series

        # the records drawn: the therapy log and the daily totals it plots, in time order
        documents = sorted(
            documents + [record_document(r) for r in daily], key=lambda d: (d["time"], d["seq"])
        )
        plot_therapy_log(therapy_series(documents), plot_file)
        summary["plot"] = str(plot_file)
        note(f"therapy timeline written to {plot_file}")
    if jsonl:
        for doc in documents:
            click.echo(safe_json(json.dumps(doc, sort_keys=True)))
            sys.stdout.flush()
        note(f"{len(records)} {which} log record(s).")
        return
    if out is not None:
        summary["out"] = str(out)
        emit(summary, f"{len(records)} {which} log record(s) written to {out}.")
        return
    text = "\n".join(
        f"{d['seq']:>8}  {d['time']}  {d['event']:<26} {arguments_text(d['decoded'])}".rstrip()
        + ("" if d["check_ok"] else "  [CHECK FAILED]")
        for d in documents
    ) or _nothing_text(which, since, info)
    emit({**summary, "records": documents}, text)


def _nothing_text(which: str, since: str | None, info: dict[str, Any] | None) -> str:
    held = 0 if info is None else max(0, int(info["next_seq"]) - int(info["first_seq"]))
    if held == 0 or since is None:
        return f"(the {which} log is empty)"
    assert info is not None
    return (
        f"(no {which} log records since {since}; the log holds {held} record(s), "
        f"sequence {int(info['first_seq'])} to {int(info['next_seq']) - 1})"
    )


def event_document(msg: MsgType, body: dict[str, Any]) -> dict[str, Any]:
    if msg is MsgType.TELEMETRY:
        return {
            "type": "telemetry",
            "pump_time": iso_time(int(body["pump_time"])),
            "mode": mode_name(int(body["mode"])),
            "rate_ml_per_day": ml(int(body["rate_nl_per_day"])),
            "reservoir_ml": ml(int(body["reservoir_nl"])),
            "delivered_mcg": mcg(int(body["delivered_ng"])),
            "battery_pct": round(int(body["battery_ppm"]) / 10_000, 1),
            "alarm_bits": int(body["alarm_bits"]),
        }
    return {
        "type": "alarm",
        "name": alarm_name(int(body["alarm"])),
        "raised": bool(body["raised"]),
        "critical": bool(body["critical"]),
        "time": iso_time(int(body["time"])),
    }


def event_text(doc: dict[str, Any]) -> str:
    if doc["type"] == "telemetry":
        return (
            f"{doc['pump_time']}  {doc['mode']:<12} {doc['rate_ml_per_day']:g} mL/day  "
            f"reservoir {doc['reservoir_ml']:g} mL  delivered {doc['delivered_mcg']:g} mcg  "
            f"battery {doc['battery_pct']:g} %"
        )
    state = "RAISED" if doc["raised"] else "cleared"
    level = " (CRITICAL)" if doc["critical"] else ""
    return f"{doc['time']}  ALARM {doc['name']}{level} {state}"


@click.command()
@click.option(
    "--interval",
    type=click.IntRange(min=1),
    default=60,
    show_default=True,
    help="Telemetry interval in seconds of pump time.",
)
@click.option("--count", type=click.IntRange(min=1), default=None, help="Stop after N events.")
@click.option(
    "--duration",
    type=click.FloatRange(min=0),
    default=None,
    help="Stop after this many seconds of wall time.",
)
@click.option(
    "--jsonl", is_flag=True, help="One JSON object per event on stdout (as --json does here)."
)
def watch(interval: int, count: int | None, duration: float | None, jsonl: bool) -> None:
    """Show live telemetry and alarm events until Ctrl-C (or --count / --duration).

    With --json (or --jsonl) each event is one JSON object on its own line of stdout, written
    as it arrives (JSON lines, e.g. for jq); the closing count goes to stderr.  Every event is
    shown: a lock-step pump advanced by several intervals at once sends (and watch prints) one
    TELEMETRY per interval, each with its own pump time.

    Example: pumpctl --port /dev/pts/3 watch --count 10 --json
    """
    events: list[dict[str, Any]] = []
    json_mode = options().json or jsonl
    with connected() as client:
        deadline = None if duration is None else Deadline(client.link.clock, duration)
        client.subscribe(interval)
        try:
            while count is None or len(events) < count:
                wait = 1.0 if deadline is None else deadline.remaining()
                if wait <= 0:
                    break
                event = client.link.next_notification(min(wait, 1.0))
                if event is None:
                    continue
                doc = event_document(event.msg, event.body)
                events.append(doc)
                if json_mode:
                    click.echo(safe_json(json.dumps(doc, sort_keys=True)))
                else:
                    click.echo(safe_output(event_text(doc)))
                sys.stdout.flush()
        except KeyboardInterrupt:
            pass
        finally:
            # best effort: the pump also stops pushing when the session ends
            with contextlib.suppress(ProgrammerError):
                client.subscribe(0)
    note(f"{len(events)} event(s).")
