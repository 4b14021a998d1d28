"""Exceptions of the programmer, each tied to one documented exit code of ``pumpctl``.

Why: a script driving ``pumpctl`` must tell "the pump said no" from "the line is dead and nothing
changed" from "it may have happened - go and look".  Every failure the library raises on purpose
is one of these classes, and the class alone decides the exit code::

    ProgrammerError                 (base; never raised itself)
     +-- PumpRefused           1    the pump understood and refused (carries ErrorCode + reason)
     |    +-- IncompatiblePump      not sent: the pump's HELLO does not announce it (protocol
     |                              version, message, capability, frame size)
     +-- UsageError            2    bad command line, bad unit, declined confirmation
     |    +-- UnitError             a value without its unit or with the wrong one
     +-- AuthenticationError   3    pairing failed, no key, key unknown to the pump, role refused
     +-- LinkError             4    no answer / port gone, and it is CERTAIN that nothing changed
     +-- UncertainOutcome      5    a state-changing request may or may not have run and the pump
     |                              could not be asked; the request is kept in the journal
     +-- DryRun                0    --dry-run stopped at the Finish view; nothing was written

Exit code 0 is success.  ``exit_code_for`` maps an exception to its code; the CLI lets any
exception outside this tree propagate with its traceback, because it is a bug.
"""

from __future__ import annotations

from protocol.errors import ERROR_TABLE, ErrorCategory, ErrorCode, category_of

from .terminal import safe_text


class ProgrammerError(Exception):
    """Base of every error the programmer raises on purpose."""

    exit_code = 1


class PumpRefused(ProgrammerError):
    """The pump refused the request; nothing changed (the pump guarantees it for these codes)."""

    exit_code = 1

    def __init__(self, code: ErrorCode | int, reason: str, what: str = "") -> None:
        self.code = code
        self.reason = reason = safe_text(reason)  # the pump's words: wire text, never raw
        self.what = what
        name = code.name if isinstance(code, ErrorCode) else f"error {code}"
        prefix = f"{what}: " if what else ""
        meaning = ERROR_TABLE[code].meaning if isinstance(code, ErrorCode) else ""
        detail = reason or meaning
        later = ""
        if isinstance(code, ErrorCode) and ERROR_TABLE[code].retryable:
            later = " (this may succeed later, as a new request: run the command again)"
        super().__init__(f"{prefix}pump refused: {name}: {detail}{later}")


class IncompatiblePump(PumpRefused):
    """Not sent: what the pump announced in HELLO rules it out, so nothing changed.

    No common protocol version, a message or capability the pump does not announce (flex
    schedules, patient boluses...), or a request larger than the pump's ``max_payload``.  The
    code is the one the pump itself would have answered with.
    """

    def __init__(self, code: ErrorCode, reason: str, what: str = "") -> None:
        super().__init__(code, reason, what)
        prefix = f"{what}: " if what else ""
        self.args = (f"{prefix}not supported by this pump ({code.name}): {reason}",)


class UsageError(ProgrammerError):
    """The command line is wrong, a value is refused at the edge, or the user declined."""

    exit_code = 2


class UnitError(UsageError, ValueError):
    """A quantity without a unit, with the wrong unit, or out of its sane range."""


class AuthenticationError(ProgrammerError):
    """Pairing or authentication failed (no key, unknown key, bad proof, role not permitted)."""

    exit_code = 3

    def __init__(self, message: str, code: ErrorCode | int | None = None) -> None:
        super().__init__(message)
        self.code = code


class LinkError(ProgrammerError):
    """The link failed and it is certain that nothing changed on the pump."""

    exit_code = 4


class UncertainOutcome(ProgrammerError):
    """A state-changing request may have run; the pump could not be asked.

    The message says what to check.  The request stays in the journal next to the key store and
    the next session with this pump resolves it before sending anything else.
    """

    exit_code = 5

    def __init__(self, message: str, request_id: int, what: str) -> None:
        super().__init__(message)
        self.request_id = request_id
        self.what = what


class DryRun(ProgrammerError):
    """``--dry-run`` stopped at the Finish view: nothing was written (exit 0, not an error)."""

    exit_code = 0

    def __init__(self, view: object) -> None:
        super().__init__("dry run: nothing was written to the pump")
        self.view = view


def refusal(code: int, reason: str, what: str = "") -> ProgrammerError:
    """The exception for a pump's certain refusal with ``code`` (``reason`` is wire text)."""
    reason = safe_text(reason)
    try:
        known: ErrorCode | int = ErrorCode(code)
    except ValueError:
        known = code
    if category_of(code) is ErrorCategory.AUTHENTICATION:  # exit code 3 rather than 1
        name = known.name if isinstance(known, ErrorCode) else str(code)
        hint = _AUTH_HINTS.get(known, "")
        prefix = f"{what}: " if what else ""
        return AuthenticationError(f"{prefix}{name}: {reason}{hint}", known)
    return PumpRefused(known, reason, what)


_AUTH_HINTS: dict[ErrorCode | int, str] = {
    ErrorCode.PAIRING_WINDOW_CLOSED: (
        " (the pairing window opens while the programmer head is over the pump,"
        " e.g. `vpump ctl wand on`)"
    ),
    ErrorCode.UNKNOWN_KEY: " (the pump no longer knows this programmer: pair again)",
    ErrorCode.ROLE_NOT_PERMITTED: " (this programmer's key has a role that may not do this)",
    ErrorCode.PAIRING_LOCKED_OUT: (
        " (too many failed pairings: place the programmer head over the pump again,"
        " e.g. `vpump ctl wand off` then `wand on`, or wait for the lockout to end)"
    ),
    ErrorCode.PAIRING_BUSY: (
        " (another pairing is waiting at the pump: if it is not yours, reject it there with"
        " `vpump ctl pairing reject`, then pair again)"
    ),
    ErrorCode.PAIRING_REJECTED: " (nothing was stored; pair again if it was a mistake)",
    ErrorCode.PATIENT_PAIRING_NOT_AUTHORIZED: (
        " (a clinician must first run `pumpctl pairings authorize-patient`)"
    ),
}


def exit_code_for(error: BaseException) -> int:
    """The documented exit code for ``error``; anything outside the tree is a bug (70)."""
    if isinstance(error, ProgrammerError):
        return error.exit_code
    return 70
