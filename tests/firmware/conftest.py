"""An in-memory board for firmware tests: a motor that counts (and can stall), a settable
battery gauge, a buzzer that records, NVM that can tear a write, seeded entropy."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from firmware.hal import ResetCause
from firmware.nvm_layout import required_nvm_size
from firmware.profile import (
    AlarmSettings,
    BatteryDesign,
    ClockLimits,
    DeviceProfile,
    DrugLibrary,
    PatientBolusLimits,
)
from firmware.pump import DeviceIdentity, PumpFirmware
from hw_sim.hardware.buzzer import RecordingBuzzer
from protocol.units import DAY_S

DAY = DAY_S

START = 1_767_571_200  # 2026-01-05T00:00:00Z, a Monday
HOUR = 3_600


def make_profile(**overrides: object) -> DeviceProfile:
    drug = DrugLibrary(
        drug_name="baclofen",
        concentrations_mcg_per_ml=(50, 500, 1000, 2000),
        hard_max_daily_dose_ng=3_000_000,
        soft_max_daily_dose_ng=1_500_000,
        titration_soft_increase_pct=30,
        titration_window_s=DAY,
        max_bolus_ng=500_000,
        min_bolus_duration_s=60,
        max_bolus_duration_s=DAY,
    )
    values: dict[str, object] = dict(
        model="VP-20",
        firmware_version="0.1.0",
        reservoir_capacity_nl=20_000_000,
        stroke_volume_nl=250,
        min_rate_nl_per_day=48_000,
        max_rate_nl_per_day=24_000_000,
        safe_rate_nl_per_day=48_000,
        pump_tubing_volume_nl=140_000,
        catheter_volume_nl_per_cm=2_600,
        refill_discrepancy_warn_nl=1_000_000,
        max_flex_steps=13,
        eri_remaining_ppm=100_000,
        eos_after_eri_s=90 * DAY,
        log_capacity=64,
        max_pairings=4,
        auth_failures_before_lockout=5,
        auth_lockout_s=600,
        pairing_window_s=300,
        persist_interval_s=HOUR,
        drug=drug,
        patient_bolus=PatientBolusLimits(
            max_dose_ng=100_000,
            min_duration_s=60,
            max_duration_s=3_600,
            max_per_day_limit=12,
            min_lockout_s=600,
            max_lockout_s=DAY,
        ),
        alarms=AlarmSettings(
            low_reservoir_default_nl=2_000_000,
            low_reservoir_min_nl=500_000,
            low_reservoir_max_nl=5_000_000,
            critical_interval_default_s=600,
            critical_interval_min_s=60,
            critical_interval_max_s=3_600,
            noncritical_interval_s=HOUR,
            refill_reminder_default_s=7 * DAY,
        ),
        clock=ClockLimits(earliest_pump_time_s=1_577_836_800, latest_pump_time_s=3_786_912_000),
        motor_retry_interval_s=300,
        battery=BatteryDesign(2_148_000_000_000, 9_000, 41_806),
    )
    values.update(overrides)
    return DeviceProfile(**values)  # type: ignore[arg-type]


class PowerCut(Exception):
    """Raised by the NVM double when a torn write cuts the power."""


@dataclass
class FakeMotor:
    strokes: int = 0
    calls: int = 0
    stall_after: int | None = None  # total strokes after which the motor stalls

    def deliver_strokes(self, count: int, now: int) -> int:
        self.calls += 1
        done = count
        if self.stall_after is not None:
            done = max(0, min(count, self.stall_after - self.strokes))
        self.strokes += done
        return done


@dataclass
class FakeBattery:
    level_ppm: int = 1_000_000
    schedule: Callable[[int], int] | None = None

    def remaining_ppm(self, now: int) -> int:
        return self.schedule(now) if self.schedule is not None else self.level_ppm


class FakeBuzzer(RecordingBuzzer):
    """The board's recording buzzer (it sounds the repeats); its clock is the time the test
    last ran the pump to (``FakeBoard.run_to``)."""

    def __init__(self) -> None:
        super().__init__(lambda: self.now)
        self.now = 0


class FakeNvm:
    """Byte array; ``tear_after`` bytes from now on are written, then the power is cut."""

    def __init__(self, size: int) -> None:
        self.data = bytearray(size)
        self.tear_after: int | None = None
        self.bytes_written = 0

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self, offset: int, length: int) -> bytes:
        return bytes(self.data[offset : offset + length])

    def write(self, offset: int, data: bytes) -> None:
        if self.tear_after is not None:
            allowed = max(0, self.tear_after - self.bytes_written)
            if allowed < len(data):
                self.data[offset : offset + allowed] = data[:allowed]
                self.bytes_written += allowed
                raise PowerCut
        self.data[offset : offset + len(data)] = data
        self.bytes_written += len(data)


@dataclass
class FakeTelemetry:
    sent: list[bytes] = field(default_factory=list)

    def send(self, data: bytes, low_priority: bool = False) -> None:
        self.sent.append(data)


class FakeEntropy:
    deterministic = True  # seeded: these unit tests never face an attacker

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def random_bytes(self, count: int) -> bytes:
        return bytes(self._rng.getrandbits(8) for _ in range(count))


class FakeHal:
    def __init__(self, profile: DeviceProfile, seed: int = 1, nvm: FakeNvm | None = None) -> None:
        self.motor = FakeMotor()
        self.battery = FakeBattery()
        self.buzzer = FakeBuzzer()
        self.nvm = nvm if nvm is not None else FakeNvm(required_nvm_size(profile.log_capacity))
        self.telemetry = FakeTelemetry()
        self.entropy = FakeEntropy(seed)


class FakeBoard:
    """The firmware on the fake HAL (a board without physics), with helpers to power-cycle it."""

    def __init__(self, profile: DeviceProfile | None = None, start: int = START) -> None:
        self.profile = profile or make_profile()
        self.hal = FakeHal(self.profile)
        self.pump = PumpFirmware(self.hal, self.profile, DeviceIdentity("VP20-000001"))
        self.pump.boot(start, ResetCause.POWER_ON)

    def power_cycle(self, now: int, cause: ResetCause = ResetCause.POWER_LOSS) -> PumpFirmware:
        self.hal.nvm.tear_after = None
        self.pump = PumpFirmware(self.hal, self.profile, DeviceIdentity("VP20-000001"))
        self.pump.boot(now, cause)
        return self.pump

    def run_to(self, until: int) -> int:
        """Drive the pump wakeup by wakeup like a board does; returns the number of wakeups."""
        wakeups = 0
        self.hal.buzzer.now = max(self.hal.buzzer.now, until)
        while (due := self.pump.next_wakeup()) <= until:
            self.pump.run_until(due)
            wakeups += 1
        self.pump.run_until(until)
        return wakeups


@pytest.fixture
def profile() -> DeviceProfile:
    return make_profile()


@pytest.fixture
def bench() -> FakeBoard:
    return FakeBoard()
