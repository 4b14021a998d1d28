"""The suite's own programmer: raw frames, the protocol's ProgrammerEndpoint, and pyserial.

Why not programmer/: the suite judges implementations, including ours, so it must not share the
client library it would be judging.  It uses only the sans-I/O protocol core (the wire spec made
code) and pyserial, which reaches a pty, a USB-serial adapter or ``rfc2217://`` alike.

Everything random (X25519 keys, nonces, request ids) comes from one ``random.Random(seed)``, so a
session is reproducible byte for byte against a lock-step pump.  Every byte written and read is
kept in ``transcript`` as ``(PacketDirection, bytes)``; ``protocol.trace`` turns it into readable
frames for a failure message or the golden file.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import serial

from protocol import (
    CATALOG,
    NEED_DATA,
    ErrorCode,
    FrameRejected,
    MsgType,
    Notification,
    PairingCode,
    PairingCompleted,
    ProgrammerEndpoint,
    Reply,
    Request,
    Role,
)
from protocol.codec import encode_request
from protocol.framing import NO_FLAGS, Flags, Frame, FrameDecoder, encode_frame
from protocol.pcapng import PacketDirection
from protocol.trace import format_trace

#: How long a reply may take before the suite calls it missing (generous for remote serial).
REPLY_TIMEOUT_S = 5.0
_POLL_S = 0.05


class NoReply(AssertionError):
    """The device did not answer in time: a conformance failure, with the transcript attached."""


@dataclass(frozen=True)
class PumpKey:
    """A pairing as the suite stores it (the ``--pump-key`` file)."""

    serial: str
    key_id: int
    role: Role
    key: bytes = field(repr=False)

    @classmethod
    def load(cls, path: str | Path) -> PumpKey:
        """Read ``{serial, key_id, role, key}``; also accepts a pumpctl keystore with one pump."""
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        if "pumps" in doc:
            ((serial_number, entry),) = doc["pumps"].items()
            doc = {"serial": serial_number, **entry}
        role = doc["role"]
        role = Role[role.upper()] if isinstance(role, str) else Role(role)
        return cls(str(doc["serial"]), int(doc["key_id"]), role, bytes.fromhex(doc["key"]))

    def save(self, path: str | Path) -> None:
        doc = {
            "serial": self.serial,
            "key_id": self.key_id,
            "role": self.role.name.lower(),
            "key": self.key.hex(),
        }
        Path(path).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


class SuiteClient:
    """The conformance suite's own programmer on one port (not programmer.client.PumpClient,
    which the suite judges).  ``request`` sends and waits for the matching reply."""

    def __init__(
        self,
        url: str,
        *,
        seed: int = 0,
        reply_timeout: float = REPLY_TIMEOUT_S,
        port: serial.SerialBase | None = None,
    ) -> None:
        self.url = url
        self.rng = random.Random(seed)
        self.reply_timeout = reply_timeout
        self._owns_port = port is None
        if port is None:
            port = serial.serial_for_url(url, baudrate=115200, timeout=_POLL_S)
        else:
            port.reset_input_buffer()  # a shared connection: start from a quiet line
        self.port = port
        self.endpoint = ProgrammerEndpoint()
        self.transcript: list[tuple[PacketDirection, bytes]] = []
        self.inbox: list[object] = []  # events not yet claimed by a wait
        self.notifications: list[Notification] = []
        self.frames: list[Frame] = []  # every valid frame received, as raw frames (not claimed)
        self._raw_decoder = FrameDecoder()
        self._seq = 0
        self.pairing_code: str | None = None  # the code this programmer showed when pairing

    # -- plumbing ------------------------------------------------------------------------------
    def close(self) -> None:
        if self._owns_port:
            self.port.close()

    def __enter__(self) -> SuiteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def next_seq(self) -> int:
        self._seq = self._seq % 0xFFFF + 1
        return self._seq

    def request_id(self) -> int:
        """A fresh non-zero request id from the seeded generator."""
        return self.rng.getrandbits(31) + 1

    def write(self, data: bytes) -> None:
        """Put raw bytes on the line (recorded in the transcript)."""
        self.transcript.append((PacketDirection.TO_PUMP, bytes(data)))
        self.port.write(data)
        self.port.flush()

    def read_available(self, wait: float = _POLL_S) -> bytes:
        """Whatever the device sent within ``wait`` seconds (fed to the endpoint too)."""
        if self.port.timeout != wait:  # on rfc2217:// a change renegotiates the port
            self.port.timeout = wait
        data = bytes(self.port.read(max(1, self.port.in_waiting)))
        if data:
            self.transcript.append((PacketDirection.FROM_PUMP, data))
            self.frames.extend(self._raw_decoder.feed(data))
            self.endpoint.receive_data(data)
            self._drain_endpoint()
        return data

    def _drain_endpoint(self) -> None:
        while (event := self.endpoint.next_event()) is not NEED_DATA:
            if isinstance(event, Notification):
                self.notifications.append(event)
            self.inbox.append(event)

    def wait_for(
        self, predicate: Callable[[object], bool], timeout: float | None = None, what: str = ""
    ) -> Any:
        """The first event (queued or arriving) that satisfies ``predicate``; NoReply if none."""
        deadline = time.monotonic() + (self.reply_timeout if timeout is None else timeout)
        while True:
            for i, event in enumerate(self.inbox):
                if predicate(event):
                    del self.inbox[i]
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise NoReply(f"no {what or 'matching event'} from {self.url}\n{self.trace()}")
            self.read_available(_POLL_S)

    def wait_frame(self, seq: int, timeout: float | None = None) -> Frame:
        """The first raw reply frame with ``seq`` (for replies the endpoint cannot deliver)."""
        deadline = time.monotonic() + (self.reply_timeout if timeout is None else timeout)
        while True:
            for frame in self.frames:
                if frame.seq == seq and frame.flags & Flags.RESPONSE:
                    return frame
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise NoReply(f"no reply frame with seq {seq} from {self.url}\n{self.trace()}")
            self.read_available(_POLL_S)

    def trace(self, last: int = 40) -> str:
        """The last frames on the line, decoded, for assertion messages."""
        lines = format_trace(self.transcript).splitlines()
        return "\n".join(["-- last frames on the line --", *lines[-last:]])

    # -- requests ------------------------------------------------------------------------------
    def wait_reply(self, msg: int, seq: int, timeout: float | None = None) -> Reply:
        return self.wait_for(  # type: ignore[no-any-return]
            lambda e: isinstance(e, Reply) and e.seq == seq and int(e.msg) == msg and not e.more,
            timeout,
            f"reply to {MsgType(msg).name} seq {seq}",
        )

    def wait_rejection(self, seq: int, timeout: float | None = None) -> Reply:
        """The error reply to a raw frame with ``seq`` (any message type echoed)."""
        return self.wait_for(  # type: ignore[no-any-return]
            lambda e: isinstance(e, Reply) and e.seq == seq and not e.ok,
            timeout,
            f"error reply to seq {seq}",
        )

    def body_with_id(self, msg: MsgType, body: dict[str, Any] | None) -> dict[str, Any]:
        body = dict(body or {})
        if CATALOG[msg].state_changing and "request_id" not in body:
            body["request_id"] = self.request_id()
        return body

    def encode(self, msg: MsgType, body: dict[str, Any] | None = None, seq: int = 0) -> bytes:
        """Wire bytes of a request through the endpoint (sealed when a session is open)."""
        return self.endpoint.send(Request(msg, self.body_with_id(msg, body), seq))

    def request(self, msg: MsgType, body: dict[str, Any] | None = None) -> Reply:
        """Send ``msg`` and return its (last) reply frame."""
        seq = self.next_seq()
        self.write(self.encode(msg, body, seq))
        return self.wait_reply(msg, seq)

    def stream(self, msg: MsgType, body: dict[str, Any] | None = None) -> list[Reply]:
        """Send ``msg`` and return every frame of its reply, in order (MORE on all but last)."""
        seq = self.next_seq()
        self.write(self.encode(msg, body, seq))
        frames: list[Reply] = []
        while True:
            reply: Reply = self.wait_for(
                lambda e: isinstance(e, Reply) and e.seq == seq and int(e.msg) == msg,
                what=f"{msg.name} frame {len(frames) + 1}",
            )
            frames.append(reply)
            if not reply.more:
                return frames

    def ok(self, msg: MsgType, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send ``msg``; assert success; return the reply body."""
        reply = self.request(msg, body)
        assert reply.ok, f"{msg.name} refused: {reply.status} {reply.reason!r}\n{self.trace()}"
        return reply.body

    def raw(
        self,
        msg: int,
        payload: bytes,
        *,
        flags: Flags = NO_FLAGS,
        session_id: int | None = None,
        counter: int | None = None,
        tag_key: bytes | None = None,
    ) -> int:
        """Send a hand-built frame; returns its seq (wait with ``wait_rejection``/``wait_reply``)."""
        seq = self.next_seq()
        self.write(
            encode_frame(
                msg, seq, payload, flags, session_id=session_id, counter=counter, tag_key=tag_key
            )
        )
        return seq

    def sealed(self, msg: MsgType, body: dict[str, Any] | None = None, **over: Any) -> int:
        """Send ``msg`` sealed in the session with fields overridden; returns its seq.

        ``over`` may set ``session_id``, ``counter`` or ``tag_key`` (to forge, replay or roll
        back); the session's send counter moves only when the frame is what a genuine sender
        would send next.  The body is sent as given (a request id of 0 included).
        """
        session = self.endpoint.session
        assert session is not None, "sealed() needs an open session"
        fields: dict[str, Any] = {
            "session_id": session.session_id,
            "counter": session.send_counter + 1,
            "tag_key": session.send_key,
        }
        fields.update(over)
        payload = encode_request(msg, self.body_with_id(msg, body))
        seq = self.raw(msg, payload, **fields)
        if fields["tag_key"] == session.send_key and fields["counter"] == session.send_counter + 1:
            session.send_counter += 1
        return seq

    # -- identify, pairing, sessions -------------------------------------------------------------
    def hello(self) -> dict[str, Any]:
        return self.ok(MsgType.HELLO)

    def probe(self, attempts: int = 40, wait: float = 0.25) -> dict[str, Any]:
        """Readiness: HELLO with retries until the device answers (never a blind sleep)."""
        for _ in range(attempts):
            seq = self.next_seq()
            self.write(b"\x00" + self.encode(MsgType.HELLO, None, seq))
            try:
                reply = self.wait_reply(MsgType.HELLO, seq, timeout=wait)
            except NoReply:
                continue
            if reply.ok:
                self.inbox.clear()
                return reply.body
        raise NoReply(f"device on {self.url} never answered HELLO\n{self.trace()}")

    def begin_pairing(self, role: Role) -> Reply:
        seq = self.next_seq()
        self.write(
            self.endpoint.begin_pairing(role, self.rng.randbytes(32), self.rng.randbytes(16), seq)
        )
        return self.wait_reply(MsgType.PAIR_BEGIN, seq)

    def pair(
        self, role: Role, accept: Callable[[str], None] | None = None, timeout: float = 60.0
    ) -> PumpKey:
        """Pair (the wand window must be open); returns the new key.

        ``accept`` plays the person at the pump (given the code without its space); without it
        somebody must accept the code at the device within ``timeout``.
        """
        if self.endpoint.serial_number is None:
            self.hello()
        begun = self.begin_pairing(role)
        assert begun.ok, f"PAIR_BEGIN refused: {begun.status} {begun.reason}\n{self.trace()}"
        return self.finish_pairing(accept, timeout)

    def finish_pairing(
        self, accept: Callable[[str], None] | None = None, timeout: float = 60.0
    ) -> PumpKey:
        """PAIR_CONFIRM after an accepted PAIR_BEGIN, asked again while the device answers
        PAIRING_AWAITING_CONFIRMATION; checks the device's proof."""
        code = self.wait_for(lambda e: isinstance(e, PairingCode), what="pairing code")
        assert len(code.code) == 7
        self.pairing_code = code.code
        deadline = time.monotonic() + timeout
        while True:
            seq = self.next_seq()
            self.write(self.endpoint.confirm_pairing(seq))
            confirmed = self.wait_reply(MsgType.PAIR_CONFIRM, seq)
            if confirmed.status != ErrorCode.PAIRING_AWAITING_CONFIRMATION:
                break
            assert time.monotonic() < deadline, f"code never accepted at the pump\n{self.trace()}"
            if accept is not None:
                accept(code.code.replace(" ", ""))
                accept = None
            else:
                time.sleep(0.2)
        assert confirmed.ok, f"PAIR_CONFIRM refused: {confirmed.reason}\n{self.trace()}"
        done: PairingCompleted = self.wait_for(
            lambda e: isinstance(e, PairingCompleted | FrameRejected), what="pairing result"
        )
        assert isinstance(done, PairingCompleted), f"pairing failed: {done}"
        assert self.endpoint.serial_number is not None
        return PumpKey(self.endpoint.serial_number, done.key_id, done.role, done.pairing_key)

    def open_session(self, key: PumpKey) -> Reply:
        seq = self.next_seq()
        self.write(self.endpoint.open_session(key.key_id, key.key, self.rng.randbytes(16), seq))
        return self.wait_reply(MsgType.SESSION_OPEN, seq)

    def login(self, key: PumpKey) -> None:
        """Open a session with ``key`` and assert it verified."""
        reply = self.open_session(key)
        assert reply.ok, f"SESSION_OPEN refused: {reply.status} {reply.reason}\n{self.trace()}"
        assert self.endpoint.session is not None, f"session proof did not verify\n{self.trace()}"
