"""The endpoints' state machines: every table row, every refused step, ``state`` along real runs.

protocol/states.py holds the tables; these tests walk every legal transition, try every pair the
table leaves out (refused with LocalProtocolError, the state unchanged), check that every state
is reachable, follow ``state`` of both endpoints through a pairing and a session over the real
endpoints, and check that docs/PROTOCOL.md draws the diagrams from the tables as they are now.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from state_diagram import state_diagram_sections

from protocol import (
    NEED_DATA,
    DevicePairingState,
    DeviceState,
    ErrorCode,
    Event,
    LocalProtocolError,
    MsgType,
    NeedData,
    ProgrammerEndpoint,
    ProgrammerPairingState,
    ProgrammerState,
    Request,
    Role,
    SessionState,
)
from protocol.states import (
    DEVICE_PAIRING,
    DEVICE_SESSION,
    MACHINES,
    PROGRAMMER_PAIRING,
    PROGRAMMER_SESSION,
    WAITING_PAIRING_STATES,
    Machine,
    StateCell,
    transition,
)

from .linkpair import LinkPair

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "PROTOCOL.md").read_text(encoding="utf-8")

_PP, _DP, _SS = ProgrammerPairingState, DevicePairingState, SessionState

ROWS = [(m, s, e, n) for m in MACHINES for s, e, n in m.transitions()]
ILLEGAL = [
    (m, s, e) for m in MACHINES for s in m.states for e in m.events if e not in m.table.get(s, {})
]


def _row_id(row: tuple[Machine[Any, Any], Any, Any, Any]) -> str:
    machine, state, event, after = row
    return f"{machine.name}:{state.name}-{event.name}->{after.name}"


@pytest.mark.parametrize("row", ROWS, ids=[_row_id(r) for r in ROWS])
def test_every_transition_of_every_table_is_taken(
    row: tuple[Machine[Any, Any], Any, Any, Any],
) -> None:
    machine, state, event, after = row
    assert transition(machine, state, event) is after
    cell = StateCell(machine)
    cell.state = state
    assert cell.fire(event) is after and cell.state is after


@pytest.mark.parametrize(
    "step", ILLEGAL, ids=[f"{m.name}:{s.name}-{e.name}" for m, s, e in ILLEGAL]
)
def test_every_step_the_table_leaves_out_is_refused(
    step: tuple[Machine[Any, Any], Any, Any],
) -> None:
    machine, state, event = step
    with pytest.raises(
        LocalProtocolError, match=f"{event.name} is not allowed in state {state.name}( \\(|$)"
    ):
        transition(machine, state, event)
    cell = StateCell(machine)
    cell.state = state
    with pytest.raises(LocalProtocolError):
        cell.fire(event)
    assert cell.state is state  # a refused step moves nothing


def test_the_tables_have_illegal_steps_and_name_only_their_own_states_and_events() -> None:
    assert len(ILLEGAL) > 20  # a table that allowed everything would check nothing
    for machine in MACHINES:
        assert machine.initial in machine.table
        for state, event, after in machine.transitions():
            assert isinstance(state, machine.states) and isinstance(after, machine.states)
            assert isinstance(event, machine.events)


@pytest.mark.parametrize("machine", MACHINES, ids=[m.name for m in MACHINES])
def test_every_state_is_reachable_and_none_is_a_trap(machine: Machine[Any, Any]) -> None:
    reached, frontier = {machine.initial}, [machine.initial]
    while frontier:
        for after in machine.table.get(frontier.pop(), {}).values():
            if after not in reached:
                reached.add(after)
                frontier.append(after)
    assert reached == set(machine.table)  # every state with a row is reachable...
    for state in reached:  # ...and every reachable state can get back to the start
        back, todo = {state}, [state]
        while todo:
            for after in machine.table.get(todo.pop(), {}).values():
                if after not in back:
                    back.add(after)
                    todo.append(after)
        assert machine.initial in back, state


def test_the_machines_the_endpoints_run() -> None:
    assert MACHINES == (PROGRAMMER_PAIRING, DEVICE_PAIRING, PROGRAMMER_SESSION, DEVICE_SESSION)
    assert _SS.OPENING not in DEVICE_SESSION.table  # the pump opens a session in one step
    assert {_DP.AWAITING_PROOF, _DP.ACCEPTED, _DP.AWAITING_ACCEPTANCE} == WAITING_PAIRING_STATES


def test_need_data_is_the_one_member_of_its_type() -> None:
    assert NEED_DATA is NeedData.NEED_DATA and list(NeedData) == [NEED_DATA]
    assert repr(NEED_DATA) == "NEED_DATA"
    event: Event | NeedData = ProgrammerEndpoint().next_event()
    assert event is NEED_DATA


def _p(link: LinkPair) -> ProgrammerState:
    """The programmer's state (a call, so mypy does not narrow it across steps)."""
    return link.programmer.state


def _d(link: LinkPair) -> DeviceState:
    return link.device.state


def _drain(programmer: ProgrammerEndpoint) -> list[Event]:
    """``is NEED_DATA`` narrows: what is left is an Event (mypy checks this function)."""
    events: list[Event] = []
    while True:
        event = programmer.next_event()
        if event is NEED_DATA:
            return events
        events.append(event)


def test_state_follows_a_pairing_on_both_sides() -> None:
    link = LinkPair()
    prog, dev = link.programmer, link.device
    assert _p(link) == ProgrammerState(_PP.IDLE, _SS.CLOSED)
    assert _d(link) == DeviceState(_DP.IDLE, _SS.CLOSED)
    link.request(MsgType.HELLO)
    link.device.open_pairing_window(link.now)
    begin = prog.begin_pairing(Role.CLINICIAN, bytes(range(32)), bytes(16), link.next_seq())
    assert _p(link).pairing is _PP.BEGUN
    link.programmer.receive_data(link.to_device(begin))
    assert [type(e).__name__ for e in _drain(prog)] == ["PairingCode", "Reply"]
    assert _p(link).pairing is _PP.CODE_SHOWN and _d(link).pairing is _DP.AWAITING_PROOF

    confirm = prog.confirm_pairing(link.next_seq())
    assert _p(link).pairing is _PP.CONFIRMING
    link.roundtrip(confirm)  # the proof verifies; the person at the pump has not decided
    assert _p(link).pairing is _PP.CONFIRMING and _d(link).pairing is _DP.AWAITING_ACCEPTANCE
    pending = dev.pending_pairing(link.now)
    assert pending is not None and pending.confirmed and not pending.accepted

    assert dev.accept_pairing(pending.code, link.now) is not None
    assert _d(link).pairing is _DP.PAIRED
    link.roundtrip(prog.confirm_pairing(link.next_seq()))  # the poll gets the key
    assert _p(link) == ProgrammerState(_PP.IDLE, _SS.CLOSED)
    assert _d(link) == DeviceState(_DP.PAIRED, _SS.CLOSED)


def test_accepting_at_the_pump_before_the_proof_stores_the_key_when_the_proof_comes() -> None:
    link = LinkPair()
    link.request(MsgType.HELLO)
    link.device.open_pairing_window(link.now)
    link.roundtrip(link.programmer.begin_pairing(Role.CLINICIAN, bytes(range(32)), bytes(16), 1))
    pending = link.device.pending_pairing(link.now)
    assert pending is not None
    assert link.device.accept_pairing(pending.code, link.now) is None  # no proof yet
    assert _d(link).pairing is _DP.ACCEPTED
    again = link.device.pending_pairing(link.now)
    assert again is not None and again.accepted and not again.confirmed
    link.roundtrip(link.programmer.confirm_pairing(2))
    assert _d(link).pairing is _DP.PAIRED
    assert _p(link).pairing is _PP.IDLE


def test_a_dropped_pairing_is_refused_and_a_session_forgets_the_outcome() -> None:
    link = LinkPair()
    key_id, key, _ = link.pair()
    link.device.open_pairing_window(link.now)
    link.roundtrip(link.programmer.begin_pairing(Role.CLINICIAN, bytes(range(32)), bytes(16), 1))
    assert _d(link).pairing is _DP.AWAITING_PROOF
    link.device.reject_pairing(link.now)
    assert _d(link).pairing is _DP.REFUSED
    link.roundtrip(link.programmer.confirm_pairing(2))  # the poll learns why
    assert _p(link).pairing is _PP.IDLE

    link.open(key_id, key)
    assert _d(link) == DeviceState(_DP.IDLE, _SS.OPEN)


def test_a_pairing_waiting_too_long_for_its_proof_is_dropped() -> None:
    link = LinkPair()
    link.request(MsgType.HELLO)
    link.device.open_pairing_window(link.now)
    link.roundtrip(link.programmer.begin_pairing(Role.CLINICIAN, bytes(range(32)), bytes(16), 1))
    link.now += link.device.policy.pairing_confirm_s
    assert _d(link).pairing is _DP.AWAITING_PROOF  # noticed at the next call...
    assert link.device.pending_pairing(link.now) is None
    assert _d(link).pairing is _DP.REFUSED  # ...that passes the time


def test_a_refused_pair_begin_returns_the_programmer_to_idle() -> None:
    link = LinkPair()
    link.request(MsgType.HELLO)  # no wand: the window is closed
    link.roundtrip(link.programmer.begin_pairing(Role.CLINICIAN, bytes(range(32)), bytes(16), 1))
    assert _p(link).pairing is _PP.IDLE
    assert _d(link).pairing is _DP.IDLE  # a refusal moves nothing on the pump


def test_confirm_before_the_code_is_a_local_error_and_moves_nothing() -> None:
    link = LinkPair()
    with pytest.raises(LocalProtocolError, match="wait for the PAIR_BEGIN reply"):
        link.programmer.confirm_pairing(1)
    link.request(MsgType.HELLO)
    link.programmer.begin_pairing(Role.CLINICIAN, bytes(range(32)), bytes(16), 2)
    with pytest.raises(LocalProtocolError):
        link.programmer.confirm_pairing(3)
    assert _p(link).pairing is _PP.BEGUN


def test_state_follows_a_session_on_both_sides() -> None:
    link = LinkPair()
    key_id, key, _ = link.pair()
    opening = link.programmer.open_session(key_id, key, bytes(16), link.next_seq())
    assert _p(link).session is _SS.OPENING
    with pytest.raises(LocalProtocolError, match="needs an open session"):
        link.programmer.send(Request(MsgType.STATUS, {}, link.next_seq()))
    link.roundtrip(opening)
    assert _p(link).session is _SS.OPEN and _d(link).session is _SS.OPEN
    assert _d(link).pairing is _DP.IDLE  # the session forgot the pairing's outcome

    link.request(MsgType.SESSION_CLOSE)
    assert _d(link).session is _SS.CLOSED and link.device.session is None
    link.programmer.close_session()
    assert _p(link).session is _SS.CLOSED and link.programmer.session is None


def test_a_session_open_that_fails_returns_to_closed() -> None:
    link = LinkPair()
    key_id, key, _ = link.pair()
    link.open(key_id, bytes(32))  # the wrong key: the pump's proof does not verify
    assert _p(link).session is _SS.CLOSED and link.programmer.session is None
    link.open(key_id ^ 1, key)  # an unknown key: refused by the pump
    assert _p(link).session is _SS.CLOSED


def test_unpairing_the_sessions_own_key_and_a_reset_close_the_pumps_session() -> None:
    link = LinkPair()
    link.paired_session()
    link.request(MsgType.UNPAIR, {"request_id": 77, "key_id": 0})
    assert _d(link).session is _SS.CLOSED
    link.programmer.close_session()  # the programmer learns it from the next refusal
    link.paired_session()
    link.device.import_state(link.device.export_state())
    assert _d(link).session is _SS.CLOSED and link.device.session is None


def test_assigning_a_session_sets_the_session_state() -> None:
    link = LinkPair()
    link.paired_session()
    held = link.programmer.session
    link.device.session = None  # how a rig stands for a pump reset
    assert _d(link).session is _SS.CLOSED
    link.programmer.session = None
    assert _p(link).session is _SS.CLOSED
    link.programmer.session = held
    assert _p(link).session is _SS.OPEN


def test_a_failed_pairing_proof_moves_nothing_on_the_pump() -> None:
    link = LinkPair()
    link.request(MsgType.HELLO)
    link.device.open_pairing_window(link.now)
    link.roundtrip(link.programmer.begin_pairing(Role.CLINICIAN, bytes(range(32)), bytes(16), 1))
    # a PAIR_CONFIRM with someone else's proof: refused, the pending pairing kept
    forged = Request(MsgType.PAIR_CONFIRM, {"programmer_proof": bytes(16)}, 5)
    assert link.to_device(ProgrammerEndpoint().send(forged))  # answered with a refusal
    assert _d(link).pairing is _DP.AWAITING_PROOF
    assert _p(link).pairing is _PP.CODE_SHOWN
    codes = [getattr(e, "code", None) for e in link.device_events]
    assert ErrorCode.PAIRING_FAILED in codes


def test_the_document_draws_the_state_machines_from_the_tables() -> None:
    block = re.search(
        r"<!-- BEGIN GENERATED: state-machines -->\n\n(?P<body>.*?)\n"
        r"<!-- END GENERATED: state-machines -->",
        DOC,
        re.DOTALL,
    )
    assert block is not None, "PROTOCOL.md lacks the state-machines block"
    assert state_diagram_sections() == {"state-machines": block["body"]}, (
        "the state diagrams are stale: run docs/tools/regen_protocol_doc.py"
    )
    for machine in MACHINES:
        for state, event, after in machine.transitions():
            assert f"| `{state.name}` | `{event.name}`: {event.value} | `{after.name}` |" in DOC


def test_beginning_again_forgets_an_unanswered_pair_confirm() -> None:
    link = LinkPair()
    link.request(MsgType.HELLO)
    link.device.open_pairing_window(link.now)
    link.roundtrip(link.programmer.begin_pairing(Role.CLINICIAN, bytes(range(32)), bytes(16), 1))
    late = link.to_device(link.programmer.confirm_pairing(2))  # its answer is held back
    assert _p(link).pairing is _PP.CONFIRMING
    link.programmer.begin_pairing(Role.CLINICIAN, bytes(range(1, 33)), bytes(16), 3)
    assert _p(link).pairing is _PP.BEGUN
    events = link.to_programmer(late)  # the old PAIR_CONFIRM's reply: delivered, moves nothing
    assert [type(e).__name__ for e in events] == ["Reply"]
    assert _p(link).pairing is _PP.BEGUN
