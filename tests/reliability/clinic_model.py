"""A reference model of what a clinic's operations must do to the pump, and the checks against it.

Why: "each operation takes effect exactly once" is only checkable against something that counts
what the programmer was told happened.  The model records every operation that ended *done*
(directly or after an uncertain outcome was resolved) and predicts the pump's prescription,
alarm settings and - the exactly-once check - how many records each kind of change must have
left in the pump's therapy and alarm logs.  Campaigns drive operations through a real
``PumpClient`` over a real line, so a retry that ran twice shows up as an extra log record.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from programmer import therapy
from programmer.client import PumpClient
from programmer.errors import LinkError, PumpRefused, UncertainOutcome
from programmer.journal import ResolvedRequest
from protocol import ChangeKind, LogEvent, LogId

CONCENTRATION = 500
MAX_ATTEMPTS = 60


@dataclass
class ClinicModel:
    """What the pump must hold after the operations the programmer saw complete."""

    version: int
    daily_dose_ng: int
    low_reservoir_nl: int
    critical_interval_s: int
    effects: Counter[str] = field(default_factory=Counter)

    @classmethod
    def from_pump(cls, client: PumpClient) -> ClinicModel:
        rx = client.read_prescription()
        return cls(
            int(rx["version"]),
            int(rx["therapy"]["params"].get("daily_dose_ng", 0)),
            int(rx["low_reservoir_nl"]),
            int(rx["critical_interval_s"]),
        )


@dataclass(frozen=True)
class Operation:
    """One clinical operation: its steps run in order; the last step is the one with the effect."""

    kind: str  # program | bolus | refill | alarm_config
    args: dict[str, int]

    def run(self, client: PumpClient, model: ClinicModel) -> None:
        """Carry it out; raises the programmer's exceptions; updates ``model`` when done."""
        a = self.args
        if self.kind in ("program", "bolus"):
            change = (
                therapy.continuous(a["daily_dose_ng"])
                if self.kind == "program"
                else therapy.single_bolus(a["dose_ng"], a["duration_s"])
            )
            staged = client.stage(change)
            client.commit(staged, staged.warnings)
        elif self.kind == "refill":
            client.refill(a["withdrawn_nl"], a["added_nl"], CONCENTRATION)
        elif self.kind == "alarm_config":
            client.configure_alarms(a["low_reservoir_nl"], a["critical_interval_s"])
        else:
            raise ValueError(self.kind)
        self.apply(model)

    def apply(self, model: ClinicModel) -> None:
        a = self.args
        model.effects[self.kind] += 1
        if self.kind in ("program", "bolus"):
            model.version += 1
            if self.kind == "program":
                model.daily_dose_ng = a["daily_dose_ng"]
        elif self.kind == "alarm_config":
            model.low_reservoir_nl = a["low_reservoir_nl"]
            model.critical_interval_s = a["critical_interval_s"]

    @property
    def final_message(self) -> str:
        """The journal's name for the step that carries the effect."""
        return {
            "program": "COMMIT_PRESCRIPTION",
            "bolus": "COMMIT_PRESCRIPTION",
            "refill": "REFILL",
            "alarm_config": "ALARMS_CONFIG",
        }[self.kind]


def random_operation(rng: random.Random, true_reservoir_nl: int) -> Operation:
    kind = rng.choice(("program", "bolus", "refill", "alarm_config"))
    if kind == "program":
        return Operation(kind, {"daily_dose_ng": rng.randrange(300, 701, 10) * 1000})
    if kind == "bolus":
        return Operation(
            kind,
            {"dose_ng": rng.randrange(10, 101, 5) * 1000, "duration_s": rng.randrange(60, 601)},
        )
    if kind == "refill":
        return Operation(
            kind, {"withdrawn_nl": true_reservoir_nl, "added_nl": rng.randrange(15, 21) * 1_000_000}
        )
    return Operation(
        kind,
        {
            "low_reservoir_nl": rng.randrange(5, 51) * 100_000,
            "critical_interval_s": rng.randrange(1, 61) * 60,
        },
    )


@dataclass
class OperationFigures:
    operations: int = 0
    done: int = 0
    refused: int = 0
    uncertain: int = 0
    uncertain_resolved_done: int = 0
    uncertain_resolved_not_done: int = 0
    link_errors_retried: int = 0
    unresolved: int = 0
    refusals: Counter[str] = field(default_factory=Counter)


class Operator:
    """Runs operations to a definite end: done, refused, or uncertain and then resolved."""

    def __init__(self, client: PumpClient, model: ClinicModel, figures: OperationFigures) -> None:
        self.client = client
        self.model = model
        self.figures = figures
        self.resolved: dict[int, ResolvedRequest] = {}
        client.on_resolved = lambda r: self.resolved.__setitem__(r.pending.request_id, r)

    def perform(self, op: Operation) -> str:
        self.figures.operations += 1
        for _attempt in range(MAX_ATTEMPTS):
            try:
                op.run(self.client, self.model)
            except PumpRefused as exc:
                self.figures.refused += 1
                name = getattr(exc.code, "name", str(exc.code))
                self.figures.refusals[f"{op.kind}:{name}"] += 1
                return "refused"
            except UncertainOutcome as exc:
                self.figures.uncertain += 1
                outcome = self._resolve(exc, op)
                if outcome is not None:
                    return outcome
                continue  # it certainly did not happen: carry the operation out again
            except LinkError:
                self.figures.link_errors_retried += 1
                continue  # certain that nothing changed: try again
            self.figures.done += 1
            return "done"
        self.figures.unresolved += 1
        return "unresolved"

    def settle_journal(self) -> None:
        """Reopen the session until the journal of unresolved requests is empty."""
        for _attempt in range(MAX_ATTEMPTS):
            try:
                self.client.endpoint.close_session()
                self.client.open_session()
            except (LinkError, UncertainOutcome):
                continue
            if not self.client.journal.entries(self.client.serial_number):
                return
        raise AssertionError("the journal could not be settled: the pump stayed unreachable")

    def _resolve(self, exc: UncertainOutcome, op: Operation) -> str | None:
        self.settle_journal()
        resolved = self.resolved.pop(exc.request_id, None)
        if resolved is None:
            raise AssertionError(f"request {exc.request_id:#x} left the journal unresolved")
        final = exc.what == op.final_message
        if final and resolved.executed and resolved.status == 0:
            op.apply(self.model)
            self.figures.uncertain_resolved_done += 1
            return "uncertain-resolved-done"
        if final and resolved.executed:
            self.figures.uncertain_resolved_not_done += 1
            return "uncertain-resolved-refused"
        self.figures.uncertain_resolved_not_done += 1
        return None


#: Log records that each kind of operation leaves, exactly once per effect.
def effect_counts(therapy_log: list[Any], alarm_log: list[Any]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for record in therapy_log:
        if record.event == LogEvent.THERAPY_CHANGED and record.a == ChangeKind.CONTINUOUS:
            counts["program"] += 1
        elif record.event == LogEvent.BOLUS_STARTED:
            counts["bolus"] += 1
        elif record.event == LogEvent.REFILL:
            counts["refill"] += 1
    for record in alarm_log:
        if record.event == LogEvent.ALARM_CONFIG_CHANGED:
            counts["alarm_config"] += 1
    return counts


def log_marks(client: PumpClient) -> dict[LogId, int]:
    """Next sequence number of the therapy and alarm logs: where a campaign's records start."""
    return {log: int(client.log_info(log)["next_seq"]) for log in (LogId.THERAPY, LogId.ALARM)}


def wrong_effects(client: PumpClient, model: ClinicModel, marks: dict[LogId, int]) -> list[str]:
    """Every way the pump differs from the model (empty when each effect happened exactly once)."""
    problems: list[str] = []
    rx = client.read_prescription()
    checks: list[tuple[str, object, object]] = [
        ("prescription version", int(rx["version"]), model.version),
        (
            "basal daily dose",
            int(rx["therapy"]["params"].get("daily_dose_ng", 0)),
            model.daily_dose_ng,
        ),
        ("low reservoir alarm", int(rx["low_reservoir_nl"]), model.low_reservoir_nl),
        ("critical interval", int(rx["critical_interval_s"]), model.critical_interval_s),
        ("concentration", int(rx["concentration_mcg_per_ml"]), CONCENTRATION),
    ]
    therapy_log = client.log_read(LogId.THERAPY, since=marks[LogId.THERAPY])
    alarm_log = client.log_read(LogId.ALARM, since=marks[LogId.ALARM])
    logged = effect_counts(therapy_log, alarm_log)
    for kind in ("program", "bolus", "refill", "alarm_config"):
        checks.append((f"{kind} log records", logged[kind], model.effects[kind]))
    for name, actual, expected in checks:
        if actual != expected:
            problems.append(f"{name}: pump has {actual}, model expects {expected}")
    bad_checks = [r.seq for r in therapy_log + alarm_log if not r.check_ok]
    if bad_checks:
        problems.append(f"log records failing their check: {bad_checks}")
    return problems


OperationFactory = Callable[[random.Random], Operation]
