"""Error codes of the wire protocol, and the exceptions the protocol library raises.

Why: every refusal the pump can give must have one stable number, one name and one meaning, so
that the pump, the programmer, the conformance suite and docs/PROTOCOL.md agree.  The table also
says, for each code, whether asking again later can help (``retryable``) and whether the pump
guarantees that nothing changed (``certain``) - the programmer uses both to decide between
retrying, asking the pump what happened (an *uncertain* outcome) and reporting a plain refusal.

``retryable`` means "the same operation, sent later as a *new* request, may succeed".  A reply is
final for its request id: the pump's request cache answers a repeated request id with the same
refusal (docs/PROTOCOL.md sections 4 and 5), so a state-changing retry takes a new request id.

Exception tree (h11's split: whose fault is it?)::

    ProtocolError
     +-- RemoteProtocolError   the peer sent something that breaks the protocol
     +-- LocalProtocolError    we were about to break it (a bug or misuse on our side)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ErrorCode(enum.IntEnum):
    """Status codes carried in every reply (0 means success)."""

    OK = 0
    # -- frame and message shape (the peer's fault) --
    UNSUPPORTED_VERSION = 1
    MALFORMED_PAYLOAD = 2
    UNKNOWN_MESSAGE = 3
    BAD_FLAGS = 4
    FRAME_TOO_LARGE = 5
    WRONG_DIRECTION = 6
    # -- authentication and pairing --
    NOT_AUTHENTICATED = 16
    BAD_TAG = 17
    REPLAYED_COUNTER = 18
    UNKNOWN_SESSION = 19
    ROLE_NOT_PERMITTED = 20
    PAIRING_WINDOW_CLOSED = 21
    PAIRING_LOCKED_OUT = 22
    PAIRING_FAILED = 23
    UNKNOWN_KEY = 24
    NO_PAIRING_IN_PROGRESS = 25
    KEY_STORE_FULL = 26
    PAIRING_BUSY = 27
    PAIRING_AWAITING_CONFIRMATION = 28
    PAIRING_REJECTED = 29
    PATIENT_PAIRING_NOT_AUTHORIZED = 30
    # -- request handling and two-phase commit --
    NOTHING_STAGED = 32
    STALE_VERSION = 33
    HASH_MISMATCH = 34
    WARNINGS_NOT_ACKNOWLEDGED = 35
    BUSY = 36
    REQUEST_ID_REUSED = 37
    REQUEST_INTERRUPTED = 38
    REQUEST_EVICTED = 39
    PROGRAMMER_HEAD_AWAY = 40
    # -- clinical validation (nothing changed) --
    DOSE_ABOVE_HARD_LIMIT = 48
    RATE_ABOVE_MAXIMUM = 49
    RATE_BELOW_MINIMUM = 50
    CONCENTRATION_NOT_IN_LIBRARY = 51
    INVALID_SCHEDULE = 52
    BOLUS_ABOVE_LIMIT = 53
    BOLUS_DURATION_INVALID = 54
    REFILL_OVER_CAPACITY = 55
    REFILL_VOLUME_INVALID = 56
    PATIENT_BOLUS_NOT_CONFIGURED = 57
    PATIENT_BOLUS_LOCKOUT = 58
    PATIENT_BOLUS_DAILY_MAXIMUM = 59
    RESERVOIR_EMPTY = 60
    BOLUS_IN_PROGRESS = 61
    PUMP_NOT_FILLED = 62
    END_OF_SERVICE = 63
    MOTOR_FAULT = 64
    CLOCK_INVALID = 65
    ALARM_CONFIG_OUT_OF_RANGE = 66
    UNKNOWN_LOG = 67
    INVALID_ARGUMENT = 68
    NOT_STOPPED = 69
    NO_BRIDGE_NEEDED = 70
    THERAPY_NOT_RUNNING = 71
    CATHETER_UNKNOWN = 76
    # -- the pump's own failures (outcome may be unknown) --
    INTERNAL_ERROR = 96
    MEMORY_ERROR = 97


class ErrorCategory(enum.Enum):
    """What kind of failure a code is; the numbering keeps each kind in its own range."""

    SUCCESS = "success"
    FRAME = "frame or message shape"  # 1-15: the peer's frame was unusable
    AUTHENTICATION = "authentication or pairing"  # 16-31
    REQUEST = "request handling"  # 32-47: two-phase commit, idempotency, busy
    CLINICAL = "clinical validation"  # 48-95: understood and refused, nothing changed
    INTERNAL = "the pump's own failure"  # 96-: outcome may be unknown


def category_of(code: int) -> ErrorCategory:
    if code == 0:
        return ErrorCategory.SUCCESS
    for upper, category in (
        (16, ErrorCategory.FRAME),
        (32, ErrorCategory.AUTHENTICATION),
        (48, ErrorCategory.REQUEST),
        (96, ErrorCategory.CLINICAL),
    ):
        if code < upper:
            return category
    return ErrorCategory.INTERNAL


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """One row of the error table."""

    code: ErrorCode
    meaning: str
    retryable: bool  # a new request (new request id) may succeed later; the same id will not
    certain: bool

    @property
    def name(self) -> str:
        return self.code.name

    @property
    def category(self) -> ErrorCategory:
        return category_of(self.code)


def _row(
    code: ErrorCode, meaning: str, *, retryable: bool = False, certain: bool = True
) -> ErrorSpec:
    return ErrorSpec(code, meaning, retryable, certain)


E = ErrorCode
ERROR_TABLE: dict[ErrorCode, ErrorSpec] = {
    s.code: s
    for s in (
        _row(E.OK, "success"),
        _row(
            E.UNSUPPORTED_VERSION, "protocol version in the header is not one the receiver speaks"
        ),
        _row(E.MALFORMED_PAYLOAD, "payload does not match the message's layout or length"),
        _row(E.UNKNOWN_MESSAGE, "message type is not in the catalog"),
        _row(
            E.BAD_FLAGS,
            "header flags are invalid for the message (e.g. RESPONSE set on a request)",
        ),
        _row(
            E.FRAME_TOO_LARGE,
            "never sent by the pump (an oversize frame is dropped and counted, not answered); "
            "a programmer's own refusal to send a payload above the pump's max_payload",
        ),
        _row(E.WRONG_DIRECTION, "message sent in a direction the catalog does not allow"),
        _row(
            E.NOT_AUTHENTICATED, "message needs an authenticated session and the frame carries none"
        ),
        _row(
            E.BAD_TAG,
            "authentication tag does not verify: frame forged, truncated or keyed wrongly",
        ),
        _row(
            E.REPLAYED_COUNTER,
            "frame counter is not above the last accepted one (replay or reorder), or more than "
            "2**24 above it (a jump that would use up the counter space)",
        ),
        _row(E.UNKNOWN_SESSION, "session id is not the pump's open session"),
        _row(E.ROLE_NOT_PERMITTED, "the paired role (patient) may not send this message"),
        _row(
            E.PAIRING_WINDOW_CLOSED,
            "pairing needs the programmer head over the pump (wand window)",
            retryable=True,
        ),
        _row(
            E.PAIRING_LOCKED_OUT,
            "too many authentication failures; pairing and session open are locked for a while",
            retryable=True,
        ),
        _row(E.PAIRING_FAILED, "pairing confirmation did not verify"),
        _row(E.UNKNOWN_KEY, "key id is not paired with this pump"),
        _row(E.NO_PAIRING_IN_PROGRESS, "pair-confirm without a pair-begin in this window"),
        _row(
            E.KEY_STORE_FULL,
            "the pump holds no more pairings; unpair one first (answers PAIR_BEGIN, or "
            "PAIR_CONFIRM if the store filled before the code was accepted)",
        ),
        _row(
            E.PAIRING_BUSY,
            "another programmer's pairing is waiting on the pump; finish or reject it there first",
            retryable=True,
        ),
        _row(
            E.PAIRING_AWAITING_CONFIRMATION,
            "proof verified; the person at the pump has not accepted the code yet: ask again",
            retryable=True,
        ),
        _row(E.PAIRING_REJECTED, "the person at the pump rejected the confirmation code"),
        _row(
            E.PATIENT_PAIRING_NOT_AUTHORIZED,
            "a patient key may pair only after a clinician session authorised it",
        ),
        _row(E.NOTHING_STAGED, "commit or abort with no staged change"),
        _row(E.STALE_VERSION, "commit names an active version that is no longer current"),
        _row(E.HASH_MISMATCH, "commit names a staged hash that is not the staged change's"),
        _row(
            E.WARNINGS_NOT_ACKNOWLEDGED,
            "staged change raised soft-limit warnings the commit did not acknowledge",
        ),
        _row(
            E.BUSY,
            "the pump is busy with another operation (e.g. a log stream); try again",
            retryable=True,
        ),
        _row(E.REQUEST_ID_REUSED, "request id already used for a different request"),
        _row(
            E.REQUEST_INTERRUPTED,
            "a reset interrupted this request while the pump carried it out; it may or may not "
            "have taken effect: read the pump's state before anything else",
            certain=False,
        ),
        _row(
            E.REQUEST_EVICTED,
            "this request id reached the pump before and its outcome has left the request cache; "
            "it may or may not have taken effect and is not carried out again: read the pump's state",
            certain=False,
        ),
        _row(
            E.PROGRAMMER_HEAD_AWAY,
            "a request that changes the pump needs the programmer head over the pump "
            "(profile: writes_need_head); reads do not",
            retryable=True,
        ),
        _row(E.DOSE_ABOVE_HARD_LIMIT, "daily dose above the drug library's hard limit"),
        _row(E.RATE_ABOVE_MAXIMUM, "flow rate above the device profile's maximum"),
        _row(E.RATE_BELOW_MINIMUM, "flow rate below the device profile's minimum"),
        _row(E.CONCENTRATION_NOT_IN_LIBRARY, "concentration is not one of the drug library's"),
        _row(
            E.INVALID_SCHEDULE,
            "flex schedule malformed (step count, order, start times, weekday map)",
        ),
        _row(E.BOLUS_ABOVE_LIMIT, "bolus dose above the profile's bolus limit"),
        _row(E.BOLUS_DURATION_INVALID, "bolus duration outside the allowed range or rate too high"),
        _row(E.REFILL_OVER_CAPACITY, "refill would exceed the reservoir capacity"),
        _row(
            E.REFILL_VOLUME_INVALID,
            "refill volumes are negative, zero where required, or inconsistent",
        ),
        _row(
            E.PATIENT_BOLUS_NOT_CONFIGURED,
            "patient bolus requested but not configured or not enabled",
        ),
        _row(
            E.PATIENT_BOLUS_LOCKOUT,
            "patient bolus requested within the lockout interval",
            retryable=True,
        ),
        _row(
            E.PATIENT_BOLUS_DAILY_MAXIMUM,
            "patient bolus would exceed the maximum per 24 h",
            retryable=True,
        ),
        _row(E.RESERVOIR_EMPTY, "reservoir estimate is empty: only a refill can restore delivery"),
        _row(E.BOLUS_IN_PROGRESS, "a bolus is running; wait for it or stop the pump"),
        _row(E.PUMP_NOT_FILLED, "the pump holds no drug yet: refill before programming delivery"),
        _row(E.END_OF_SERVICE, "battery end of service: the pump no longer delivers"),
        _row(E.MOTOR_FAULT, "motor stall alarm is active: delivery cannot be programmed"),
        _row(E.CLOCK_INVALID, "clock value out of range"),
        _row(E.ALARM_CONFIG_OUT_OF_RANGE, "alarm setting outside the profile's range"),
        _row(E.UNKNOWN_LOG, "log id is not therapy, alarm, audit or daily"),
        _row(E.INVALID_ARGUMENT, "a field is out of its documented range"),
        _row(E.NOT_STOPPED, "resume asked while the pump is not stopped"),
        _row(
            E.NO_BRIDGE_NEEDED,
            "bridge bolus asked but the last refill did not change concentration",
        ),
        _row(
            E.THERAPY_NOT_RUNNING,
            "no basal therapy is running (stopped, safe minimum, or never programmed)",
        ),
        _row(
            E.CATHETER_UNKNOWN,
            "the pump knows no catheter length (none given at implant, refill or prime)",
        ),
        _row(
            E.INTERNAL_ERROR,
            "the pump failed while handling the request; outcome unknown",
            retryable=True,
            certain=False,
        ),
        _row(
            E.MEMORY_ERROR,
            "non-volatile memory failed; outcome unknown, check pump state",
            certain=False,
        ),
    )
}
del E

assert set(ERROR_TABLE) == set(ErrorCode), "every error code needs a row"


def error_spec(code: int) -> ErrorSpec:
    """The table row for a numeric code; unknown numbers map to INTERNAL_ERROR semantics."""
    try:
        return ERROR_TABLE[ErrorCode(code)]
    except ValueError:
        return ERROR_TABLE[ErrorCode.INTERNAL_ERROR]


class ProtocolError(Exception):
    """Base of every exception the protocol library raises on purpose."""

    def __init__(self, message: str, code: ErrorCode = ErrorCode.MALFORMED_PAYLOAD) -> None:
        super().__init__(message)
        self.code = code


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol (bad frame, bad tag, replay, wrong role...)."""


class LocalProtocolError(ProtocolError):
    """We were about to break the protocol: a bug or a misuse of the API on our side."""


class Refusal(Exception):
    """A request the pump understood and refused; carries the code sent back in the reply."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
