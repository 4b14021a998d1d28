"""Pump tubing and catheter: the dead space between the reservoir and the patient.

Why: what leaves the reservoir is not what reaches the spinal fluid at that moment.  The tubing
(profile ``pump_tubing_volume_nl``) plus the catheter (length x ``catheter_volume_nl_per_cm``)
hold a column of fluid that moves first-in, first-out.  A new implant holds no drug (the
priming bolus fills it); after a concentration change the old drug still in the column reaches
the patient first (why the firmware has a bridge bolus).  The column is a short list of
(volume nL, mass pg) segments; adjacent segments of equal concentration merge, so it stays tiny.

Faults the reference device does not detect itself (issue 14), injected from the bench:

* **occlusion** (or a kink): ``occlusion_ppm`` of each stroke's volume cannot pass.  There is no
  pressure model: the rollers turn, the motor reports every stroke (no stall, no alarm) and the
  volume that cannot pass stays in the reservoir (``PeristalticMotor`` reads this field), so the
  next refill finds more drug than the pump's estimate - the sign clinics see.
* **leak** (a cracked catheter): ``leak_ppm`` of what leaves the tip goes to the tissue, not
  the CSF.
* **disconnection** or **tip migration** out of the intrathecal space: everything that leaves
  goes to the tissue (``to_tissue_*``).  Both are modelled at the tip: the column still moves
  first-in, first-out, only the destination changes.

``aspirate`` is the catheter access port: on a patent catheter it draws the column back (the
drug in it comes out) and CSF flows in at the tip; through an occluded catheter nothing comes
(a partial occlusion lets the unblocked share through); a disconnected or migrated catheter
gives no CSF.
"""

from __future__ import annotations

from collections import deque


class Catheter:
    """The fluid column from the pump outlet to the catheter tip."""

    def __init__(self, length_cm: int, volume_nl_per_cm: int, tubing_volume_nl: int) -> None:
        if length_cm < 0 or volume_nl_per_cm < 0 or tubing_volume_nl < 0:
            raise ValueError("catheter dimensions must not be negative")
        self.length_cm = length_cm
        self.volume_nl = length_cm * volume_nl_per_cm
        self.dead_space_nl = tubing_volume_nl + self.volume_nl
        # Fresh implant: the column holds drug-free fluid (saline, CSF).
        self._column: deque[list[int]] = deque()
        if self.dead_space_nl:
            self._column.append([self.dead_space_nl, 0])
        self.to_patient_nl = 0
        self.to_patient_pg = 0
        self.to_tissue_nl = (
            0  # drug solution that left a leaking, disconnected or migrated catheter
        )
        self.to_tissue_pg = 0
        self.occlusion_ppm = 0  # 1_000_000 = completely blocked
        self.leak_ppm = 0
        self.outflow_fault: str | None = None  # "disconnected" or "tip_migrated"

    @property
    def drug_in_column_pg(self) -> int:
        """Drug currently held in the tubing and catheter."""
        return sum(mass for _, mass in self._column)

    def push(self, volume_nl: int, mass_pg: int) -> tuple[int, int]:
        """Pump ``volume_nl`` (carrying ``mass_pg``) in; returns (nL, pg) pushed out at the tip."""
        if volume_nl <= 0:
            return 0, 0
        column = self._column
        if not self.dead_space_nl:
            out_nl, out_pg = volume_nl, mass_pg
        else:
            tail = column[-1] if column else None
            if tail is not None and tail[0] and tail[1] * volume_nl == mass_pg * tail[0]:
                tail[0] += volume_nl
                tail[1] += mass_pg
            else:
                column.append([volume_nl, mass_pg])
            out_nl = volume_nl
            out_pg = 0
            remaining = volume_nl
            while remaining:
                head = column[0]
                if head[0] <= remaining:
                    remaining -= head[0]
                    out_pg += head[1]
                    column.popleft()
                else:
                    part = head[1] * remaining // head[0]
                    head[0] -= remaining
                    head[1] -= part
                    out_pg += part
                    remaining = 0
        if self.outflow_fault is not None:
            tissue_nl, tissue_pg = out_nl, out_pg
        else:
            tissue_nl = out_nl * self.leak_ppm // 1_000_000
            tissue_pg = out_pg * self.leak_ppm // 1_000_000
        self.to_tissue_nl += tissue_nl
        self.to_tissue_pg += tissue_pg
        self.to_patient_nl += out_nl - tissue_nl
        self.to_patient_pg += out_pg - tissue_pg
        return out_nl, out_pg

    @property
    def faults(self) -> dict[str, object]:
        """The injected catheter faults, for ``hw_status``."""
        return {
            "occlusion_ppm": self.occlusion_ppm,
            "leak_ppm": self.leak_ppm,
            "outflow_fault": self.outflow_fault,
        }

    def clear_faults(self) -> None:
        """The catheter is patent, intact and in place again (a revision)."""
        self.occlusion_ppm = 0
        self.leak_ppm = 0
        self.outflow_fault = None

    def aspirate(self, volume_nl: int) -> tuple[int, int]:
        """Draw ``volume_nl`` back through the access port; returns (nL, pg) that came back.

        What comes first is the column nearest the port (its drug with it); CSF (drug-free in
        this model) fills the catheter from the tip.  Blocked, disconnected or migrated: less or
        nothing comes back.
        """
        if volume_nl <= 0 or self.outflow_fault is not None:
            return 0, 0
        volume_nl -= volume_nl * self.occlusion_ppm // 1_000_000
        column = self._column
        got_nl = got_pg = 0
        while column and got_nl < volume_nl:
            tail = column[-1]
            take = min(tail[0], volume_nl - got_nl)
            part = tail[1] * take // tail[0] if tail[0] else 0
            tail[0] -= take
            tail[1] -= part
            got_nl += take
            got_pg += part
            if tail[0] == 0:
                column.pop()
        csf_nl = volume_nl - got_nl  # beyond the column: CSF itself
        if got_nl:
            column.appendleft([got_nl, 0])  # CSF drawn in at the tip refills the catheter
        return got_nl + csf_nl, got_pg
