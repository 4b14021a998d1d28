"""The peristaltic motor: counts strokes as commanded, moves a true volume with an accuracy model.

Why: the firmware only knows the strokes it commanded; the board must know what really moved.

Accuracy model.  Each stroke moves ``v_i = s * (1 + b) * (1 + r) * (1 + f) * (1 + e_i)`` with
``s`` the profile's stroke volume and three systematic errors (ppm):

- ``b``, the pump's own bias (``pump_bias_ppm``): drawn once per pump from
  ``N(flow_bias_mean_ppm, flow_bias_sd_ppm)`` clipped to +/- ``flow_bias_limit_ppm`` (the
  reference device: labelled +/-14.5 %, clinically about +1 % per patient);
- ``r``, the variation of the current reservoir fill (``refill_variation_ppm``): drawn at each
  refill from ``N(0, refill_variation_sd_ppm)`` (the reference: a few % per refill), e.g. drug
  viscosity, temperature, reservoir pressure, none of which is modelled separately;
- ``f``, an injectable over/under-infusion (bench fault, ``systematic_error_ppm``);

and ``e_i ~ N(0, sd)`` independent per stroke (``stroke_noise_sd_ppm``).  The draws of ``b`` and
``r`` come from generators seeded by the board's seed (:func:`draw_pump_bias_ppm`,
:func:`draw_refill_variation_ppm`: the n-th refill's from the seed and n), not from the board's
physics generator, so they neither shift nor are shifted by the other draws.  Per-stroke noise
averages away over a refill (0.03 %); ``b`` and ``r`` do not, and they are what a refill's
discrepancy shows.

A batch of ``n`` strokes is drawn in ONE step: the sum of ``n`` iid Gaussians is exactly
``N(n*mu, n*sigma^2)`` with ``mu = s*(1+b)(1+r)(1+f)`` and ``sigma = s*sd``, so
``total = n*mu + sqrt(n)*sigma*z``, ``z ~ N(0, 1)``.
This is statistically exact (same distribution as stepping every stroke, not an
approximation) and costs one random draw per firmware wakeup instead of one per stroke: it is
what keeps seven simulated years fast.  Volumes are accumulated in picolitres with a carried
remainder, so no sub-nanolitre drift appears over years; a batch never moves less than nothing.

A stall fault (from ``stall_from``) stops every stroke until cleared, or, for a transient stall
(``stall_until``: an MRI scan holds the rotor until the field is gone), until that board time.
The strokes of a batch are spread evenly over the interval since the previous command, the
``k``-th of ``n`` at ``last + k (now - last) // n``; those that fall in the stall do not
complete, the others do, so the firmware, which commands a batch at each wakeup, sees fewer
strokes than it asked for and raises the stall even when the field was gone by the wakeup.
An occluded
catheter (``Catheter.occlusion_ppm``) is not a stall: every stroke completes and is counted, but
the share that cannot pass never leaves the reservoir (``blocked_nl``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from hw_sim.hardware.catheter import Catheter
from hw_sim.hardware.reservoir import Reservoir

PPM = 1_000_000


def _clipped_gauss(rng: random.Random, mean_ppm: int, sd_ppm: int, limit_ppm: int) -> int:
    return max(-limit_ppm, min(limit_ppm, round(rng.gauss(mean_ppm, sd_ppm))))


def draw_pump_bias_ppm(seed: int, mean_ppm: int, sd_ppm: int, limit_ppm: int) -> int:
    """The per-pump systematic flow bias of the pump built from board seed ``seed``."""
    return _clipped_gauss(random.Random(f"pump flow bias {seed}"), mean_ppm, sd_ppm, limit_ppm)


def draw_refill_variation_ppm(seed: int, refill: int, sd_ppm: int, limit_ppm: int) -> int:
    """The systematic error of the ``refill``-th fill (1, 2, ...) of the pump of ``seed``."""
    rng = random.Random(f"refill flow variation {seed} {refill}")
    return _clipped_gauss(rng, 0, sd_ppm, limit_ppm)


class PeristalticMotor:
    """Implements ``firmware.hal.Motor``."""

    def __init__(
        self,
        stroke_volume_nl: int,
        noise_sd_ppm: int,
        rng: random.Random,
        reservoir: Reservoir,
        catheter: Catheter,
        on_strokes: Callable[[int], None] | None = None,
    ) -> None:
        self.stroke_volume_nl = stroke_volume_nl
        self.noise_sd_ppm = noise_sd_ppm
        self._rng = rng
        self._reservoir = reservoir
        self._catheter = catheter
        self._on_strokes = on_strokes
        self.systematic_error_ppm = 0  # injectable over (+) / under (-) infusion
        self.pump_bias_ppm = 0  # this pump's own systematic error (drawn by the board)
        self.refill_variation_ppm = 0  # the current fill's systematic error
        self.refills = 0  # fills so far (the index of the current fill's variation)
        self.stalled = False
        self.stall_from = 0  # board time the stall began
        self.stall_until: int | None = None  # a transient stall ends at this board time
        self.last_command: int | None = None  # board time of the previous batch
        self.strokes_commanded = 0
        self.strokes_total = 0  # strokes actually completed
        self.pumped_nl = 0  # true volume the strokes tried to move (drug or air)
        self.delivered_nl = 0  # true volume that left the reservoir
        self.delivered_pg = 0  # drug mass in it
        self.air_nl = 0  # stroke volume that found an empty reservoir
        self.blocked_nl = 0  # stroke volume an occluded catheter did not let pass
        self._carry_pl = 0  # sub-nanolitre remainder, picolitres
        #: Called after each batch reaches the catheter (the patient link listens) with ``now``
        #: and the share of the batch's interval during which drug left the reservoir (1.0 but
        #: for the batch in which it ran dry: the strokes are spread evenly, the last ones air).
        self.on_delivered: Callable[[int, float], None] | None = None

    def set_systematic_error_pct(self, percent: float) -> None:
        """Over-infusion (+) or under-infusion (-) in percent of every stroke from now on."""
        if percent <= -100:
            raise ValueError("under-infusion must stay above -100 %")
        self.systematic_error_ppm = round(percent * 10_000)

    @property
    def flow_error_ppm(self) -> int:
        """The three systematic errors combined: (1 + b)(1 + r)(1 + f) - 1, in ppm."""
        factor = (PPM + self.pump_bias_ppm) * (PPM + self.refill_variation_ppm) // PPM
        return factor * (PPM + self.systematic_error_ppm) // PPM - PPM

    def stall(self, now: int, until: int | None = None) -> None:
        """Stop turning from ``now``: until cleared (``until`` None) or until board time ``until``."""
        self.stalled, self.stall_from, self.stall_until = True, now, until

    def _stalled_strokes(self, count: int, now: int) -> int:
        """How many of ``count`` strokes spread over (last command, now] fall in the stall."""
        last = now if self.last_command is None else min(self.last_command, now)
        span = now - last
        start, until = self.stall_from, self.stall_until

        def first_at_or_after(t: int) -> int:  # the first k (1-based) with its time >= t
            if t <= last or span == 0:
                return 1 if t <= now else count + 1
            return min(count + 1, -(-(t - last) * count // span))

        k_from = first_at_or_after(start)
        k_until = count + 1 if until is None else first_at_or_after(until)
        return max(0, k_until - k_from)

    def clear_stall(self) -> None:
        self.stalled, self.stall_until = False, None

    def deliver_strokes(self, count: int, now: int) -> int:
        """Complete ``count`` strokes (none when stalled) and move their true volume."""
        if count <= 0:
            return 0
        self.strokes_commanded += count
        if self.stalled:
            count -= self._stalled_strokes(count, now)
            if self.stall_until is not None and now >= self.stall_until:
                self.stalled, self.stall_until = False, None  # the field is gone: it turns again
        self.last_command = now
        if count <= 0:
            return 0
        self._move(count, now)
        return count

    def _move(self, count: int, now: int) -> None:
        """Complete ``count`` strokes: their true volume leaves the reservoir."""
        self.strokes_total += count
        if self._on_strokes is not None:
            self._on_strokes(count)
        s = self.stroke_volume_nl
        mean_pl = count * s * (PPM + self.flow_error_ppm) // 1_000
        sigma_pl = s * self.noise_sd_ppm / 1_000  # per stroke, picolitres
        noise_pl = round(self._rng.gauss(0.0, 1.0) * math.sqrt(count) * sigma_pl)
        carry = self._carry_pl + max(0, mean_pl + noise_pl)
        volume_nl, self._carry_pl = divmod(carry, 1_000)
        self.pumped_nl += volume_nl
        occlusion = self._catheter.occlusion_ppm
        if occlusion:  # the rollers turn, the fluid cannot pass: it stays in the reservoir
            blocked = volume_nl * occlusion // 1_000_000
            self.blocked_nl += blocked
            volume_nl -= blocked
        moved_nl, mass_pg = self._reservoir.draw(volume_nl)
        self.air_nl += volume_nl - moved_nl
        self.delivered_nl += moved_nl
        self.delivered_pg += mass_pg
        self._catheter.push(moved_nl, mass_pg)
        if self.on_delivered is not None:
            self.on_delivered(now, moved_nl / volume_nl if moved_nl < volume_nl else 1.0)
