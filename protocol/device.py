"""The pump's protocol endpoint: bytes in, checked requests out; replies in, bytes out.

Why: everything about *who may ask what* lives here, in front of the firmware, so the therapy code
only ever sees requests that are well formed, authenticated, fresh, permitted for the session's
role and not already executed.  Theory of operation:

1. ``receive_data(bytes)`` buffers line bytes; ``next_event(now)`` decodes frames one at a time.
2. Each frame passes, in order: version, flags, catalog lookup and direction; for an AUTH frame the
   session id, then the tag, then the counter (only then does the replay window move); the
   message's authentication requirement and the session's role; the payload layout.  The first
   failure is answered with an error reply (authenticated only if the frame itself verified) and
   reported as ``FrameRejected`` so the firmware can write it to the audit log.  Authentication
   failures count towards a lockout of pairing and session open.
3. The endpoint itself answers HELLO, pairing, session open/close, UNPAIR and REQUEST_STATUS.
4. A state-changing request whose request id is in the cache is answered from the cache (never
   re-executed); otherwise it is handed to the firmware as a ``Request`` event.
5. The firmware answers with ``send(Reply(...))``, which returns the wire bytes; replies the
   endpoint makes itself accumulate in ``data_to_send()`` (aioquic's pattern).
6. Unauthenticated requests are answered within a budget in pump time (protocol/ratelimit.py);
   their replies are kept apart from session replies (``data_to_send_by_priority``) so the link
   sends a session's traffic first and a flood of HELLOs can never delay it.

Security state (pairings, request cache, lockout) is exported as bytes for the firmware's NVM.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .catalog import CATALOG, Capability, Direction, MessageSpec, MsgType, RequestState
from .codec import decode_request, encode_reply, request_id_of
from .crypto import PairingResponder, PairingSecrets, SessionKeys, session_open_proof
from .enums import Role
from .errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from .events import (
    NEED_DATA,
    Event,
    FrameRejected,
    LockoutStarted,
    Notification,
    PairingCompleted,
    Reply,
    Request,
    SessionClosed,
    SessionOpened,
    Unpaired,
)
from .framing import MAX_PAYLOAD, PROTOCOL_VERSION, Flags, Frame, FrameDecoder, encode_frame
from .ratelimit import TokenBucket
from .request_cache import CachedOutcome, RequestCache, request_digest
from .session import AuthSession

#: Failures that count towards the pairing/session lockout.
_AUTH_FAILURES = frozenset(
    {
        ErrorCode.BAD_TAG,
        ErrorCode.REPLAYED_COUNTER,
        ErrorCode.UNKNOWN_SESSION,
        ErrorCode.PAIRING_FAILED,
        ErrorCode.UNKNOWN_KEY,
    }
)
_PAIRING_GATED = frozenset({MsgType.PAIR_BEGIN, MsgType.PAIR_CONFIRM, MsgType.SESSION_OPEN})
_STATE_VERSION = 1


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


@dataclass(frozen=True, slots=True)
class Pairing:
    key_id: int
    role: Role
    key: bytes = field(repr=False)


@dataclass
class _PendingPairing:
    secrets: PairingSecrets
    role: Role


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
        self._window_until = now + self.policy.pairing_window_s

    def close_pairing_window(self) -> None:
        self._window_until = 0
        self._pending_pairing = None

    def pairing_window_open(self, now: int) -> bool:
        return now < self._window_until

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
            if spec.direction is not Direction.EVENT:
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
            self.cache.put(rid, CachedOutcome(int(event.msg), digest, payload))
            for seq in self._duplicates.pop(event.seq, []):
                out += self._reply_bytes(event.msg, seq, payload, authenticated=True)
        return out

    # -- security state persistence --------------------------------------------------------------
    def export_state(self) -> bytes:
        """Pairings, lockout and request cache as bytes of at most ``max_state_bytes``: the
        oldest completed cache entries are dropped to fit (pairings and pending entries never)."""
        parts = [struct.pack(">BBI", _STATE_VERSION, len(self.pairings), self.locked_until)]
        for p in sorted(self.pairings.values(), key=lambda p: p.key_id):
            parts.append(struct.pack(">IB32s", p.key_id, int(p.role), p.key))
        head = b"".join(parts)
        cache = self.cache.to_bytes()
        while len(head) + len(cache) > self.max_state_bytes and self.cache.evict_oldest_completed():
            cache = self.cache.to_bytes()
        return head + cache

    def import_state(self, data: bytes) -> None:
        """Restore pairings, request cache and lockout; ValueError on malformed data."""
        if len(data) < 6 or data[0] != _STATE_VERSION:
            raise ValueError("unknown security state version")
        _, count, locked_until = struct.unpack_from(">BBI", data)
        pos, pairings = 6, {}
        for _ in range(count):
            key_id, role, key = struct.unpack_from(">IB32s", data, pos)
            pos += 37
            pairings[key_id] = Pairing(key_id, Role(role), key)
        cache, _used = RequestCache.from_bytes(data[pos:])
        self.pairings, self.cache, self.locked_until = pairings, cache, locked_until
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
                    raise _Rejected(code, f"{code.name.lower().replace('_', ' ')}")
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
        if spec.direction is not Direction.REQUEST:
            raise _Rejected(ErrorCode.WRONG_DIRECTION, f"{spec.name} is sent by the pump only")
        return spec

    def _reject(self, frame: Frame, code: ErrorCode, reason: str, verified: bool, now: int) -> None:
        msg = frame.msg_type
        payload = _error_payload(code, reason)
        self._outgoing += self._reply_bytes(msg, frame.seq, payload, authenticated=verified)
        self._events.append(FrameRejected(code, reason, msg, frame.seq))
        if code in _AUTH_FAILURES:
            self._count_failure(now)

    def _count_failure(self, now: int) -> None:
        horizon = now - self.policy.lockout_s
        self._failures.append(now)
        while self._failures and self._failures[0] <= horizon:
            self._failures.popleft()
        if len(self._failures) >= self.policy.failures_before_lockout:
            self._failures.clear()
            self.locked_until = now + self.policy.lockout_s
            self._pending_pairing = None
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
                f"locked for {self.locked_until - now} s after repeated authentication failures",
            )
        handler = _INTERNAL.get(spec.msg)
        if spec.state_changing:
            rid = request_id_of(spec.msg, frame.payload)
            assert rid is not None
            if rid == 0:
                raise _Rejected(ErrorCode.INVALID_ARGUMENT, "request_id 0 is reserved")
            digest = request_digest(frame.msg_type, frame.payload)
            cached = self.cache.get(rid)
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
                self.cache.put(rid, CachedOutcome(frame.msg_type, digest, b""))  # written ahead
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
                "messages": [
                    int(m) for m, s in CATALOG.items() if s.direction is Direction.REQUEST
                ],
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
        if len(self.pairings) >= self.info.max_pairings:
            raise _Rejected(ErrorCode.KEY_STORE_FULL, f"{len(self.pairings)} keys paired already")
        responder = PairingResponder(self._entropy(32), self._entropy(16), self.info.serial_number)
        try:
            secrets = responder.complete(
                body["programmer_public"], body["programmer_nonce"], body["role"]
            )
        except RemoteProtocolError as exc:
            raise _Rejected(ErrorCode.PAIRING_FAILED, str(exc)) from exc
        self._pending_pairing = _PendingPairing(secrets, Role(body["role"]))
        self.pairing_code = secrets.format_code()
        self._answer(
            spec, frame, {"device_public": responder.public, "device_nonce": responder.nonce}
        )

    def _pair_confirm(
        self, spec: MessageSpec, frame: Frame, body: dict[str, Any], role: Role | None, now: int
    ) -> None:
        pending = self._pending_pairing
        if pending is None:
            raise _Rejected(ErrorCode.NO_PAIRING_IN_PROGRESS, "send PAIR_BEGIN first")
        if not self.pairing_window_open(now):
            self._pending_pairing = None
            raise _Rejected(ErrorCode.PAIRING_WINDOW_CLOSED, "the pairing window closed")
        self._pending_pairing = None
        if not pending.secrets.verify_programmer_proof(body["programmer_proof"]):
            raise _Rejected(ErrorCode.PAIRING_FAILED, "programmer proof does not verify")
        key_id = pending.secrets.key_id
        self.pairings[key_id] = Pairing(key_id, pending.role, pending.secrets.pairing_key)
        self._events.append(PairingCompleted(key_id, pending.role, pending.secrets.pairing_key))
        self._answer(
            spec, frame, {"key_id": key_id, "device_proof": pending.secrets.device_proof()}
        )

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
        del self.pairings[key_id]
        payload = encode_reply(spec.msg, ErrorCode.OK, {})
        rid = request_id_of(spec.msg, frame.payload)
        assert rid is not None
        self.cache.put(
            rid,
            CachedOutcome(frame.msg_type, request_digest(frame.msg_type, frame.payload), payload),
        )
        self._outgoing += self._reply_bytes(spec.msg, frame.seq, payload, authenticated=True)
        self._events.append(Unpaired(key_id))
        if key_id == self.session.key_id:
            self._events.append(SessionClosed(self.session.session_id))
            self.session = None

    def _in_flight_seq(self, request_id: int) -> int | None:
        return next((seq for seq, (rid, _) in self._in_flight.items() if rid == request_id), None)

    def _request_status(
        self, spec: MessageSpec, frame: Frame, body: dict[str, Any], role: Role | None, now: int
    ) -> None:
        cached = self.cache.get(body["request_id"])
        if cached is None:
            answer = {"state": RequestState.UNKNOWN, "msg_type": 0, "status": 0, "reply": b""}
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
    MsgType.REQUEST_STATUS: DeviceEndpoint._request_status,
}
