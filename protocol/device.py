"""The pump's protocol endpoint: bytes in, checked requests out; replies in, bytes out.

Why: everything about *who may ask what* lives here, in front of the firmware, so the therapy code
only ever sees requests that are well formed, authenticated, fresh, permitted for the session's
role and not already executed.  Theory of operation:

1. ``receive_data(bytes)`` buffers line bytes; ``next_event(now)`` decodes frames one at a time.
2. Each frame passes, in order: version, flags, catalog lookup and direction; for an AUTH frame the
   session id, then the tag, then the counter (only then does the replay window move); the
   message's authentication requirement and the session's role; the payload layout.  The first
   failure is answered with an error reply (authenticated only if the frame itself verified) and
   reported as ``FrameRejected`` so the firmware can write it to the audit log.  Only failed
   pairing exchanges count towards a lockout, and it locks only pairing: never SESSION_OPEN
   with a paired key, so never STOP (docs/PROTOCOL.md section 2).
3. The endpoint itself answers HELLO, pairing, session open/close, UNPAIR, PAIRINGS_LIST,
   PATIENT_PAIRING_AUTHORIZE and REQUEST_STATUS.
4. A state-changing request whose request id is in the cache is answered from the cache (never
   re-executed); otherwise it is handed to the firmware as a ``Request`` event.
5. The firmware answers with ``send(Reply(...))``, which returns the wire bytes; replies the
   endpoint makes itself accumulate in ``data_to_send()`` (aioquic's pattern).
6. Unauthenticated requests are answered within a budget in pump time (protocol/ratelimit.py);
   their replies are kept apart from session replies (``data_to_send_by_priority``) so the link
   sends a session's traffic first and a flood of HELLOs can never delay it.

Pairing (docs/PROTOCOL.md section 2): only while the wand window is open; one pairing at a time
(a second PAIR_BEGIN is refused with PAIRING_BUSY, never replaces the first); a patient key only
after a clinician session's PATIENT_PAIRING_AUTHORIZE; the key is stored only when the person at
the pump accepts the code (``accept_pairing``; ``auto_accept_pairing`` for scripted rigs), and
the window closes after that one pairing.  A programmer that pairs again with the same
``programmer_id`` replaces its key instead of taking a new slot.

Security state (pairings, request cache, lockout) is exported as bytes for the firmware's NVM
(protocol/security_state.py).
"""

from __future__ import annotations

import contextlib
import hmac
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import security_state
from .audit import LOCKOUT_COUNTED_FROM, LOCKOUT_FAILURES
from .catalog import CATALOG, Capability, MessageKind, MessageSpec, MsgType, RequestState
from .codec import decode_request, encode_reply, request_id_of
from .crypto import (
    MAX_COUNTER_STEP,
    PairingResponder,
    PairingSecrets,
    SessionKeys,
    session_open_proof,
)
from .enums import Role
from .errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from .events import (
    NEED_DATA,
    Event,
    FrameRejected,
    LockoutStarted,
    Notification,
    PairingCompleted,
    PairingPending,
    PairingRejected,
    PatientPairingAuthorized,
    Reply,
    Request,
    SessionClosed,
    SessionOpened,
    Unpaired,
)
from .framing import MAX_PAYLOAD, PROTOCOL_VERSION, Flags, Frame, FrameDecoder, encode_frame
from .ratelimit import TokenBucket
from .request_cache import CachedOutcome, RequestCache, request_digest
from .security_state import Pairing, SecurityState
from .session import AuthSession

#: Failures that count towards the lockout: only a failed pairing exchange (PAIR_BEGIN or
#: PAIR_CONFIRM), whose 6-digit confirmation code is the one low-entropy secret of the protocol.
#: Tag, counter, session and key failures are audited but lock nothing: a 128-bit tag or a paired
#: key cannot be guessed, so counting them buys nothing and would let anyone on the line lock the
#: clinician out (five frames with an invented session id used to lock SESSION_OPEN, and so STOP).
#: What a lockout locks: the pairing exchange only.  SESSION_OPEN with a paired key never is.
_PAIRING_GATED = LOCKOUT_COUNTED_FROM


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    model: str
    serial_number: str
    firmware_version: str
    capabilities: Capability
    max_pairings: int = 4


@dataclass(frozen=True, slots=True)
class SecurityPolicy:
    failures_before_lockout: int = 5
    lockout_s: int = 600
    pairing_window_s: int = 300
    #: A PAIR_BEGIN whose PAIR_CONFIRM has not verified within this time no longer blocks others.
    pairing_confirm_s: int = 120


@dataclass
class _PendingPairing:
    secrets: PairingSecrets
    role: Role
    programmer_id: int
    begin_payload: bytes  # an identical PAIR_BEGIN (a retry) gets the same answer
    reply: dict[str, Any]
    begun_at: int
    replaces: int  # key id of this programmer's previous pairing, 0 = none
    confirmed: bool = False  # the programmer's proof verified
    accepted: bool = False  # the person at the pump accepted the code (before the proof came)


@dataclass(frozen=True, slots=True)
class _Decision:
    """How the last pairing ended, for the programmer still polling with PAIR_CONFIRM."""

    proof: bytes
    status: ErrorCode
    body: dict[str, Any]
    reason: str


class PairingDecisionError(ValueError):
    """A bench decision (accept, reject) that cannot be carried out."""


class _Rejected(Exception):
    def __init__(self, code: ErrorCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class DeviceEndpoint:
    """The device role of the protocol.  See the module docstring for the theory of operation."""

    def __init__(
        self,
        info: DeviceInfo,
        entropy: Callable[[int], bytes],
        policy: SecurityPolicy | None = None,
        max_state_bytes: int = 2048,
        auto_accept_pairing: bool = False,
    ) -> None:
        self.info = info
        self.max_state_bytes = max_state_bytes
        self.policy = policy or SecurityPolicy()
        self._entropy = entropy
        self._decoder = FrameDecoder()
        self._frames: deque[Frame] = deque()
        self._events: deque[Event] = deque()
        self._outgoing = bytearray()
        self._outgoing_unauthenticated = bytearray()
        #: Budget of unauthenticated requests answered (protocol/ratelimit.py).
        self.unauthenticated = TokenBucket()
        self.pairings: dict[int, Pairing] = {}
        self.cache = RequestCache()
        self.session: AuthSession | None = None
        self._pending_pairing: _PendingPairing | None = None
        self._window_until = 0
        self._failures: deque[int] = deque()
        self.locked_until = 0
        self._in_flight: dict[int, tuple[int, bytes]] = {}  # seq -> (request id, digest)
        self._duplicates: dict[int, list[int]] = {}  # seq in flight -> seqs of its retries
        self._event_seq = 0
        self.pairing_code: str | None = None  # last code shown on the "pump side"
        #: Scripted rigs only: store a key as soon as the programmer's proof verifies, without
        #: the person at the pump accepting the code (a man in the middle would get a key).
        self.auto_accept_pairing = auto_accept_pairing
        self._decided: _Decision | None = None
        self._patient_authorized_until = 0

    # -- the byte side -------------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        self._frames.extend(self._decoder.feed(data))

    def data_to_send(self) -> bytes:
        session, unauthenticated = self.data_to_send_by_priority()
        return session + unauthenticated

    def data_to_send_by_priority(self) -> tuple[bytes, bytes]:
        """(replies sealed in the session, replies in the clear): the link sends the first
        before any of the second, and may drop the second under load.  Whole frames each."""
        out, clear = bytes(self._outgoing), bytes(self._outgoing_unauthenticated)
        self._outgoing.clear()
        self._outgoing_unauthenticated.clear()
        return out, clear

    @property
    def decoder(self) -> FrameDecoder:
        return self._decoder

    # -- bench inputs --------------------------------------------------------------------------
    def open_pairing_window(self, now: int) -> None:
        """The programmer head was placed over the pump (bench).  Proximity also lifts a pairing
        lockout in force: only someone at the patient's side can do that."""
        self._window_until = now + self.policy.pairing_window_s
        if now < self.locked_until:
            self.locked_until = 0

    def close_pairing_window(self) -> None:
        self._window_until = 0
        self._drop_pending(ErrorCode.PAIRING_WINDOW_CLOSED, "the pairing window closed")

    def pairing_window_open(self, now: int) -> bool:
        return now < self._window_until

    def pending_pairing(self, now: int) -> PairingPending | None:
        """The pairing waiting for the person at the pump (what the pump's side shows)."""
        p = self._live_pending(now)
        if p is None:
            return None
        code = p.secrets.format_code()
        return PairingPending(code, p.role, p.programmer_id, p.confirmed, p.replaces, p.accepted)

    def patient_pairing_authorized(self, now: int) -> bool:
        return now < self._patient_authorized_until

    def accept_pairing(self, code: str, now: int) -> Pairing | None:
        """The person at the pump accepts ``code`` (typed as the programmer shows it).

        Returns the stored pairing, or None if the programmer has not proved its keys yet (the
        key is then stored as soon as its PAIR_CONFIRM verifies).  Raises PairingDecisionError,
        storing nothing, if no pairing waits or ``code`` is not the pump's code.
        """
        p = self._live_pending(now)
        if p is None:
            raise PairingDecisionError("no pairing is waiting for acceptance")
        digits = "".join(ch for ch in code if not ch.isspace())
        if digits != f"{p.secrets.confirmation_code:06d}":
            raise PairingDecisionError(
                "that code is not the one the pump shows: nothing stored (a programmer showing a "
                "different code is not talking to this pump directly: reject the pairing)"
            )
        if not p.confirmed:
            p.accepted = True
            return None
        return self._store_pending(p, now)

    def reject_pairing(self, now: int) -> None:
        """The person at the pump rejects the waiting pairing; the window stays open."""
        if self._live_pending(now) is None:
            raise PairingDecisionError("no pairing is waiting")
        self._drop_pending(ErrorCode.PAIRING_REJECTED, "the code was rejected at the pump")

    def _live_pending(self, now: int) -> _PendingPairing | None:
        p = self._pending_pairing
        if p is None:
            return None
        if not self.pairing_window_open(now):
            self._drop_pending(ErrorCode.PAIRING_WINDOW_CLOSED, "the pairing window closed")
            return None
        if not p.confirmed and now >= p.begun_at + self.policy.pairing_confirm_s:
            self._drop_pending(
                ErrorCode.NO_PAIRING_IN_PROGRESS,
                f"no PAIR_CONFIRM within {self.policy.pairing_confirm_s} s of PAIR_BEGIN",
            )
            return None
        return p

    def _drop_pending(self, code: ErrorCode, reason: str) -> None:
        p, self._pending_pairing = self._pending_pairing, None
        if p is None:
            return
        self._decided = _Decision(p.secrets.programmer_proof(), code, {}, reason)
        self._events.append(PairingRejected(p.role, code, reason))

    def _store_pending(self, p: _PendingPairing, now: int) -> Pairing:
        """Store the accepted pairing; the window closes: one pairing per window."""
        if p.role is Role.PATIENT and not self.patient_pairing_authorized(now):
            self._drop_pending(
                ErrorCode.PATIENT_PAIRING_NOT_AUTHORIZED, "the clinician's authorisation expired"
            )
            raise PairingDecisionError("the clinician's authorisation for a patient key expired")
        replaced = self.pairings.pop(p.replaces, None) if p.replaces else None
        if replaced is None and len(self.pairings) >= self.info.max_pairings:
            self._drop_pending(ErrorCode.KEY_STORE_FULL, "the pump holds no more pairings")
            raise PairingDecisionError("the pump holds no more pairings; unpair one first")
        key_id = p.secrets.key_id
        pairing = Pairing(key_id, p.role, p.secrets.pairing_key, p.programmer_id, now)
        self.pairings[key_id] = pairing
        if p.role is Role.PATIENT:
            self._patient_authorized_until = 0  # one authorisation, one patient key
        self._pending_pairing = None
        self._window_until = 0
        body = {"key_id": key_id, "device_proof": p.secrets.device_proof()}
        self._decided = _Decision(p.secrets.programmer_proof(), ErrorCode.OK, body, "")
        if replaced is not None:
            self._events.append(Unpaired(replaced.key_id, replaced.role))
            if self.session is not None and self.session.key_id == replaced.key_id:
                self._events.append(SessionClosed(self.session.session_id))
                self.session = None
        self._events.append(
            PairingCompleted(key_id, p.role, p.secrets.pairing_key, p.replaces if replaced else 0)
        )
        return pairing

    # -- events --------------------------------------------------------------------------------
    def next_event(self, now: int) -> Event | object:
        while not self._events:
            if not self._frames:
                return NEED_DATA
            self._handle_frame(self._frames.popleft(), now)
        return self._events.popleft()

    def send(self, event: Reply | Notification) -> bytes:
        """Wire bytes of a reply to a Request event, or of an unsolicited event."""
        if isinstance(event, Notification):
            spec = CATALOG[event.msg]
            if spec.kind is not MessageKind.EVENT:
                raise LocalProtocolError(f"{event.msg.name} is not an event message")
            if self.session is None:
                return b""  # events go only to an authenticated programmer
            from .codec import encode_request

            self._event_seq = (self._event_seq + 1) & 0xFFFF
            return self.session.seal(
                event.msg, self._event_seq, encode_request(event.msg, event.body), Flags.EVENT
            )
        payload = encode_reply(event.msg, ErrorCode(event.status), event.body, event.reason)
        flight = self._in_flight.pop(event.seq, None) if not event.more else None
        out = self._reply_bytes(event.msg, event.seq, payload, authenticated=True, more=event.more)
        if flight is not None:
            rid, digest = flight
            prior = self.cache.get(rid)
            key_id = prior.key_id if prior is not None else self._session_key_id()
            self.cache.put(rid, CachedOutcome(int(event.msg), digest, payload, key_id))
            for seq in self._duplicates.pop(event.seq, []):
                out += self._reply_bytes(event.msg, seq, payload, authenticated=True)
        return out

    # -- security state persistence --------------------------------------------------------------
    def export_state(self) -> bytes:
        """Pairings, lockout and request cache as bytes of at most ``max_state_bytes``
        (protocol/security_state.py says what is dropped to fit, and the layout)."""
        state = SecurityState(self.pairings, self.locked_until, self._failures, self.cache)
        running = [rid for rid, _ in self._in_flight.values()]
        return security_state.encode(state, self.max_state_bytes, running)

    def import_state(self, data: bytes) -> None:
        """Restore pairings, request cache and lockout; ValueError on malformed data."""
        state = security_state.decode(data)
        self.pairings, self.cache, self.locked_until = (
            state.pairings,
            state.cache,
            state.locked_until,
        )
        self._failures = state.failures
        self.session = None  # sessions never survive a reset: fresh nonces, fresh keys

    # -- frame handling --------------------------------------------------------------------------
    def _handle_frame(self, frame: Frame, now: int) -> None:
        if not frame.flags & Flags.AUTH and not self.unauthenticated.take(now):
            return  # over the unauthenticated budget: dropped unanswered, counted
        mark, session_before = len(self._outgoing), self.session
        verified = False
        try:
            spec = self._check_envelope(frame)
            role: Role | None = None
            if frame.flags & Flags.AUTH:
                code = (
                    ErrorCode.UNKNOWN_SESSION if self.session is None else self.session.open(frame)
                )
                if code is not ErrorCode.OK:
                    raise _Rejected(code, _auth_reason(code, frame, self.session))
                verified = True
                assert self.session is not None
                role = self.session.role
            elif spec.auth:
                raise _Rejected(ErrorCode.NOT_AUTHENTICATED, f"{spec.name} needs a session")
            if role is not None and role not in spec.roles:
                raise _Rejected(
                    ErrorCode.ROLE_NOT_PERMITTED, f"{role.name} may not send {spec.name}"
                )
            try:
                body = decode_request(spec.msg, frame.payload)
            except RemoteProtocolError as exc:
                raise _Rejected(ErrorCode.MALFORMED_PAYLOAD, str(exc)) from exc
            self._dispatch(spec, frame, body, role, now)
        except _Rejected as rej:
            self._reject(frame, rej.code, rej.reason, verified, now)
        if verified:
            self.unauthenticated.refill()
            return
        if self.session is not None and self.session is not session_before:
            return  # a session just opened: its reply goes before the events sealed in it
        clear = self._outgoing[mark:]  # an answer to a frame from anyone: low priority
        del self._outgoing[mark:]
        # a forged session frame was checked (and reported); only its answer needs a token
        if not frame.flags & Flags.AUTH or self.unauthenticated.take(now, count=False):
            self._outgoing_unauthenticated += clear

    def _check_envelope(self, frame: Frame) -> MessageSpec:
        if frame.version != PROTOCOL_VERSION:
            raise _Rejected(
                ErrorCode.UNSUPPORTED_VERSION,
                f"version {frame.version} not supported; this pump speaks {PROTOCOL_VERSION}",
            )
        if frame.reserved_flags or frame.flags & (Flags.RESPONSE | Flags.EVENT | Flags.MORE):
            raise _Rejected(
                ErrorCode.BAD_FLAGS, f"flags {int(frame.flags):#04x} invalid on a request"
            )
        try:
            spec = CATALOG[MsgType(frame.msg_type)]
        except ValueError:
            raise _Rejected(
                ErrorCode.UNKNOWN_MESSAGE, f"message type {frame.msg_type:#04x}"
            ) from None
        if spec.kind is not MessageKind.REQUEST:
            raise _Rejected(ErrorCode.WRONG_DIRECTION, f"{spec.name} is sent by the pump only")
        return spec

    def _reject(self, frame: Frame, code: ErrorCode, reason: str, verified: bool, now: int) -> None:
        msg = frame.msg_type
        payload = _error_payload(code, reason)
        self._outgoing += self._reply_bytes(msg, frame.seq, payload, authenticated=verified)
        self._events.append(FrameRejected(code, reason, msg, frame.seq))
        if code in LOCKOUT_FAILURES and msg in _PAIRING_GATED:
            self._count_failure(now)

    @property
    def failure_count(self) -> int:
        """Failed pairing exchanges counted towards the next lockout (persisted)."""
        return len(self._failures)

    def locked(self, now: int) -> bool:
        """True while pairing is locked out."""
        return now < self.locked_until

    def _count_failure(self, now: int) -> None:
        horizon = now - self.policy.lockout_s
        self._failures.append(now)
        while self._failures and self._failures[0] <= horizon:
            self._failures.popleft()
        if len(self._failures) >= self.policy.failures_before_lockout:
            self._failures.clear()
            self.locked_until = now + self.policy.lockout_s
            self._drop_pending(ErrorCode.PAIRING_LOCKED_OUT, "pairing locked out")
            self._events.append(LockoutStarted(self.locked_until))

    def _reply_bytes(
        self, msg_type: int, seq: int, payload: bytes, *, authenticated: bool, more: bool = False
    ) -> bytes:
        flags = Flags.RESPONSE | (Flags.MORE if more else Flags(0))
        if authenticated and self.session is not None:
            return self.session.seal(msg_type, seq, payload, flags)
        return encode_frame(msg_type, seq, payload, flags)

    def _answer(self, spec: MessageSpec, frame: Frame, body: dict[str, Any]) -> None:
        """A success reply, sealed only if the request itself came in the session: a HELLO
        from a new programmer must be readable even while a dead session is still open."""
        payload = encode_reply(spec.msg, ErrorCode.OK, body)
        sealed = bool(frame.flags & Flags.AUTH)
        self._outgoing += self._reply_bytes(spec.msg, frame.seq, payload, authenticated=sealed)

    # -- dispatch ----------------------------------------------------------------------------------
    def _dispatch(
        self, spec: MessageSpec, frame: Frame, body: dict[str, Any], role: Role | None, now: int
    ) -> None:
        if spec.msg in _PAIRING_GATED and now < self.locked_until:
            raise _Rejected(
                ErrorCode.PAIRING_LOCKED_OUT,
                f"pairing locked for {self.locked_until - now} s after repeated failed pairings; "
                "place the programmer head over the pump again to lift it",
            )
        handler = _INTERNAL.get(spec.msg)
        if spec.state_changing:
            rid = request_id_of(spec.msg, frame.payload)
            assert rid is not None
            if rid == 0:
                raise _Rejected(ErrorCode.INVALID_ARGUMENT, "request_id 0 is reserved")
            digest = request_digest(frame.msg_type, frame.payload)
            cached = self.cache.get(rid)
            if cached is None and self.cache.evicted(rid):
                raise _Rejected(
                    ErrorCode.REQUEST_EVICTED,
                    f"request {rid} reached the pump before and its outcome is no longer "
                    "remembered; read the pump's state",
                )
            if cached is not None:
                if cached.msg_type != frame.msg_type or cached.digest != digest:
                    raise _Rejected(
                        ErrorCode.REQUEST_ID_REUSED, f"request id {rid} was used before"
                    )
                if cached.pending:
                    first = self._in_flight_seq(rid)
                    if first is None:  # pending from before a reset: never run it again
                        raise _Rejected(
                            ErrorCode.REQUEST_INTERRUPTED,
                            f"a reset interrupted request {rid}; read the pump's state",
                        )
                    # a retry overtook the reply: answer it too when the first completes
                    self._duplicates.setdefault(first, []).append(frame.seq)
                    return
                self._outgoing += self._reply_bytes(
                    spec.msg, frame.seq, cached.reply_payload, authenticated=True
                )
                return
            if handler is None:
                self._in_flight[frame.seq] = (rid, digest)
                # written ahead, under the key of the session that sent it
                self.cache.put(
                    rid, CachedOutcome(frame.msg_type, digest, b"", self._session_key_id())
                )
        if handler is not None:
            handler(self, spec, frame, body, role, now)
            return
        self._events.append(Request(spec.msg, body, frame.seq, role))

    def _hello(
        self, spec: MessageSpec, frame: Frame, body: dict[str, Any], role: Role | None, now: int
    ) -> None:
        self._answer(
            spec,
            frame,
            {
                "model": self.info.model,
                "serial_number": self.info.serial_number,
                "firmware_version": self.info.firmware_version,
                "protocol_min": PROTOCOL_VERSION,
                "protocol_max": PROTOCOL_VERSION,
                "max_payload": MAX_PAYLOAD,
                "capabilities": int(self.info.capabilities),
                "pairing_window_open": self.pairing_window_open(now),
                "paired_keys": len(self.pairings),
                "messages": [int(m) for m, s in CATALOG.items() if s.kind is MessageKind.REQUEST],
            },
        )

    def _pair_begin(
        self, spec: MessageSpec, frame: Frame, body: dict[str, Any], role: Role | None, now: int
    ) -> None:
        if not self.pairing_window_open(now):
            raise _Rejected(
                ErrorCode.PAIRING_WINDOW_CLOSED, "hold the programmer head over the pump"
            )
        if body["role"] not in (Role.CLINICIAN, Role.PATIENT):
            raise _Rejected(ErrorCode.INVALID_ARGUMENT, f"unknown role {body['role']}")
        pending = self._live_pending(now)
        if pending is not None:
            if pending.begin_payload == frame.payload:  # our answer was lost: the same again
                self._answer(spec, frame, pending.reply)
                return
            raise _Rejected(
                ErrorCode.PAIRING_BUSY,
                f"a {pending.role.name.lower()} pairing is waiting on the pump; "
                "accept or reject it there first",
            )
        asked = Role(body["role"])
        if asked is Role.PATIENT and not self.patient_pairing_authorized(now):
            raise _Rejected(
                ErrorCode.PATIENT_PAIRING_NOT_AUTHORIZED,
                "a clinician session must authorise a patient pairing first "
                "(PATIENT_PAIRING_AUTHORIZE, `pumpctl pairings authorize-patient`)",
            )
        programmer_id = int(body["programmer_id"])
        replaces = next(
            (
                p.key_id
                for p in self.pairings.values()
                if programmer_id and p.programmer_id == programmer_id
            ),
            0,
        )
        if not replaces and len(self.pairings) >= self.info.max_pairings:
            raise _Rejected(ErrorCode.KEY_STORE_FULL, f"{len(self.pairings)} keys paired already")
        responder = PairingResponder(self._entropy(32), self._entropy(16), self.info.serial_number)
        try:
            secrets = responder.complete(
                body["programmer_public"], body["programmer_nonce"], body["role"]
            )
        except RemoteProtocolError as exc:
            raise _Rejected(ErrorCode.PAIRING_FAILED, str(exc)) from exc
        reply = {"device_public": responder.public, "device_nonce": responder.nonce}
        self._pending_pairing = _PendingPairing(
            secrets, asked, programmer_id, bytes(frame.payload), reply, now, replaces
        )
        self._decided = None
        self.pairing_code = secrets.format_code()
        self._events.append(
            PairingPending(self.pairing_code, asked, programmer_id, False, replaces)
        )
        self._answer(spec, frame, reply)

    def _pair_confirm(
        self, spec: MessageSpec, frame: Frame, body: dict[str, Any], role: Role | None, now: int
    ) -> None:
        proof = bytes(body["programmer_proof"])
        pending = self._live_pending(now)
        if pending is None:
            decided = self._decided
            if decided is not None and hmac.compare_digest(decided.proof, proof):
                self._answer_decision(spec, frame, decided)  # a poll after the decision
                return
            raise _Rejected(ErrorCode.NO_PAIRING_IN_PROGRESS, "send PAIR_BEGIN first")
        if not pending.secrets.verify_programmer_proof(proof):
            # the pending pairing stays: a forged confirmation must not cancel the clinician's
            raise _Rejected(ErrorCode.PAIRING_FAILED, "programmer proof does not verify")
        if not pending.confirmed:
            pending.confirmed = True
            self._events.append(
                PairingPending(
                    pending.secrets.format_code(),
                    pending.role,
                    pending.programmer_id,
                    True,
                    pending.replaces,
                )
            )
        if self.auto_accept_pairing or pending.accepted:
            with contextlib.suppress(PairingDecisionError):  # refused: the decision says why
                self._store_pending(pending, now)
            assert self._decided is not None
            self._answer_decision(spec, frame, self._decided)
            return
        waiting = _Decision(
            proof,
            ErrorCode.PAIRING_AWAITING_CONFIRMATION,
            {},
            "the person at the pump must accept the code it shows; send PAIR_CONFIRM again",
        )
        self._answer_decision(spec, frame, waiting)

    def _answer_decision(self, spec: MessageSpec, frame: Frame, decided: _Decision) -> None:
        """Answer PAIR_CONFIRM with a pairing's state; polls are not audited one by one."""
        if decided.status is ErrorCode.OK:
            self._answer(spec, frame, decided.body)
            return
        payload = _error_payload(decided.status, decided.reason)
        self._outgoing += self._reply_bytes(spec.msg, frame.seq, payload, authenticated=False)

    def _session_open(
        self, spec: MessageSpec, frame: Frame, body: dict[str, Any], role: Role | None, now: int
    ) -> None:
        pairing = self.pairings.get(body["key_id"])
        if pairing is None:
            raise _Rejected(ErrorCode.UNKNOWN_KEY, f"key {body['key_id']:#010x} is not paired")
        session_id = 0
        while session_id == 0:
            session_id = int.from_bytes(self._entropy(4), "big")
        nonce_d = self._entropy(16)
        nonce_p = body["programmer_nonce"]
        proof = session_open_proof(
            pairing.key, pairing.key_id, session_id, nonce_p, nonce_d, int(pairing.role)
        )
        payload = encode_reply(
            spec.msg,
            ErrorCode.OK,
            {
                "session_id": session_id,
                "device_nonce": nonce_d,
                "device_proof": proof,
                "role": int(pairing.role),
            },
        )
        self.session = None  # one session at a time; the reply is sent in the clear
        self._decided = None  # a programmer with a session knows how its pairing ended
        self._outgoing += self._reply_bytes(spec.msg, frame.seq, payload, authenticated=False)
        keys = SessionKeys.derive(pairing.key, session_id, nonce_p, nonce_d)
        self.session = AuthSession.for_device(session_id, pairing.key_id, pairing.role, keys)
        self._in_flight.clear()
        self._duplicates.clear()
        self._events.append(SessionOpened(session_id, pairing.key_id, pairing.role))

    def _session_close(
        self, spec: MessageSpec, frame: Frame, body: dict[str, Any], role: Role | None, now: int
    ) -> None:
        self._answer(spec, frame, {})
        if self.session is not None:
            self._events.append(SessionClosed(self.session.session_id))
        self.session = None

    def _unpair(
        self, spec: MessageSpec, frame: Frame, body: dict[str, Any], role: Role | None, now: int
    ) -> None:
        assert self.session is not None
        key_id = body["key_id"] or self.session.key_id
        if role is Role.PATIENT and key_id != self.session.key_id:
            raise _Rejected(ErrorCode.ROLE_NOT_PERMITTED, "a patient key may unpair only itself")
        if key_id not in self.pairings:
            raise _Rejected(ErrorCode.UNKNOWN_KEY, f"key {key_id:#010x} is not paired")
        forgotten = self.pairings.pop(key_id)
        self._answer_change(spec, frame, {})
        self._events.append(Unpaired(key_id, forgotten.role))
        if key_id == self.session.key_id:
            self._events.append(SessionClosed(self.session.session_id))
            self.session = None

    def _answer_change(self, spec: MessageSpec, frame: Frame, body: dict[str, Any]) -> None:
        """Success reply of a state-changing request the endpoint handles: cached, sealed."""
        payload = encode_reply(spec.msg, ErrorCode.OK, body)
        rid = request_id_of(spec.msg, frame.payload)
        assert rid is not None
        digest = request_digest(frame.msg_type, frame.payload)
        self.cache.put(rid, CachedOutcome(frame.msg_type, digest, payload, self._session_key_id()))
        self._outgoing += self._reply_bytes(spec.msg, frame.seq, payload, authenticated=True)

    def _pairings_list(
        self, spec: MessageSpec, frame: Frame, body: dict[str, Any], role: Role | None, now: int
    ) -> None:
        pairings = [
            {
                "key_id": p.key_id,
                "role": int(p.role),
                "programmer_id": p.programmer_id,
                "paired_time": p.paired_time,
            }
            for p in sorted(self.pairings.values(), key=lambda p: p.key_id)
        ]
        self._answer(spec, frame, {"max_pairings": self.info.max_pairings, "pairings": pairings})

    def _patient_pairing_authorize(
        self, spec: MessageSpec, frame: Frame, body: dict[str, Any], role: Role | None, now: int
    ) -> None:
        assert self.session is not None
        until = now + self.policy.pairing_window_s
        self._patient_authorized_until = until
        self._answer_change(spec, frame, {"valid_until_time": until})
        self._events.append(PatientPairingAuthorized(self.session.key_id, until))

    def _session_key_id(self) -> int:
        return self.session.key_id if self.session is not None else 0

    def _in_flight_seq(self, request_id: int) -> int | None:
        return next((seq for seq, (rid, _) in self._in_flight.items() if rid == request_id), None)

    def _request_status(
        self, spec: MessageSpec, frame: Frame, body: dict[str, Any], role: Role | None, now: int
    ) -> None:
        cached = self.cache.get(body["request_id"])
        if cached is None:
            # EVICTED: it reached the pump, its outcome is forgotten; UNKNOWN: not among the
            # request ids this pump recalls (see request_cache for what that proves)
            evicted = self.cache.evicted(body["request_id"])
            state = RequestState.EVICTED if evicted else RequestState.UNKNOWN
            answer = {"state": state, "msg_type": 0, "status": 0, "reply": b""}
        elif cached.pending:
            running = self._in_flight_seq(body["request_id"]) is not None
            state = RequestState.IN_PROGRESS if running else RequestState.INTERRUPTED
            answer = {"state": state, "msg_type": cached.msg_type, "status": 0, "reply": b""}
        else:
            answer = {
                "state": RequestState.COMPLETED,
                "msg_type": cached.msg_type,
                "status": cached.status,
                "reply": cached.reply_payload[2:],
            }
        self._answer(spec, frame, answer)


def _auth_reason(code: ErrorCode, frame: Frame, session: AuthSession | None) -> str:
    """The reason text of a refused AUTH frame (for people; the code is what counts)."""
    if code is ErrorCode.REPLAYED_COUNTER and session is not None and frame.counter is not None:
        last = session.window.last
        if frame.counter > last:
            return (
                f"replayed counter: {frame.counter} is more than {MAX_COUNTER_STEP} above the "
                f"last accepted {last}"
            )
        return f"replayed counter: {frame.counter} is not above the last accepted {last}"
    return code.name.lower().replace("_", " ")


def _error_payload(code: ErrorCode, reason: str) -> bytes:
    return encode_reply(
        MsgType.HELLO, code, reason=reason
    )  # error bodies do not depend on the message


_Handler = Callable[[DeviceEndpoint, MessageSpec, Frame, dict[str, Any], Role | None, int], None]
_INTERNAL: dict[MsgType, _Handler] = {
    MsgType.HELLO: DeviceEndpoint._hello,
    MsgType.PAIR_BEGIN: DeviceEndpoint._pair_begin,
    MsgType.PAIR_CONFIRM: DeviceEndpoint._pair_confirm,
    MsgType.SESSION_OPEN: DeviceEndpoint._session_open,
    MsgType.SESSION_CLOSE: DeviceEndpoint._session_close,
    MsgType.UNPAIR: DeviceEndpoint._unpair,
    MsgType.PAIRINGS_LIST: DeviceEndpoint._pairings_list,
    MsgType.PATIENT_PAIRING_AUTHORIZE: DeviceEndpoint._patient_pairing_authorize,
    MsgType.REQUEST_STATUS: DeviceEndpoint._request_status,
}
