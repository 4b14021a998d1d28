"""The buzzer: records every tone with its board time, so tests and reports can check alarms.

Why: the firmware's only audible output; the patient hears it, the simulator keeps a list.
"""

from __future__ import annotations

from firmware.hal import TonePattern


class RecordingBuzzer:
    """Implements ``firmware.hal.Buzzer`` by appending ``(time, pattern)``."""

    def __init__(self) -> None:
        self.tones: list[tuple[int, TonePattern]] = []

    def play(self, pattern: TonePattern, now: int) -> None:
        self.tones.append((now, TonePattern(pattern)))

    def count(self, pattern: TonePattern) -> int:
        """How many times ``pattern`` sounded."""
        return sum(1 for _, played in self.tones if played == pattern)
