"""Refill: the visit staged whole (the refill and its bridge), shown, then committed at once.

Why: a refill is where the pump's estimate meets reality and where a concentration change puts
old drug in the tubing and catheter.  Like a prescription it is two-phase: :meth:`RefillDesk.stage`
validates the request and computes every figure the Finish view shows (expected volume,
discrepancy against the profile's threshold, the rate for the same dose at the new
concentration, the day totals, the low-reservoir and refill dates, and the bridge bolus), and
names the result by a hash over the request *and* the pump state it was computed from;
:meth:`RefillDesk.commit` recomputes it and applies it only if that hash still matches, so the
clinician never confirms one set of numbers while the pump applies another.

The bridge (docs/CLINICAL.md "Refill with a concentration change"): the tubing plus catheter
hold V = tubing + length x volume per cm of drug at the old concentration C_old.  To keep the
patient on the basal dose D (ng/day) in force, that volume is pushed at R = D / C_old (nL/day,
rounded down) for ceil(V x 86,400 / R) s; then the program continues at D / C_new.  The refill
and the bridge are committed together; skipping the bridge is an explicit choice the pump logs
(``BRIDGE_SKIPPED``).  The catheter length comes from the request or from the settings (stored
at implant, at a refill that names it, or at a prime).

Integers only: nL, ng, s, mcg/mL.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import struct
from dataclasses import dataclass

from firmware.clock import PumpClock
from firmware.delivery import TimedBolus
from firmware.eventlog import EventLog
from firmware.prescription import U32_MAX, Continuous, Flex, Stopped, encode_change
from firmware.profile import DeviceProfile
from firmware.reports import RefillResult
from firmware.safety import MAX_CATHETER_LENGTH_MM, catheter_volume_nl
from firmware.schedule import program_daily_dose_ng, program_dose_at
from firmware.status_figures import week_day_totals_ng
from firmware.therapy import ActiveBolus, TherapyEngine
from firmware.timeline import TimeLine
from firmware.units import DAY_S, ceil_div, mass_ng_for_volume, rate_nl_per_day
from firmware.wording import cm, ml, ml_per_day
from protocol.enums import AlarmId, LogEvent, TherapyMode
from protocol.errors import ErrorCode, Refusal

__all__ = [
    "BridgePlan",
    "BridgeSkip",
    "RefillDesk",
    "RefillRequest",
    "StagedRefill",
]


class BridgeSkip(enum.IntEnum):
    """Argument ``a`` of a ``BRIDGE_SKIPPED`` log record: who decided the bridge would not run."""

    CLINICIAN = 1  # the staged refill said so (``pumpctl refill --no-bridge``)
    ONE_SHOT_REFILL = 2  # the one-shot REFILL message, which carries no bridge


@dataclass(frozen=True, slots=True)
class RefillRequest:
    withdrawn_nl: int
    added_nl: int
    concentration_mcg_per_ml: int
    bridge: bool = True  # run the bridge the pump computes when the concentration changes
    catheter_length_mm: int | None = None  # None: the catheter the pump knows


@dataclass(frozen=True, slots=True)
class BridgePlan:
    from_mcg_per_ml: int  # the old concentration still in tubing and catheter
    catheter_length_mm: int
    volume_nl: int  # tubing + catheter
    dose_ng: int  # the old drug that volume holds
    rate_nl_per_day: int  # the basal dose in force at the old concentration
    duration_s: int
    daily_dose_ng: int  # the basal dose it keeps


@dataclass(frozen=True, slots=True)
class StagedRefill:
    """The stage summary: every figure of the refill's Finish view, as the pump computed it."""

    staged_hash: bytes  # 16 bytes: the request and the pump state the figures come from
    active_version: int
    withdrawn_nl: int
    expected_nl: int  # the pump's estimate of what is left
    discrepancy_nl: int  # withdrawn - expected
    discrepancy_limit_nl: int  # the profile's ``refill_discrepancy_warn_nl``
    discrepancy_warning: bool  # |discrepancy| above the limit: rule out a pocket fill
    added_nl: int  # the reservoir after the refill
    concentration_before_mcg_per_ml: int
    concentration_mcg_per_ml: int
    concentration_changed: bool
    daily_dose_ng: int  # the basal program's daily dose (flex: the largest day total)
    day_doses_ng: tuple[int, ...]  # Monday first: the program's day totals (unchanged by a refill)
    day_volumes_nl: tuple[int, ...]  # Monday first: those day totals at the new concentration
    rate_before_nl_per_day: int  # basal flow in force now (the safe rate after running empty)
    rate_nl_per_day: int  # basal flow for the same dose at the new concentration, now
    low_reservoir_time: int | None  # pump time, bridge included
    next_refill_time: int | None
    empty_time: int | None
    catheter_length_mm: int | None  # the catheter the refill uses (None: unknown)
    bridge: BridgePlan | None  # the bridge the commit starts
    bridge_skipped: bool  # the concentration changes and the request skips the bridge
    bridge_end_time: int | None  # pump time the bridge ends


@dataclass(frozen=True, slots=True)
class _Held:
    request: RefillRequest
    summary: StagedRefill


class RefillDesk:
    """The refill's staging slot and the arithmetic behind it, on the pump's own parts."""

    def __init__(
        self,
        profile: DeviceProfile,
        clock: PumpClock,
        time: TimeLine,
        engine: TherapyEngine,
        log: EventLog,
    ) -> None:
        self._profile = profile
        self._clock = clock
        self._time = time
        self._engine = engine
        self._log = log
        self._held: _Held | None = None

    @property
    def staged(self) -> bool:
        return self._held is not None

    def drop(self) -> None:
        self._held = None

    # ------------------------------------------------------------------ the two phases
    def stage(self, request: RefillRequest, now: int) -> StagedRefill:
        """Validate the refill and compute its summary; nothing else changes."""
        self._held = None
        summary = self._summary(request, now)
        self._held = _Held(request, summary)
        return summary

    def commit(self, staged_hash: bytes, active_version: int, now: int) -> RefillResult:
        """Apply the staged refill (and its bridge) if nothing changed since the stage."""
        held = self._held
        if held is None:
            raise Refusal(ErrorCode.NOTHING_STAGED, "no refill is staged: stage one first")
        if staged_hash != held.summary.staged_hash:
            raise Refusal(ErrorCode.HASH_MISMATCH, "the hash does not name the staged refill")
        version = self._time.settings.version
        if active_version != version:
            raise Refusal(
                ErrorCode.STALE_VERSION,
                f"active version is {version}, commit named {active_version}",
            )
        summary = self._summary(held.request, now)
        if summary.staged_hash != held.summary.staged_hash:
            self._held = None
            raise Refusal(
                ErrorCode.HASH_MISMATCH,
                "the pump changed since the refill was staged: stage it again",
            )
        self._held = None
        return self._apply(held.request, summary, now, BridgeSkip.CLINICIAN)

    def refill_now(self, request: RefillRequest, now: int) -> RefillResult:
        """The one-shot refill (no Finish view): stage and apply at once, never a bridge."""
        self._held = None
        request = dataclasses.replace(request, bridge=False)
        summary = self._summary(request, now)
        return self._apply(request, summary, now, BridgeSkip.ONE_SHOT_REFILL)

    # ------------------------------------------------------------------ the arithmetic
    def _check(self, request: RefillRequest) -> None:
        engine, res = self._engine, self._engine.reservoir
        withdrawn, added = request.withdrawn_nl, request.added_nl
        if withdrawn < 0 or added <= 0 or withdrawn > U32_MAX:
            raise Refusal(
                ErrorCode.REFILL_VOLUME_INVALID,
                "the withdrawn volume must be 0 mL or more and the added volume more than 0 mL",
            )
        if added > res.capacity_nl:
            raise Refusal(
                ErrorCode.REFILL_OVER_CAPACITY,
                f"{ml(added)} asked exceeds the reservoir capacity of {ml(res.capacity_nl)}",
            )
        concentrations = self._profile.drug.concentrations_mcg_per_ml
        if request.concentration_mcg_per_ml not in concentrations:
            allowed = ", ".join(str(c) for c in concentrations)
            raise Refusal(
                ErrorCode.CONCENTRATION_NOT_IN_LIBRARY,
                f"{request.concentration_mcg_per_ml} mcg/mL is not in the drug library ({allowed})",
            )
        length = request.catheter_length_mm
        if length is not None and not 0 <= length <= MAX_CATHETER_LENGTH_MM:
            raise Refusal(
                ErrorCode.INVALID_ARGUMENT,
                f"a catheter of {cm(length)} asked; it must be 0 to {cm(MAX_CATHETER_LENGTH_MM)}",
            )
        if engine.end_of_service:
            raise Refusal(ErrorCode.END_OF_SERVICE, "battery end of service: replace the pump")
        if engine.bolus is not None:
            raise Refusal(ErrorCode.BOLUS_IN_PROGRESS, "a bolus is running; wait or stop the pump")

    def _basal_dose_in_force(self, now: int) -> int:
        """The programmed dose the patient is on once the refill is in (0: none runs)."""
        engine = self._engine
        if engine.halted or engine.basal_stopped:
            return 0
        if engine.safe_reason not in (None, AlarmId.RESERVOIR_EMPTY):
            return 0  # a safe state the refill does not end (low battery reset, memory error)
        return program_dose_at(engine.program, self._clock.pump_time(now))

    def _bridge(self, old: int, length: int | None, dose_ng: int, added_nl: int) -> BridgePlan:
        profile = self._profile
        if length is None:
            raise Refusal(
                ErrorCode.CATHETER_UNKNOWN,
                "the pump knows no catheter length: give it with the refill, or skip the bridge",
            )
        if dose_ng <= 0:
            raise Refusal(
                ErrorCode.THERAPY_NOT_RUNNING,
                "a bridge needs a running basal program: skip the bridge and program one later",
            )
        rate = rate_nl_per_day(dose_ng, old)
        if rate > profile.max_rate_nl_per_day:
            raise Refusal(
                ErrorCode.RATE_ABOVE_MAXIMUM,
                f"the bridge needs {ml_per_day(rate)}, above the maximum of "
                f"{ml_per_day(profile.max_rate_nl_per_day)}",
            )
        if rate <= 0:
            raise Refusal(ErrorCode.RATE_BELOW_MINIMUM, "bridge rate rounds to zero")
        volume = catheter_volume_nl(profile, length)
        if volume > added_nl:
            raise Refusal(
                ErrorCode.REFILL_VOLUME_INVALID,
                f"the bridge needs {ml(volume)} but only {ml(added_nl)} is added",
            )
        return BridgePlan(
            from_mcg_per_ml=old,
            catheter_length_mm=length,
            volume_nl=volume,
            dose_ng=mass_ng_for_volume(volume, old),
            rate_nl_per_day=rate,
            duration_s=ceil_div(volume * DAY_S, rate),
            daily_dose_ng=dose_ng,
        )

    def _preview(
        self, request: RefillRequest, bridge: BridgePlan | None, now: int
    ) -> TherapyEngine:
        """A copy of the engine with the refill (and its bridge) applied, for predictions."""
        engine = self._engine
        res = engine.reservoir
        reservoir = dataclasses.replace(
            res,
            concentration_mcg_per_ml=request.concentration_mcg_per_ml,
            filled_nl=request.added_nl,
            drawn_nl=0,
            generation=res.generation + 1,
        )
        preview = dataclasses.replace(engine, reservoir=reservoir)
        if preview.safe_reason is AlarmId.RESERVOIR_EMPTY:
            preview.safe_reason = None
        if bridge is not None:
            preview.bolus = _bridge_bolus(bridge, now)
            preview.patient_bolus = None
        preview.recompile()
        return preview

    def _summary(self, request: RefillRequest, now: int) -> StagedRefill:
        self._check(request)
        engine, settings = self._engine, self._time.settings
        res = engine.reservoir
        expected = res.estimate_nl
        discrepancy = request.withdrawn_nl - expected
        limit = self._profile.refill_discrepancy_warn_nl
        previous = res.concentration_mcg_per_ml
        new = request.concentration_mcg_per_ml
        changed = res.is_filled and previous != new
        length = request.catheter_length_mm
        if length is None:
            length = settings.catheter_length_mm
        dose_now = self._basal_dose_in_force(now)
        bridge = None
        if changed and request.bridge:
            bridge = self._bridge(previous, length, dose_now, request.added_nl)
        preview = self._preview(request, bridge, now)
        low = preview.predict_time_to(now, settings.low_reservoir_nl)
        empty = preview.predict_time_to(now, 0)
        program = engine.program
        days = week_day_totals_ng(program)
        summary = StagedRefill(
            staged_hash=b"",
            active_version=settings.version,
            withdrawn_nl=request.withdrawn_nl,
            expected_nl=expected,
            discrepancy_nl=discrepancy,
            discrepancy_limit_nl=limit,
            discrepancy_warning=abs(discrepancy) > limit,
            added_nl=request.added_nl,
            concentration_before_mcg_per_ml=previous,
            concentration_mcg_per_ml=new,
            concentration_changed=changed,
            daily_dose_ng=program_daily_dose_ng(program),
            day_doses_ng=days,
            day_volumes_nl=_day_volumes(program, new),
            rate_before_nl_per_day=engine.basal_rate_at(now)[0],
            rate_nl_per_day=preview.basal_rate_at(now)[0],
            low_reservoir_time=self._clock.optional_pump_time(low),
            next_refill_time=self._clock.optional_pump_time(low),
            empty_time=self._clock.optional_pump_time(empty),
            catheter_length_mm=length,
            bridge=bridge,
            bridge_skipped=changed and bridge is None,
            bridge_end_time=(
                None if bridge is None else self._clock.pump_time(now + bridge.duration_s)
            ),
        )
        return dataclasses.replace(summary, staged_hash=self._binding(request, summary))

    def _binding(self, request: RefillRequest, summary: StagedRefill) -> bytes:
        """The hash a commit must name: the request, the state the figures were computed from,
        and the figures that decide what the clinician confirms (the discrepancy warning, the
        bridge).  Time passing alone (a few strokes) changes none of them."""
        settings, engine = self._time.settings, self._engine
        bridge = summary.bridge
        bridge_part = (
            (0, 0, 0, 0, 0)
            if bridge is None
            else (
                bridge.from_mcg_per_ml,
                bridge.catheter_length_mm,
                bridge.volume_nl,
                bridge.rate_nl_per_day,
                bridge.duration_s,
            )
        )
        head = struct.pack(
            ">IIIBiIIIBBBB5q",
            request.withdrawn_nl,
            request.added_nl,
            request.concentration_mcg_per_ml,
            int(request.bridge),
            -1 if request.catheter_length_mm is None else request.catheter_length_mm,
            settings.version,
            settings.refill_generation,
            engine.reservoir.concentration_mcg_per_ml,
            int(engine.suspended),
            int(engine.safe_reason or 0),
            int(summary.discrepancy_warning),
            int(summary.bridge_skipped),
            *bridge_part,
        )
        digest = hashlib.sha256(b"refill" + head + encode_change(engine.program))
        return digest.digest()[:16]

    # ------------------------------------------------------------------ applying it
    def _apply(
        self, request: RefillRequest, summary: StagedRefill, now: int, skip: BridgeSkip
    ) -> RefillResult:
        time, engine = self._time, self._engine
        settings, res = time.settings, engine.reservoir
        bridge = summary.bridge
        changed = summary.concentration_changed
        previous = summary.concentration_before_mcg_per_ml
        catheter = settings.catheter_length_mm
        if request.catheter_length_mm is not None:
            catheter = request.catheter_length_mm
        # a fill from empty (or the first fill): the tubing no longer counts as full of drug;
        # a bridge pushes drug through it at once
        from_empty = (
            not res.is_filled or res.is_empty or engine.safe_reason is AlarmId.RESERVOIR_EMPTY
        )
        catheter_full = (settings.catheter_full and not from_empty) or bridge is not None
        # the reservoir is emptied by aspiration, then ``added_nl`` is injected
        time.set_settings(
            dataclasses.replace(
                settings,
                concentration_mcg_per_ml=request.concentration_mcg_per_ml,
                filled_nl=request.added_nl,
                refill_generation=settings.refill_generation + 1,
                bridge_from_mcg_per_ml=previous if changed else settings.bridge_from_mcg_per_ml,
                catheter_length_mm=catheter,
                catheter_full=catheter_full,
            )
        )
        res.drawn_nl = 0
        if engine.safe_reason is AlarmId.RESERVOIR_EMPTY:
            engine.safe_reason = None
        if bridge is not None:
            time.cancel_bolus(engine.patient_bolus, now)
            engine.bolus = _bridge_bolus(bridge, now)
        time.refill_reminded()
        time.commit_point(now)
        pump_now = self._clock.pump_time(now)
        self._log.append(LogEvent.REFILL, pump_now, request.added_nl, summary.discrepancy_nl)
        if request.catheter_length_mm is not None and catheter != settings.catheter_length_mm:
            self._log.append(LogEvent.CATHETER_SET, pump_now, request.catheter_length_mm)
        if bridge is not None:
            self._log.append(
                LogEvent.BOLUS_STARTED, pump_now, TherapyMode.BRIDGE_BOLUS, bridge.dose_ng
            )
        elif changed:
            self._log.append(LogEvent.BRIDGE_SKIPPED, pump_now, skip, previous)
        low = self._clock.optional_pump_time(
            engine.predict_time_to(now, time.settings.low_reservoir_nl)
        )
        return RefillResult(
            expected_nl=summary.expected_nl,
            discrepancy_nl=summary.discrepancy_nl,
            discrepancy_warning=summary.discrepancy_warning,
            reservoir_nl=res.estimate_nl,
            concentration_changed=changed,
            low_reservoir_time=low,
            next_refill_time=low,
            bridge_started=bridge is not None,
            bridge_end_time=summary.bridge_end_time,
        )


def _bridge_bolus(bridge: BridgePlan, now: int) -> ActiveBolus:
    """The bridge as the bolus the engine runs: the old drug's volume over its duration."""
    timed = TimedBolus(bridge.volume_nl, now, bridge.duration_s)
    return ActiveBolus(TherapyMode.BRIDGE_BOLUS, timed, bridge.dose_ng, bridge.from_mcg_per_ml)


def _day_volumes(program: Continuous | Flex | Stopped, conc: int) -> tuple[int, ...]:
    """The volume (nL) each weekday's program draws at ``conc``, Monday first (rounded down)."""
    if isinstance(program, Flex):
        volumes = []
        for index in program.weekday_program:
            steps = program.day_programs[index]
            amount = 0
            for step, after in zip(steps, (*steps[1:], None), strict=True):
                end = 1440 if after is None else after.start_minute
                amount += rate_nl_per_day(step.daily_dose_ng, conc) * (end - step.start_minute)
            volumes.append(amount * 60 // DAY_S)
        return tuple(volumes)
    if isinstance(program, Continuous):
        return (rate_nl_per_day(program.daily_dose_ng, conc),) * 7
    return (0,) * 7
