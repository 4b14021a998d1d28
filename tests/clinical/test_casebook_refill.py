"""Casebook: refills as a clinic does them, with `pumpctl refill` (issue 11, items 3 and 4).

The refill is two-phase: the pump stages it and computes every figure of the Finish view
(expected volume, discrepancy against its own threshold, the rate for the same dose, the day
totals, the low-reservoir and refill dates, and the bridge bolus a concentration change needs),
then the refill and its bridge are committed together.  The programmer computes nothing.

Each visit: a virtual pump on the loopback line (both profiles), a first fill and a program set
through the client, time passing, then ``pumpctl --yes --json refill ...``; the JSON document's
``finish`` is the Finish view the clinician confirmed.

Common figures: stroke 250 nL; tubing 0.140 mL; catheter 0.0026 mL/cm, so a 60 cm catheter
holds 0.156 mL and tubing + catheter V = 0.296 mL = 296,000 nL; low-reservoir level 2 mL;
discrepancy threshold 1 mL on vp20, 2 mL on vp40.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hw_sim.link.loopback import Loopback
from programmer import KeyStore, PumpClient, cli_support, therapy
from programmer.cli import run
from programmer.transport import open_transport
from protocol.enums import LogEvent, LogId
from protocol.units import DAY_S

pytestmark = pytest.mark.timeout(120)

URL = "loopback://clinic"
FRIDAY = 1_767_312_000  # 2026-01-02T00:00:00Z, a Friday
PROFILES = ["vp20", "vp40"]


class Visit:
    """A pump on the loopback line, a paired programmer, and ``pumpctl`` pointed at it."""

    def __init__(
        self,
        loop: Loopback,
        client: PumpClient,
        keys: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        self.loop, self.client, self.keys, self._capsys = loop, client, keys, capsys

    @property
    def firmware(self) -> Any:
        return self.loop.bench.board.firmware

    def program(self, change: therapy.TherapyChange) -> None:
        staged = self.client.stage(change)
        self.client.commit(staged, staged.warnings)

    def days(self, n: float) -> None:
        self.loop.advance(n * DAY_S)

    def pumpctl(self, *args: str) -> tuple[int, dict[str, Any], str]:
        self._capsys.readouterr()
        base = ["--port", URL, "--keystore", str(self.keys), "--timeout", "0.5"]
        code = run([*base, "--yes", "--json", *args])
        out, err = self._capsys.readouterr()
        return code, json.loads(out), err

    def pumpctl_text(self, *args: str) -> str:
        """The text a terminal shows (``--yes``, no JSON)."""
        self._capsys.readouterr()
        base = ["--port", URL, "--keystore", str(self.keys), "--timeout", "0.5"]
        code = run([*base, "--yes", *args])
        out, err = self._capsys.readouterr()
        assert code == 0, err
        return out

    def refill(self, withdrawn: str, added: str, conc: str, *extra: str) -> dict[str, Any]:
        code, doc, err = self.pumpctl(
            "refill", "--withdrawn", withdrawn, "--added", added, "--concentration", conc, *extra
        )
        assert code == 0, (doc, err)
        return doc

    def therapy_events(self) -> list[tuple[int, int, int]]:
        fw = self.firmware
        info = fw.log_info(LogId.THERAPY)
        return [(r.event, r.a, r.b) for r in fw.log_read(LogId.THERAPY, info.first_seq, 10_000)]


@pytest.fixture
def visit_factory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Callable[..., Visit]]:
    clients: list[PumpClient] = []

    def make(name: str, start_time: int = FRIDAY) -> Visit:
        loop = Loopback.fresh(
            name, serial_number="VP20-000311", start_time=start_time, auto_accept_pairing=True
        )
        loop.bench.set_wand(True)

        def opener(url: str, *args: Any, **kwargs: Any) -> Any:
            return loop.transport() if url == URL else open_transport(url, *args, **kwargs)

        monkeypatch.setattr(cli_support, "open_transport", opener)
        keys = tmp_path / f"keys-{name}.json"
        client = PumpClient(loop.transport(), KeyStore(keys), timeout_s=0.5)
        client.pair()
        clients.append(client)
        return Visit(loop, client, keys, capsys)

    yield make
    for client in clients:
        client.close()


def _marked(view_text: str, label: str) -> bool:
    """True if the Finish view's row ``label`` is marked as changing (``*``)."""
    for line in view_text.splitlines():
        if line[2:].startswith(label + " "):
            return line.startswith("* ")
    raise AssertionError(f"no row {label!r}")


@pytest.mark.parametrize("name", PROFILES)
def test_a_refill_without_a_concentration_change_shows_the_pumps_figures(
    name: str, visit_factory: Callable[..., Visit]
) -> None:
    """20 mL of 2000 mcg/mL at 500 mcg/day = 500 / 2000 = 0.25 mL/day.  After 30 days the pump
    has drawn 30 x 0.25 = 7.5 mL (30,000 strokes): it expects 12.5 mL back.  The nurse
    withdraws 12.4 mL (discrepancy -0.1 mL, within the 1 / 2 mL threshold) and adds 20 mL of
    the same 2000 mcg/mL.  Same drug: no bridge, the rate stays 0.25 mL/day, and the
    low-reservoir alarm is (20 - 2) / 0.25 = 72 days away (the pump's own prediction)."""
    v = visit_factory(name)
    v.client.refill(0, 20_000_000, 2000)
    v.program(therapy.continuous(500_000))
    v.days(30)
    doc = v.refill("12.4mL", "20mL", "2000mcg/mL")
    new = doc["finish"]["new"]
    assert new["expected_withdrawal_ml"] == 12.5
    assert new["discrepancy_ml"] == -0.1
    assert new["discrepancy_warning"] is False
    assert new["rate_ml_per_day"] == 0.25
    assert new["days_to_low_reservoir"] == 72.0
    assert new["bridge"] is None and new["bridge_skipped"] is False
    assert doc["finish"]["warnings"] == []
    assert doc["bridge_started"] is False
    assert v.firmware.status(v.loop.bench.now).reservoir_nl == 20_000_000


@pytest.mark.parametrize("name", PROFILES)
def test_2000_to_500_mcg_per_ml_commits_the_refill_and_its_bridge_together(
    name: str, visit_factory: Callable[..., Visit]
) -> None:
    """On 500 mcg/day at 2000 mcg/mL (0.25 mL/day), 30 days after a 20 mL fill (12.5 mL
    left), the clinic refills 20 mL of 500 mcg/mL for a 60 cm catheter.

    Bridge, by hand: V = 0.140 + 60 x 0.0026 = 0.296 mL of the old 2000 mcg/mL drug =
    0.296 x 2000 = 592 mcg.  To keep 500 mcg/day it flows at 500 / 2000 = 0.25 mL/day =
    250,000 nL/day, for ceil(296,000 x 86,400 / 250,000) = ceil(102,297.6) = 102,298 s
    (1 d 4 h 24 min 58 s).  Then 500 / 500 = 1 mL/day.
    Low reservoir: 18 mL to draw; the bridge takes 0.296 mL, the other 17.704 mL at 1 mL/day
    take 17.704 days = 1,529,625.6 s: 102,298 + 1,529,626 = 1,631,924 s = 18.888 days -> 18.89.
    Without the bridge the old drug would run at 1 mL/day: 592 mcg in 0.296 day (7.1 h), four
    times the dose.  One Finish view shows both; the commit starts the bridge at once, and its
    audit record says bridge_programmed."""
    v = visit_factory(name)
    v.client.refill(0, 20_000_000, 2000)
    v.program(therapy.continuous(500_000))
    v.days(30)
    doc = v.refill("12.5mL", "20mL", "500mcg/mL", "--catheter-length", "60cm")
    finish = doc["finish"]
    assert finish["action"] == "refill 2000 -> 500 mcg/mL with its bridge bolus"
    new = finish["new"]
    assert new["bridge"] == {
        "from_concentration_mcg_per_ml": 2000,
        "volume_ml": 0.296,
        "dose_mcg": 592.0,
        "rate_ml_per_day": 0.25,
        "duration_s": 102_298,
        "end_time": "2026-02-02T04:24:58Z",
    }
    assert new["rate_ml_per_day"] == 1.0
    assert new["daily_dose_mcg"] == 500.0
    assert new["days_to_low_reservoir"] == 18.89
    assert new["catheter_cm"] == 60.0
    assert doc["bridge_started"] is True
    assert doc["bridge_end_time"] == "2026-02-02T04:24:58Z"
    status = v.firmware.status(v.loop.bench.now)
    assert status.bolus is not None and status.bolus.dose_ng == 592_000
    assert status.concentration_mcg_per_ml == 500
    assert status.catheter_length_mm == 600
    events = [e for e, _a, _b in v.therapy_events()]
    assert events[-3:] == [LogEvent.REFILL, LogEvent.CATHETER_SET, LogEvent.BOLUS_STARTED]
    _code, audit, _err = v.pumpctl("log", "audit")
    writes = [r["decoded"] for r in audit["records"] if r["event"] == "write_accepted"]
    assert writes[-1]["choice"] == "bridge_programmed"
    # the bridge ends, and the programmed 500 mcg/day runs at the new concentration
    v.loop.advance(102_298 + 1)
    after = v.firmware.status(v.loop.bench.now)
    assert after.bolus is None and after.rate_nl_per_day == 1_000_000


@pytest.mark.parametrize("name", PROFILES)
def test_500_to_2000_mcg_per_ml_bridges_at_the_old_rate_with_the_known_catheter(
    name: str, visit_factory: Callable[..., Visit]
) -> None:
    """The catheter (60 cm) was given at the first fill and the pump keeps it: the refill names
    none.  500 mcg/day at 500 mcg/mL = 1 mL/day; after 10 days 10 mL are left.  Refill 20 mL of
    2000 mcg/mL.

    Bridge: 0.296 mL of 500 mcg/mL = 148 mcg, at 500 / 500 = 1 mL/day for
    ceil(296,000 x 86,400 / 1,000,000) = ceil(25,574.4) = 25,575 s (7 h 6 min 15 s); then
    500 / 2000 = 0.25 mL/day.  Low reservoir: 0.296 mL in 25,575 s, then 17.704 mL at
    0.25 mL/day = 70.816 days = 6,118,502.4 s: 6,144,077 s = 71.112 days -> 71.11.  Without the
    bridge the old drug would be pushed at 0.25 mL/day: a quarter of the dose for 1.18 days."""
    v = visit_factory(name)
    first = v.client.stage_refill(0, 20_000_000, 500, catheter_length_mm=600)
    v.client.commit_refill(first)
    v.program(therapy.continuous(500_000))
    v.days(10)
    doc = v.refill("10mL", "20mL", "2000mcg/mL")
    new = doc["finish"]["new"]
    assert new["bridge"]["volume_ml"] == 0.296
    assert new["bridge"]["dose_mcg"] == 148.0
    assert new["bridge"]["rate_ml_per_day"] == 1.0
    assert new["bridge"]["duration_s"] == 25_575
    assert new["rate_ml_per_day"] == 0.25
    assert new["days_to_low_reservoir"] == 71.11
    assert doc["finish"]["current"]["catheter_cm"] == 60.0


@pytest.mark.parametrize("name", PROFILES)
def test_skipping_the_bridge_is_an_explicit_choice_the_pump_logs(
    name: str, visit_factory: Callable[..., Visit]
) -> None:
    """The same 2000 -> 500 mcg/mL refill as above with ``--no-bridge``: the Finish view warns
    that the tubing and catheter still hold 2000 mcg/mL, the pump starts no bolus, and its
    therapy log says BRIDGE_SKIPPED (a = 1, the clinician's choice; b = 2000 mcg/mL), as does
    the audit record of the COMMIT_REFILL (choice bridge_skipped).  The
    low-reservoir alarm is then (20 - 2) / 1 = 18 days away."""
    v = visit_factory(name)
    v.client.refill(0, 20_000_000, 2000)
    v.program(therapy.continuous(500_000))
    v.days(30)
    doc = v.refill("12.5mL", "20mL", "500mcg/mL", "--catheter-length", "60cm", "--no-bridge")
    finish = doc["finish"]
    assert finish["action"] == "refill 2000 -> 500 mcg/mL WITHOUT a bridge bolus"
    assert any("bridge is skipped" in w for w in finish["warnings"])
    assert finish["new"]["days_to_low_reservoir"] == 18.0
    assert doc["bridge_skipped"] is True and doc["bridge_started"] is False
    assert v.firmware.status(v.loop.bench.now).bolus is None
    assert v.therapy_events()[-1] == (LogEvent.BRIDGE_SKIPPED, 1, 2000)
    code, log, _err = v.pumpctl("log", "therapy")
    assert code == 0
    last = log["records"][-1]
    assert last["event"] == "bridge_skipped"
    assert last["decoded"] == {"skipped_by": "clinician", "old_concentration_mcg_per_ml": 2000}
    code, audit, _err = v.pumpctl("log", "audit")
    writes = [r["decoded"] for r in audit["records"] if r["event"] == "write_accepted"]
    assert (writes[-1]["message"], writes[-1]["choice"]) == ("commit_refill", "bridge_skipped")


@pytest.mark.parametrize(
    ("name", "withdrawn", "warns"),
    [
        ("vp20", "11mL", True),  # 1.5 mL off: above vp20's 1 mL
        ("vp40", "11mL", False),  # 1.5 mL off: within vp40's 2 mL
        ("vp20", "11.5mL", False),  # exactly 1 mL off: not above the threshold
        ("vp40", "10.4mL", True),  # 2.1 mL off: above vp40's 2 mL
    ],
)
def test_the_discrepancy_warning_uses_the_pumps_threshold(
    name: str, withdrawn: str, warns: bool, visit_factory: Callable[..., Visit]
) -> None:
    """The pump expects 12.5 mL back (as above).  A difference above the profile's
    ``refill_discrepancy_warn_nl`` may be a pocket fill: 1 mL on the 20 mL pump, 2 mL on the
    40 mL one (the old programmer used 1 mL for both).  11 mL is 1.5 mL off: a warning on vp20
    only; 11.5 mL is exactly 1 mL off (not above); 10.4 mL is 2.1 mL off, above 2 mL."""
    v = visit_factory(name)
    v.client.refill(0, 20_000_000, 2000)
    v.program(therapy.continuous(500_000))
    v.days(30)
    doc = v.refill(withdrawn, "20mL", "2000mcg/mL")
    new = doc["finish"]["new"]
    assert new["discrepancy_limit_ml"] == (1.0 if name == "vp20" else 2.0)
    assert new["discrepancy_warning"] is warns
    assert any("pocket fill" in w for w in doc["finish"]["warnings"]) is warns
    assert doc["discrepancy_warning"] is warns


@pytest.mark.parametrize("name", PROFILES)
def test_a_refill_after_running_empty_predicts_from_the_program_not_the_safe_rate(
    name: str, visit_factory: Callable[..., Visit]
) -> None:
    """2 mL of 2000 mcg/mL at 500 mcg/day (0.25 mL/day) last 8 days; on day 9 the pump is
    empty and runs at the safe 0.048 mL/day.  The refill of 20 mL of 2000 mcg/mL ends that:
    the pump predicts from the programmed 0.25 mL/day, (20 - 2) / 0.25 = 72 days (72,000
    strokes of 250 nL at 250,000 nL/day, exactly 72.00 days).  The old view divided by the
    safe rate in force: 18 / 0.048 = 375 days.  The current column shows that safe rate."""
    v = visit_factory(name)
    v.client.refill(0, 2_000_000, 2000)
    v.program(therapy.continuous(500_000))
    v.days(9)
    assert int(v.client.status()["rate_nl_per_day"]) == 48_000
    doc = v.refill("0mL", "20mL", "2000mcg/mL")
    finish = doc["finish"]
    assert finish["current"]["rate_ml_per_day"] == 0.048
    assert finish["new"]["rate_ml_per_day"] == 0.25
    assert finish["new"]["days_to_low_reservoir"] == 72.0
    assert finish["new"]["expected_withdrawal_ml"] == 0.0
    status = v.client.status()
    assert int(status["rate_nl_per_day"]) == 250_000


@pytest.mark.parametrize("name", PROFILES)
def test_a_weekend_refill_of_a_flex_program_shows_the_day_totals(
    name: str, visit_factory: Callable[..., Visit]
) -> None:
    """Flex: 400 mcg/day Monday to Friday, 300 mcg/day at the weekend, 20 mL of 2000 mcg/mL
    (0.2 and 0.15 mL/day).  Filled on Friday, refilled on Saturday 00:00 (0.2 mL drawn, 19.8 mL
    expected back) with 20 mL of the same drug.

    Low reservoir, from Saturday: 18 mL at a week of 5 x 0.2 + 2 x 0.15 = 1.3 mL: 13 weeks =
    16.9 mL (91 days, to a Saturday), then Sat, Sun 0.3 -> 17.2, Mon to Thu 4 x 0.2 -> 18.0 at
    the end of Thursday: 91 + 6 = 97 days.  The old view used Saturday's step (0.15 mL/day) as
    if it ran every day: 18 / 0.15 = 120 days.  The day totals are the program's, unchanged by
    a refill (no row marked as changing): the weekend's 300 is not an increase or a decrease."""
    v = visit_factory(name)
    v.client.refill(0, 20_000_000, 2000)
    current = therapy.flex([therapy.FlexStep(0, 400_000)], therapy.parse_weekdays(None), None)
    v.program(therapy.flex([therapy.FlexStep(0, 300_000)], [5, 6], current))
    v.days(1)
    doc = v.refill("19.8mL", "20mL", "2000mcg/mL")
    finish = doc["finish"]
    new = finish["new"]
    week = {"mon": 400.0, "tue": 400.0, "wed": 400.0, "thu": 400.0, "fri": 400.0}
    assert new["day_doses_mcg"] == {**week, "sat": 300.0, "sun": 300.0}
    assert finish["current"]["day_doses_mcg"] == new["day_doses_mcg"]
    assert new["day_volumes_ml"]["sat"] == 0.15 and new["day_volumes_ml"]["mon"] == 0.2
    assert new["daily_dose_mcg"] == 400.0
    assert new["rate_ml_per_day"] == 0.15  # Saturday's step, now
    assert new["days_to_low_reservoir"] == 97.0
    assert new["expected_withdrawal_ml"] == 19.8
    text = v.pumpctl_text(
        "--dry-run",
        "refill",
        "--withdrawn",
        "19.8mL",
        "--added",
        "20mL",
        "--concentration",
        "2000mcg/mL",
    )
    assert not _marked(text, "  sat (mcg/day)") and not _marked(text, "daily dose (mcg/day)")
    assert "sat 0.15" in text and "mon 0.2" in text
