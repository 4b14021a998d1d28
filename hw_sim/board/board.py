"""The virtual board: owns the hardware models and the firmware, and drives simulated time.

Why: one object that is the whole pump on the bench.  It implements ``firmware.hal.Hal``
(``board.hal``, type-checked field by field; the firmware sees only that), owns ``PumpFirmware``, and advances time event by event:
``run_until(t)`` runs scheduled board events (bench faults, scenario actions) and the firmware's
own wakeups in time order up to ``t``; ``next_event_time()`` tells a real-time loop how long it
may sleep.  Per firmware wakeup the board adds nothing: the firmware runs all its work in
``(last, t]`` in one call, and board events are a heap.

Ordering at one instant: the firmware first does all work due at that second, then the board
events of that second run by (priority, insertion order).  A clinician action at ``t`` thus sees
the pump as it is after its own work at ``t`` - the same rule as every clinical API call, which
starts with ``run_until(now)``.

One ``random.Random(seed)`` feeds every physical model (motor noise, corruption, scenario draws),
and the pump's own flow bias and each fill's variation come from generators seeded by the same
seed (``hw_sim.hardware.motor``), so a seed, a profile and the inputs fix every physical output.  Key material is the exception:
the entropy HAL reads ``os.urandom`` (``hw_sim.hardware.entropy``), unless a test passes the loudly
insecure seeded DRBG on purpose.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from firmware.hal import (
    BatteryGauge,
    Buzzer,
    EntropySource,
    Motor,
    NvmStorage,
    ResetCause,
    TelemetryPort,
)
from firmware.pump import DeviceIdentity, PumpFirmware
from hw_sim.board.scheduler import ScheduledEvent, Scheduler
from hw_sim.hardware.battery import PrimaryCell
from hw_sim.hardware.buzzer import RecordingBuzzer
from hw_sim.hardware.catheter import Catheter
from hw_sim.hardware.entropy import SystemEntropy
from hw_sim.hardware.motor import PeristalticMotor, draw_pump_bias_ppm, draw_refill_variation_ppm
from hw_sim.hardware.nvm_file import MemoryNvm, NvmImage, PowerCut
from hw_sim.hardware.patient_link import PatientLink
from hw_sim.hardware.reservoir import Reservoir
from hw_sim.hardware.telemetry import BufferedTelemetry
from hw_sim.profiles.loader import LoadedProfile
from hw_sim.scenarios.timeparse import DEFAULT_START_TIME
from patient.parameters import PatientParameters


@dataclass(slots=True)
class BoardHal:
    """The board's models as ``firmware.hal.Hal``: what the firmware is allowed to see."""

    motor: Motor
    battery: BatteryGauge
    buzzer: Buzzer
    nvm: NvmStorage
    telemetry: TelemetryPort
    entropy: EntropySource


class VirtualBoard:
    """The simulated pump hardware with its firmware (``self.hal`` is its ``firmware.hal.Hal``)."""

    def __init__(
        self,
        profile: LoadedProfile,
        seed: int,
        nvm: NvmStorage | None = None,
        start_time: int = DEFAULT_START_TIME,
        *,
        serial_number: str | None = None,
        catheter_length_cm: int | None = None,
        entropy: EntropySource | None = None,
    ) -> None:
        device, hw = profile.device, profile.hardware
        self.profile = profile
        self.seed = seed
        self.rng = random.Random(seed)
        self.scheduler = Scheduler(start_time)
        self.reservoir = Reservoir(device.reservoir_capacity_nl)
        length = hw.default_catheter_length_cm if catheter_length_cm is None else catheter_length_cm
        self.catheter = Catheter(
            length, device.catheter_volume_nl_per_cm, device.pump_tubing_volume_nl
        )
        self.battery = PrimaryCell(
            hw.battery_capacity_nas,
            hw.quiescent_current_na,
            hw.charge_per_stroke_nas,
            hw.charge_per_telemetry_byte_nas,
            installed_at=start_time,
        )
        self.motor = PeristalticMotor(
            device.stroke_volume_nl,
            hw.stroke_noise_sd_ppm,
            self.rng,
            self.reservoir,
            self.catheter,
            on_strokes=self.battery.on_strokes,
        )
        self.motor.pump_bias_ppm = draw_pump_bias_ppm(
            seed, hw.flow_bias_mean_ppm, hw.flow_bias_sd_ppm, hw.flow_bias_limit_ppm
        )
        self.buzzer = RecordingBuzzer(lambda: self.scheduler.now)  # tones up to board time
        self.nvm: NvmStorage = MemoryNvm(hw.nvm_size_bytes) if nvm is None else nvm
        self.telemetry = BufferedTelemetry(on_bytes_sent=self.battery.on_bytes)
        #: Keys and nonces: the OS CSPRNG unless a test passes ``InsecureTestEntropy`` on purpose.
        self.entropy: EntropySource = SystemEntropy() if entropy is None else entropy
        prefix = device.model.replace("-", "")
        self.identity = DeviceIdentity(serial_number or f"{prefix}-{seed % 1_000_000:06d}")
        # The firmware's view: each field type-checked against its HAL protocol.
        self.hal = BoardHal(
            self.motor, self.battery, self.buzzer, self.nvm, self.telemetry, self.entropy
        )
        self.firmware = PumpFirmware(self.hal, device, self.identity)
        self.powered = False
        self.resets: list[tuple[int, ResetCause]] = []
        self.power_cuts: list[int] = []
        self.reset_listeners: list[Callable[[PumpFirmware, ResetCause], None]] = []
        #: The patient at the catheter tip (``attach_patient``); None: the pump runs on the bench.
        self.patient_link: PatientLink | None = None

    # ------------------------------------------------------------------ time
    @property
    def now(self) -> int:
        return self.scheduler.now

    def power_on(self, now: int | None = None, cause: ResetCause = ResetCause.POWER_ON) -> None:
        """Boot the firmware: first power-up, or a reset of any cause.

        A reset loses RAM: from the second boot on, ``self.firmware`` is a NEW ``PumpFirmware``
        that knows only what NVM holds (as a real processor would).  Whoever talks to the
        firmware must read ``board.firmware`` again after a reset; ``reset_listeners`` are called
        with the new instance and the cause.
        """
        at = self.now if now is None else now
        self.scheduler.advance_to(at)
        if self.resets:
            self.firmware = PumpFirmware(self.hal, self.profile.device, self.identity)
        self.resets.append((at, cause))
        self.powered = True
        self._guarded(lambda: self.firmware.boot(at, cause), at)
        for listener in list(self.reset_listeners):
            listener(self.firmware, cause)

    def run_until(self, t: int) -> None:
        """Advance to ``t``: board events and firmware work in time order (see module doc)."""
        scheduler = self.scheduler
        if t < scheduler.now:
            raise ValueError(f"time cannot go back: {t} < {scheduler.now}")
        while True:
            event = scheduler.pop_due(t)
            if event is None:
                break
            self._run_firmware(event.time)
            if not event.cancelled:
                event.action(event.time)
        scheduler.advance_to(t)
        self._run_firmware(t)

    def next_event_time(self) -> int | None:
        """Board time of the next scheduled event or firmware wakeup (None: nothing pending)."""
        candidates = [self.scheduler.next_time()]
        if self.powered:
            candidates.append(self.firmware.next_wakeup())
        times = [c for c in candidates if c is not None]
        return min(times) if times else None

    def schedule(
        self, at: int, action: Callable[[int], None], *, priority: int = 0, name: str = ""
    ) -> ScheduledEvent:
        """Schedule a board event (scenario action, bench fault) at board time ``at``."""
        return self.scheduler.schedule(at, action, priority=priority, name=name)

    def _run_firmware(self, t: int) -> None:
        link = self.patient_link
        if link is None:
            if self.powered:
                self._guarded(lambda: self.firmware.run_until(t), t)
            return
        # One wakeup at a time, so the drug leaving the catheter in each interval went at one
        # constant programmed rate (hw_sim/hardware/patient_link.py); the firmware's work is the same.
        while self.powered:
            firmware = self.firmware
            wakeup = firmware.next_wakeup()
            if wakeup >= t:
                break
            try:  # what _guarded does, without a closure per wakeup
                firmware.run_until(wakeup)
            except PowerCut:
                self.recover_from_power_cut(wakeup)
            link.sync(wakeup)
        if self.powered:
            self._guarded(lambda: self.firmware.run_until(t), t)
        link.sync(t)

    def attach_patient(self, params: PatientParameters, name: str = "") -> PatientLink:
        """Connect a virtual patient to the catheter tip from now on (drug-free at first)."""
        self.run_until(self.now)
        return self.connect_patient(PatientLink(params, self.catheter, self.now, name))

    def connect_patient(self, link: PatientLink) -> PatientLink:
        """Connect an existing link (a patient restored from a saved board state) to the tip."""
        self.patient_link = link
        # Each batch of strokes also closes an interval, so a firmware that catches up by itself
        # (a call with a later ``now`` than the board's) still feeds the patient at the right times.
        self.motor.on_delivered = link.sync
        return link

    def _guarded(self, call: Callable[[], object], now: int) -> None:
        """Run a firmware call; a power cut inside an NVM write reboots it (POWER_LOSS)."""
        try:
            call()
        except PowerCut:
            self.recover_from_power_cut(now)

    def recover_from_power_cut(self, now: int) -> None:
        """The supply came back after a torn NVM write: reboot from whatever NVM holds."""
        self.power_cuts.append(now)
        self.power_on(now, ResetCause.POWER_LOSS)

    # ------------------------------------------------------------------ power
    def flush(self, now: int | None = None) -> None:
        """Clean shutdown of state: the firmware persists everything, the image is synced."""
        at = self.now if now is None else now
        if self.powered:
            self._guarded(lambda: self.firmware.flush(at), at)
        self._sync_nvm()

    def power_cycle(self, now: int | None = None) -> None:
        """Switch off cleanly (flush) and on again: the firmware reboots from NVM."""
        at = self.now if now is None else now
        self.run_until(at)
        self.flush(at)
        self.power_on(at, ResetCause.POWER_ON)

    def power_loss(self, now: int | None = None) -> None:
        """Supply interrupted without a flush: reboot from what NVM holds (POWER_LOSS)."""
        at = self.now if now is None else now
        self.run_until(at)
        self.power_on(at, ResetCause.POWER_LOSS)

    def _sync_nvm(self) -> None:
        flush = getattr(self.nvm, "flush", None)
        if callable(flush):
            flush()

    # ------------------------------------------------------------------ clinic hardware
    def aspirate(self, now: int, max_nl: int | None = None) -> int:
        """The clinician withdraws the reservoir contents (true volume); returns nL withdrawn."""
        self.run_until(now)
        return self.reservoir.aspirate(max_nl)

    def inject(self, added_nl: int, concentration_mcg_per_ml: int, now: int) -> int:
        """Inject drug through the refill port; returns nL that reached the reservoir.

        Each fill has its own systematic flow error (``refill_variation_sd_ppm``), drawn here."""
        self.run_until(now)
        motor, hw = self.motor, self.profile.hardware
        motor.refills += 1
        motor.refill_variation_ppm = draw_refill_variation_ppm(
            self.seed, motor.refills, hw.refill_variation_sd_ppm, hw.flow_bias_limit_ppm
        )
        return self.reservoir.inject(added_nl, concentration_mcg_per_ml)

    # ------------------------------------------------------------------ bench faults
    def motor_stall(self, now: int, until: int | None = None) -> None:
        """The motor stops turning: later strokes complete as 0, until cleared or, for a
        transient stall (an MRI scan), until board time ``until``."""
        self.run_until(now)
        if until is not None and until <= now:
            raise ValueError("a transient stall must end after it starts")
        self.motor.stall(now, until)
        # A real pump commands each stroke and finds a stall at the first one; this firmware
        # batches strokes between wakeups, so wake it at its next stroke (an event with
        # nothing to do: the firmware runs up to each board event's time first).
        stroke = self.firmware.next_stroke_time() if self.powered else None
        if stroke is not None and (until is None or stroke < until):
            self.schedule(stroke, lambda _t: None, name="motor stroke in the stall")

    def over_infusion(self, percent: float, now: int) -> None:
        """Systematic flow error from now on: +percent over-infusion, negative for under."""
        self.run_until(now)
        self.motor.set_systematic_error_pct(percent)

    def set_pump_bias(self, percent: float, now: int) -> None:
        """Make this pump's own systematic flow bias ``percent`` (in place of the one its seed
        drew), e.g. a population study drawing it from its own distribution."""
        self.run_until(now)
        if percent <= -100:
            raise ValueError("a flow bias must stay above -100 %")
        self.motor.pump_bias_ppm = round(percent * 10_000)

    def pocket_fill(self, now: int) -> None:
        """The next refill injection goes into the tissue pocket instead of the reservoir."""
        self.run_until(now)
        self.reservoir.pocket_fill_armed = True

    def low_battery_reset(self, now: int) -> None:
        """A supply dip resets the processor: the firmware reboots with LOW_BATTERY."""
        self.run_until(now)
        self.power_on(now, ResetCause.LOW_BATTERY)

    def memory_error(self, now: int, offset: int = 0, length: int | None = None) -> None:
        """Corrupt the NVM (whole image by default); the watchdog reboots the firmware."""
        self.run_until(now)
        if isinstance(self.nvm, NvmImage):
            self.nvm.corrupt(self.rng, offset, length)
        else:
            raise TypeError("memory_error needs an NVM image from hw_sim.hardware.nvm_file")
        self.power_on(now, ResetCause.WATCHDOG)

    def arm_power_cut(self, after_bytes: int, now: int) -> None:
        """Tear a later NVM write after ``after_bytes`` more bytes (then reboot, POWER_LOSS)."""
        self.run_until(now)
        if not isinstance(self.nvm, NvmImage):
            raise TypeError("power cuts need an NVM image from hw_sim.hardware.nvm_file")
        self.nvm.arm_power_cut(after_bytes)

    def catheter_occlusion(self, percent: float, now: int) -> None:
        """Block ``percent`` of the catheter (100: complete occlusion or a tight kink)."""
        self.run_until(now)
        if not 0 <= percent <= 100:
            raise ValueError("occlusion must be 0-100 %")
        self.catheter.occlusion_ppm = round(percent * 10_000)

    def catheter_leak(self, percent: float, now: int) -> None:
        """A crack: ``percent`` of what leaves the catheter goes to the tissue, not the CSF."""
        self.run_until(now)
        if not 0 <= percent <= 100:
            raise ValueError("leak must be 0-100 %")
        self.catheter.leak_ppm = round(percent * 10_000)

    def catheter_disconnect(self, now: int) -> None:
        """The catheter comes off: all outflow goes to the tissue."""
        self.run_until(now)
        self.catheter.outflow_fault = "disconnected"

    def catheter_tip_migration(self, now: int) -> None:
        """The tip leaves the intrathecal space: all outflow goes to the tissue."""
        self.run_until(now)
        self.catheter.outflow_fault = "tip_migrated"

    def catheter_clear(self, now: int) -> None:
        """The catheter is revised: patent, intact and in place again (other faults stay)."""
        self.run_until(now)
        self.catheter.clear_faults()

    def aspirate_access_port(self, volume_nl: int, now: int) -> tuple[int, int]:
        """The clinic aspirates the catheter access port: (nL, pg of drug) that came back."""
        self.run_until(now)
        return self.catheter.aspirate(volume_nl)

    def clear_faults(self, now: int) -> None:
        """Remove every injected hardware fault (stall, flow error, pocket fill, armed cut,
        catheter faults)."""
        self.run_until(now)
        self.motor.clear_stall()
        self.motor.systematic_error_ppm = 0
        self.reservoir.pocket_fill_armed = False
        self.catheter.clear_faults()
        if isinstance(self.nvm, NvmImage):
            self.nvm.disarm_power_cut()

    # ------------------------------------------------------------------ truth
    def hw_status(self, with_tones: bool = True) -> dict[str, Any]:
        """What the bench can measure, and the firmware cannot: the true state of the hardware
        (``with_tones=False``: without the list of every tone, for who needs only the counts)."""
        now = self.now
        motor, reservoir, catheter = self.motor, self.reservoir, self.catheter
        status = {
            "time": now,
            "powered": self.powered,
            "reservoir_nl": reservoir.volume_nl,
            "reservoir_capacity_nl": reservoir.capacity_nl,
            "reservoir_concentration_mcg_per_ml": reservoir.concentration_mcg_per_ml,
            "delivered_nl": motor.delivered_nl,
            "delivered_ng": motor.delivered_pg // 1000,
            "to_patient_nl": catheter.to_patient_nl,
            "to_patient_ng": catheter.to_patient_pg // 1000,
            "air_nl": motor.air_nl,
            "pocket_nl": reservoir.pocket_nl,
            "pocket_ng": reservoir.pocket_pg // 1000,
            "strokes": motor.strokes_total,
            "strokes_commanded": motor.strokes_commanded,
            "battery_ppm": self.battery.remaining_ppm(now),
            "battery_used_nas": self.battery.used_nas(now),
            "telemetry_bytes": self.telemetry.bytes_sent_total,
            "flow_error": {  # the systematic errors of this pump, this fill, and the fault
                "pump_bias_ppm": motor.pump_bias_ppm,
                "refill_variation_ppm": motor.refill_variation_ppm,
                "combined_ppm": motor.flow_error_ppm,
            },
            "faults": {
                "motor_stall": motor.stalled,
                "motor_stall_until": motor.stall_until,
                "systematic_error_ppm": motor.systematic_error_ppm,
                "pocket_fill_armed": reservoir.pocket_fill_armed,
            },
            "tones": [[t, p.name] for t, p in self.buzzer.tones] if with_tones else [],
            "resets": [[t, cause.name] for t, cause in self.resets],
            "catheter": {
                **catheter.faults,
                "to_tissue_nl": catheter.to_tissue_nl,
                "to_tissue_ng": catheter.to_tissue_pg // 1000,
                "blocked_nl": motor.blocked_nl,
            },
        }
        if self.patient_link is not None:  # the patient's truth: never the firmware's to see
            status["patient"] = self.patient_link.status()
        return status
