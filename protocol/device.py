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
   re-executed); otherwise it is handed to the firmware as a ``Request`` event (the ledger that
   decides is protocol/device_requests.py).
5. The firmware answers with ``send(Reply(...))``, which returns the wire bytes; replies the
   endpoint makes itself accumulate in ``data_to_send()`` (aioquic's pattern).
6. Unauthenticated requests are answered within a budget in pump time (protocol/ratelimit.py);
   their replies are kept apart from session replies (``data_to_send_by_priority``) so the link
   sends a session's traffic first and a flood of HELLOs can never delay it.

Pairing (the wand window, the waiting pairing, the person at the pump, the lockout) is a
``PairingDesk`` the endpoint owns (protocol/device_pairing.py); the bench calls reach it through
the endpoint (``open_pairing_window``, ``accept_pairing``...).

Where pairing and the session stand is ``state``: protocol/states.py has the two machines as
tables (and says which timers gate them); the endpoint and its desk fire their events where
things happen.

Security state (pairings, request cache, lockout) is exported as bytes for the firmware's NVM
(protocol/security_state.py).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import security_state
from .audit import LOCKOUT_COUNTED_FROM, LOCKOUT_FAILURES
from .catalog import CATALOG, Capability, MessageKind, MessageSpec, MsgType
from .codec import decode_request, encode_reply, request_id_of
from .crypto import MAX_COUNTER_STEP, SessionKeys, session_open_proof
from .device_pairing import Decision, PairingDecisionError, PairingDesk
from .device_requests import Admission, RequestLedger
from .enums import Role
from .errors import ErrorCode, LocalProtocolError, Refusal, RemoteProtocolError
from .events import (
    NEED_DATA,
    Event,
    FrameRejected,
    NeedData,
    Notification,
    PairingPending,
    PatientPairingAuthorized,
    Reply,
    Request,
    SessionClosed,
    SessionOpened,
    Unpaired,
)
from .framing import MAX_PAYLOAD, PROTOCOL_VERSION, Flags, Frame, FrameDecoder, encode_frame
from .ratelimit import TokenBucket
from .request_cache import RequestCache
from .security_state import Pairing, SecurityState
from .session import AuthSession
from .states import DEVICE_SESSION, DeviceSessionEvent, DeviceState, SessionState, StateCell

__all__ = ["DeviceEndpoint", "DeviceInfo", "PairingDecisionError", "SecurityPolicy"]

_SE = DeviceSessionEvent

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
    #: The proximity rule: a request that changes the pump (a catalog row with
    #: ``state_changing``) is refused PROGRAMMER_HEAD_AWAY unless the programmer head is over the
    #: pump (``DeviceEndpoint.head_present``).  Reads never need it; ABORT_PRESCRIPTION (it only
    #: drops a staged change) and a retry answered from the request cache do not either.
    writes_need_head: bool = False


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
        self._requests = RequestLedger()
        self._session = StateCell(DEVICE_SESSION)
        self._session_keys: AuthSession | None = None  # OPEN
        self._desk = PairingDesk(
            info, self.policy, entropy, self._events, self._forget_session_of, auto_accept_pairing
        )
        self._event_seq = 0
        #: The programmer head is over the pump now (the bench's wand; not persisted: after a
        #: reset the board reports it again).
        self.head_present = False

    @property
    def state(self) -> DeviceState:
        """Where pairing and the session stand (protocol/states.py has the tables).  A waiting
        pairing whose time ran out is noticed at the next call that passes ``now``."""
        return DeviceState(self._desk.machine.state, self._session.state)

    @property
    def session(self) -> AuthSession | None:
        """The open session's keys and counters; None unless ``state.session`` is OPEN."""
        return self._session_keys

    @session.setter
    def session(self, session: AuthSession | None) -> None:
        """Install (or drop) a session directly, as a test rig does to stand for a reset."""
        self._session_keys = session
        self._session.state = SessionState.CLOSED if session is None else SessionState.OPEN

    def _forget_session_of(self, key_id: int) -> None:
        """``key_id`` was unpaired or replaced: a session under it ends."""
        if self.session is not None and self.session.key_id == key_id:
            self._end_session(_SE.KEY_FORGOTTEN)

    def _end_session(self, event: DeviceSessionEvent) -> None:
        """The open session ends (SESSION_CLOSE, its key forgotten); the firmware is told."""
        assert self._session_keys is not None
        self._events.append(SessionClosed(self._session_keys.session_id))
        self._session.fire(event)
        self._session_keys = None

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

    # -- bench inputs (protocol/device_pairing.py does the work) -----------------------------
    def open_pairing_window(self, now: int) -> None:
        """The programmer head was placed over the pump (bench).  Proximity also lifts a pairing
        lockout in force: only someone at the patient's side can do that."""
        self._desk.open_window(now)

    def close_pairing_window(self) -> None:
        self._desk.close_window()

    def pairing_window_open(self, now: int) -> bool:
        return self._desk.window_open(now)

    def pending_pairing(self, now: int) -> PairingPending | None:
        """The pairing waiting for the person at the pump (what the pump's side shows)."""
        return self._desk.pending(now)

    def patient_pairing_authorized(self, now: int) -> bool:
        return self._desk.patient_authorized(now)

    def accept_pairing(self, code: str, now: int) -> Pairing | None:
        """The person at the pump accepts ``code`` (typed as the programmer shows it).

        Returns the stored pairing, or None if the programmer has not proved its keys yet (the
        key is then stored as soon as its PAIR_CONFIRM verifies).  Raises PairingDecisionError,
        storing nothing, if no pairing waits or ``code`` is not the pump's code.
        """
        return self._desk.accept(code, now, self.pairings)

    def reject_pairing(self, now: int) -> None:
        """The person at the pump rejects the waiting pairing; the window stays open."""
        self._desk.reject(now)

    @property
    def pairing_code(self) -> str | None:
        """The last code shown on the "pump side"."""
        return self._desk.pairing_code

    @property
    def auto_accept_pairing(self) -> bool:
        """Scripted rigs only: store a key as soon as the programmer's proof verifies, without
        the person at the pump accepting the code (a man in the middle would get a key)."""
        return self._desk.auto_accept

    @auto_accept_pairing.setter
    def auto_accept_pairing(self, value: bool) -> None:
        self._desk.auto_accept = value

    @property
    def locked_until(self) -> int:
        """Pump time until which pairing is locked out (0: not locked; persisted)."""
        return self._desk.locked_until

    @property
    def failure_count(self) -> int:
        """Failed pairing exchanges counted towards the next lockout (persisted)."""
        return len(self._desk.failures)

    def locked(self, now: int) -> bool:
        """True while pairing is locked out."""
        return self._desk.locked(now)

    # -- events --------------------------------------------------------------------------------
    def next_event(self, now: int) -> Event | NeedData:
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
        out = self._reply_bytes(event.msg, event.seq, payload, authenticated=True, more=event.more)
        if not event.more:
            key_id = self._session_key_id()
            for seq in self._requests.complete(event.msg, event.seq, payload, key_id):
                out += self._reply_bytes(event.msg, seq, payload, authenticated=True)
        return out

    @property
    def cache(self) -> RequestCache:
        """What the pump remembers of each request id (persisted; protocol/request_cache.py)."""
        return self._requests.cache

    # -- security state persistence --------------------------------------------------------------
    def export_state(self) -> bytes:
        """Pairings, lockout and request cache as bytes of at most ``max_state_bytes``
        (protocol/security_state.py says what is dropped to fit, and the layout)."""
        desk = self._desk
        state = SecurityState(self.pairings, desk.locked_until, desk.failures, self.cache)
        return security_state.encode(state, self.max_state_bytes, self._requests.running())

    def import_state(self, data: bytes) -> None:
        """Restore pairings, request cache and lockout; ValueError on malformed data."""
        state = security_state.decode(data)
        self.pairings, self._requests.cache = state.pairings, state.cache
        self._desk.locked_until, self._desk.failures = state.locked_until, state.failures
        # sessions never survive a reset: fresh nonces, fresh keys
        self._session.fire(_SE.RESET)
        self._session_keys = None

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
                    raise Refusal(code, _auth_reason(code, frame, self.session))
                verified = True
                assert self.session is not None
                role = self.session.role
            elif spec.auth:
                raise Refusal(ErrorCode.NOT_AUTHENTICATED, f"{spec.name} needs a session")
            if role is not None and role not in spec.roles:
                raise Refusal(ErrorCode.ROLE_NOT_PERMITTED, f"{role.name} may not send {spec.name}")
            try:
                body = decode_request(spec.msg, frame.payload)
            except RemoteProtocolError as exc:
                raise Refusal(ErrorCode.MALFORMED_PAYLOAD, str(exc)) from exc
            self._dispatch(spec, frame, body, role, now)
        except Refusal as rej:
            self._reject(frame, rej.code, rej.message, verified, now)
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
            raise Refusal(
                ErrorCode.UNSUPPORTED_VERSION,
                f"version {frame.version} not supported; this pump speaks {PROTOCOL_VERSION}",
            )
        if frame.reserved_flags or frame.flags & (Flags.RESPONSE | Flags.EVENT | Flags.MORE):
            raise Refusal(
                ErrorCode.BAD_FLAGS, f"flags {int(frame.flags):#04x} invalid on a request"
            )
        try:
            spec = CATALOG[MsgType(frame.msg_type)]
        except ValueError:
            raise Refusal(
                ErrorCode.UNKNOWN_MESSAGE, f"message type {frame.msg_type:#04x}"
            ) from None
        if spec.kind is not MessageKind.REQUEST:
            raise Refusal(ErrorCode.WRONG_DIRECTION, f"{spec.name} is sent by the pump only")
        return spec

    def _reject(self, frame: Frame, code: ErrorCode, reason: str, verified: bool, now: int) -> None:
        msg = frame.msg_type
        payload = _error_payload(code, reason)
        self._outgoing += self._reply_bytes(msg, frame.seq, payload, authenticated=verified)
        self._events.append(FrameRejected(code, reason, msg, frame.seq))
        if code in LOCKOUT_FAILURES and msg in _PAIRING_GATED:
            self._desk.count_failure(now)

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
        if spec.msg in _PAIRING_GATED and self._desk.locked(now):
            raise Refusal(
                ErrorCode.PAIRING_LOCKED_OUT,
                f"pairing locked for {-(-(self.locked_until - now) // 60)} min after repeated "
                "failed pairings; "
                "place the programmer head over the pump again to lift it",
            )
        handler = _INTERNAL.get(spec.msg)
        if spec.state_changing:
            self._check_head(spec, frame)
        if spec.state_changing:  # at most once (protocol/device_requests.py)
            admitted = self._requests.admit(
                spec.msg, frame, self._session_key_id(), write_ahead=handler is None
            )
            if admitted is Admission.QUEUED:
                return
            if isinstance(admitted, bytes):  # answered from the cache, never run again
                self._outgoing += self._reply_bytes(
                    spec.msg, frame.seq, admitted, authenticated=True
                )
                return
        if handler is not None:
            handler(self, spec, frame, body, role, now)
            return
        self._events.append(Request(spec.msg, body, frame.seq, role))

    def _check_head(self, spec: MessageSpec, frame: Frame) -> None:
        """The proximity rule (``SecurityPolicy.writes_need_head``).  Refused before the request
        ledger sees it, so nothing is cached: the same request may be sent again with the head
        in place."""
        if not self.policy.writes_need_head or self.head_present:
            return
        if spec.msg is MsgType.ABORT_PRESCRIPTION:
            return
        rid = request_id_of(spec.msg, frame.payload)
        if rid is not None and self._requests.cache.get(rid) is not None:
            return  # a retry: answered from the cache (or queued), never run again
        raise Refusal(
            ErrorCode.PROGRAMMER_HEAD_AWAY,
            f"{spec.name} changes the pump: hold the programmer head over the pump "
            "(reading needs no head)",
        )

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
        self._answer(spec, frame, self._desk.begin(body, bytes(frame.payload), now, self.pairings))

    def _pair_confirm(
        self, spec: MessageSpec, frame: Frame, body: dict[str, Any], role: Role | None, now: int
    ) -> None:
        proof = bytes(body["programmer_proof"])
        self._answer_decision(spec, frame, self._desk.confirm(proof, now, self.pairings))

    def _answer_decision(self, spec: MessageSpec, frame: Frame, decided: Decision) -> None:
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
            raise Refusal(ErrorCode.UNKNOWN_KEY, f"key {body['key_id']:#010x} is not paired")
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
        self._desk.forget_decision()  # a programmer with a session knows how its pairing ended
        # one session at a time (a new one ends the old); the reply is sent in the clear
        self._outgoing += self._reply_bytes(spec.msg, frame.seq, payload, authenticated=False)
        keys = SessionKeys.derive(pairing.key, session_id, nonce_p, nonce_d)
        self._session.fire(_SE.OPEN)
        self._session_keys = AuthSession.for_device(session_id, pairing.key_id, pairing.role, keys)
        self._requests.new_session()
        self._events.append(SessionOpened(session_id, pairing.key_id, pairing.role))

    def _session_close(
        self, spec: MessageSpec, frame: Frame, body: dict[str, Any], role: Role | None, now: int
    ) -> None:
        self._answer(spec, frame, {})
        if self.session is not None:
            self._end_session(_SE.CLOSE)

    def _unpair(
        self, spec: MessageSpec, frame: Frame, body: dict[str, Any], role: Role | None, now: int
    ) -> None:
        assert self.session is not None
        key_id = body["key_id"] or self.session.key_id
        if role is Role.PATIENT and key_id != self.session.key_id:
            raise Refusal(ErrorCode.ROLE_NOT_PERMITTED, "a patient key may unpair only itself")
        if key_id not in self.pairings:
            raise Refusal(ErrorCode.UNKNOWN_KEY, f"key {key_id:#010x} is not paired")
        forgotten = self.pairings.pop(key_id)
        self._answer_change(spec, frame, {})
        self._events.append(Unpaired(key_id, forgotten.role))
        self._forget_session_of(key_id)

    def _answer_change(self, spec: MessageSpec, frame: Frame, body: dict[str, Any]) -> None:
        """Success reply of a state-changing request the endpoint handles: cached, sealed."""
        payload = encode_reply(spec.msg, ErrorCode.OK, body)
        self._requests.record(spec.msg, frame, payload, self._session_key_id())
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
        until = self._desk.authorize_patient(now)
        self._answer_change(spec, frame, {"valid_until_time": until})
        self._events.append(PatientPairingAuthorized(self.session.key_id, until))

    def _session_key_id(self) -> int:
        return self.session.key_id if self.session is not None else 0

    def _request_status(
        self, spec: MessageSpec, frame: Frame, body: dict[str, Any], role: Role | None, now: int
    ) -> None:
        self._answer(spec, frame, self._requests.status(body["request_id"]))


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
