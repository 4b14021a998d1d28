"""Events that cross the boundary between an endpoint and the code using it.

Why: h11's model.  The application never sees frames, tags or counters: it sends and receives
small frozen dataclasses.  ``NEED_DATA`` is the sentinel ``next_event`` returns when it cannot
produce an event until more bytes arrive.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Final

from .catalog import MsgType
from .enums import Role
from .errors import ErrorCode


class NeedData(enum.Enum):
    """The type of ``NEED_DATA``: one member, so ``event is NEED_DATA`` narrows under mypy."""

    NEED_DATA = "NEED_DATA"

    def __repr__(self) -> str:
        return self.value


NEED_DATA: Final = NeedData.NEED_DATA


@dataclass(frozen=True, slots=True)
class Request:
    """A request: sent by the programmer, delivered by the device endpoint to the firmware."""

    msg: MsgType
    body: dict[str, Any] = field(default_factory=dict)
    seq: int = 0
    role: Role | None = None  # the session's role (device side); None when unauthenticated

    @property
    def request_id(self) -> int | None:
        rid = self.body.get("request_id")
        return int(rid) if rid is not None else None


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply to the request with the same ``seq`` and ``msg``; ``status`` 0 means success."""

    msg: MsgType
    seq: int
    status: int = 0
    body: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    more: bool = False  # further frames of this reply follow (streamed replies)
    authenticated: bool = False

    @property
    def ok(self) -> bool:
        return self.status == 0


@dataclass(frozen=True, slots=True)
class Notification:
    """An unsolicited event from the pump (telemetry, alarm raised or cleared)."""

    msg: MsgType
    seq: int
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FrameRejected:
    """A frame that arrived whole but was refused: forged tag, replay, wrong session or role...

    On the device it has already been answered with an error reply and is reported so the
    firmware can write it to the audit log; on the programmer it was dropped.
    """

    code: ErrorCode
    reason: str
    msg_type: int | None = None
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class PairingCode:
    """Programmer side: both sides derived keys; show this code and ask the user to compare."""

    code: str  # "123 456"


@dataclass(frozen=True, slots=True)
class PairingCompleted:
    key_id: int
    role: Role
    pairing_key: bytes = field(repr=False)
    replaced_key_id: int = 0  # device side: the same programmer's previous key, now forgotten


@dataclass(frozen=True, slots=True)
class PairingPending:
    """Device side: a pairing waits for the person at the pump.

    ``confirmed`` is False when PAIR_BEGIN has been answered (the code exists) and True once the
    programmer's proof verified: the key is stored only when the bench accepts ``code``.
    """

    code: str  # "123 456", as the programmer shows it
    role: Role
    programmer_id: int
    confirmed: bool
    replaces_key_id: int = 0
    accepted: bool = False  # accepted at the pump before the programmer's proof arrived


@dataclass(frozen=True, slots=True)
class PairingRejected:
    """Device side: a pairing that got as far as a code ended without a stored key."""

    role: Role
    code: ErrorCode  # PAIRING_REJECTED (at the pump), PAIRING_WINDOW_CLOSED, ...
    reason: str


@dataclass(frozen=True, slots=True)
class PatientPairingAuthorized:
    """Device side: a clinician session allowed one patient pairing until ``until``."""

    key_id: int  # the clinician's key
    until: int


@dataclass(frozen=True, slots=True)
class SessionOpened:
    session_id: int
    key_id: int
    role: Role


@dataclass(frozen=True, slots=True)
class SessionClosed:
    session_id: int


@dataclass(frozen=True, slots=True)
class Unpaired:
    key_id: int
    role: Role | None = None  # the forgotten key's role (device side)


@dataclass(frozen=True, slots=True)
class LockoutStarted:
    until: int  # device time when pairing is allowed again (a wand placement lifts it sooner)


Event = (
    Request
    | Reply
    | Notification
    | FrameRejected
    | PairingCode
    | PairingCompleted
    | PairingPending
    | PairingRejected
    | PatientPairingAuthorized
    | SessionOpened
    | SessionClosed
    | Unpaired
    | LockoutStarted
)
