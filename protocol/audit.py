"""Which refusal is written to the audit log as what, and which counts towards the lockout.

Why: one rule, stated once.  The firmware's audit writer and the pairing lockout read these sets,
and docs/PROTOCOL.md's "Audit and lockout" table is rendered from them (docs/tools/doc_tables.py),
so the document cannot say one thing while the pump does another.  Pure data, no I/O.
"""

from __future__ import annotations

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
