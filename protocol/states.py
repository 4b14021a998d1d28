"""The endpoints' state machines as data: states, events, and one table of transitions each.

Why: h11's ``_state.py``.  Pairing and session progress used to be a handful of Optionals and
flags whose combinations meant states nobody had named; here every state has a name, every
legal step is a row of a table, and one function applies a step or refuses it.  The endpoints
hold the data that belongs to a state (pairing secrets, the session's keys) beside it; the
tables say only which state follows which.  docs/PROTOCOL.md draws its state diagrams from these
same tables (docs/tools/state_diagram.py), and a test checks the drawing is current.

Theory of operation
-------------------
Each endpoint runs two independent machines, pairing and session (a programmer may pair a new
key while it holds a session with an old one).  An endpoint fires an *event* of a machine at the
moment the thing happens - a request sent, a reply verified, a decision at the pump - and
``transition`` looks the (state, event) pair up in the machine's table: the pair is there, and
the machine moves to the state it names, or it is not, and ``LocalProtocolError`` is raised with
the state unchanged.  Such an error is the endpoint's own caller (or the endpoint) breaking the
protocol, e.g. PAIR_CONFIRM before PAIR_BEGIN has been answered.

What the peer sends is checked before anything is fired: a reply is matched to the request
awaiting it by message and sequence number, and a request the pump refuses (PAIRING_BUSY,
NO_PAIRING_IN_PROGRESS...) is answered with an error reply and fires nothing.  So a peer can
never drive a machine into an illegal step; only a verified, expected message moves it.

Three timers gate the pump's pairing machine rather than being states of it, because they lapse
by themselves: the wand window (``pairing_window_s``), the time a begun pairing waits for its
proof (``pairing_confirm_s``) and a lockout.  When one of the first two has run out, the pump
notices at the next call that passes ``now`` and fires ``DROP``; a lockout starting fires
``DROP`` too, and while it lasts PAIR_BEGIN and PAIR_CONFIRM are refused and fire nothing.

The device's pairing states: ``AWAITING_PROOF`` (PAIR_BEGIN answered, the code is on the pump's
display), ``ACCEPTED`` (the person at the pump accepted the code before the programmer's proof
arrived), ``AWAITING_ACCEPTANCE`` (the proof verified, the person at the pump has not decided).
The key is stored (``STORE``) when the proof has verified and the code is accepted, in whichever
order they come (or at once on a rig with ``auto_accept_pairing``).  ``PAIRED`` and ``REFUSED``
remember how the pairing ended, so a programmer still polling with PAIR_CONFIRM gets the
outcome; a session opening, or the next PAIR_BEGIN, forgets it.

Where they run: protocol/programmer.py (both programmer machines), protocol/device.py (the
pump's session) and protocol/device_pairing.py (the pump's pairing).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar

from .errors import LocalProtocolError

S = TypeVar("S", bound=enum.Enum)
E = TypeVar("E", bound=enum.Enum)


class ProgrammerPairingState(enum.Enum):
    IDLE = "idle"  # no pairing under way
    BEGUN = "begun"  # PAIR_BEGIN sent, its reply awaited
    CODE_SHOWN = "code shown"  # keys derived, the code shown; PAIR_CONFIRM not sent yet
    CONFIRMING = "confirming"  # PAIR_CONFIRM sent (again while the pump awaits its person)


class ProgrammerPairingEvent(enum.Enum):
    SEND_BEGIN = "send PAIR_BEGIN"
    KEYS_DERIVED = "PAIR_BEGIN answered, keys derived"
    BEGIN_FAILED = "PAIR_BEGIN refused, or its keys do not verify"
    SEND_CONFIRM = "send PAIR_CONFIRM"
    AWAITING_PERSON = "PAIR_CONFIRM: the pump awaits its person"
    CONFIRM_ANSWERED = "PAIR_CONFIRM answered: paired or refused"


class DevicePairingState(enum.Enum):
    IDLE = "idle"  # no pairing waiting, no outcome to report
    AWAITING_PROOF = "awaiting proof"  # PAIR_BEGIN answered, the code on the display
    ACCEPTED = "accepted"  # the code accepted at the pump before the proof arrived
    AWAITING_ACCEPTANCE = "awaiting acceptance"  # the proof verified; the person decides
    PAIRED = "paired"  # the key stored; PAIR_CONFIRM polls get it
    REFUSED = "refused"  # ended without a key; PAIR_CONFIRM polls get the reason


class DevicePairingEvent(enum.Enum):
    BEGIN = "PAIR_BEGIN accepted"
    PROOF = "PAIR_CONFIRM proof verified"
    ACCEPT = "code accepted at the pump"
    STORE = "key stored (proved and accepted)"
    DROP = "rejected, window closed, timed out, locked out or not storable"
    FORGET = "a session opened: the outcome is known"


class SessionState(enum.Enum):
    CLOSED = "closed"
    OPENING = "opening"  # programmer only: SESSION_OPEN sent, its reply awaited
    OPEN = "open"


class ProgrammerSessionEvent(enum.Enum):
    SEND_OPEN = "send SESSION_OPEN"
    OPEN_VERIFIED = "SESSION_OPEN answered, proof verified"
    OPEN_FAILED = "SESSION_OPEN refused, or its proof does not verify"
    CLOSE = "close_session()"


class DeviceSessionEvent(enum.Enum):
    OPEN = "SESSION_OPEN answered"
    CLOSE = "SESSION_CLOSE"
    KEY_FORGOTTEN = "its key unpaired or replaced"
    RESET = "state imported (a reset)"


@dataclass(frozen=True)
class Machine(Generic[S, E]):
    """One state machine: its states' enum, where it starts, and its table of transitions."""

    name: str
    states: type[S]
    events: type[E]
    initial: S
    table: Mapping[S, Mapping[E, S]]  # state -> event -> next state; absent = illegal
    #: What to do instead, told with the error when an event is refused (a caller's mistake).
    hints: Mapping[E, str] = field(default_factory=dict)

    def transitions(self) -> list[tuple[S, E, S]]:
        """Every legal step, in table order."""
        return [(s, e, n) for s, row in self.table.items() for e, n in row.items()]


def transition(machine: Machine[S, E], state: S, event: E) -> S:
    """The state after ``event`` in ``state``; LocalProtocolError if the table has no such step."""
    try:
        return machine.table[state][event]
    except KeyError:
        hint = machine.hints.get(event)
        raise LocalProtocolError(
            f"{machine.name}: {event.name} is not allowed in state {state.name}"
            + (f" ({hint})" if hint else "")
        ) from None


class StateCell(Generic[S, E]):
    """The current state of one machine, moved only by ``fire``."""

    __slots__ = ("machine", "state")

    def __init__(self, machine: Machine[S, E]) -> None:
        self.machine = machine
        self.state: S = machine.initial

    def fire(self, event: E) -> S:
        self.state = transition(self.machine, self.state, event)
        return self.state

    def __repr__(self) -> str:
        return f"<{self.machine.name}: {self.state.name}>"


_PP, _PE = ProgrammerPairingState, ProgrammerPairingEvent
PROGRAMMER_PAIRING: Machine[ProgrammerPairingState, ProgrammerPairingEvent] = Machine(
    "programmer pairing",
    _PP,
    _PE,
    _PP.IDLE,
    {
        # begin_pairing() starts over from anywhere: a retry, or a new programmer key
        _PP.IDLE: {_PE.SEND_BEGIN: _PP.BEGUN},
        _PP.BEGUN: {
            _PE.SEND_BEGIN: _PP.BEGUN,
            _PE.KEYS_DERIVED: _PP.CODE_SHOWN,
            _PE.BEGIN_FAILED: _PP.IDLE,
        },
        _PP.CODE_SHOWN: {_PE.SEND_BEGIN: _PP.BEGUN, _PE.SEND_CONFIRM: _PP.CONFIRMING},
        _PP.CONFIRMING: {
            _PE.SEND_BEGIN: _PP.BEGUN,
            _PE.SEND_CONFIRM: _PP.CONFIRMING,
            _PE.AWAITING_PERSON: _PP.CONFIRMING,
            _PE.CONFIRM_ANSWERED: _PP.IDLE,
        },
    },
    {_PE.SEND_CONFIRM: "no pairing secrets yet: wait for the PAIR_BEGIN reply"},
)

_DP, _DE = DevicePairingState, DevicePairingEvent
DEVICE_PAIRING: Machine[DevicePairingState, DevicePairingEvent] = Machine(
    "pump pairing",
    _DP,
    _DE,
    _DP.IDLE,
    {
        _DP.IDLE: {_DE.BEGIN: _DP.AWAITING_PROOF, _DE.FORGET: _DP.IDLE},
        _DP.AWAITING_PROOF: {
            _DE.PROOF: _DP.AWAITING_ACCEPTANCE,
            _DE.ACCEPT: _DP.ACCEPTED,
            _DE.STORE: _DP.PAIRED,  # auto_accept_pairing: stored as the proof verifies
            _DE.DROP: _DP.REFUSED,
            _DE.FORGET: _DP.AWAITING_PROOF,
        },
        _DP.ACCEPTED: {
            _DE.ACCEPT: _DP.ACCEPTED,
            _DE.STORE: _DP.PAIRED,  # the proof arrived after the acceptance
            _DE.DROP: _DP.REFUSED,
            _DE.FORGET: _DP.ACCEPTED,
        },
        _DP.AWAITING_ACCEPTANCE: {
            _DE.PROOF: _DP.AWAITING_ACCEPTANCE,  # the programmer polls
            _DE.STORE: _DP.PAIRED,
            _DE.DROP: _DP.REFUSED,
            _DE.FORGET: _DP.AWAITING_ACCEPTANCE,
        },
        _DP.PAIRED: {_DE.BEGIN: _DP.AWAITING_PROOF, _DE.FORGET: _DP.IDLE},
        _DP.REFUSED: {_DE.BEGIN: _DP.AWAITING_PROOF, _DE.FORGET: _DP.IDLE},
    },
)
#: The device pairing states in which a pairing waits (for its proof, for the person, or both).
WAITING_PAIRING_STATES = frozenset({_DP.AWAITING_PROOF, _DP.ACCEPTED, _DP.AWAITING_ACCEPTANCE})

_SS, _PS, _DS = SessionState, ProgrammerSessionEvent, DeviceSessionEvent
PROGRAMMER_SESSION: Machine[SessionState, ProgrammerSessionEvent] = Machine(
    "programmer session",
    _SS,
    _PS,
    _SS.CLOSED,
    {
        _SS.CLOSED: {_PS.SEND_OPEN: _SS.OPENING, _PS.CLOSE: _SS.CLOSED},
        _SS.OPENING: {
            _PS.SEND_OPEN: _SS.OPENING,
            _PS.OPEN_VERIFIED: _SS.OPEN,
            _PS.OPEN_FAILED: _SS.CLOSED,
            _PS.CLOSE: _SS.CLOSED,
        },
        _SS.OPEN: {_PS.SEND_OPEN: _SS.OPENING, _PS.CLOSE: _SS.CLOSED},
    },
)
DEVICE_SESSION: Machine[SessionState, DeviceSessionEvent] = Machine(
    "pump session",
    _SS,
    _DS,
    _SS.CLOSED,
    {
        _SS.CLOSED: {_DS.OPEN: _SS.OPEN, _DS.RESET: _SS.CLOSED},
        _SS.OPEN: {
            _DS.OPEN: _SS.OPEN,  # one session at a time: a new one ends the old
            _DS.CLOSE: _SS.CLOSED,
            _DS.KEY_FORGOTTEN: _SS.CLOSED,
            _DS.RESET: _SS.CLOSED,
        },
    },
)

#: Every machine, in the order docs/PROTOCOL.md draws them.
MACHINES: tuple[Machine[Any, Any], ...] = (
    PROGRAMMER_PAIRING,
    DEVICE_PAIRING,
    PROGRAMMER_SESSION,
    DEVICE_SESSION,
)


class ProgrammerState(NamedTuple):
    """``ProgrammerEndpoint.state``."""

    pairing: ProgrammerPairingState
    session: SessionState


class DeviceState(NamedTuple):
    """``DeviceEndpoint.state``."""

    pairing: DevicePairingState
    session: SessionState
