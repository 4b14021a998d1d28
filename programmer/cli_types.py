"""click parameter types for clinical quantities: the unit parsers at the command line.

Why: a value refused by ``units`` must become click's ordinary usage error (exit 2) naming the
option, with the parser's explanation of what was expected.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from . import units
from .errors import UnitError


class Quantity(click.ParamType):  # type: ignore[type-arg]  # generic only in newer click
    """A unit-checked quantity converted to the protocol's integer unit."""

    def __init__(self, name: str, parse: Callable[[str], int]) -> None:
        self.name = name
        self._parse = parse

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return self._parse(str(value))
        except UnitError as exc:
            self.fail(str(exc), param, ctx)


DAILY_DOSE = Quantity("DOSE/day", units.parse_daily_dose)
DOSE = Quantity("DOSE", units.parse_dose)
VOLUME = Quantity("VOLUME", units.parse_volume)
VOLUME_OR_ZERO = Quantity("VOLUME", lambda text: units.parse_volume(text, zero_ok=True))
CONCENTRATION = Quantity("CONC", units.parse_concentration)
DURATION = Quantity("DURATION", units.parse_duration)
LENGTH = Quantity("LENGTH", units.parse_length)


class FlexStepType(click.ParamType):  # type: ignore[type-arg]
    """``HH:MM=DOSE/day``, e.g. ``07:00=300mcg/day``."""

    name = "HH:MM=DOSE/day"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from .therapy import FlexStep

        if isinstance(value, FlexStep):
            return value
        start, sep, dose = str(value).partition("=")
        if not sep:
            self.fail(f"{value!r}: expected HH:MM=DOSE/day, e.g. 07:00=300mcg/day", param, ctx)
        try:
            return FlexStep(
                units.parse_time_of_day(start), units.parse_daily_dose(dose, zero_ok=True)
            )
        except UnitError as exc:
            self.fail(str(exc), param, ctx)


FLEX_STEP = FlexStepType()
