"""The pump's side of pairing: the wand window, the one pairing that may wait, the person at the
pump who accepts or rejects its code, the patient-key authorisation and the pairing lockout.

Why a module of its own: pairing is the one part of the pump's endpoint with a life of its own
- a state machine (``DEVICE_PAIRING`` in protocol/states.py), three timers, a bench side and a
lockout - and none of it is the business of checking frames or remembering requests.
``DeviceEndpoint`` owns one ``PairingDesk``: it hands it the checked bodies of PAIR_BEGIN and
PAIR_CONFIRM and answers with what the desk returns, forwards the bench's decisions, and reports
the refusals that count towards the lockout.  The desk appends its events (``PairingPending``,
``PairingCompleted``...) to the endpoint's queue, in the order they happen.

The rules are in docs/PROTOCOL.md section 2: only while the wand window is open; one pairing at
a time (a second PAIR_BEGIN is refused with PAIRING_BUSY, never replaces the first); a patient
key only after a clinician session's PATIENT_PAIRING_AUTHORIZE; the key is stored only when the
person at the pump accepts the code (``auto_accept`` for scripted rigs), and the window closes
after that one pairing.  A programmer that pairs again with the same ``programmer_id`` replaces
its key instead of taking a new slot.
"""

from __future__ import annotations

import contextlib
import hmac
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .crypto import PairingResponder, PairingSecrets
from .enums import Role
from .errors import ErrorCode, Refusal, RemoteProtocolError
from .events import (
    Event,
    LockoutStarted,
    PairingCompleted,
    PairingPending,
    PairingRejected,
    Unpaired,
)
from .security_state import Pairing
from .states import (
    DEVICE_PAIRING,
    WAITING_PAIRING_STATES,
    DevicePairingEvent,
    DevicePairingState,
    StateCell,
)

if TYPE_CHECKING:
    from .device import DeviceInfo, SecurityPolicy

_PE = DevicePairingEvent


class PairingDecisionError(ValueError):
    """A bench decision (accept, reject) that cannot be carried out."""


@dataclass(frozen=True, slots=True)
class _PendingPairing:
    """The data of a waiting pairing (AWAITING_PROOF, ACCEPTED, AWAITING_ACCEPTANCE)."""

    secrets: PairingSecrets
    role: Role
    programmer_id: int
    begin_payload: bytes  # an identical PAIR_BEGIN (a retry) gets the same answer
    reply: dict[str, Any]
    begun_at: int
    replaces: int  # key id of this programmer's previous pairing, 0 = none


@dataclass(frozen=True, slots=True)
class Decision:
    """What PAIR_CONFIRM is answered: how the last pairing ended (PAIRED, REFUSED), or that the
    person at the pump has not decided yet."""

    proof: bytes
    status: ErrorCode
    body: dict[str, Any]
    reason: str


class PairingDesk:
    """Pairing on the pump: one instance per ``DeviceEndpoint``; see the module docstring."""

    def __init__(
        self,
        info: DeviceInfo,
        policy: SecurityPolicy,
        entropy: Callable[[int], bytes],
        events: deque[Event],
        key_forgotten: Callable[[int], None],
        auto_accept: bool = False,
    ) -> None:
        self._info = info
        self._policy = policy
        self._entropy = entropy
        self._events = events
        #: Called with a key id when a re-pairing replaces that key (its session must end).
        self._key_forgotten = key_forgotten
        #: Scripted rigs only: store a key as soon as the programmer's proof verifies, without
        #: the person at the pump accepting the code (a man in the middle would get a key).
        self.auto_accept = auto_accept
        self.machine = StateCell(DEVICE_PAIRING)
        self._pending: _PendingPairing | None = None  # the waiting states
        self._decided: Decision | None = None  # PAIRED, REFUSED
        self._window_until = 0
        self._patient_authorized_until = 0
        self.failures: deque[int] = deque()  # pump times of the failures still counted
        self.locked_until = 0
        self.pairing_code: str | None = None  # last code shown on the "pump side"

    # -- the wand window, the patient authorisation, the lockout --------------------------------
    def open_window(self, now: int) -> None:
        """The programmer head was placed over the pump.  Proximity also lifts a lockout in
        force: only someone at the patient's side can do that."""
        self._window_until = now + self._policy.pairing_window_s
        if now < self.locked_until:
            self.locked_until = 0

    def close_window(self) -> None:
        self._window_until = 0
        self._drop(ErrorCode.PAIRING_WINDOW_CLOSED, "the pairing window closed")

    def window_open(self, now: int) -> bool:
        return now < self._window_until

    def authorize_patient(self, now: int) -> int:
        """A clinician allowed one patient pairing; returns until when."""
        self._patient_authorized_until = now + self._policy.pairing_window_s
        return self._patient_authorized_until

    def patient_authorized(self, now: int) -> bool:
        return now < self._patient_authorized_until

    def locked(self, now: int) -> bool:
        return now < self.locked_until

    def count_failure(self, now: int) -> None:
        """A failed pairing exchange: enough of them within ``lockout_s`` lock pairing."""
        horizon = now - self._policy.lockout_s
        self.failures.append(now)
        while self.failures and self.failures[0] <= horizon:
            self.failures.popleft()
        if len(self.failures) >= self._policy.failures_before_lockout:
            self.failures.clear()
            self.locked_until = now + self._policy.lockout_s
            self._drop(ErrorCode.PAIRING_LOCKED_OUT, "pairing locked out")
            self._events.append(LockoutStarted(self.locked_until))

    # -- the person at the pump -------------------------------------------------------------------
    def pending(self, now: int) -> PairingPending | None:
        """The pairing waiting for the person at the pump (what the pump's side shows)."""
        p = self._live(now)
        if p is None:
            return None
        code = p.secrets.format_code()
        state = self.machine.state
        confirmed = state is DevicePairingState.AWAITING_ACCEPTANCE
        accepted = state is DevicePairingState.ACCEPTED
        return PairingPending(code, p.role, p.programmer_id, confirmed, p.replaces, accepted)

    def accept(self, code: str, now: int, pairings: dict[int, Pairing]) -> Pairing | None:
        """See ``DeviceEndpoint.accept_pairing``."""
        p = self._live(now)
        if p is None:
            raise PairingDecisionError("no pairing is waiting for acceptance")
        digits = "".join(ch for ch in code if not ch.isspace())
        if digits != f"{p.secrets.confirmation_code:06d}":
            raise PairingDecisionError(
                "that code is not the one the pump shows: nothing stored (a programmer showing a "
                "different code is not talking to this pump directly: reject the pairing)"
            )
        if self.machine.state is not DevicePairingState.AWAITING_ACCEPTANCE:
            self.machine.fire(_PE.ACCEPT)  # the key is stored when the proof verifies
            return None
        return self._store(p, now, pairings)

    def reject(self, now: int) -> None:
        """The person at the pump rejects the waiting pairing; the window stays open."""
        if self._live(now) is None:
            raise PairingDecisionError("no pairing is waiting")
        self._drop(ErrorCode.PAIRING_REJECTED, "the code was rejected at the pump")

    def forget_decision(self) -> None:
        """A session opened: its programmer knows how its pairing ended."""
        self.machine.fire(_PE.FORGET)
        self._decided = None

    # -- the programmer's messages ------------------------------------------------------------------
    def begin(
        self, body: dict[str, Any], payload: bytes, now: int, pairings: dict[int, Pairing]
    ) -> dict[str, Any]:
        """The answer to a PAIR_BEGIN (``payload`` is its body's bytes), or Refusal."""
        if not self.window_open(now):
            raise Refusal(ErrorCode.PAIRING_WINDOW_CLOSED, "hold the programmer head over the pump")
        if body["role"] not in (Role.CLINICIAN, Role.PATIENT):
            raise Refusal(ErrorCode.INVALID_ARGUMENT, f"unknown role {body['role']}")
        pending = self._live(now)
        if pending is not None:
            if pending.begin_payload == payload:  # our answer was lost: the same again
                return pending.reply
            raise Refusal(
                ErrorCode.PAIRING_BUSY,
                f"a {pending.role.name.lower()} pairing is waiting on the pump; "
                "accept or reject it there first",
            )
        asked = Role(body["role"])
        if asked is Role.PATIENT and not self.patient_authorized(now):
            raise Refusal(
                ErrorCode.PATIENT_PAIRING_NOT_AUTHORIZED,
                "a clinician session must authorise a patient pairing first "
                "(PATIENT_PAIRING_AUTHORIZE, `pumpctl pairings authorize-patient`)",
            )
        programmer_id = int(body["programmer_id"])
        replaces = next(
            (
                p.key_id
                for p in pairings.values()
                if programmer_id and p.programmer_id == programmer_id
            ),
            0,
        )
        if not replaces and len(pairings) >= self._info.max_pairings:
            raise Refusal(ErrorCode.KEY_STORE_FULL, f"{len(pairings)} keys paired already")
        responder = PairingResponder(self._entropy(32), self._entropy(16), self._info.serial_number)
        try:
            secrets = responder.complete(
                body["programmer_public"], body["programmer_nonce"], body["role"]
            )
        except RemoteProtocolError as exc:
            raise Refusal(ErrorCode.PAIRING_FAILED, str(exc)) from exc
        reply = {"device_public": responder.public, "device_nonce": responder.nonce}
        self.machine.fire(_PE.BEGIN)
        self._pending = _PendingPairing(
            secrets, asked, programmer_id, payload, reply, now, replaces
        )
        self._decided = None
        self.pairing_code = secrets.format_code()
        self._events.append(
            PairingPending(self.pairing_code, asked, programmer_id, False, replaces)
        )
        return reply

    def confirm(self, proof: bytes, now: int, pairings: dict[int, Pairing]) -> Decision:
        """What a PAIR_CONFIRM with ``proof`` is answered, or Refusal."""
        pending = self._live(now)
        if pending is None:
            decided = self._decided
            if decided is not None and hmac.compare_digest(decided.proof, proof):
                return decided  # a poll after the decision
            raise Refusal(ErrorCode.NO_PAIRING_IN_PROGRESS, "send PAIR_BEGIN first")
        if not pending.secrets.verify_programmer_proof(proof):
            # the pending pairing stays: a forged confirmation must not cancel the clinician's
            raise Refusal(ErrorCode.PAIRING_FAILED, "programmer proof does not verify")
        before = self.machine.state
        if before is not DevicePairingState.AWAITING_ACCEPTANCE:  # the first proof
            self._events.append(
                PairingPending(
                    pending.secrets.format_code(),
                    pending.role,
                    pending.programmer_id,
                    True,
                    pending.replaces,
                )
            )
        if self.auto_accept or before is DevicePairingState.ACCEPTED:
            with contextlib.suppress(PairingDecisionError):  # refused: the decision says why
                self._store(pending, now, pairings)
            assert self._decided is not None
            return self._decided
        self.machine.fire(_PE.PROOF)
        return Decision(
            proof,
            ErrorCode.PAIRING_AWAITING_CONFIRMATION,
            {},
            "the person at the pump must accept the code it shows; send PAIR_CONFIRM again",
        )

    # -- the waiting pairing ------------------------------------------------------------------------
    def _live(self, now: int) -> _PendingPairing | None:
        """The waiting pairing, after dropping it if its window or its time ran out."""
        p = self._pending
        if p is None:
            return None
        assert self.machine.state in WAITING_PAIRING_STATES
        if not self.window_open(now):
            self._drop(ErrorCode.PAIRING_WINDOW_CLOSED, "the pairing window closed")
            return None
        proved = self.machine.state is DevicePairingState.AWAITING_ACCEPTANCE
        if not proved and now >= p.begun_at + self._policy.pairing_confirm_s:
            self._drop(
                ErrorCode.NO_PAIRING_IN_PROGRESS,
                f"no PAIR_CONFIRM within {self._policy.pairing_confirm_s} s of PAIR_BEGIN",
            )
            return None
        return p

    def _drop(self, code: ErrorCode, reason: str) -> None:
        p, self._pending = self._pending, None
        if p is None:
            return
        self.machine.fire(_PE.DROP)
        self._decided = Decision(p.secrets.programmer_proof(), code, {}, reason)
        self._events.append(PairingRejected(p.role, code, reason))

    def _store(self, p: _PendingPairing, now: int, pairings: dict[int, Pairing]) -> Pairing:
        """Store the accepted pairing; the window closes: one pairing per window."""
        if p.role is Role.PATIENT and not self.patient_authorized(now):
            self._drop(
                ErrorCode.PATIENT_PAIRING_NOT_AUTHORIZED, "the clinician's authorisation expired"
            )
            raise PairingDecisionError("the clinician's authorisation for a patient key expired")
        replaced = pairings.pop(p.replaces, None) if p.replaces else None
        if replaced is None and len(pairings) >= self._info.max_pairings:
            self._drop(ErrorCode.KEY_STORE_FULL, "the pump holds no more pairings")
            raise PairingDecisionError("the pump holds no more pairings; unpair one first")
        key_id = p.secrets.key_id
        pairing = Pairing(key_id, p.role, p.secrets.pairing_key, p.programmer_id, now)
        pairings[key_id] = pairing
        if p.role is Role.PATIENT:
            self._patient_authorized_until = 0  # one authorisation, one patient key
        self.machine.fire(_PE.STORE)
        self._pending = None
        self._window_until = 0
        body = {"key_id": key_id, "device_proof": p.secrets.device_proof()}
        self._decided = Decision(p.secrets.programmer_proof(), ErrorCode.OK, body, "")
        if replaced is not None:
            self._events.append(Unpaired(replaced.key_id, replaced.role))
            self._key_forgotten(replaced.key_id)
        self._events.append(
            PairingCompleted(key_id, p.role, p.secrets.pairing_key, p.replaces if replaced else 0)
        )
        return pairing
