"""Casebook: limits a clinician can act on (issue 11, items 5, 10, 12 and 14).

Visits through the firmware's public API (``VirtualBoard``) and through ``pumpctl`` over the
loopback line, on both profiles (their drug libraries are the same: hard limit 3000 mcg/day, soft
limit 1500 mcg/day, titration +30 % per 24 h, single bolus up to 300 mcg; maximum rate 24 mL/day;
tubing 0.140 mL, catheter 0.0026 mL/cm).  Checked here: a prime into a catheter that already holds
drug needs an acknowledged warning showing the mcg that reach the patient; a bolus on a pump with
no program ends in ``pump_stopped``; one rule for short high-rate periods (flex steps and single
boluses); a patient-bolus configuration checked like a dose increase, with its worst day in the
Finish view; warnings that carry baseline, change in % and limit; the acknowledgement asked on a
terminal; and a write refused while the programmer head is away from the pump.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from firmware.prescription import Flex, FlexStep, PrimingBolus, SingleBolus
from hw_sim.board.board import VirtualBoard
from hw_sim.link.loopback import Loopback
from hw_sim.profiles.loader import load_profile
from programmer import KeyStore, PumpClient, cli_support, therapy
from programmer.cli import run
from programmer.transport import open_transport as real_open_transport
from protocol.catalog import StageWarning
from protocol.enums import AlarmId, TherapyMode
from protocol.errors import ErrorCode, Refusal
from tests.boards import start_therapy

pytestmark = pytest.mark.timeout(60)

PROFILES = ["vp20", "vp40"]
DAY = 86_400
URL = "loopback://limits"


def _alarms(board: VirtualBoard) -> set[AlarmId]:
    return {a.alarm_id for a in board.firmware.status(board.now).alarms}


def _filled(name: str) -> VirtualBoard:
    """A pump at implant: powered on, 20 mL of 2000 mcg/mL, never programmed."""
    board = VirtualBoard(load_profile(name), 5)
    board.power_on()
    board.inject(20_000_000, 2000, board.now)
    board.firmware.refill(0, 20_000_000, 2000, board.now)
    return board


# -- item 5: priming a full catheter, and what follows any bolus -----------------------------


@pytest.mark.parametrize("name", PROFILES)
def test_a_prime_into_a_catheter_full_of_drug_needs_an_acknowledged_warning(name: str) -> None:
    """Continuous 500 mcg/day of 2000 mcg/mL is running, so the catheter holds drug.  A prime of
    a 60 cm catheter moves 0.140 + 600 mm x 0.0026 mL/cm / 10 = 0.296 mL, all of which now
    reaches the patient: 0.296 mL x 2000 mcg/mL = 592 mcg in 296,000 x 86,400 / 24,000,000 =
    1,065.6 -> 1,066 s.  The stage raises PRIME_INTO_FULL_CATHETER with 592 mcg "to the
    patient"; a commit that does not acknowledge it is refused and says the 592 mcg.  On a pump
    just filled at implant (nothing delivered yet) the same prime only fills the catheter: no
    warning, 0 mcg to the patient."""
    board = start_therapy(VirtualBoard(load_profile(name), 5))
    fw = board.firmware
    staged = fw.stage(PrimingBolus(600), board.now)
    assert staged.warnings == StageWarning.PRIME_INTO_FULL_CATHETER
    assert (staged.bolus_dose_ng, staged.to_patient_ng) == (592_000, 592_000)
    assert staged.bolus_duration_s == 1_066
    with pytest.raises(Refusal) as refused:
        fw.commit(staged.staged_hash, staged.active_version, StageWarning(0), board.now)
    assert refused.value.code is ErrorCode.WARNINGS_NOT_ACKNOWLEDGED
    assert "592 mcg reaches the patient" in refused.value.message
    fw.commit(staged.staged_hash, staged.active_version, staged.warnings, board.now)
    assert fw.status(board.now).mode is TherapyMode.PRIMING_BOLUS

    fresh = _filled(name)
    first = fresh.firmware.stage(PrimingBolus(600), fresh.now)
    assert first.warnings == StageWarning(0)
    assert (first.bolus_dose_ng, first.to_patient_ng) == (592_000, 0)


@pytest.mark.parametrize("name", PROFILES)
def test_a_bolus_on_a_pump_with_no_program_ends_in_pump_stopped(name: str) -> None:
    """At implant: 20 mL of 2000 mcg/mL, then a 60 cm prime (0.296 mL in 1,066 s, no warning:
    the catheter was empty).  While it runs the pump is priming and ``pump_stopped`` is silent;
    when it ends there is no programmed therapy to return to, so the pump is stopped and
    ``pump_stopped`` sounds (it used to stay silent).  A second prime now warns: the catheter
    holds drug, 592 mcg would reach the patient."""
    board = _filled(name)
    fw = board.firmware
    staged = fw.stage(PrimingBolus(600), board.now)
    fw.commit(staged.staged_hash, staged.active_version, staged.warnings, board.now)
    board.run_until(board.now + 60)
    assert fw.status(board.now).mode is TherapyMode.PRIMING_BOLUS
    assert AlarmId.PUMP_STOPPED not in _alarms(board)
    board.run_until(board.now + 1_066)
    assert fw.status(board.now).mode is TherapyMode.STOPPED
    assert AlarmId.PUMP_STOPPED in _alarms(board)
    again = fw.stage(PrimingBolus(600), board.now)
    assert again.warnings == StageWarning.PRIME_INTO_FULL_CATHETER
    assert again.to_patient_ng == 592_000


# -- item 10: one rule for short high-rate periods ---------------------------------------------


def _flex(high_from: int, high_until: int, high_ng: int, base_ng: int = 400_000) -> Flex:
    steps = (
        FlexStep(0, base_ng),
        FlexStep(high_from, high_ng),
        FlexStep(high_until, base_ng),
    )
    return Flex((steps,), (0,) * 7)


@pytest.mark.parametrize("name", PROFILES)
def test_a_short_flex_step_above_the_daily_limit_is_judged_like_a_bolus(name: str) -> None:
    """Every day 400 mcg/day, with 5000 mcg/day from 07:00 to 07:30 (2.5 mL/day at 2000 mcg/mL,
    within the 24 mL/day maximum).  The rate is above the 3000 mcg/day hard limit, but the
    period delivers 5000 x 30 / 1440 = 104.17 mcg, less than one 300 mcg bolus, and the day
    totals (400 x 1410 + 5000 x 30) / 1440 = 495.83 mcg: accepted (it used to be refused
    while a 300 mcg bolus was allowed).  From 07:00 to 09:00 the same rate delivers
    5000 x 120 / 1440 = 416.666 mcg, more than a bolus may: DOSE_ABOVE_HARD_LIMIT, saying so in
    mcg."""
    board = start_therapy(VirtualBoard(load_profile(name), 5))
    fw = board.firmware
    staged = fw.stage(_flex(420, 450, 5_000_000), board.now)
    assert staged.daily_dose_ng == 495_833
    with pytest.raises(Refusal) as refused:
        fw.stage(_flex(420, 540, 5_000_000), board.now)
    assert refused.value.code is ErrorCode.DOSE_ABOVE_HARD_LIMIT
    assert "delivers 416.666 mcg" in refused.value.message
    assert "more than one bolus may (300 mcg)" in refused.value.message


@pytest.mark.parametrize("name", PROFILES)
def test_a_single_bolus_counts_against_the_day_it_is_given_on(name: str) -> None:
    """Continuous 2800 mcg/day (1.4 mL/day at 2000 mcg/mL).  The same rule for a bolus: at most
    300 mcg, and the day (basal + patient boluses, none here, + the bolus) within 3000 mcg/day.
    250 mcg makes 3050 mcg/day: refused (it used to be accepted), the reason in mcg/day;
    200 mcg makes exactly 3000 mcg/day: accepted, the worst day in the stage summary."""
    board = start_therapy(VirtualBoard(load_profile(name), 5), daily_dose_ng=2_800_000)
    fw = board.firmware
    with pytest.raises(Refusal) as refused:
        fw.stage(SingleBolus(250_000, 3600), board.now)
    assert refused.value.code is ErrorCode.DOSE_ABOVE_HARD_LIMIT
    assert "makes 3050 mcg/day, above the hard limit of 3000 mcg/day" in refused.value.message
    staged = fw.stage(SingleBolus(200_000, 3600), board.now)
    assert staged.worst_day_ng == 3_000_000
    assert staged.to_patient_ng == 200_000


# -- pumpctl visits over the loopback line -----------------------------------------------------


@pytest.fixture(params=PROFILES)
def clinic(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Loopback, Path]]:
    """A pump on 500 mcg/day of 2000 mcg/mL (0.25 mL/day) for two days, the programmer head
    over it, a clinician key in ``tmp_path/keys``; ``pumpctl --port loopback://limits``."""
    loop = Loopback.fresh(request.param, serial_number="VP20-000088", auto_accept_pairing=True)
    loop.bench.set_wand(True)
    keys = tmp_path / "keys"
    with PumpClient(loop.transport(), KeyStore(keys), timeout_s=0.5) as client:
        client.pair()
        client.refill(0, 20_000_000, 2000)
        staged = client.stage(therapy.continuous(500_000))
        client.commit(staged, staged.warnings)
    loop.bench.advance_to(loop.bench.now + 2 * DAY)  # the start is out of the titration window

    def open_transport(url: str, *args: Any, **kwargs: Any) -> Any:
        return loop.transport() if url == URL else real_open_transport(url, *args, **kwargs)

    monkeypatch.setattr(cli_support, "open_transport", open_transport)
    yield loop, keys


def _pumpctl(keys: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(["--port", URL, "--keystore", str(keys), "--timeout", "0.5", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_patient_bolus_configuration_is_checked_like_a_dose_increase(
    clinic: tuple[Loopback, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """On 500 mcg/day, 4 patient boluses of 50 mcg a day make a worst day of 500 + 4 x 50 =
    700 mcg/day, against a baseline of 500 (the lowest basal in the last 24 h, no boluses in
    force): +40.0 %, above the +30 % titration limit.  The Finish view shows the pump's worst day
    500 -> 700 mcg/day and the warning with its numbers; without an acknowledgement nothing is
    written (it used to be written, checked only against the 3000 mcg/day hard limit); with
    ``--ack-warnings`` it is."""
    loop, keys = clinic
    args: tuple[str, ...] = ("patient-bolus", "config", "--dose", "50mcg", "--over", "10min")
    args = (*args, "--max-per-day", "4", "--lockout", "3h")
    code, out, _ = _pumpctl(keys, capsys, "--json", "--dry-run", *args)
    assert code == 0
    finish = json.loads(out)["finish"]
    assert (finish["current"]["worst_day"], finish["new"]["worst_day"]) == (500.0, 700.0)
    assert finish["new"]["change_vs_baseline_pct"] == 40.0
    assert finish["warnings"] == [
        "worst day (basal + all patient boluses) 700 mcg/day is +40.0 % over the baseline of "
        "500 mcg/day (the lowest in force in the last 24 h): above the titration limit of +30 %"
    ]
    code, out, _ = _pumpctl(keys, capsys, "--json", "--yes", *args)
    assert code == 1 and json.loads(out)["code"] == "WARNINGS_NOT_ACKNOWLEDGED"
    assert not loop.bench.board.firmware.prescription().patient_bolus.enabled
    code, _, _ = _pumpctl(keys, capsys, "--yes", "--ack-warnings", *args)
    assert code == 0
    assert loop.bench.board.firmware.prescription().patient_bolus.dose_ng == 50_000


def test_a_titration_warning_shows_baseline_change_and_limit_and_is_asked_on_a_terminal(
    clinic: tuple[Loopback, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """500 -> 700 mcg/day is +40.0 % over the baseline of 500 mcg/day, above the +30 % limit.
    On a terminal the Finish view shows exactly that and asks "Acknowledge these warnings?":
    answering no writes nothing (exit 2); answering yes, then yes to writing, commits 700 mcg/day
    with no ``--ack-warnings`` to retype.  Without a terminal the flag is still needed."""
    loop, keys = clinic
    monkeypatch.setattr(cli_support, "interactive", lambda: True)
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, out, err = _pumpctl(keys, capsys, "program", "continuous", "--dose", "700mcg/day")
    warning = (
        "WARNING: daily dose 700 mcg/day is +40.0 % over the baseline of 500 mcg/day (the "
        "lowest in force in the last 24 h): above the titration limit of +30 %"
    )
    assert code == 2 and warning in out
    assert "Acknowledge these warnings? [y/N]" in err
    assert loop.bench.board.firmware.prescription().daily_dose_ng == 500_000
    monkeypatch.setattr("sys.stdin", io.StringIO("y\ny\n"))
    code, out, err = _pumpctl(keys, capsys, "program", "continuous", "--dose", "700mcg/day")
    assert code == 0, err
    assert loop.bench.board.firmware.prescription().daily_dose_ng == 700_000
    monkeypatch.setattr(cli_support, "interactive", lambda: False)
    code, _, err = _pumpctl(keys, capsys, "program", "continuous", "--dose", "500mcg/day")
    assert code == 2 and "no terminal" in err  # a decrease: no warning, only the confirmation


def test_a_write_is_refused_while_the_programmer_head_is_away(
    clinic: tuple[Loopback, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The proximity rule (profile ``writes_need_head = true``): the head taken away, the status
    is still read (continuous, 500 mcg/day) but a stop is refused PROGRAMMER_HEAD_AWAY and the
    pump keeps delivering; with the head back over the pump the stop goes through."""
    loop, keys = clinic
    loop.bench.set_wand(False)
    code, out, _ = _pumpctl(keys, capsys, "--json", "status")
    assert code == 0 and json.loads(out)["mode"] == "continuous"
    code, out, _ = _pumpctl(keys, capsys, "--json", "--yes", "stop")
    assert code == 1 and json.loads(out)["code"] == "PROGRAMMER_HEAD_AWAY"
    assert loop.bench.board.firmware.status(loop.bench.now).mode is TherapyMode.CONTINUOUS
    loop.bench.set_wand(True)
    assert _pumpctl(keys, capsys, "--yes", "stop")[0] == 0
    assert loop.bench.board.firmware.status(loop.bench.now).mode is TherapyMode.STOPPED


def test_prime_into_a_full_catheter_through_pumpctl_shows_the_mcg(
    clinic: tuple[Loopback, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The same prime as above (60 cm, 0.296 mL of 2000 mcg/mL) into the catheter the running
    therapy filled: the Finish view shows 592 mcg to the patient and the warning; ``--yes``
    alone is refused (nothing written), ``--ack-warnings`` primes."""
    loop, keys = clinic
    code, out, _ = _pumpctl(keys, capsys, "--json", "--yes", "prime", "--catheter-length", "60cm")
    assert code == 1 and json.loads(out)["code"] == "WARNINGS_NOT_ACKNOWLEDGED"
    code, out, _ = _pumpctl(
        keys, capsys, "--json", "--dry-run", "prime", "--catheter-length", "60cm"
    )
    finish = json.loads(out)["finish"]
    assert finish["new"]["bolus_to_patient_mcg"] == 592.0
    assert finish["warnings"] == [
        "the catheter already holds drug: this prime pushes 592 mcg into the patient; prime "
        "only a new or emptied catheter"
    ]
    code, _, err = _pumpctl(
        keys, capsys, "--yes", "--ack-warnings", "prime", "--catheter-length", "60cm"
    )
    assert code == 0, err
    assert loop.bench.board.firmware.status(loop.bench.now).mode is TherapyMode.PRIMING_BOLUS


def test_pumpctl_shows_the_pumps_short_period_refusal_in_mcg(
    clinic: tuple[Loopback, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The programmer no longer refuses a flex step above the daily hard limit before sending:
    the pump judges the period.  5000 mcg/day from 07:00 to 07:30 (104.17 mcg, within one
    300 mcg bolus) is staged and shown (dry run, day total 495.833 mcg/day); from 07:00 to 09:00
    (416.666 mcg) the pump refuses, and pumpctl shows its reason as the pump words it, in mcg
    and min/h: what was asked against the limit."""
    loop, keys = clinic
    flex = ("program", "flex", "--step", "00:00=400mcg/day", "--step", "07:00=5000mcg/day")
    code, out, _ = _pumpctl(
        keys, capsys, "--json", "--dry-run", *flex, "--step", "07:30=400mcg/day"
    )
    assert code == 0
    assert json.loads(out)["finish"]["new"]["daily_dose_mcg"] == 495.833
    code, out, _ = _pumpctl(keys, capsys, "--json", "--yes", *flex, "--step", "09:00=400mcg/day")
    doc = json.loads(out)
    assert code == 1 and doc["code"] == "DOSE_ABOVE_HARD_LIMIT"
    assert doc["reason"] == (
        "day program 0 from 07:00: 2 h above the daily limit of 3000 mcg/day delivers "
        "416.666 mcg, more than one bolus may (300 mcg)"
    )
    assert loop.bench.board.firmware.prescription().daily_dose_ng == 500_000
