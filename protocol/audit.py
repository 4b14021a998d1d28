"""Which refusal is written to the audit log as what, which counts towards the lockout, and
how an accepted write is recorded (``WriteAudit``: who changed what, with which acknowledgements).

Why: one rule, stated once.  The firmware's audit writer and the pairing lockout read these sets,
and docs/PROTOCOL.md's "Audit and lockout" table is rendered from them (docs/tools/doc_tables.py),
so the document cannot say one thing while the pump does another.  Pure data, no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .catalog import MsgType
from .enums import LogEvent
from .errors import ErrorCategory, ErrorCode, category_of

#: The only code that counts towards the pairing lockout, and only from these messages: a failed
#: pairing exchange is the one guess at a low-entropy secret (the 6-digit code).
LOCKOUT_FAILURES = frozenset({ErrorCode.PAIRING_FAILED})
LOCKOUT_COUNTED_FROM = frozenset({MsgType.PAIR_BEGIN, MsgType.PAIR_CONFIRM})

#: Authentication-range refusals that say "pairing cannot proceed now", not "someone is guessing":
#: audited as PAIRING_REFUSED rather than AUTH_FAILURE.
PAIRING_REFUSALS = frozenset(
    {
        ErrorCode.PAIRING_WINDOW_CLOSED,
        ErrorCode.PAIRING_LOCKED_OUT,
        ErrorCode.NO_PAIRING_IN_PROGRESS,
        ErrorCode.KEY_STORE_FULL,
        ErrorCode.PAIRING_BUSY,
        ErrorCode.PATIENT_PAIRING_NOT_AUTHORIZED,
    }
)

#: Answers that are not refused frames and are never audited one by one: a poll while the person
#: at the pump has not decided, and the decision "rejected" (written once as PAIRING_REJECTED when
#: it is made, with the role and this code).
NOT_AUDITED_PER_FRAME = frozenset(
    {ErrorCode.PAIRING_AWAITING_CONFIRMATION, ErrorCode.PAIRING_REJECTED}
)

#: Refused frames written one by one per error code and window; the rest are counted and written
#: as one REJECTIONS_SUPPRESSED record (a = code, b = how many) when the window ends or before
#: any log is read.  Unauthenticated requests dropped unanswered over the pump's budget are
#: counted the same way under code BUSY.
AUDIT_BURST = 16
AUDIT_WINDOW_S = 3600


def audit_event_for(code: ErrorCode) -> LogEvent:
    """The audit record written for a frame refused with ``code`` by the protocol endpoint."""
    if code in PAIRING_REFUSALS:
        return LogEvent.PAIRING_REFUSED
    if category_of(code) is ErrorCategory.AUTHENTICATION:
        return LogEvent.AUTH_FAILURE
    return LogEvent.REQUEST_REFUSED


#: State-changing requests carried out without a WRITE_ACCEPTED record: staging changes nothing
#: the patient receives (the commit's record names the change and its acknowledgements), and a
#: patient's bolus request is in the therapy log already (BOLUS_STARTED, or
#: PATIENT_BOLUS_REFUSED); several a day for years would push the security history out of the
#: audit ring.
NOT_AUDITED_WRITES = frozenset(
    {MsgType.STAGE_PRESCRIPTION, MsgType.STAGE_REFILL, MsgType.PATIENT_BOLUS_REQUEST}
)


class WriteChoice(enum.IntEnum):
    """A choice the clinician made in a write, beyond its parameters (the audit record's
    ``choice``): e.g. whether the bridge bolus of a concentration change was given or skipped."""

    NONE = 0
    BRIDGE_PROGRAMMED = 1  # the bridge bolus the pump computed was given
    BRIDGE_SKIPPED = 2  # the bridge was skipped, explicitly


@dataclass(frozen=True, slots=True)
class WriteAudit:
    """The WRITE_ACCEPTED audit record: who (key id, role) carried out which state-changing
    request, with what it changed (``detail``: the ChangeKind of a committed prescription, else
    0), the warnings acknowledged (StageWarning bits) and a choice (``WriteChoice``).

    Packed into a log record as ``a`` = key id (31 bits), ``b`` = message type | role << 8 |
    detail << 16 | choice << 24 (each one byte, choice below 128), ``flags`` = acknowledged
    (16 bits)."""

    key_id: int
    role: int  # Role
    msg: int  # MsgType
    detail: int = 0
    acknowledged: int = 0  # StageWarning bits
    choice: int = WriteChoice.NONE

    def arguments(self) -> tuple[int, int, int]:
        """(a, b, flags) of the log record."""
        b = (
            (self.msg & 0xFF)
            | (self.role & 0xFF) << 8
            | (self.detail & 0xFF) << 16
            | (self.choice & 0x7F) << 24
        )
        return self.key_id & 0x7FFF_FFFF, b, self.acknowledged & 0xFFFF

    @classmethod
    def from_record(cls, a: int, b: int, flags: int) -> WriteAudit:
        b &= 0xFFFF_FFFF
        return cls(
            a & 0x7FFF_FFFF,
            (b >> 8) & 0xFF,
            b & 0xFF,
            (b >> 16) & 0xFF,
            flags & 0xFFFF,
            (b >> 24) & 0x7F,
        )
