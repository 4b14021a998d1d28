"""What the clinician programmed, integrated over time: the yardstick for what was delivered.

Why: a scenario report compares the drug the pump was told to give with what it estimates it
gave and with what the hardware truly moved.  This ledger is independent of the firmware's own
accounting: it replays the committed basal programs (continuous, flex with per-weekday day
programs, stopped) over the clinic's local time (pump time + UTC offset, as the firmware runs
flex steps) and adds bolus masses.  Integers throughout: the basal integral is kept in
ng*s/day and divided once at the end (rounded down).

Conventions: a single bolus replaces basal while it runs (as the firmware does); a patient
bolus comes on top; priming and bridge boluses count the mass the pump must move for them (a
bridge bolus runs at the programmed daily dose, so the basal integral already covers it).
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware.prescription import BasalProgram, Continuous, Stopped
from firmware.units import DAY_S, EPOCH_WEEKDAY


@dataclass(frozen=True, slots=True)
class _Segment:
    start: int  # board time
    pump_offset: int  # clinic local time (pump time + UTC offset) - board time in the segment
    program: BasalProgram


def day_integral(program: BasalProgram, weekday: int, from_s: int, to_s: int) -> int:
    """ng*s/day programmed between two seconds of one day (0 <= from_s <= to_s <= 86400)."""
    if isinstance(program, Stopped) or from_s >= to_s:
        return 0
    if isinstance(program, Continuous):
        return program.daily_dose_ng * (to_s - from_s)
    steps = program.day_programs[program.weekday_program[weekday]]
    total = 0
    for index, step in enumerate(steps):
        step_start = step.start_minute * 60
        step_end = steps[index + 1].start_minute * 60 if index + 1 < len(steps) else DAY_S
        lo, hi = max(step_start, from_s), min(step_end, to_s)
        if hi > lo:
            total += step.daily_dose_ng * (hi - lo)
    return total


def integral(program: BasalProgram, pump_from: int, pump_to: int) -> int:
    """ng*s/day programmed over ``[pump_from, pump_to)`` of pump time."""
    if isinstance(program, Stopped) or pump_to <= pump_from:
        return 0
    if isinstance(program, Continuous):
        return program.daily_dose_ng * (pump_to - pump_from)
    total = 0
    full_days: dict[int, int] = {}
    t = pump_from
    while t < pump_to:
        day_start = t - t % DAY_S
        weekday = (day_start // DAY_S + EPOCH_WEEKDAY) % 7
        end = min(pump_to, day_start + DAY_S)
        if t == day_start and end == day_start + DAY_S:
            if weekday not in full_days:
                full_days[weekday] = day_integral(program, weekday, 0, DAY_S)
            total += full_days[weekday]
        else:
            total += day_integral(program, weekday, t - day_start, end - day_start)
        t = end
    return total


class ProgrammedLedger:
    """Timeline of committed basal programs plus bolus masses."""

    def __init__(self, start: int) -> None:
        self._segments: list[_Segment] = [_Segment(start, 0, Stopped())]
        self._extra_ng = 0
        self._pump_offset = 0
        self._basal: BasalProgram = Stopped()  # what "resume" restores
        self.paused = False

    @property
    def basal(self) -> BasalProgram:
        return self._basal

    def _append(self, at: int, program: BasalProgram) -> None:
        if self._segments[-1].start == at:
            self._segments.pop()
        self._segments.append(_Segment(at, self._pump_offset, program))

    def set_basal(self, at: int, program: BasalProgram) -> None:
        self._basal = program
        self.paused = False
        self._append(at, program)

    def pause(self, at: int) -> None:
        self.paused = True
        self._append(at, Stopped())

    def resume(self, at: int) -> None:
        self.paused = False
        self._append(at, self._basal)

    def replace_basal_for(self, at: int, duration_s: int, mass_ng: int) -> None:
        """A single bolus: ``mass_ng`` in place of basal for ``duration_s``."""
        self._extra_ng += mass_ng
        self._append(at, Stopped())
        self._segments.append(_Segment(at + duration_s, self._pump_offset, self._current()))

    def _current(self) -> BasalProgram:
        return Stopped() if self.paused else self._basal

    def add_mass(self, mass_ng: int) -> None:
        self._extra_ng += mass_ng

    def set_pump_offset(self, at: int, offset: int) -> None:
        self._pump_offset = offset
        self._append(at, self._current())

    def total_ng(self, until: int) -> int:
        """Everything programmed from the start until board time ``until``."""
        acc = 0
        segments = sorted(self._segments, key=lambda s: s.start)
        for index, segment in enumerate(segments):
            end = segments[index + 1].start if index + 1 < len(segments) else until
            end = min(end, until)
            if end > segment.start:
                acc += integral(
                    segment.program, segment.start + segment.pump_offset, end + segment.pump_offset
                )
        return acc // DAY_S + self._extra_ng
