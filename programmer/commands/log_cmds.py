"""``log therapy|alarm|audit`` (streamed download) and ``watch`` (live telemetry)."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from protocol.catalog import MsgType
from protocol.enums import LogId
from protocol.log_record import LogRecord

from ..cli_support import connected, emit, note, options
from ..errors import ProgrammerError
from ..log_events import arguments_text, decode_arguments
from ..terminal import safe_output
from ..views import alarm_name, iso_time, mcg, ml, mode_name


def record_document(record: LogRecord) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "time": iso_time(record.time),
        "event": record.event_name,
        "a": record.a,
        "b": record.b,
        "decoded": decode_arguments(record.event, record.a, record.b),
        "flags": record.flags,
        "check_ok": record.check_ok,
    }


@click.command()
@click.argument("which", type=click.Choice(["therapy", "alarm", "audit"]))
@click.option("--since", type=click.IntRange(min=0), default=None, help="First sequence number.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the records to FILE as JSON lines.",
)
def log(which: str, since: int | None, out: Path | None) -> None:
    """Download the therapy, alarm or audit log (streamed; progress on a terminal).

    Example: pumpctl --port /dev/pts/3 log alarm --since 120 --out alarms.jsonl
    """
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

        started = time.monotonic()
        try:
            records = client.log_read(log_id, since, progress)
        finally:
            if bar is not None:
                bar.__exit__(None, None, None)
        elapsed = time.monotonic() - started
    documents = [record_document(r) for r in records]
    bad = sum(1 for r in records if not r.check_ok)
    if bad:
        note(f"warning: {bad} record(s) fail their check")
    if out is not None:
        with out.open("w", encoding="utf-8") as handle:
            for doc in documents:
                handle.write(json.dumps(doc, sort_keys=True) + "\n")
    summary: dict[str, Any] = {
        "log": which,
        "count": len(records),
        "bad_checks": bad,
        "seconds": round(elapsed, 3),
    }
    if out is not None:
        summary["out"] = str(out)
        emit(summary, f"{len(records)} {which} log record(s) written to {out}.")
        return
    text = (
        "\n".join(
            f"{d['seq']:>8}  {d['time']}  {d['event']:<26} {arguments_text(d['decoded'])}".rstrip()
            + ("" if d["check_ok"] else "  [CHECK FAILED]")
            for d in documents
        )
        or f"(the {which} log is empty)"
    )
    emit({**summary, "records": documents}, text)


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
def watch(interval: int, count: int | None, duration: float | None) -> None:
    """Show live telemetry and alarm events until Ctrl-C (or --count / --duration).

    Every event is shown: a lock-step pump advanced by several intervals at once sends (and
    watch prints) one TELEMETRY per interval, each with its own pump time.

    Example: pumpctl --port /dev/pts/3 watch --count 10
    """
    events: list[dict[str, Any]] = []
    json_mode = options().json
    deadline = None if duration is None else time.monotonic() + duration
    with connected() as client:
        client.subscribe(interval)
        try:
            while count is None or len(events) < count:
                wait = 1.0 if deadline is None else deadline - time.monotonic()
                if wait <= 0:
                    break
                event = client.link.next_notification(min(wait, 1.0))
                if event is None:
                    continue
                doc = event_document(event.msg, event.body)
                events.append(doc)
                if not json_mode:
                    click.echo(safe_output(event_text(doc)))
        except KeyboardInterrupt:
            pass
        finally:
            # best effort: the pump also stops pushing when the session ends
            with contextlib.suppress(ProgrammerError):
                client.subscribe(0)
    emit({"events": events, "count": len(events)})
