"""Basal schedules: the programmed flow rate as a function of the clinic's local time.

Why: the delivery engine is event-driven, so it never asks "what is the rate now?" every second;
it asks for the rate in force at a time and when that rate next changes (a flex step, midnight).
Predictions (low-reservoir date, next refill) integrate the same function forward, skipping
whole weeks at once so a prediction a year ahead costs a few hundred steps, not a year of them.

Times here are the clinic's local time (pump time + UTC offset: the therapy engine converts).
Rates are nL/day at the reservoir concentration, derived from each step's dose rate (ng/day)
with the rounding of :mod:`firmware.units` (down).  Amounts integrated over time are in
"nL*s/day" (rate x seconds), the same exact unit the stroke accumulator uses.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from firmware.prescription import BasalProgram, Continuous, Flex, FlexStep
from firmware.units import DAY_S, EPOCH_WEEKDAY, WEEK_S, ceil_div, rate_nl_per_day


class BasalSchedule:
    """A piecewise-constant rate over pump time."""

    def segment_at(self, pump_time: int) -> tuple[int, int | None]:
        """Rate (nL/day) in force at ``pump_time`` and the pump time it ends (None: never)."""
        raise NotImplementedError

    def time_to_accumulate(self, start: int, amount: int) -> int | None:
        """Seconds from ``start`` until the integral of the rate reaches ``amount`` (nL*s/day).

        None when the schedule never delivers that much (a zero rate)."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class ConstantSchedule(BasalSchedule):
    rate_nl_per_day: int

    def segment_at(self, pump_time: int) -> tuple[int, int | None]:
        return self.rate_nl_per_day, None

    def time_to_accumulate(self, start: int, amount: int) -> int | None:
        if amount <= 0:
            return 0
        if self.rate_nl_per_day <= 0:
            return None
        return ceil_div(amount, self.rate_nl_per_day)


@dataclass(frozen=True, slots=True)
class _DayProgram:
    starts_s: tuple[int, ...]  # seconds of the day, first is 0
    rates: tuple[int, ...]  # nL/day of each step
    total: int  # integral over the day, nL*s/day


def _compile_day(steps: tuple[FlexStep, ...], concentration_mcg_per_ml: int) -> _DayProgram:
    starts = tuple(step.start_minute * 60 for step in steps)
    rates = tuple(rate_nl_per_day(s.daily_dose_ng, concentration_mcg_per_ml) for s in steps)
    ends = (*starts[1:], DAY_S)
    total = sum(rate * (end - begin) for rate, begin, end in zip(rates, starts, ends, strict=True))
    return _DayProgram(starts, rates, total)


class FlexSchedule(BasalSchedule):
    """Day programs of up to 13 steps, chosen per weekday (Monday first)."""

    def __init__(self, flex: Flex, concentration_mcg_per_ml: int) -> None:
        compiled = [_compile_day(p, concentration_mcg_per_ml) for p in flex.day_programs]
        self._by_weekday = tuple(compiled[i] for i in flex.weekday_program)
        self._week_total = sum(day.total for day in self._by_weekday)

    def segment_at(self, pump_time: int) -> tuple[int, int | None]:
        day = pump_time // DAY_S
        day_start = day * DAY_S
        program = self._by_weekday[(day + EPOCH_WEEKDAY) % 7]
        index = bisect_right(program.starts_s, pump_time - day_start) - 1
        starts = program.starts_s
        end = day_start + (starts[index + 1] if index + 1 < len(starts) else DAY_S)
        return program.rates[index], end

    def time_to_accumulate(self, start: int, amount: int) -> int | None:
        if amount <= 0:
            return 0
        t = start
        remaining = amount
        day = t // DAY_S
        days_to_monday = (7 - (day + EPOCH_WEEKDAY) % 7) % 7
        week_start = (day + days_to_monday) * DAY_S
        if week_start < t:
            week_start += WEEK_S
        t, remaining, done = self._walk(t, week_start, remaining)
        if done:
            return t - start
        if self._week_total <= 0:
            return None
        whole_weeks = (remaining - 1) // self._week_total
        t += whole_weeks * WEEK_S
        remaining -= whole_weeks * self._week_total
        t, remaining, done = self._walk(t, t + WEEK_S, remaining)
        assert done, "a week with a positive total must complete the remainder"
        return t - start

    def _walk(self, t: int, limit: int, remaining: int) -> tuple[int, int, bool]:
        """Integrate step by step from t to at most limit; stop where ``remaining`` is reached."""
        while t < limit:
            rate, end = self.segment_at(t)
            seg_end = limit if end is None else min(end, limit)
            gain = rate * (seg_end - t)
            if gain >= remaining:
                return t + ceil_div(remaining, rate), 0, True
            remaining -= gain
            t = seg_end
        return t, remaining, False


def compile_schedule(program: BasalProgram, concentration_mcg_per_ml: int) -> BasalSchedule:
    """The schedule of a basal program at a concentration (Stopped, or no drug: rate 0)."""
    if concentration_mcg_per_ml <= 0:
        return ConstantSchedule(0)
    if isinstance(program, Continuous):
        return ConstantSchedule(rate_nl_per_day(program.daily_dose_ng, concentration_mcg_per_ml))
    if isinstance(program, Flex):
        return FlexSchedule(program, concentration_mcg_per_ml)
    return ConstantSchedule(0)


def day_total_ng(steps: tuple[FlexStep, ...]) -> int:
    """Drug a day program delivers in one day (dose rates integrated, rounded down)."""
    starts = [s.start_minute * 60 for s in steps]
    ends = [*starts[1:], DAY_S]
    return (
        sum(s.daily_dose_ng * (e - b) for s, b, e in zip(steps, starts, ends, strict=True)) // DAY_S
    )


def program_daily_dose_ng(program: BasalProgram) -> int:
    """The daily dose a program stands for: for flex, the largest day total of any weekday."""
    if isinstance(program, Continuous):
        return program.daily_dose_ng
    if isinstance(program, Flex):
        return max(day_total_ng(program.day_programs[i]) for i in program.weekday_program)
    return 0


def program_dose_at(program: BasalProgram, pump_time: int) -> int:
    """The dose rate (ng/day) a program asks for at a pump time."""
    if isinstance(program, Continuous):
        return program.daily_dose_ng
    if isinstance(program, Flex):
        day = pump_time // DAY_S
        steps = program.day_programs[program.weekday_program[(day + EPOCH_WEEKDAY) % 7]]
        second = pump_time - day * DAY_S
        current = steps[0]
        for step in steps:
            if step.start_minute * 60 <= second:
                current = step
        return current.daily_dose_ng
    return 0
