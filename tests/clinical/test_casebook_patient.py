"""Casebook: the patient at the catheter tip of a served pump (issue 14).

A whole visit through the public commands: `vpump serve --patient spinal_adult`, `pumpctl` for
the clinic, `vpump ctl patient` for what the patient shows.  The figures are worked out by hand
from the spinal adult's profile (patient/profiles/spinal_adult.toml, docs/PATIENT.md):

    CSF half-life 1.5 h      k   = ln 2 / 1.5 = 0.4621 /h
    clearance CL 30 mL/h     V   = CL / k     = 64.9 mL
    effect-site half-life 6 h  ke0 = k / 4    = 0.1155 /h
    lumbar : cisternal 4 : 1, EC50 0.11 mcg/mL, Hill 2, baseline Ashworth 3.0, reduction 2.5,
    baseline spasms 6 /h, withdrawal threshold 0.5 x EC50 = 0.055 mcg/mL, early signs 6 h
    after the effect site falls below it, moderate 12 h after the early, recovery 4 h/h.

Case 1 - steady state.  20 mL of 2000 mcg/mL, 500 mcg/day: u = 500 / 24 = 20.83 mcg/h.
After 14 days (224 CSF half-lives, 56 effect-site ones) every compartment is at steady state:

    lumbar      Css = u / CL = 20.83 / 30 = 0.6944 mcg/mL
    cisternal         Css / 4             = 0.1736 mcg/mL
    effect site       Css                 = 0.6944 mcg/mL
    E = Ce^2 / (EC50^2 + Ce^2) = 0.48225 / (0.0121 + 0.48225) = 0.9755
    Ashworth = 3.0 - 2.5 x 0.9755 = 0.561;  spasms = 6 x (1 - 0.9755) = 0.147 /h

(the pump delivers in 250 nL strokes with a little stroke noise: within 1 %).  The patient has
been at or above the threshold far longer than 72 h: dependent.

Case 2 - the pump stopped for 48 h.  The catheter keeps its drug, nothing leaves the tip; from
Cl = Ce = Css the effect site decays as

    Ce(t) = Css (k e^(-ke0 t) - ke0 e^(-k t)) / (k - ke0) = Css (4/3 e^(-ke0 t) - 1/3 e^(-k t))

and crosses 0.055 when e^(-ke0 t) = 0.055 x 3 / (4 x 0.6944) = 0.0594 (the e^(-k t) term is
1e-5 by then): t = ln(16.83) / 0.1155 = 24.44 h.  Early signs 6 h later, at 30.44 h; moderate
12 h after that, at 42.44 h.  At 48 h: moderate, 17.56 h of withdrawal signs.

Case 3 - resumed at 48 h.  The deficit clock reads 48 - 24.44 = 23.56 h.  The full catheter
delivers at once; the effect site climbs as Css (1 - 4/3 e^(-ke0 t) + 1/3 e^(-k t)) plus what
is left of Ce (Css x 4/3 e^(-ke0 48) = 0.0036 mcg/mL, decaying) and reaches 0.055 (7.92 % of
Css) 2.02 h after the restart (at 2.00 h the sum is 7.82 %, at 2.02 h 7.94 %).  Until then the
patient is still below the threshold and the clock still runs forward: 23.56 + 2.02 = 25.58 h.
From then it runs back 4 h per hour: moderate ends when it reads 18 h, (25.58 - 18) / 4 =
1.9 h later (3.9 h after the restart); the early signs end when it reads 6 h, (25.58 - 6) / 4
= 4.9 h after the crossing: 6.9 h after the restart (docs/PATIENT.md: "a restart at 48 h clears
them within 7 h"), and the signs lasted 17.56 + 6.9 = 24.5 h in all.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.integration.harness import served_pump, xdg_env
from tests.patient.test_served_patient import ctl_json, on_therapy, pumpctl_ok

pytestmark = pytest.mark.timeout(120)

H = 3_600
K = math.log(2) / 1.5
KE0 = K / 4
CSS = 500 / 24 / 30
THRESHOLD = 0.5 * 0.11


def _crossing_after_stop_h() -> float:
    """Case 2 by hand: when Ce falls to the threshold (the e^(-k t) term neglected)."""
    return math.log(CSS * 4 / 3 / THRESHOLD) / KE0


def test_a_spinal_adult_at_steady_state_then_a_48_h_stop_then_recovery(tmp_path: Path) -> None:
    env = xdg_env(tmp_path)
    with served_pump(tmp_path, env, extra=("--patient", "spinal_adult")) as pump:
        on_therapy(pump)  # case 1
        steady = ctl_json(pump, "patient")
        assert steady["lumbar_csf_mcg_per_ml"] == pytest.approx(0.6944, rel=0.01)
        assert steady["cisternal_csf_mcg_per_ml"] == pytest.approx(0.1736, rel=0.01)
        assert steady["effect_site_mcg_per_ml"] == pytest.approx(0.6944, rel=0.01)
        assert steady["ashworth_points"] == pytest.approx(0.561, abs=0.01)
        assert steady["spasms_per_h"] == pytest.approx(0.147, abs=0.01)
        assert steady["dependent"] and steady["withdrawal_stage"] == "none"

        pumpctl_ok(pump, "stop")  # case 2
        stopped_at = pump.now()
        assert _crossing_after_stop_h() == pytest.approx(24.44, abs=0.01)
        pump.advance("48h")
        stopped = ctl_json(pump, "patient")
        assert stopped["withdrawal_stage"] == "moderate"
        signs_h = (stopped["withdrawal_signs_since"] - stopped_at) / H
        moderate_h = (stopped["withdrawal_stage_since"] - stopped_at) / H
        assert signs_h == pytest.approx(30.44, abs=0.1)
        assert moderate_h == pytest.approx(42.44, abs=0.1)
        assert stopped["withdrawal_signs_total_h"] == pytest.approx(17.56, abs=0.1)

        pumpctl_ok(pump, "resume")  # case 3
        resumed_at = pump.now()
        pump.advance("12h")
        after = ctl_json(pump, "patient")
        assert after["withdrawal_stage"] == "none"
        cleared_h = (after["withdrawal_stage_since"] - resumed_at) / H
        assert cleared_h == pytest.approx(6.9, abs=0.1)
        assert after["withdrawal_signs_total_h"] == pytest.approx(24.5, abs=0.1)
