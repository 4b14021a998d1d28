"""Pump tubing and catheter: the dead space between the reservoir and the patient.

Why: what leaves the reservoir is not what reaches the spinal fluid at that moment.  The tubing
(profile ``pump_tubing_volume_nl``) plus the catheter (length x ``catheter_volume_nl_per_cm``)
hold a column of fluid that moves first-in, first-out.  A new implant holds no drug (the
priming bolus fills it); after a concentration change the old drug still in the column reaches
the patient first (why the firmware has a bridge bolus).  The column is a short list of
(volume nL, mass pg) segments; adjacent segments of equal concentration merge, so it stays tiny.
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
        self.to_patient_nl += out_nl
        self.to_patient_pg += out_pg
        return out_nl, out_pg
