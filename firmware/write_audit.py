"""What the firmware adds to the audit record of a write it carried out.

Why: the command link writes one WRITE_ACCEPTED audit record for every state-changing request
the pump carried out (who: the session's key id and role, from the endpoint), but only the
firmware knows what the write changed and what the clinician acknowledged or chose on the way.
A ``WriteNote`` is that part: the facade fills it while it carries out the request
(``PumpFirmware.note_write``), the link takes it (``PumpFirmware.take_write_note``) and packs it
with ``protocol.audit.WriteAudit``.  A direct call that no link follows (a scenario, a test)
leaves a note that the next request clears before it runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.audit import WriteChoice


@dataclass(frozen=True, slots=True)
class WriteNote:
    detail: int = 0  # ChangeKind of a committed prescription, else 0
    acknowledged: int = 0  # StageWarning bits the write acknowledged
    choice: int = WriteChoice.NONE  # e.g. the bridge bolus given or skipped
