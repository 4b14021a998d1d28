"""Log download throughput: 10,000 records from ``vpump serve --baud 115200`` over a pty.

Why: a clinic downloads months of therapy and alarm records at every visit, over a slow
telemetry link.  One LOG_READ is answered by a stream of frames (no round trip per frame), so
the download should be bounded by the line rate.  This measures record bytes delivered per
second as a share of what the emulated line can carry: 115,200 baud, 8N1 = 11,520 bytes/s.

Set-up: the pump runs a bench-only profile with room for 12,288 records per log
(``bench/vp20-biglog.toml``).  It is first served without pacing and filled with 10,000
ALARMS_TEST records through the programmer library, then restarted on the same ``--state`` with
``--baud 115200`` for the timed download.

Last line JSON: value = record bytes/s, baseline = 11,520 B/s, ratio = value / baseline
(goal >= 0.85), plus the wire bytes and frames seen.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from contextlib import AbstractContextManager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hw_sim.link.launcher import RunningPump, launch_pump  # noqa: E402
from programmer.client import PumpClient  # noqa: E402
from programmer.journal import Journal  # noqa: E402
from programmer.keystore import KeyStore  # noqa: E402
from programmer.transport import open_transport  # noqa: E402
from protocol.enums import LogId, Role  # noqa: E402

RECORDS = 10_000
RECORD_BYTES = 24
BAUD = 115_200
LINE_BYTES_PER_S = BAUD / 10  # 8N1: ten bits on the line per byte
PROFILE = ROOT / "bench" / "vp20-biglog.toml"


def serve(workdir: Path, *extra: str) -> AbstractContextManager[RunningPump]:
    """The bench pump on ``workdir``'s state, stopped at the end of the block."""
    return launch_pump(
        state=workdir / "pump.nvm",
        profile=PROFILE,
        control=workdir / "bench.ctl",
        # a scripted rig: nobody at the bench accepts the code
        extra_args=["--auto-accept-pairing", *extra],
        cwd=ROOT,
        command=[sys.executable, "-m", "hw_sim.cli.main"],
    )


def stopped_cleanly(pump: RunningPump) -> None:
    if pump.returncode != 0:
        raise SystemExit("vpump serve did not exit cleanly")


def client_for(port: str, workdir: Path, timeout_s: float = 2.0) -> PumpClient:
    keys = KeyStore(workdir / "keys.json")
    return PumpClient(
        open_transport(port, timeout=timeout_s),
        keys,
        timeout_s=timeout_s,
        retries=2,
        journal=Journal(workdir / "journal.json"),
    )


def fill(workdir: Path) -> int:
    """Pair and write RECORDS alarm-test records on an unpaced pump; the log's record count."""
    with serve(workdir) as pump:
        pump.bench("wand", on=True)
        with client_for(pump.port, workdir) as client:
            client.pair(Role.CLINICIAN)
            client.open_session()
            started = time.perf_counter()
            while int(client.log_info(LogId.ALARM)["count"]) < RECORDS:
                client.test_alarm_tones()
            count = int(client.log_info(LogId.ALARM)["count"])
            print(f"filled the alarm log: {count} records in {time.perf_counter() - started:.1f} s")
    stopped_cleanly(pump)
    return count


def download(workdir: Path) -> dict[str, float]:
    with serve(workdir, "--baud", str(BAUD)) as pump, client_for(pump.port, workdir) as client:
        client.open_session()
        transport = client.link.transport
        bytes_before = transport.bytes_in  # type: ignore[attr-defined]
        started = time.perf_counter()
        records = client.log_read(LogId.ALARM, None)
        elapsed = time.perf_counter() - started
        wire = transport.bytes_in - bytes_before  # type: ignore[attr-defined]
        bad = sum(1 for r in records if not r.check_ok)
    stopped_cleanly(pump)
    if len(records) < RECORDS or bad:
        raise SystemExit(f"download incomplete: {len(records)} records, {bad} failing checks")
    return {"records": len(records), "seconds": elapsed, "wire_bytes": wire}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-logdownload-") as tmp:
        workdir = Path(tmp)
        fill(workdir)
        got = download(workdir)
    payload = got["records"] * RECORD_BYTES
    rate = payload / got["seconds"]
    wire_rate = got["wire_bytes"] / got["seconds"]
    print(
        f"downloaded {got['records']:,} records ({payload:,} record bytes, "
        f"{got['wire_bytes']:,} bytes on the wire) in {got['seconds']:.2f} s"
    )
    print(
        f"record bytes: {rate:,.0f} B/s = {rate / LINE_BYTES_PER_S:.1%} of the line; "
        f"wire: {wire_rate:,.0f} B/s = {wire_rate / LINE_BYTES_PER_S:.1%} "
        f"(frame overhead {1 - payload / got['wire_bytes']:.1%})"
    )
    print(
        json.dumps(
            {
                "metric": "log_record_bytes_per_s",
                "value": round(rate, 1),
                "baseline": LINE_BYTES_PER_S,
                "ratio": round(rate / LINE_BYTES_PER_S, 3),
                "records": got["records"],
                "seconds": round(got["seconds"], 3),
                "wire_bytes": got["wire_bytes"],
                "wire_share_of_line": round(wire_rate / LINE_BYTES_PER_S, 3),
                "frame_overhead": round(1 - payload / got["wire_bytes"], 4),
                "unit": "B/s",
            }
        )
    )


if __name__ == "__main__":
    main()
