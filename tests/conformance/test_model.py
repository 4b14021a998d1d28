"""Model-based: random clinician sessions against the device, checked against a reference model.

The model is the therapy a clinician believes in: prescription version, mode, daily dose, rate
= dose / concentration, and a reservoir estimate = filled volume - rate x time, to within one
stroke.  Hypothesis chooses refills, programs, stops, resumes and (with a bench) the passing of
time, then shrinks any disagreement to the shortest session that shows it.

Bounded for CI: CONFORMANCE_MODEL_EXAMPLES (default 4) sessions of at most
CONFORMANCE_MODEL_STEPS (default 8) steps; raise both for a long run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from protocol import MsgType, TherapyMode

from .client import SuiteClient
from .messages import DAY, ML, continuous, fill, program, quiesce
from .target import PumpUnderTest

EXAMPLES = int(os.environ.get("CONFORMANCE_MODEL_EXAMPLES", "4"))
STEPS = int(os.environ.get("CONFORMANCE_MODEL_STEPS", "8"))
FILL_ML = 20
#: One stroke of the reference pump (250 nL); the estimate may differ from the model by it.
STROKE_TOLERANCE_NL = int(os.environ.get("CONFORMANCE_STROKE_NL", "250"))


@dataclass
class TherapyModel:
    version: int = 0
    running: bool = True
    dose_ng: int = 0
    conc: int = 500
    delivered_nl_per_day_s: int = 0  # integral of rate over time, in nL x s / day
    filled_nl: int = FILL_ML * ML

    @property
    def rate_nl_per_day(self) -> int:
        return self.dose_ng * 1000 // self.conc

    @property
    def reservoir_nl(self) -> int:
        return self.filled_nl - self.delivered_nl_per_day_s // DAY


class ClinicSessions(RuleBasedStateMachine):
    pump: PumpUnderTest
    client: SuiteClient

    def __init__(self) -> None:
        super().__init__()
        self.model = TherapyModel()

    @initialize()
    def start_from_a_known_therapy(self) -> None:
        c = self.client
        quiesce(c, self.pump.bench)
        fill(c, FILL_ML, 500, withdrawn_nl=c.ok(MsgType.STATUS)["reservoir_nl"])
        self.model = TherapyModel(version=program(c, continuous(200)), dose_ng=200_000)

    @rule(conc=st.sampled_from([500, 1000, 2000]))
    def refill(self, conc: int) -> None:
        withdrawn = self.client.ok(MsgType.STATUS)["reservoir_nl"]
        reply = fill(self.client, FILL_ML, conc, withdrawn_nl=withdrawn)
        assert reply["expected_nl"] == withdrawn and reply["reservoir_nl"] == FILL_ML * ML
        self.model.conc, self.model.filled_nl, self.model.delivered_nl_per_day_s = (
            conc,
            FILL_ML * ML,
            0,
        )

    @precondition(lambda self: self.model.running)
    @rule(mcg_per_day=st.integers(100, 800))
    def program_continuous(self, mcg_per_day: int) -> None:
        version = program(self.client, continuous(mcg_per_day))
        assert version > self.model.version
        self.model.version, self.model.dose_ng = version, mcg_per_day * 1000

    @precondition(lambda self: self.model.running)
    @rule()
    def stop(self) -> None:
        self.client.ok(MsgType.STOP)
        self.model.running = False

    @precondition(lambda self: not self.model.running)
    @rule()
    def resume(self) -> None:
        self.client.ok(MsgType.RESUME)
        self.model.running = True

    @precondition(lambda self: self.pump.bench is not None)
    @rule(hours=st.integers(1, 24))
    def time_passes(self, hours: int) -> None:
        assert self.pump.bench is not None
        self.pump.bench.advance(hours * 3600)
        if self.model.running:
            self.model.delivered_nl_per_day_s += self.model.rate_nl_per_day * hours * 3600

    @invariant()
    def device_agrees_with_the_model(self) -> None:
        status = self.client.ok(MsgType.STATUS)
        m = self.model
        assert status["prescription_version"] >= m.version
        assert status["concentration_mcg_per_ml"] == m.conc
        if m.running:
            assert status["mode"] == TherapyMode.CONTINUOUS
            assert status["daily_dose_ng"] == m.dose_ng
            assert status["rate_nl_per_day"] == m.rate_nl_per_day
        else:
            assert status["mode"] == TherapyMode.STOPPED
        assert abs(status["reservoir_nl"] - m.reservoir_nl) <= STROKE_TOLERANCE_NL, (
            f"estimate {status['reservoir_nl']} nL, model {m.reservoir_nl} nL"
        )


@pytest.mark.timeout(120)
def test_random_clinician_sessions_match_the_therapy_model(pump: PumpUnderTest) -> None:
    with pump.session() as client:
        ClinicSessions.pump, ClinicSessions.client = pump, client
        run_state_machine_as_test(
            ClinicSessions,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            ),
        )
