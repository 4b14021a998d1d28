"""The drug reservoir as it really is (the firmware only estimates it).

Why: the reference device computes its reservoir volume from rate x time; an over-infusing pump
or a pocket fill makes the estimate wrong with no alarm.  This model holds the truth: volume in
nanolitres and drug mass in picograms (1 nL of a 1 mcg/mL solution holds 1 pg), both integers,
so mixing concentrations and drawing fractions conserves mass exactly.

- Drawing more than is there delivers only what is there; the rest of the stroke moves air.
- A refill first aspirates (the clinician withdraws what is there), then injects.  With a pocket
  fill armed (bench fault) the injection goes into the tissue pocket: nothing reaches the
  reservoir; the mass is recorded as ``pocket_pg`` (the overdose hazard of a real pocket fill).
"""

from __future__ import annotations


class Reservoir:
    """True reservoir contents."""

    def __init__(self, capacity_nl: int) -> None:
        if capacity_nl <= 0:
            raise ValueError("capacity must be positive")
        self.capacity_nl = capacity_nl
        self.volume_nl = 0
        self.mass_pg = 0
        self.pocket_fill_armed = False
        self.pocket_pg = 0  # drug injected into the pocket by pocket fills, all time
        self.pocket_nl = 0

    @property
    def concentration_mcg_per_ml(self) -> int:
        """Mean concentration of what is in the reservoir (rounded down); 0 when empty."""
        return self.mass_pg // self.volume_nl if self.volume_nl else 0

    def draw(self, volume_nl: int) -> tuple[int, int]:
        """Take up to ``volume_nl``; returns (nL actually delivered, pg of drug in it)."""
        if volume_nl <= 0 or self.volume_nl == 0:
            return 0, 0
        if volume_nl >= self.volume_nl:
            taken, mass = self.volume_nl, self.mass_pg
        else:
            taken = volume_nl
            mass = self.mass_pg * taken // self.volume_nl
        self.volume_nl -= taken
        self.mass_pg -= mass
        return taken, mass

    def aspirate(self, max_nl: int | None = None) -> int:
        """The clinician withdraws what is there (at most ``max_nl``); returns nL withdrawn."""
        wanted = self.volume_nl if max_nl is None else max(0, min(max_nl, self.volume_nl))
        taken, _ = self.draw(wanted)
        return taken

    def inject(self, added_nl: int, concentration_mcg_per_ml: int) -> int:
        """Inject drug through the refill port; returns nL that reached the reservoir.

        More than the free space is not accepted (the septum refluxes it).  A pocket fill sends
        the whole injection into the pocket and disarms itself (it affects one refill).
        """
        if added_nl < 0 or concentration_mcg_per_ml < 0:
            raise ValueError("volume and concentration must not be negative")
        if self.pocket_fill_armed:
            self.pocket_fill_armed = False
            self.pocket_nl += added_nl
            self.pocket_pg += added_nl * concentration_mcg_per_ml
            return 0
        accepted = min(added_nl, self.capacity_nl - self.volume_nl)
        self.volume_nl += accepted
        self.mass_pg += accepted * concentration_mcg_per_ml
        return accepted
