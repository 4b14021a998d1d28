"""The programmer's protocol endpoint: requests in, bytes out; bytes in, verified replies out.

Why: the client library (retries, timeouts, reply matching) and the conformance suite both need
the same careful handling of what comes back from a pump: a reply inside a session is accepted
only if its session id, tag and counter verify (in that order); anything else is dropped and
reported as ``FrameRejected``, never silently trusted.  Pairing and session open are two
round trips each, driven by explicit calls so the caller controls timing and retries; where each
stands is ``state`` (the tables of protocol/states.py: which call or reply moves it where).

Unauthenticated error replies are delivered (the pump sends them when it could not verify our
frame), marked ``authenticated=False``; the client must treat such a refusal of a state-changing
request as *uncertain* and resolve it inside the session, because anyone on the line can forge one.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from .catalog import CATALOG, MessageKind, MsgType
from .codec import decode_reply, decode_request, encode_request
from .crypto import PairingInitiator, PairingSecrets, SessionKeys, verify_session_open_proof
from .enums import Role
from .errors import ErrorCode, LocalProtocolError, ProtocolError, RemoteProtocolError
from .events import (
    NEED_DATA,
    Event,
    FrameRejected,
    NeedData,
    Notification,
    PairingCode,
    PairingCompleted,
    Reply,
    Request,
    SessionOpened,
)
from .framing import PROTOCOL_VERSION, Flags, Frame, FrameDecoder, encode_frame
from .session import AuthSession
from .states import (
    PROGRAMMER_PAIRING,
    PROGRAMMER_SESSION,
    ProgrammerPairingEvent,
    ProgrammerPairingState,
    ProgrammerSessionEvent,
    ProgrammerState,
    SessionState,
    StateCell,
)

_PE, _PS = ProgrammerPairingEvent, ProgrammerSessionEvent


@dataclass
class _PendingOpen:
    seq: int
    key_id: int
    pairing_key: bytes
    nonce: bytes


@dataclass
class _Pairing:
    """The data of the pairing machine's state: what BEGUN and CONFIRMING await, and the keys."""

    seq: int = -1  # the PAIR_BEGIN (BEGUN) or PAIR_CONFIRM (CONFIRMING) awaiting its reply
    initiator: PairingInitiator | None = None  # BEGUN
    secrets: PairingSecrets | None = None  # CODE_SHOWN, CONFIRMING


class ProgrammerEndpoint:
    """The programmer role of the protocol.  One pump, at most one session at a time."""

    def __init__(self) -> None:
        self._decoder = FrameDecoder()
        self._frames: deque[Frame] = deque()
        self._events: deque[Event] = deque()
        self.serial_number: str | None = None  # learnt from HELLO; bound into pairing
        self._pairing = StateCell(PROGRAMMER_PAIRING)
        self._pairing_data = _Pairing()
        self._session = StateCell(PROGRAMMER_SESSION)
        self._session_keys: AuthSession | None = None  # OPEN
        self._opening: _PendingOpen | None = None  # OPENING

    @property
    def state(self) -> ProgrammerState:
        """Where pairing and the session stand (protocol/states.py has the tables)."""
        return ProgrammerState(self._pairing.state, self._session.state)

    @property
    def session(self) -> AuthSession | None:
        """The open session's keys and counters; None unless ``state.session`` is OPEN."""
        return self._session_keys

    @session.setter
    def session(self, session: AuthSession | None) -> None:
        """Install (or drop) a session's keys directly, as a test rig does to replay an old one."""
        self._session_keys, self._opening = session, None
        self._session.state = SessionState.CLOSED if session is None else SessionState.OPEN

    @property
    def decoder(self) -> FrameDecoder:
        return self._decoder

    def receive_data(self, data: bytes) -> None:
        self._frames.extend(self._decoder.feed(data))

    def next_event(self) -> Event | NeedData:
        while not self._events:
            if not self._frames:
                return NEED_DATA
            self._handle_frame(self._frames.popleft())
        return self._events.popleft()

    # -- sending -----------------------------------------------------------------------------------
    def send(self, request: Request) -> bytes:
        """Wire bytes of a request: authenticated whenever a session is open."""
        spec = CATALOG[request.msg]
        if spec.kind is not MessageKind.REQUEST:
            raise LocalProtocolError(f"{spec.name} is not a request")
        if spec.auth and self._session.state is not SessionState.OPEN:
            raise LocalProtocolError(f"{spec.name} needs an open session")
        if spec.state_changing and not request.body.get("request_id"):
            raise LocalProtocolError(f"{spec.name} needs a non-zero request_id")
        payload = encode_request(request.msg, request.body)
        if self.session is not None and spec.msg is not MsgType.SESSION_OPEN:
            return self.session.seal(request.msg, request.seq, payload, Flags(0))
        return encode_frame(request.msg, request.seq, payload)

    def begin_pairing(
        self, role: Role, private_bytes: bytes, nonce: bytes, seq: int, programmer_id: int = 0
    ) -> bytes:
        """PAIR_BEGIN; HELLO must have been answered first (the serial number is bound in).

        ``programmer_id`` (random, kept by the programmer) lets the pump replace this
        programmer's earlier key instead of filling a new slot; 0 pairs anonymously.
        """
        if self.serial_number is None:
            raise LocalProtocolError(
                "send HELLO before pairing: the serial number is bound into the keys"
            )
        initiator = PairingInitiator(private_bytes, nonce, int(role))
        self._pairing.fire(_PE.SEND_BEGIN)
        self._pairing_data = _Pairing(seq, initiator)
        body = {
            "role": int(role),
            "programmer_public": initiator.public,
            "programmer_nonce": nonce,
            "programmer_id": programmer_id,
        }
        return self.send(Request(MsgType.PAIR_BEGIN, body, seq))

    def confirm_pairing(self, seq: int) -> bytes:
        """PAIR_CONFIRM: once the code is shown, and again while the pump awaits its person."""
        self._pairing.fire(_PE.SEND_CONFIRM)  # refused before the code is shown
        secrets = self._pairing_data.secrets
        assert secrets is not None
        self._pairing_data.seq = seq
        body = {"programmer_proof": secrets.programmer_proof()}
        return self.send(Request(MsgType.PAIR_CONFIRM, body, seq))

    def open_session(self, key_id: int, pairing_key: bytes, nonce: bytes, seq: int) -> bytes:
        self._session.fire(_PS.SEND_OPEN)
        self._session_keys = None
        self._opening = _PendingOpen(seq, key_id, pairing_key, nonce)
        body = {"key_id": key_id, "programmer_nonce": nonce}
        return encode_frame(MsgType.SESSION_OPEN, seq, encode_request(MsgType.SESSION_OPEN, body))

    def close_session(self) -> None:
        self._session.fire(_PS.CLOSE)
        self._session_keys = self._opening = None

    # -- receiving ---------------------------------------------------------------------------------
    def _reject(self, frame: Frame, code: ErrorCode, reason: str) -> None:
        self._events.append(FrameRejected(code, reason, frame.msg_type, frame.seq))

    def _handle_frame(self, frame: Frame) -> None:
        if frame.version != PROTOCOL_VERSION:
            self._reject(frame, ErrorCode.UNSUPPORTED_VERSION, f"version {frame.version}")
            return
        if frame.reserved_flags or not frame.flags & (Flags.RESPONSE | Flags.EVENT):
            self._reject(
                frame, ErrorCode.BAD_FLAGS, f"flags {int(frame.flags):#04x} on a pump frame"
            )
            return
        try:
            msg = MsgType(frame.msg_type)
        except ValueError:
            self._reject(frame, ErrorCode.UNKNOWN_MESSAGE, f"message type {frame.msg_type:#04x}")
            return
        authenticated = bool(frame.flags & Flags.AUTH)
        if authenticated:
            code = ErrorCode.UNKNOWN_SESSION if self.session is None else self.session.open(frame)
            if code is not ErrorCode.OK:
                self._reject(frame, code, "reply does not verify in this session")
                return
        try:
            if frame.flags & Flags.EVENT:
                if not authenticated:
                    self._reject(frame, ErrorCode.NOT_AUTHENTICATED, "events must be authenticated")
                    return
                self._events.append(
                    Notification(msg, frame.seq, decode_request(msg, frame.payload))
                )
                return
            status, body, reason = decode_reply(msg, frame.payload)
        except RemoteProtocolError as exc:
            self._reject(frame, ErrorCode.MALFORMED_PAYLOAD, str(exc))
            return
        if status == 0 and not authenticated and CATALOG[msg].auth:
            self._reject(
                frame,
                ErrorCode.NOT_AUTHENTICATED,
                f"{msg.name} success reply must be authenticated",
            )
            return
        reply = Reply(
            msg, frame.seq, status, body, reason, bool(frame.flags & Flags.MORE), authenticated
        )
        self._after_reply(reply)
        self._events.append(reply)

    def _after_reply(self, reply: Reply) -> None:
        """Move the machines on a reply to the request they await (matched by seq)."""
        pairing, awaited = self._pairing.state, self._pairing_data.seq
        if reply.msg is MsgType.HELLO and reply.ok:
            serial = str(reply.body["serial_number"])
            # bound into the pairing transcript, which takes printable ASCII only
            self.serial_number = serial if serial.isascii() and serial.isprintable() else None
        elif (
            reply.msg is MsgType.PAIR_BEGIN
            and pairing is ProgrammerPairingState.BEGUN
            and reply.seq == awaited
        ):
            self._pair_begin_reply(reply)
        elif (
            reply.msg is MsgType.PAIR_CONFIRM
            and pairing is ProgrammerPairingState.CONFIRMING
            and reply.seq == awaited
        ):
            self._pair_confirm_reply(reply)
        elif reply.msg is MsgType.SESSION_OPEN and self._opening and reply.seq == self._opening.seq:
            self._session_open_reply(reply)

    def _pair_begin_reply(self, reply: Reply) -> None:
        initiator = self._pairing_data.initiator
        assert initiator is not None and self.serial_number is not None
        self._pairing_data = _Pairing()
        if not reply.ok:
            self._pairing.fire(_PE.BEGIN_FAILED)
            return
        try:
            secrets = initiator.complete(
                reply.body["device_public"], reply.body["device_nonce"], self.serial_number
            )
        except ProtocolError as exc:  # a malformed key, nonce or serial from the pump
            self._pairing.fire(_PE.BEGIN_FAILED)
            self._events.append(
                FrameRejected(ErrorCode.PAIRING_FAILED, str(exc), reply.msg, reply.seq)
            )
            return
        self._pairing.fire(_PE.KEYS_DERIVED)
        self._pairing_data.secrets = secrets
        self._events.append(PairingCode(secrets.format_code()))

    def _pair_confirm_reply(self, reply: Reply) -> None:
        if reply.status == ErrorCode.PAIRING_AWAITING_CONFIRMATION:
            # the person at the pump has not accepted yet: confirm_pairing() again
            self._pairing.fire(_PE.AWAITING_PERSON)
            return
        secrets = self._pairing_data.secrets
        self._pairing.fire(_PE.CONFIRM_ANSWERED)
        self._pairing_data = _Pairing()
        if not reply.ok or secrets is None:
            return
        if (
            not secrets.verify_device_proof(reply.body["device_proof"])
            or reply.body["key_id"] != secrets.key_id
        ):
            self._events.append(
                FrameRejected(
                    ErrorCode.PAIRING_FAILED, "device proof does not verify", reply.msg, reply.seq
                )
            )
            return
        self._events.append(
            PairingCompleted(secrets.key_id, Role(secrets.role), secrets.pairing_key)
        )

    def _session_open_reply(self, reply: Reply) -> None:
        pending, self._opening = self._opening, None
        if not reply.ok or pending is None:
            self._session.fire(_PS.OPEN_FAILED)
            return
        body: dict[str, Any] = reply.body
        if body["role"] not in (Role.CLINICIAN, Role.PATIENT):
            self._session.fire(_PS.OPEN_FAILED)
            reason = f"pump announced unknown role {body['role']}"
            self._events.append(
                FrameRejected(ErrorCode.MALFORMED_PAYLOAD, reason, reply.msg, reply.seq)
            )
            return
        if not verify_session_open_proof(
            pending.pairing_key,
            pending.key_id,
            body["session_id"],
            pending.nonce,
            body["device_nonce"],
            body["role"],
            body["device_proof"],
        ):
            self._session.fire(_PS.OPEN_FAILED)
            self._events.append(
                FrameRejected(
                    ErrorCode.BAD_TAG, "pump's session proof does not verify", reply.msg, reply.seq
                )
            )
            return
        keys = SessionKeys.derive(
            pending.pairing_key, body["session_id"], pending.nonce, body["device_nonce"]
        )
        role = Role(body["role"])
        self._session.fire(_PS.OPEN_VERIFIED)
        self._session_keys = AuthSession.for_programmer(
            body["session_id"], pending.key_id, role, keys
        )
        self._events.append(SessionOpened(body["session_id"], pending.key_id, role))
