"""The reservoir estimate: what the firmware believes is left, from the strokes it commanded.

Why: like the reference device, the pump cannot measure its reservoir; it subtracts every
commanded stroke from the volume entered at the last refill.  An over-infusing pump therefore
runs dry while the estimate still shows drug (the pocket-fill / over-infusion hazard), and the
refill is where the estimate meets reality: the withdrawn volume is compared with it.

The estimate is stored as (volume entered at refill, volume drawn since) with a refill
generation number: the refill itself is one atomic write of the configuration record, and the
frequently written counters record names the generation its "drawn" belongs to.

Drug mass is tracked in picograms (nL x mcg/mL = pg), exact; reported nanograms round down.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class ReservoirEstimate:
    capacity_nl: int
    concentration_mcg_per_ml: int = 0  # 0: never filled
    filled_nl: int = 0  # volume entered at the last refill
    drawn_nl: int = 0  # commanded volume since the last refill
    generation: int = 0  # refills so far

    @property
    def estimate_nl(self) -> int:
        return max(0, self.filled_nl - self.drawn_nl)

    @property
    def is_filled(self) -> bool:
        return self.concentration_mcg_per_ml > 0

    @property
    def is_empty(self) -> bool:
        return self.estimate_nl <= 0

    def draw(self, volume_nl: int) -> int:
        """Account for a commanded volume; returns the part the estimate still covered (drug)."""
        covered = min(volume_nl, self.estimate_nl)
        self.drawn_nl += volume_nl
        return covered
