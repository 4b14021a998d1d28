"""The catheter tip to the patient: what leaves the catheter becomes the patient's lumbar input.

Why: the board knows, to the picogram, how much drug left the catheter tip and when; the
patient model (``patient/``) needs it as a piecewise-constant mass rate.  Strokes are counted
per firmware wakeup, and the firmware wakes at every schedule boundary, so between two
consecutive wakeups the programmed rate is constant: the drug that left the tip in ``(t0, t1]``
is delivered to the patient as a constant rate over exactly that interval - but for the
interval in which the reservoir runs dry: its strokes are spread evenly and the last ones move
air, so the drug went in the first part only (the motor's share of the batch that was drug), at
the rate, and nothing after; how often the firmware happens to wake does not move that moment.
The board therefore runs the firmware one wakeup at a time while a patient is attached (the
firmware does the same work either way) and calls ``sync`` after each.  Without a patient
nothing changes.

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

import math
from dataclasses import asdict, fields
from typing import Any, NamedTuple

from hw_sim.hardware.catheter import Catheter
from hw_sim.scenarios.timeparse import DAY_S
from patient.model import PatientEvent, VirtualPatient
from patient.parameters import PatientParameters

PG_PER_MCG = 1_000_000
#: Events kept in a saved state (the newest): a served pump's side file stays small enough for
#: the image's reserve slot even after years (the totals and the stage times are kept whole).
SAVED_EVENTS = 64
#: The fields of ``PatientLink.export_state`` (the ``patient`` section of the board state file).
STATE_FIELDS = (
    "name",
    "population_seed",
    "params",
    "attached_at",
    "last_sync",
    "last_pg",
    "next_day",
    "days_closed",
    "day_totals",
    "stage_since",
    "signs_since",
    "events",
    "body",
)


class PatientDay(NamedTuple):
    """One day (24 h from the attachment) of the patient's life, in hours (a tuple: one is
    made every simulated day, at a fifth of a frozen dataclass's cost)."""

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
        #: The population seed the parameters were drawn with (None: the profile as shipped).
        self.population_seed: int | None = None
        #: Days closed before this link was restored (``days`` holds only the later ones).
        self.days_before = 0
        #: Board time of the last withdrawal stage change, and of the first signs of the current
        #: episode (None: no signs now).
        self.stage_since: float | None = None
        self.signs_since: float | None = None

    def sync(self, now: int, flow_share: float = 1.0) -> None:
        """Give the patient the drug that left the catheter tip since the last sync.

        ``flow_share`` < 1: the drug left during only that first share of the interval (the
        reservoir ran dry in it), so the flow stops there instead of being spread over it all.
        """
        last = self.last_sync
        if now < last:
            raise ValueError(f"time cannot go back: {now} < {last}")
        to_patient = self.catheter.to_patient_pg
        mass_pg = to_patient - self._last_pg
        self._last_pg = to_patient
        dt_s = now - last
        if dt_s == 0:
            if mass_pg:
                self.patient.inject_bolus(mass_pg / PG_PER_MCG)
            return
        if flow_share < 1.0 and mass_pg:
            flow_end = min(now, last + max(1, round(dt_s * flow_share)))
            self._feed(last, flow_end, mass_pg / PG_PER_MCG * 3600.0 / (flow_end - last))
            self._feed(flow_end, now, 0.0)
        else:
            self._feed(last, now, mass_pg / PG_PER_MCG * 3600.0 / dt_s)
        self.last_sync = now

    def _feed(self, at: int, until: int, rate_mcg_per_h: float) -> None:
        """A constant input from ``at`` to ``until``, split at day boundaries for the ledger."""
        advance = self.patient.advance  # once per firmware wakeup: no call but the model's
        while self._next_day <= until:
            events = advance(self._next_day - at, rate_mcg_per_h)
            if events:
                self._record(events)
            at = self._next_day
            self._close_day()
        if until > at:
            events = advance(until - at, rate_mcg_per_h)
            if events:
                self._record(events)

    def _record(self, events: list[PatientEvent]) -> None:
        """Keep the events of an interval (board times) and the withdrawal stage's times."""
        for event in events:
            at = self.attached_at + event.time_s
            self.events.append(PatientEvent(at, event.kind, event.value))
            if event.kind == "withdrawal":
                self.stage_since = at
                if event.value == "none":
                    self.signs_since = None
                elif self.signs_since is None:
                    self.signs_since = at

    def _close_day(self) -> None:
        p = self.patient
        therapeutic, withdrawal, overdose = totals = (
            p.therapeutic_total_h,
            p.withdrawal_signs_total_h,
            p.overdose_signs_total_h,
        )
        before = self._day_totals
        self.days.append(
            PatientDay(
                self.days_before + len(self.days),
                therapeutic - before[0],
                withdrawal - before[1],
                overdose - before[2],
            )
        )
        self._day_totals = totals
        self._next_day += DAY_S

    def status(self) -> dict[str, Any]:
        """The patient's truth for ``hw-status`` (board times)."""
        status = asdict(self.patient.status())
        status["time_s"] = self.last_sync
        status["profile"] = self.name
        status["population_seed"] = self.population_seed
        status["attached_at"] = self.attached_at
        status["withdrawal_stage_since"] = self.stage_since
        status["withdrawal_signs_since"] = self.signs_since
        return status

    # -- across ``vpump serve`` restarts (the ``patient`` section of the board state file) -----
    def export_state(self) -> dict[str, Any]:
        """The link and its patient as JSON-ready values (``restore`` inverts it)."""
        return {
            "name": self.name,
            "population_seed": self.population_seed,
            "params": asdict(self.patient.params),
            "attached_at": self.attached_at,
            "last_sync": self.last_sync,
            "last_pg": self._last_pg,
            "next_day": self._next_day,
            "days_closed": self.days_before + len(self.days),
            "day_totals": list(self._day_totals),
            "stage_since": self.stage_since,
            "signs_since": self.signs_since,
            "events": [[e.time_s, e.kind, e.value] for e in self.events[-SAVED_EVENTS:]],
            "body": self.patient.snapshot(),
        }

    @classmethod
    def restore(cls, saved: Any, catheter: Catheter) -> PatientLink:
        """The link an ``export_state`` describes, on ``catheter``; ValueError says what is wrong
        (every field is checked before anything is built)."""
        if not isinstance(saved, dict):
            raise ValueError("patient is not an object")
        if set(saved) != set(STATE_FIELDS):
            missing = sorted(set(STATE_FIELDS) - set(saved))
            extra = sorted(set(saved) - set(STATE_FIELDS))
            raise ValueError(f"patient has missing fields {missing} / unknown fields {extra}")
        if not isinstance(saved["name"], str):
            raise ValueError("patient.name is not a string")
        for key in ("attached_at", "last_sync", "last_pg", "next_day", "days_closed"):
            if not _is_int(saved[key]) or saved[key] < 0:
                raise ValueError(f"patient.{key} is not a non-negative integer")
        seed = saved["population_seed"]
        if seed is not None and not _is_int(seed):
            raise ValueError("patient.population_seed is not an integer or null")
        for key in ("stage_since", "signs_since"):
            if saved[key] is not None and not _is_number(saved[key]):
                raise ValueError(f"patient.{key} is not a number or null")
        totals = saved["day_totals"]
        if not (isinstance(totals, list) and len(totals) == 3 and all(map(_is_number, totals))):
            raise ValueError("patient.day_totals is not three numbers")
        events = saved["events"]
        if not isinstance(events, list) or not all(
            isinstance(e, list)
            and len(e) == 3
            and _is_number(e[0])
            and isinstance(e[1], str)
            and isinstance(e[2], str)
            for e in events
        ):
            raise ValueError("patient.events is not a list of [time, kind, value]")
        params = saved["params"]
        names = [f.name for f in fields(PatientParameters)]
        if not isinstance(params, dict) or set(params) != set(names):
            raise ValueError("patient.params does not hold exactly the model's parameters")
        if not all(_is_number(params[name]) for name in names):
            raise ValueError("patient.params holds a value that is not a finite number")
        if saved["last_sync"] < saved["attached_at"] or saved["last_pg"] > catheter.to_patient_pg:
            raise ValueError("patient.last_sync or last_pg does not fit the board's catheter")
        try:
            body = VirtualPatient.restore(PatientParameters(**params), saved["body"])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"patient: {exc}") from None
        link = cls(body.params, catheter, saved["attached_at"], saved["name"])
        link.patient = body
        link.population_seed = seed
        link.last_sync = saved["last_sync"]
        link._last_pg = saved["last_pg"]
        link._next_day = saved["next_day"]
        link.days_before = saved["days_closed"]
        link._day_totals = (float(totals[0]), float(totals[1]), float(totals[2]))
        link.stage_since = saved["stage_since"]
        link.signs_since = saved["signs_since"]
        link.events = [PatientEvent(float(t), kind, value) for t, kind, value in events]
        return link


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
