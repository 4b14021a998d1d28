"""The recording buzzer: repeats it sounds by itself, written out up to the board's time."""

from __future__ import annotations

from firmware.hal import TonePattern, ToneRepeat
from hw_sim.hardware.buzzer import RecordingBuzzer

SINGLE, TWO_TONE = TonePattern.SINGLE, TonePattern.TWO_TONE


class Clock:
    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


def test_repeats_sound_after_the_call_before_the_next_wakeup_and_up_to_the_board_time() -> None:
    clock = Clock()
    buzzer = RecordingBuzzer(clock)
    buzzer.play(SINGLE, 100)
    buzzer.repeat((ToneRepeat(SINGLE, 100, 60),), 100, 400)
    clock.now = 250
    assert buzzer.tones == [(100, SINGLE), (160, SINGLE), (220, SINGLE)]
    clock.now = 1000  # the window ends before the wakeup at 400: that one is the firmware's
    assert [t for t, _ in buzzer.tones] == [100, 160, 220, 280, 340]
    assert buzzer.counts() == {SINGLE: 5} and buzzer.count(SINGLE) == 5


def test_a_later_call_keeps_the_tones_up_to_its_time_and_replaces_the_rest() -> None:
    clock = Clock()
    buzzer = RecordingBuzzer(clock)
    buzzer.repeat((ToneRepeat(SINGLE, 0, 100),), 0, 10_000)
    buzzer.repeat((ToneRepeat(TWO_TONE, 350, 50),), 300, 10_000)  # at 300: 100, 200, 300 sounded
    buzzer.repeat((), 500, 500)  # silence from 500 on (450 and 500 have sounded)
    clock.now = 10_000
    assert buzzer.tones == [
        (100, SINGLE),
        (200, SINGLE),
        (300, SINGLE),
        (350, TWO_TONE),
        (400, TWO_TONE),
        (450, TWO_TONE),
        (500, TWO_TONE),
    ]
    assert buzzer.counts() == {SINGLE: 3, TWO_TONE: 4}


def test_at_one_second_repeats_sound_in_their_order_then_what_was_played() -> None:
    clock = Clock()
    buzzer = RecordingBuzzer(clock)
    buzzer.repeat((ToneRepeat(TWO_TONE, 60, 60), ToneRepeat(SINGLE, 0, 120)), 0, 1000)
    buzzer.play(TonePattern.TEST, 120)
    clock.now = 120
    assert buzzer.tones == [
        (60, TWO_TONE),
        (120, TWO_TONE),
        (120, SINGLE),
        (120, TonePattern.TEST),
    ]
    assert list(buzzer.counts()) == [TWO_TONE, SINGLE, TonePattern.TEST]  # first sounded first


def test_without_a_clock_the_recording_runs_to_the_latest_call() -> None:
    buzzer = RecordingBuzzer()
    buzzer.repeat((ToneRepeat(SINGLE, 10, 10),), 10, 100)
    assert buzzer.tones == []
    buzzer.play(TWO_TONE, 30)
    assert buzzer.tones == [(20, SINGLE), (30, SINGLE), (30, TWO_TONE)]
