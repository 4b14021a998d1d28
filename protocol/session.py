"""One authenticated session as both endpoints hold it: keys, counters, replay window.

Why: the device and the programmer seal and open frames the same way, with the direction keys
swapped.  Keeping that in one small class means the order of checks - session id, then tag, then
counter, and only then the replay state moves - is written once and tested once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .crypto import ReplayWindow, SessionKeys, verify_tag
from .enums import Role
from .errors import ErrorCode
from .framing import Flags, Frame, encode_frame


@dataclass
class AuthSession:
    session_id: int
    key_id: int
    role: Role
    send_key: bytes = field(repr=False)
    recv_key: bytes = field(repr=False)
    send_counter: int = 0  # last counter sent
    window: ReplayWindow = field(default_factory=ReplayWindow)

    @classmethod
    def for_device(cls, session_id: int, key_id: int, role: Role, keys: SessionKeys) -> AuthSession:
        return cls(session_id, key_id, role, keys.key_d2p, keys.key_p2d)

    @classmethod
    def for_programmer(
        cls, session_id: int, key_id: int, role: Role, keys: SessionKeys
    ) -> AuthSession:
        return cls(session_id, key_id, role, keys.key_p2d, keys.key_d2p)

    def seal(self, msg_type: int, seq: int, payload: bytes, flags: Flags) -> bytes:
        """Wire bytes of an authenticated frame with the next counter."""
        self.send_counter += 1
        return encode_frame(
            msg_type,
            seq,
            payload,
            flags,
            session_id=self.session_id,
            counter=self.send_counter,
            tag_key=self.send_key,
        )

    def open(self, frame: Frame) -> ErrorCode:
        """Verify an AUTH frame: OK, or the reason it must be refused (state unchanged then)."""
        if frame.session_id != self.session_id:
            return ErrorCode.UNKNOWN_SESSION
        if frame.tag is None or not verify_tag(self.recv_key, frame.signed, frame.tag):
            return ErrorCode.BAD_TAG
        assert frame.counter is not None  # an AUTH frame always has one
        if not self.window.check(frame.counter):
            return ErrorCode.REPLAYED_COUNTER
        self.window.accept(frame.counter)
        return ErrorCode.OK
