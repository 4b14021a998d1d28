"""Campaign 2 - power loss: SIGKILL the pump process at seeded moments; nothing is lost or torn.

A real ``vpump serve --lockstep --state F`` is killed (SIGKILL: no flush) a seeded random delay
after a programmer starts an operation - programming (stage + commit), refill, a bolus - or after
the bench starts advancing days of therapy (log and counter writes).  Before each restart the NVM
image is decoded from outside.  After each restart on the same state file:

- the NVM loads: no record is corrupt, no memory-error alarm;
- the prescription is the old one or the new one, whole, and it is the one the programmer's
  journal resolution says it is (an effect reported as "did not happen" must not have happened);
- delivered totals never go below what was persisted (the NVM) or observed after the last
  completed change;
- log sequence numbers are never reused: every record seen before is unchanged, new ones are
  numbered above everything stored;
- the reset is logged, and therapy resumes (delivery continues when time runs).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hw_sim.bench.control import ControlError
from programmer.client import PumpClient
from programmer.errors import LinkError, ProgrammerError, PumpRefused, UncertainOutcome
from programmer.journal import ResolvedRequest
from programmer.keystore import KeyStore
from programmer.transport import Transport, open_transport
from protocol import AlarmId, LogEvent, LogId, TherapyMode

from .clinic_model import ClinicModel, Operation, effect_counts, random_operation
from .harness import (
    ServedPump,
    campaign_seed,
    campaign_size,
    fill_and_program,
    open_client,
    pair,
    report_figures,
)
from .nvm_probe import read_nvm

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(1800)]

#: Kill windows (seconds after the operation's first byte): a little longer than the operation.
KILL_WINDOW_S = {"program": 0.008, "bolus": 0.008, "refill": 0.005, "log_writes": 0.004}
LOGS = (LogId.THERAPY, LogId.ALARM, LogId.AUDIT)


class KillOnFirstWrite:
    """A transport that arms a kill when the operation's first frame goes on the line."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.trigger: Callable[[], None] | None = None

    def write(self, data: bytes) -> None:
        self.inner.write(data)
        trigger, self.trigger = self.trigger, None
        if trigger is not None:
            trigger()

    def read(self, timeout_s: float) -> bytes:
        return self.inner.read(timeout_s)

    def close(self) -> None:
        self.inner.close()


def kill_later(pid: int, delay_s: float) -> threading.Thread:
    def cut() -> None:
        time.sleep(delay_s)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    thread = threading.Thread(target=cut, daemon=True)
    thread.start()
    return thread


@dataclass
class PowerFigures:
    points: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    killed_mid_operation: int = 0
    completed_before_kill: int = 0
    resolved_executed: int = 0
    corrupt_loads: int = 0
    torn_banks_recovered: int = 0
    torn_prescriptions: int = 0
    misreported_outcomes: int = 0
    resolved_interrupted: int = 0  # the pump said INTERRUPTED: an honest "unknown, check"
    delivered_went_back: int = 0
    unpersisted_delivery_lost_ng: int = 0
    seq_reused: int = 0
    reset_not_logged: int = 0
    therapy_not_resumed: int = 0
    problems: list[str] = field(default_factory=list)


class LogWatch:
    """Every log record seen so far, to prove sequence numbers are never reused."""

    def __init__(self) -> None:
        self.seen: dict[tuple[LogId, int], tuple[int, int, int, int]] = {}
        self.top: dict[LogId, int] = {log: 0 for log in LOGS}
        self.effects: Counter[str] = Counter()

    def absorb_nvm(self, stored: dict[LogId, dict[int, tuple[int, int, int, int]]]) -> list[str]:
        """Take the records found in the NVM image: a record seen before must be unchanged."""
        problems = []
        for log, records in stored.items():
            for seq, content in records.items():
                previous = self.seen.get((log, seq))
                if previous is not None and previous != content:
                    problems.append(
                        f"{log.name} seq {seq} rewritten in NVM: {previous} -> {content}"
                    )
        return problems

    def catch_up(
        self, client: PumpClient, stored: dict[LogId, dict[int, tuple[int, int, int, int]]]
    ) -> tuple[int, list[str], bool]:
        """Read what is new; (reused sequence numbers, problems, a RESET record among the new).

        ``stored`` is what the NVM held before the restart: records the pump writes after it
        must be numbered above all of those, and those must read back unchanged.
        """
        reused, problems, reset = 0, self.absorb_nvm(stored), False
        reused += len(problems)
        for log in LOGS:
            info = client.log_info(log)
            start = max(int(info["first_seq"]), self.top[log] - 3, 1)
            records = client.log_read(log, since=start)
            new = []
            before_restart = stored.get(log, {})
            for record in records:
                key = (log, record.seq)
                content = (record.time, record.event, record.a, record.b)
                if not record.check_ok:
                    problems.append(f"{log.name} record {record.seq} fails its check")
                known = self.seen.get(key, before_restart.get(record.seq))
                if known is not None and known != content:
                    reused += 1
                    problems.append(f"{log.name} seq {record.seq} reused: {known} -> {content}")
                if key in self.seen:
                    continue
                if known is None and record.seq <= max([self.top[log], *before_restart]):
                    reused += 1
                    problems.append(f"{log.name} seq {record.seq} numbered below older records")
                self.seen[key] = content
                new.append(record)
            if new:
                self.top[log] = max(self.top[log], max(r.seq for r in new))
            if log is LogId.THERAPY:
                reset = any(r.event == LogEvent.RESET and r.seq not in before_restart for r in new)
            self.effects += effect_counts(
                new if log is LogId.THERAPY else [], new if log is LogId.ALARM else []
            )
        return reused, problems, reset


def test_power_loss_at_random_moments_loses_and_tears_nothing(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    points = campaign_size("power", bounded=15, full=300)
    seed = campaign_seed(1966)
    rng = random.Random(seed)
    keys = KeyStore(tmp_path / "keys.json")
    state = tmp_path / "pump.nvm"
    pump = ServedPump(state, seed=seed).start()
    figures = PowerFigures()
    watch = LogWatch()
    try:
        pair(pump, keys)
        with open_client(pump.port, keys) as setup:
            setup.open_session()
            fill_and_program(setup)
            model = ClinicModel.from_pump(setup)
            watch.catch_up(setup, {})
            model.effects = Counter(watch.effects)
            delivered_floor = int(setup.status()["delivered_ng"])
        for _point in range(points):
            kind = rng.choice(("program", "bolus", "refill", "log_writes"))
            delay = rng.uniform(0.0, KILL_WINDOW_S[kind])
            figures.points += 1
            figures.by_kind[kind] += 1
            op_done, op, raised = _one_point(pump, keys, rng, kind, delay)
            pump.kill()
            snapshot = read_nvm(state)
            figures.corrupt_loads += len(snapshot.corrupt)
            figures.torn_banks_recovered += snapshot.torn_banks
            persisted = snapshot.counters.delivered_pg // 1000 if snapshot.counters else 0
            pump.start()
            resolved: list[ResolvedRequest] = []
            client = open_client(pump.port, keys, timeout_s=1.0)
            client.on_resolved = resolved.append
            with client:
                client.open_session()
                figures.completed_before_kill += int(op_done)
                figures.killed_mid_operation += int(not op_done)
                old = (model.version, model.daily_dose_ng)
                if op is not None and (op_done or _resolved_executed(resolved, op)):
                    op.apply(model)
                    figures.resolved_executed += int(not op_done)
                _check_after_restart(client, snapshot, persisted, delivered_floor, watch, figures)
                if op is not None:
                    interrupted = _resolved_interrupted(resolved, op)
                    figures.resolved_interrupted += int(interrupted)
                    _check_outcome(client, model, old, op, raised, watch, figures, interrupted)
                delivered_floor = _check_resumes(client, pump, model, watch, figures)
    finally:
        pump.close()
    report_figures(
        record_property,
        "power_loss",
        {
            "points": figures.points,
            "by_kind": dict(figures.by_kind),
            "killed_mid_operation": figures.killed_mid_operation,
            "completed_before_kill": figures.completed_before_kill,
            "resolved_as_executed": figures.resolved_executed,
            "corrupt_loads": figures.corrupt_loads,
            "torn_banks_recovered": figures.torn_banks_recovered,
            "torn_prescriptions": figures.torn_prescriptions,
            "misreported_outcomes": figures.misreported_outcomes,
            "resolved_interrupted": figures.resolved_interrupted,
            "delivered_went_back": figures.delivered_went_back,
            "unpersisted_delivery_lost_ng": figures.unpersisted_delivery_lost_ng,
            "seq_reused": figures.seq_reused,
            "reset_not_logged": figures.reset_not_logged,
            "therapy_not_resumed": figures.therapy_not_resumed,
            "seed": seed,
        },
    )
    assert figures.problems == []
    assert figures.corrupt_loads == 0


def _resolved_interrupted(resolved: list[ResolvedRequest], op: Operation) -> bool:
    """The pump reported the operation INTERRUPTED by the kill: it cannot tell, nor can we."""
    return any(r.executed is None and r.pending.msg.name == op.final_message for r in resolved)


def _resolved_executed(resolved: list[ResolvedRequest], op: Operation) -> bool:
    return any(
        r.executed and r.status == 0 and r.pending.msg.name == op.final_message for r in resolved
    )


def _one_point(
    pump: ServedPump, keys: KeyStore, rng: random.Random, kind: str, delay: float
) -> tuple[bool, Operation | None, BaseException | None]:
    """Start one operation and kill the pump ``delay`` seconds after its first byte."""
    if kind == "log_writes":
        days = rng.randint(1, 3)
        advance_killer = kill_later(pump.pid, delay)
        try:
            pump.bench("advance", duration=f"{days}d")
            done = True
        except ControlError:
            done = False
        advance_killer.join()
        return done, None, None
    transport = KillOnFirstWrite(open_transport(pump.port, timeout=0.3))
    client = PumpClient(transport, keys, timeout_s=0.3, retries=1)
    op: Operation | None  # None once the pump certainly refused it
    op = random_operation(rng, int(pump.bench("hw-status")["reservoir_nl"]))
    while op.kind != kind:
        op = random_operation(rng, int(pump.bench("hw-status")["reservoir_nl"]))
    raised: BaseException | None = None
    done = False
    killer: threading.Thread | None = None
    try:
        client.open_session()

        def arm() -> None:
            nonlocal killer
            killer = kill_later(pump.pid, delay)

        transport.trigger = arm
        probe = ClinicModel(0, 0, 0, 0)
        op.run(client, probe)
        done = True
    except PumpRefused as exc:
        raised = exc
        done = False
        op = None  # certainly refused: no effect expected
    except (LinkError, UncertainOutcome, ProgrammerError, OSError) as exc:
        raised = exc
    finally:
        with contextlib.suppress(Exception):
            client.link.transport.close()
    if killer is not None:
        killer.join()
    else:
        kill_later(pump.pid, 0.0).join()
    return done, op, raised


def _check_outcome(
    client: PumpClient,
    model: ClinicModel,
    old: tuple[int, int],
    op: Operation,
    raised: BaseException | None,
    watch: LogWatch,
    figures: PowerFigures,
    interrupted: bool = False,
) -> None:
    """The prescription is old or new whole, and the effect is the one the programmer learnt
    (after an INTERRUPTED answer the programmer learnt "unknown": it follows the pump)."""
    rx = client.read_prescription()
    actual = (int(rx["version"]), int(rx["therapy"]["params"].get("daily_dose_ng", 0)))
    changes_rx = op.kind in ("program", "bolus")
    new = (old[0] + 1, op.args.get("daily_dose_ng", old[1])) if changes_rx else old
    if actual not in (old, new):
        figures.torn_prescriptions += 1
        figures.problems.append(f"{op.kind}: prescription {actual} is neither {old} nor {new}")
    logged, expected = watch.effects[op.kind], model.effects[op.kind]
    if actual == (model.version, model.daily_dose_ng) and logged == expected:
        return
    if interrupted and logged in (expected, expected + 1) and actual in (old, new):
        model.version, model.daily_dose_ng = actual
        model.effects[op.kind] = logged
        return
    figures.misreported_outcomes += 1
    figures.problems.append(
        f"{op.kind}: pump holds {actual} with {logged} logged effects; the programmer "
        f"concluded {(model.version, model.daily_dose_ng)} with {expected} "
        f"({type(raised).__name__}: {raised})"
    )
    # follow the pump from here on, so one misreport is counted once
    model.version, model.daily_dose_ng = actual
    model.effects[op.kind] = logged


def _check_after_restart(
    client: PumpClient,
    snapshot: object,
    persisted_ng: int,
    observed_floor_ng: int,
    watch: LogWatch,
    figures: PowerFigures,
) -> None:
    from .nvm_probe import NvmSnapshot

    assert isinstance(snapshot, NvmSnapshot)
    status = client.status()
    if any(a["alarm"] == AlarmId.MEMORY_ERROR for a in status["alarms"]):
        figures.corrupt_loads += 1
        figures.problems.append("memory error alarm after restart")
    delivered = int(status["delivered_ng"])
    floor = max(persisted_ng, observed_floor_ng)
    if delivered < floor:
        figures.delivered_went_back += 1
        figures.problems.append(f"delivered {delivered} ng < floor {floor} ng")
    figures.unpersisted_delivery_lost_ng = max(
        figures.unpersisted_delivery_lost_ng, max(0, observed_floor_ng - delivered)
    )
    reused, problems, reset = watch.catch_up(client, snapshot.logs)
    figures.seq_reused += reused
    figures.problems += problems
    if not reset:
        figures.reset_not_logged += 1
        figures.problems.append("no RESET record after the restart")


def _check_resumes(
    client: PumpClient,
    pump: ServedPump,
    model: ClinicModel,
    watch: LogWatch,
    figures: PowerFigures,
) -> int:
    """Time runs for an hour: a continuous prescription must deliver.  Returns the new floor."""
    before = client.status()
    if int(before["reservoir_nl"]) < 4_000_000:
        true_volume = int(pump.bench("hw-status")["reservoir_nl"])
        client.refill(true_volume, 20_000_000, 500)
        model.effects["refill"] += 1
        before = client.status()
    pump.bench("advance", duration="1h")
    after = client.status()
    running = after["mode"] in (TherapyMode.CONTINUOUS, TherapyMode.SINGLE_BOLUS)
    if not running or int(after["delivered_ng"]) <= int(before["delivered_ng"]):
        figures.therapy_not_resumed += 1
        figures.problems.append(f"therapy did not resume: {before['mode']} -> {after['mode']}")
    # the status after a change is persisted: the next restart must not fall below it
    client.configure_alarms(int(after["low_reservoir_nl"]), int(after["critical_interval_s"]))
    return int(client.status()["delivered_ng"])
