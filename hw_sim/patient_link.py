"""The catheter tip to the patient: what leaves the catheter becomes the patient's lumbar input.

Why: the board knows, to the picogram, how much drug left the catheter tip and when; the
patient model (``patient/``) needs it as a piecewise-constant mass rate.  Strokes are counted
per firmware wakeup, and the firmware wakes at every schedule boundary, so between two
consecutive wakeups the programmed rate is constant: the drug that left the tip in ``(t0, t1]``
is delivered to the patient as a constant rate over exactly that interval.  The board therefore
runs the firmware one wakeup at a time while a patient is attached (the firmware does the same
work either way) and calls ``sync`` after each.  Without a patient nothing changes.

The motor also calls ``sync`` after every batch of strokes, at the batch's time, so a firmware
that catches up by itself (a clinical call with a later ``now`` than the board's last
``run_until``) still feeds the patient batch by batch.  The one case that is then smeared: a
wakeup that delivered nothing (a zero-rate flex step, a bolus ending into a stopped basal)
inside such a catch-up; the mass is conserved, its timing spread over the gap.  Code that drives
the board (``run_until`` first, as every clinical API call should) never hits it.

The firmware never sees any of this, as on the real device: nothing on the wire knows the CSF
concentration.  Patient event times are board times (seconds, the firmware's epoch).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from hw_sim.catheter import Catheter
from hw_sim.timeparse import DAY_S
from patient.model import PatientEvent, VirtualPatient
from patient.parameters import PatientParameters

PG_PER_MCG = 1_000_000


@dataclass(frozen=True, slots=True)
class PatientDay:
    """One day (24 h from the attachment) of the patient's life, in hours."""

    day: int  # 0 = the first 24 h
    therapeutic_h: float
    withdrawal_signs_h: float
    overdose_signs_h: float


class PatientLink:
    """Feeds a ``VirtualPatient`` from a ``Catheter``'s outflow, interval by interval."""

    def __init__(
        self, params: PatientParameters, catheter: Catheter, now: int, name: str = ""
    ) -> None:
        self.name = name
        self.patient = VirtualPatient(params)
        self.catheter = catheter
        self.attached_at = now
        self.last_sync = now
        self._last_pg = catheter.to_patient_pg
        self.events: list[PatientEvent] = []  # board times
        self.days: list[PatientDay] = []  # every completed day
        self._next_day = now + DAY_S
        self._day_totals = (0.0, 0.0, 0.0)

    def sync(self, now: int) -> None:
        """Give the patient the drug that left the catheter tip since the last sync."""
        if now < self.last_sync:
            raise ValueError(f"time cannot go back: {now} < {self.last_sync}")
        mass_pg = self.catheter.to_patient_pg - self._last_pg
        self._last_pg = self.catheter.to_patient_pg
        dt_s = now - self.last_sync
        if dt_s == 0:
            if mass_pg:
                self.patient.inject_bolus(mass_pg / PG_PER_MCG)
            return
        rate_mcg_per_h = mass_pg / PG_PER_MCG * 3600.0 / dt_s
        at = self.last_sync
        while self._next_day <= now:  # split at day boundaries for the daily ledger
            self._advance(self._next_day - at, rate_mcg_per_h)
            at = self._next_day
            self._close_day()
        self._advance(now - at, rate_mcg_per_h)
        self.last_sync = now

    def _advance(self, dt_s: int, rate_mcg_per_h: float) -> None:
        for event in self.patient.advance(dt_s, rate_mcg_per_h):
            self.events.append(
                PatientEvent(self.attached_at + event.time_s, event.kind, event.value)
            )

    def _close_day(self) -> None:
        p = self.patient
        totals = (p.therapeutic_total_h, p.withdrawal_signs_total_h, p.overdose_signs_total_h)
        before = self._day_totals
        self.days.append(
            PatientDay(
                len(self.days), *(now - then for now, then in zip(totals, before, strict=True))
            )
        )
        self._day_totals = totals
        self._next_day += DAY_S

    def status(self) -> dict[str, Any]:
        """The patient's truth for ``hw-status`` (board times)."""
        status = asdict(self.patient.status())
        status["time_s"] = self.last_sync
        status["profile"] = self.name
        return status
