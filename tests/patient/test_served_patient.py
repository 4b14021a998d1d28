"""The virtual patient on a served pump: `vpump serve --patient`, `vpump ctl patient|catheter`.

Real processes throughout (tests/integration/harness.py): a lock-step `vpump serve` with a
patient at the catheter tip, `pumpctl` as the clinic, `vpump ctl` as the bench.  The stories:

- the pump stopped for 48 h: withdrawal signs within the documented window (docs/PATIENT.md:
  for the spinal adult on 500 mcg/day the early signs 30.4 h after the stop), the pump resumed:
  the signs clear;
- a complete occlusion injected from the bench: the motor turns, the pump raises no alarm, the
  patient withdraws, the access port returns nothing; after `catheter clear` it returns CSF;
- the patient's state survives a SIGTERM and a SIGKILL restart of `vpump serve`; a restart with
  another `--patient` is refused;
- usage errors exit 2, a pump without a patient says so.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hw_sim.board import board_state
from tests.integration.harness import VPUMP, Result, ServedPump, served_pump, xdg_env

H = 3_600
SPINAL = ("--patient", "spinal_adult")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return xdg_env(tmp_path)


def vpump(*args: str, env: dict[str, str]) -> Result:
    """``vpump ARGS`` as a real process without a terminal."""
    done = subprocess.run(
        [*VPUMP, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return Result(tuple(args), done.returncode, done.stdout, done.stderr)


def ctl(pump: ServedPump, *args: str) -> Result:
    return vpump("ctl", "--control", pump.control, *args, env=pump.env)


def ctl_json(pump: ServedPump, *args: str) -> dict[str, Any]:
    result = ctl(pump, "--json", *args)
    assert result.code == 0, result
    return result.json


def on_therapy(pump: ServedPump, days: str = "14d") -> None:
    """Paired, filled (20 mL of 2000 mcg/mL), 500 mcg/day for ``days``."""
    pump.pair()
    pump.fill_and_program()
    pump.advance(days)


def pumpctl_ok(pump: ServedPump, *args: str) -> dict[str, Any]:
    result = pump.pumpctl("--json", "--yes", *args)
    assert result.code == 0, result
    return result.json


def test_pump_stopped_48_h_gives_withdrawal_in_the_documented_window_and_restart_recovers(
    tmp_path: Path, env: dict[str, str]
) -> None:
    with served_pump(tmp_path, env, extra=SPINAL) as pump:
        on_therapy(pump)
        before = ctl_json(pump, "patient")
        assert before["dependent"] and before["withdrawal_stage"] == "none"
        pumpctl_ok(pump, "stop")
        stopped_at = pump.now()
        pump.advance("48h")
        during = ctl_json(pump, "patient")
        assert during["withdrawal_stage"] in ("early", "moderate")
        signs_after_h = (during["withdrawal_signs_since"] - stopped_at) / H
        assert 6 <= signs_after_h <= 72  # label: hours to a few days; this patient: 30.4 h
        assert during["withdrawal_signs_total_h"] == pytest.approx(48 - signs_after_h, abs=0.01)
        text = ctl(pump, "patient")
        assert text.code == 0 and "withdrawal" in text.out and "since" in text.out, text
        assert "itching" in text.out or "fever" in text.out, text
        pumpctl_ok(pump, "resume")
        pump.advance("24h")
        after = ctl_json(pump, "patient")
        assert after["withdrawal_stage"] == "none" and after["withdrawal_signs_since"] is None
        assert after["withdrawal_stage_since"] > during["withdrawal_stage_since"]
        assert after["withdrawal_stage_since"] - pump.now() < 0


def test_a_complete_occlusion_turns_the_motor_without_an_alarm_and_fails_the_aspiration(
    tmp_path: Path, env: dict[str, str]
) -> None:
    with served_pump(tmp_path, env, extra=SPINAL) as pump:
        on_therapy(pump)
        done = ctl(pump, "catheter", "occlusion")
        assert done.code == 0 and "occluded" in done.out, done
        hw0 = pump.bench("hw-status")
        pump.advance("48h")
        hw1 = pump.bench("hw-status")
        assert hw1["strokes"] > hw0["strokes"]  # the motor turns
        assert hw1["catheter"]["occlusion_ppm"] == 1_000_000
        assert hw1["catheter"]["blocked_nl"] > hw0["catheter"]["blocked_nl"]
        assert hw1["to_patient_nl"] == hw0["to_patient_nl"]  # nothing reaches the CSF
        assert hw1["tones"] == hw0["tones"]  # no alarm tone ...
        assert pumpctl_ok(pump, "status")["alarms"] == []  # ... and none the programmer sees
        assert hw1["patient"]["withdrawal_stage"] != "none"
        human = ctl(pump, "hw-status")
        assert "occluded" in human.out and "withdrawal" in human.out, human
        failed = ctl_json(pump, "catheter", "aspirate", "0.5mL")
        assert failed["returned_ml"] == 0 and not failed["csf_returned"]
        assert "nothing came back" in ctl(pump, "catheter", "aspirate").out
        assert ctl(pump, "catheter", "clear").code == 0
        patent = ctl_json(pump, "catheter", "aspirate", "0.5mL")
        assert patent["csf_returned"] and patent["returned_ml"] == 0.5
        assert patent["drug_mcg"] > 0  # the drug in the catheter came back first
        assert patent["catheter"]["occlusion_ppm"] == 0


def test_the_patient_survives_a_sigterm_and_a_sigkill_restart(
    tmp_path: Path, env: dict[str, str]
) -> None:
    pump = ServedPump(tmp_path, env, extra=SPINAL).start()
    try:
        on_therapy(pump)
        pumpctl_ok(pump, "stop")
        pump.advance("40h")  # early withdrawal signs
        ctl(pump, "catheter", "partial-occlusion", "40")
        kept = ctl_json(pump, "patient")
        assert kept["withdrawal_stage"] == "early" and kept["dependent"]
        assert pump.stop() == 0
        saved = json.loads(board_state.sidecar_path(pump.state).read_text())
        assert saved["patient"]["name"] == "spinal_adult"
        assert saved["catheter"]["occlusion_ppm"] == 400_000

        pump = ServedPump(tmp_path, env).start()  # SIGTERM restart, without --patient
        assert "kept the saved virtual patient spinal_adult" in pump.log()
        assert ctl_json(pump, "patient") == kept
        assert pump.bench("hw-status")["catheter"]["occlusion_ppm"] == 400_000
        pump.advance("2h")
        last = ctl_json(pump, "patient")  # every bench request saves the hardware state
        assert last["withdrawal_stage"] == "early"
        assert last["withdrawal_signs_total_h"] > kept["withdrawal_signs_total_h"]
        pump.kill()  # SIGKILL: no shutdown save

        pump = ServedPump(tmp_path, env, extra=SPINAL).start()  # the same patient asked for
        assert ctl_json(pump, "patient") == last
        assert pump.bench("hw-status")["resets"][-1][1] == "POWER_LOSS"
        assert pump.stop() == 0
    finally:
        pump.kill()
    other = vpump(
        "serve", "--lockstep", "--state", str(pump.state), "--control", str(tmp_path / "c.ctl"),
        "--patient", "child", env=env,
    )  # fmt: skip
    assert other.code == 1 and "PORT" not in other.out, other
    assert "refused" in other.err and "spinal_adult" in other.err and "child" in other.err


def test_usage_errors_exit_2_and_a_pump_without_a_patient_says_so(
    tmp_path: Path, env: dict[str, str]
) -> None:
    nowhere = str(tmp_path / "none.ctl")  # usage errors never reach a bench
    for args, says in (
        (("catheter", "bend"), "bend"),
        (("catheter", "partial-occlusion"), "needs PCT"),
        (("catheter", "partial-occlusion", "100"), "below 100"),
        (("catheter", "partial-occlusion", "half"), "number"),
        (("catheter", "leak", "0"), "above 0"),
        (("catheter", "occlusion", "50"), "takes no argument"),
        (("catheter", "aspirate", "0"), "at least 0.001 mL"),
        (("catheter", "aspirate", "0.1uL"), "at least 0.001 mL"),
        (("catheter", "aspirate", "20mL"), "at most 10"),
        (("catheter", "aspirate", "lots"), "give mL"),
    ):
        result = vpump("ctl", "--control", nowhere, *args, env=env)
        assert result.code == 2 and says in result.err, result
        assert "Traceback" not in result.err
    for args, says in (
        (("--patient", "martian"), "martian"),
        (("--patient-seed", "3"), "--patient-seed needs --patient"),
    ):
        result = vpump("serve", "--lockstep", "--state", str(tmp_path / "x.nvm"), *args, env=env)
        assert result.code == 2 and says in result.err and "PORT" not in result.out, result
    with served_pump(tmp_path, env) as pump:
        result = ctl(pump, "patient")
        assert result.code == 1 and "no patient at the catheter tip" in result.err, result
        assert "none at the catheter tip" in ctl(pump, "hw-status").out
        with pytest.raises(Exception, match="below 100"):
            pump.bench("catheter", action="partial-occlusion", arg="150")


def test_a_saved_pump_without_a_patient_gets_one_and_keeps_its_population_seed(
    tmp_path: Path, env: dict[str, str]
) -> None:
    with served_pump(tmp_path, env) as pump:
        pump.advance("1h")
    with served_pump(tmp_path, env, extra=("--patient", "child", "--patient-seed", "4")) as pump:
        assert "virtual patient child (population seed 4) at the catheter tip" in pump.log()
        attached = ctl_json(pump, "patient")
        assert attached["population_seed"] == 4 and attached["profile"] == "child"
        assert attached["attached_at"] == pump.now()
        assert attached["lumbar_csf_mcg_per_ml"] == 0 and not attached["dependent"]
    unseeded = vpump(
        "serve", "--lockstep", "--state", str(pump.state), "--control", str(tmp_path / "c.ctl"),
        "--patient", "child", env=env,
    )  # fmt: skip
    assert unseeded.code == 1 and "--patient child --patient-seed 4" in unseeded.err, unseeded
