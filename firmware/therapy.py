"""The therapy state machine and the delivery it commands between two wakeups.

Why: the mode of the pump (stopped, continuous, flex, a bolus, safe minimum, halted) decides one
thing: the flow in force right now and when it next changes.  Keeping that decision in one place
(:meth:`TherapyEngine.segment_at`) lets the facade advance time in large exact steps.

Precedence, highest first:

1. halted (motor stall or end of service): no flow;
2. a clinician bolus (single, priming, bridge): replaces basal flow while it runs;
3. stopped (clinician stop, or a Stopped program): no flow;
4. safe minimum (low battery reset, reservoir empty): ``profile.safe_rate_nl_per_day``;
5. the basal program (continuous or flex), plus a patient bolus on top while one runs.

Drug mass: volume drawn x reservoir concentration, except during a bridge bolus, which pushes
the old-concentration drug still in tubing and catheter (old concentration).  Volume drawn while
the estimate is already empty counts as volume, not drug.

Bridge bolus derivation: after a refill changed the concentration from C_old to C_new, the tubing
plus catheter (dead volume V = tubing + length x volume per cm) still hold drug at C_old.  To keep
the patient on the programmed dose D (ng/day) while that drug is pushed out, it must flow at
R_old = D / C_old (nL/day, rounded down), taking V / R_old days.  After that the basal program
continues at D / C_new.  D is the basal dose rate in force when the bridge is committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from firmware.clock import PumpClock
from firmware.delivery import Segment, StrokeAccumulator, TimedBolus
from firmware.prescription import BasalProgram, Flex, Stopped
from firmware.profile import DeviceProfile
from firmware.reservoir import ReservoirEstimate
from firmware.schedule import BasalSchedule, ConstantSchedule, compile_schedule
from firmware.units import DAY_S, ceil_div
from protocol.enums import AlarmId, TherapyMode

#: Far future for "never" in board time comparisons.
NEVER = 2**62


@dataclass(frozen=True, slots=True)
class ActiveBolus:
    mode: TherapyMode  # SINGLE_BOLUS, PRIMING_BOLUS, BRIDGE_BOLUS or PATIENT_BOLUS
    timed: TimedBolus
    dose_ng: int
    concentration_mcg_per_ml: int


@dataclass(slots=True)
class TherapyEngine:
    profile: DeviceProfile
    clock: PumpClock
    reservoir: ReservoirEstimate
    accumulator: StrokeAccumulator
    program: BasalProgram = field(default_factory=Stopped)
    suspended: bool = False  # stopped by the clinician (stop())
    safe_reason: AlarmId | None = None
    stalled: bool = False
    end_of_service: bool = False
    bolus: ActiveBolus | None = None
    patient_bolus: ActiveBolus | None = None
    strokes_total: int = 0
    delivered_nl: int = 0
    delivered_pg: int = 0
    programmed_amount: int = 0  # nL*s/day programmed since manufacture
    day_delivered_pg: int = 0
    day_programmed_amount: int = 0
    _schedule: BasalSchedule = field(default_factory=lambda: ConstantSchedule(0))

    def recompile(self) -> None:
        """Rebuild the basal schedule after a program or concentration change."""
        self._schedule = compile_schedule(self.program, self.reservoir.concentration_mcg_per_ml)

    @property
    def halted(self) -> bool:
        return self.stalled or self.end_of_service

    @property
    def basal_stopped(self) -> bool:
        return self.suspended or isinstance(self.program, Stopped)

    def mode(self) -> TherapyMode:
        if self.halted:
            return TherapyMode.STOPPED
        if self.bolus is not None:
            return self.bolus.mode
        if self.basal_stopped:
            return TherapyMode.STOPPED
        if self.safe_reason is not None:
            return TherapyMode.SAFE_MINIMUM
        if self.patient_bolus is not None:
            return TherapyMode.PATIENT_BOLUS
        return TherapyMode.FLEX if isinstance(self.program, Flex) else TherapyMode.CONTINUOUS

    def basal_rate_at(self, now: int) -> tuple[int, int | None]:
        """Basal flow in force (no bolus): rate nL/day and the board time it changes."""
        # halted or basal_stopped, spelled out: this runs at every wakeup
        if (
            self.stalled
            or self.end_of_service
            or self.suspended
            or isinstance(self.program, Stopped)
        ):
            return 0, None
        if self.safe_reason is not None:
            return self.profile.safe_rate_nl_per_day, None
        rate, end = self._schedule.segment_at(self.clock.local_time(now))
        return rate, (None if end is None else self.clock.board_time_of_local(end))

    def segment_at(self, now: int) -> tuple[Segment, int | None, int]:
        """Flow from ``now``: the segment, its end (board time, None: unbounded) and the
        concentration of the drug it pushes."""
        conc = self.reservoir.concentration_mcg_per_ml
        if self.stalled or self.end_of_service:  # halted
            return Segment(now, 0, None), None, conc
        if self.bolus is not None:
            return (
                Segment(now, 0, self.bolus.timed),
                self.bolus.timed.end,
                self.bolus.concentration_mcg_per_ml,
            )
        rate, end = self.basal_rate_at(now)
        if self.patient_bolus is not None and rate > 0:
            pb_end = self.patient_bolus.timed.end
            end = pb_end if end is None else min(end, pb_end)
            return Segment(now, rate, self.patient_bolus.timed), end, conc
        return Segment(now, rate, None), end, conc

    def advance(self, segment: Segment, start: int, until: int) -> tuple[int, int]:
        """Programmed amount over [start, until] and the strokes it makes due."""
        amount = segment.rate_nl_per_day * (until - start)
        if segment.bolus is not None:
            amount += segment.bolus.cumulative(until) - segment.bolus.cumulative(start)
        self.programmed_amount += amount
        self.day_programmed_amount += amount
        return amount, self.accumulator.add(amount)

    def account_strokes(self, completed: int, conc: int) -> None:
        """Book strokes the motor completed against the estimate and the totals."""
        if completed <= 0:
            return
        volume = completed * self.accumulator.stroke_volume_nl
        covered = self.reservoir.draw(volume)
        self.strokes_total += completed
        self.delivered_nl += volume
        self.delivered_pg += covered * conc
        self.day_delivered_pg += covered * conc

    def strokes_to_reach(self, target_nl: int) -> int:
        """Strokes until the estimate is at or below ``target_nl``."""
        return ceil_div(self.reservoir.estimate_nl - target_nl, self.accumulator.stroke_volume_nl)

    def crossing_time(self, segment: Segment, end: int | None, target_nl: int) -> int | None:
        """Board time in the segment the estimate reaches ``target_nl`` (None: not in it)."""
        estimate = self.reservoir.estimate_nl
        if estimate <= target_nl:
            return None
        accumulator = self.accumulator
        strokes = ceil_div(estimate - target_nl, accumulator.stroke_volume_nl)  # strokes_to_reach
        needed = accumulator.amount_until_strokes(strokes)
        return segment.time_to_reach(needed, NEVER if end is None else end)

    def predict_time_to(self, now: int, target_nl: int) -> int | None:
        """Board time the estimate will reach ``target_nl`` if nothing changes (None: never).

        Follows a running clinician bolus then the basal program (patient boluses not included)."""
        estimate = self.reservoir.estimate_nl
        if estimate <= target_nl:
            return now
        needed = self.accumulator.amount_until_strokes(self.strokes_to_reach(target_nl))
        if self.halted:
            return None
        start = now
        bolus = self.bolus
        if bolus is not None:
            left = bolus.timed.cumulative(bolus.timed.end) - bolus.timed.cumulative(now)
            if needed <= left:
                return Segment(now, 0, bolus.timed).time_to_reach(needed, bolus.timed.end)
            needed -= left
            start = bolus.timed.end
        if self.basal_stopped:
            return None
        if self.safe_reason is not None:
            seconds = ConstantSchedule(self.profile.safe_rate_nl_per_day).time_to_accumulate(
                start, needed
            )
        else:
            seconds = self._schedule.time_to_accumulate(self.clock.local_time(start), needed)
        return None if seconds is None else start + seconds

    @property
    def programmed_total_nl(self) -> int:
        return self.programmed_amount // DAY_S
