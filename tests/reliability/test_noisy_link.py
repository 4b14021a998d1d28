"""Campaign 1 - a noisy link: every operation ends definitely and takes effect exactly once.

The programmer (``PumpClient``) talks to a real ``vpump serve`` through the seeded noisy relay:
1 % of bytes flipped and 1 % dropped in both directions, plus split and delayed chunks.  A
seeded mix of state-changing operations (program, bolus, refill, alarm configuration) is
carried out; each must end done, refused, or uncertain and then resolved through the journal.
Afterwards, over a clean line, the pump's prescription, alarm settings and logs must equal the
reference model's: one log record per effect, no more, no fewer.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from hw_sim.link.noisy_relay import CLEAN, FaultModel, NoisyRelay
from programmer.keystore import KeyStore

from .clinic_model import (
    ClinicModel,
    OperationFigures,
    Operator,
    log_marks,
    random_operation,
    wrong_effects,
)
from .harness import (
    campaign_seed,
    campaign_size,
    fill_and_program,
    open_client,
    pair,
    report_figures,
    served_pump,
)

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(900)]

CAMPAIGN_FAULTS = FaultModel(
    flip_rate=0.01, drop_rate=0.01, split_rate=0.05, delay_rate=0.01, max_delay_s=0.03
)
BETWEEN_OPERATIONS = "11m"  # long enough for any bolus of the campaign to end


def test_noisy_link_operations_end_definitely_and_take_effect_exactly_once(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    operations = campaign_size("noisy", bounded=12, full=200)
    seed = campaign_seed(2024)
    rng = random.Random(seed)
    keys = KeyStore(tmp_path / "keys.json")
    with served_pump(tmp_path / "pump.nvm", seed=seed) as pump:
        pair(pump, keys)
        with open_client(pump.port, keys) as setup:
            setup.open_session()
            fill_and_program(setup)
        with NoisyRelay(pump.port, CAMPAIGN_FAULTS, seed=seed) as relay:
            client = open_client(relay.path, keys, timeout_s=0.12, retries=8)
            figures = OperationFigures()
            relay.set_faults(CLEAN)
            client.open_session()
            model = ClinicModel.from_pump(client)
            marks = log_marks(client)
            relay.set_faults(CAMPAIGN_FAULTS)
            operator = Operator(client, model, figures)
            outcomes: dict[str, int] = {}
            for _ in range(operations):
                true_volume = int(pump.bench("hw-status")["reservoir_nl"])
                outcome = operator.perform(random_operation(rng, true_volume))
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                pump.bench("advance", duration=BETWEEN_OPERATIONS)
            operator.settle_journal()
            relay.set_faults(CLEAN)
            client.timeout_s = 1.0
            problems = wrong_effects(client, model, marks)
            client.close()
            assert relay.error is None, relay.error
            noise = relay.stats()
    report_figures(
        record_property,
        "noisy_link",
        {
            "operations": figures.operations,
            "done": figures.done,
            "refused": figures.refused,
            "refusals": dict(figures.refusals),
            "uncertain": figures.uncertain,
            "uncertain_resolved_done": figures.uncertain_resolved_done,
            "uncertain_resolved_not_done": figures.uncertain_resolved_not_done,
            "link_errors_retried": figures.link_errors_retried,
            "retries": client.retries_used,
            "unresolved": figures.unresolved,
            "wrong_effects": len(problems),
            "effects": dict(model.effects),
            "bytes_flipped": sum(d.get("flipped", 0) for d in noise.values()),
            "bytes_dropped": sum(d.get("dropped", 0) for d in noise.values()),
            "stale_replies": client.link.counters.stale_replies,
            "seed": seed,
        },
    )
    assert figures.unresolved == 0
    assert problems == []
    assert sum(model.effects.values()) > 0
