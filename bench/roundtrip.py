"""Authenticated STATUS round trips per second: programmer library <-> ``vpump serve`` over a pty.

Why: every clinic command is a handful of round trips, so their rate is what a user waits on.
Two references run in the same process on the same machine, so the ratio is about the design,
not the hardware:

* floor: a pyserial client and an echo process on a pty, with the same request and reply sizes
  as ours (measured from our own link) - the fastest any request/reply can go over a pty with
  a Python peer in another process;
* pymodbus: its sync RTU client reading 10 holding registers from a pymodbus server in another
  process, across a socat pty pair.

Last line JSON: value = our round trips/s, baseline = floor, ratio = ours / floor,
ratio_pymodbus = ours / pymodbus.  Goal: ratio >= 0.5.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import serial

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hw_sim.link.launcher import launch_pump  # noqa: E402
from programmer.client import PumpClient  # noqa: E402
from programmer.keystore import KeyStore  # noqa: E402
from programmer.transport import open_transport  # noqa: E402
from protocol.enums import Role  # noqa: E402

RUN_S = 1.5
RUNS = 3

ECHO_SERVER = r"""
import os, sys, tty
request, reply = int(sys.argv[1]), int(sys.argv[2])
master, slave = os.openpty()
tty.setraw(slave)
print(os.ttyname(slave), flush=True)
answer = b"\x55" * reply
pending = 0
while True:
    data = os.read(master, 65536)
    if not data:
        break
    pending += len(data)
    while pending >= request:
        pending -= request
        os.write(master, answer)
"""

MODBUS_SERVER = r"""
import sys
from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext
from pymodbus.server import StartSerialServer
block = ModbusSequentialDataBlock(1, list(range(100)))
context = ModbusServerContext(devices=ModbusDeviceContext(hr=block), single=True)
print("READY", flush=True)
StartSerialServer(context, port=sys.argv[1], baudrate=115200)
"""


def best_rate(step: Callable[[], object]) -> float:
    """Best of RUNS runs of about RUN_S seconds: completed steps per second."""
    best = 0.0
    for _ in range(RUNS):
        count = 0
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < RUN_S:
            step()
            count += 1
        best = max(best, count / elapsed)
    return best


def measure_ours(workdir: Path) -> tuple[float, int, int]:
    """Our STATUS round trips/s and the request and reply sizes on the wire."""
    with launch_pump(
        state=workdir / "pump.nvm",
        control=workdir / "bench.ctl",
        extra_args=["--auto-accept-pairing"],  # a scripted rig: nobody at the bench accepts
        cwd=ROOT,
        command=[sys.executable, "-m", "hw_sim.cli.main"],
    ) as pump:
        pump.bench("wand", on=True)
        keys = KeyStore(workdir / "keys.json")
        transport = open_transport(pump.port, timeout=1.0)
        with PumpClient(transport, keys, timeout_s=1.0, retries=0) as client:
            client.pair(Role.CLINICIAN)
            client.open_session()
            client.status()
            out0, in0 = transport.bytes_out, transport.bytes_in
            client.status()
            request, reply = transport.bytes_out - out0, transport.bytes_in - in0
            rate = best_rate(client.status)
            assert client.link.counters.stale_replies == 0
    return rate, request, reply


def measure_floor(request: int, reply: int) -> float:
    """A pyserial client against an echo process on a pty, same message sizes."""
    echo = subprocess.Popen(
        [sys.executable, "-c", ECHO_SERVER, str(request), str(reply)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert echo.stdout is not None
        path = echo.stdout.readline().strip()
        message = b"\xaa" * request
        with serial.Serial(path, timeout=1.0) as line:

            def step() -> None:
                line.write(message)
                got = 0
                while got < reply:
                    chunk = line.read(max(1, min(line.in_waiting, reply - got)))
                    if not chunk:
                        raise RuntimeError("echo process stopped answering")
                    got += len(chunk)

            return best_rate(step)
    finally:
        echo.kill()
        echo.wait(timeout=10)


def measure_pymodbus() -> float | None:
    """pymodbus sync RTU client reading 10 holding registers across a socat pty pair."""
    socat = shutil.which("socat")
    try:
        from pymodbus.client import ModbusSerialClient
        from pymodbus.exceptions import ModbusException
    except ImportError:
        return None
    if socat is None:
        return None
    pair = subprocess.Popen(
        [socat, "-d", "-d", "pty,raw,echo=0", "pty,raw,echo=0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    server = None
    try:
        assert pair.stderr is not None
        ends: list[str] = []
        while len(ends) < 2:
            line = pair.stderr.readline()
            if "PTY is" in line:
                ends.append(line.rsplit(" ", 1)[1].strip())
        server = subprocess.Popen(
            [sys.executable, "-c", MODBUS_SERVER, ends[0]],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert server.stdout is not None
        server.stdout.readline()  # READY: the server opens its port right after
        client = ModbusSerialClient(ends[1], baudrate=115200, timeout=0.5, retries=0)
        client.connect()
        try:
            for _ in range(20):  # until the server's port is open and answering
                try:
                    if not client.read_holding_registers(0, count=10, device_id=1).isError():
                        break
                except ModbusException:
                    continue
            else:
                return None

            def step() -> None:
                answer = client.read_holding_registers(0, count=10, device_id=1)
                if answer.isError() or len(answer.registers) != 10:
                    raise RuntimeError(f"pymodbus read failed: {answer}")

            return best_rate(step)
        finally:
            client.close()  # type: ignore[no-untyped-call]  # pymodbus leaves close() unannotated
    finally:
        if server is not None:
            server.kill()
            server.wait(timeout=10)
        pair.terminate()
        pair.wait(timeout=10)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-roundtrip-") as tmp:
        ours, request, reply = measure_ours(Path(tmp))
    print(f"ours: {ours:,.0f} authenticated STATUS round trips/s ({request} B out, {reply} B back)")
    floor = measure_floor(request, reply)
    print(f"floor: {floor:,.0f} echo round trips/s (pyserial <-> echo process on a pty)")
    modbus = measure_pymodbus()
    if modbus is None:
        print("pymodbus: skipped (pymodbus or socat missing)")
    else:
        print(f"pymodbus: {modbus:,.0f} RTU reads of 10 registers/s (socat pty pair)")
    result = {
        "metric": "status_roundtrips_per_s",
        "value": round(ours, 1),
        "baseline": round(floor, 1),
        "ratio": round(ours / floor, 3),
        "pymodbus_per_s": None if modbus is None else round(modbus, 1),
        "ratio_pymodbus": None if modbus is None else round(ours / modbus, 3),
        "request_bytes": request,
        "reply_bytes": reply,
        "unit": "round trips/s",
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
