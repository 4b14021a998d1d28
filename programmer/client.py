"""The programmer's session with one pump: identify, pair, open a session, and ask safely.

Why: this is where the lessons of the insulin-pump tools live.  Theory of operation:

* Every request gets a fresh sequence number; only the reply with the same seq and message type
  is accepted (``exchange.Exchange``); stale replies are counted and dropped.
* A read-only request that times out is simply asked again (new seq).
* A state-changing request gets a random non-zero ``request_id`` and is written to the journal
  before it is sent.  Every command is a new request with a new id: the pump's answer, a refusal
  too, is final for its id, so a *retryable* refusal (a patient-bolus lockout, BUSY) is reported,
  and trying again later is a new command (docs/PROTOCOL.md section 4).  A timeout is retried with the *same* request id (new seq, new counter): if
  the pump had executed it, its request cache answers the duplicate instead of running it twice.
* When the retries are spent, or the pump answers with an *unauthenticated* refusal (anyone on
  the line could forge one, and a rebooted pump no longer knows our session), the outcome is
  uncertain.  Before anything else is sent the client asks ``REQUEST_STATUS(request_id)``,
  reopening the session if needed.  "Completed" yields the original answer; "evicted" (the pump
  received it but its cache no longer holds the outcome) stays uncertain.  "Not recalled" makes
  it certain nothing happened (and the request may be sent again with the same id) only if the
  pump would still recall it: sent with the session's key, and fewer than ``RECALLED_PER_KEY``
  requests sent after it (the journal counts them); otherwise it stays uncertain too.  If the
  pump cannot be asked, the journal entry stays and ``UncertainOutcome`` says what to check.
* The next session with the same pump resolves the journal first (``open_session``), before any
  other command, and reports what became of each entry in ``resolved``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any

from protocol.catalog import CATALOG, MsgType, RequestState
from protocol.codec import decode_reply
from protocol.enums import Role
from protocol.errors import ErrorCode, error_spec
from protocol.events import (
    FrameRejected,
    PairingCode,
    PairingCompleted,
    Reply,
    Request,
    SessionOpened,
)
from protocol.programmer import ProgrammerEndpoint
from protocol.request_cache import RECALLED_PER_KEY

from . import announced
from .clinical import ClinicalCommands
from .errors import (
    AuthenticationError,
    IncompatiblePump,
    LinkError,
    ProgrammerError,
    UncertainOutcome,
    UsageError,
    refusal,
)
from .exchange import Exchange
from .journal import Journal, PendingRequest, ResolvedRequest, now_iso
from .keystore import KeyStore, StoredKey
from .transport import Clock, Deadline, Transport

#: Unauthenticated refusals that mean "the pump no longer knows this session": reopen it.
SESSION_LOST = frozenset(
    {
        ErrorCode.UNKNOWN_SESSION,
        ErrorCode.BAD_TAG,
        ErrorCode.REPLAYED_COUNTER,
        ErrorCode.NOT_AUTHENTICATED,
    }
)


Outcome = tuple[int, dict[str, Any], str]


class PumpClient(ClinicalCommands):
    """A programmer session with one pump over one transport (see the module docstring)."""

    def __init__(
        self,
        transport: Transport,
        keystore: KeyStore | None = None,
        timeout_s: float = 1.0,
        retries: int = 2,
        journal: Journal | None = None,
        entropy: Callable[[int], bytes] = secrets.token_bytes,
        clock: Clock | None = None,
    ) -> None:
        self.keystore = keystore or KeyStore()
        self.journal = journal or Journal.beside(self.keystore.path)
        self.timeout_s = timeout_s
        self.retries = retries
        self._entropy = entropy
        self.endpoint = ProgrammerEndpoint()
        #: Every wait (reply deadlines, the pairing poll) is read on this clock: the
        #: transport's own (``transport.clock_of``) unless one is given.
        self.link = Exchange(transport, self.endpoint, clock)
        self.identity: dict[str, Any] | None = None
        self._identifying = False
        self.role: Role | None = None
        self.resolved: list[ResolvedRequest] = []
        self.retries_used = 0
        self.uncertain_outcomes = 0
        self.on_resolved: Callable[[ResolvedRequest], None] | None = None
        #: Called with a warning about the pump a person must see (e.g. insecure test keys).
        self.on_warning: Callable[[str], None] | None = None

    # -- identity, pairing, session --------------------------------------------------------------
    @property
    def serial_number(self) -> str:
        if self.identity is None:
            self.identify()
        assert self.identity is not None
        return str(self.identity["serial_number"])

    @property
    def in_session(self) -> bool:
        return self.endpoint.session is not None

    def identify(self) -> dict[str, Any]:
        """HELLO: model, serial number, firmware, protocol range, pairing window state.

        Raises ``IncompatiblePump`` if the pump speaks no protocol version this programmer
        speaks; from then on every request is checked against what the pump announced
        (``messages``, ``capabilities``, ``max_payload``) before it is sent.
        """
        self.link.take_side_events()
        self._identifying = True  # the stale-session take-over below runs before any HELLO
        try:
            self.identity = self._call(MsgType.HELLO, what="identify")
        except LinkError:
            if not self._answered_in_a_stale_session():
                raise
            self._take_over_stale_session()
            self.identity = self._call(MsgType.HELLO, what="identify")
        finally:
            self._identifying = False
        announced.check_version(self.identity, "identify")
        if self.insecure_test_keys and self.on_warning is not None:
            self.on_warning(INSECURE_TEST_KEYS_WARNING.format(self.identity["serial_number"]))
        return self.identity

    @property
    def insecure_test_keys(self) -> bool:
        """True if the pump announced that its keys follow from a seed (test mode)."""
        return announced.insecure_test_keys(self.identity)

    @property
    def max_payload(self) -> int:
        """The largest request payload this pump accepts (its HELLO, capped by ours)."""
        return announced.max_payload(self.identity)

    def _check_announced(self, msg: MsgType, body: Mapping[str, Any], what: str = "") -> None:
        """Refuse, before anything is sent, a request the pump's HELLO rules out."""
        if msg is MsgType.HELLO or self._identifying:
            return
        if self.identity is None:
            self.identify()
        assert self.identity is not None
        announced.check_announced(self.identity, msg, body, what or msg.name.lower())

    def _check_size(self, msg: MsgType, body: Mapping[str, Any], what: str) -> None:
        announced.check_size(self.identity, msg, body, what)

    def _answered_in_a_stale_session(self) -> bool:
        """True if the pump sealed its HELLO replies in a session we do not hold.

        A pump whose last programmer vanished without closing its session may seal even its
        replies to unauthenticated requests in that session; the replies then fail to verify
        here (UNKNOWN_SESSION) although the pump is alive.
        """
        return any(
            isinstance(e, FrameRejected) and e.code is ErrorCode.UNKNOWN_SESSION
            for e in self.link.take_side_events()
        )

    def _take_over_stale_session(self, max_keys: int = 3) -> None:
        """Open a session with a stored key (replacing the stale one), without knowing the serial.

        Tries at most ``max_keys`` stored keys (older pumps counted unknown keys towards a
        lockout).  Raises LinkError if none opens.
        """
        for serial in self.keystore.serials()[:max_keys]:
            stored = self.keystore.get(serial)
            assert stored is not None
            try:
                opened = self._session_open_step(stored, retry=False)
            except (AuthenticationError, LinkError):
                continue
            if opened is not None:
                self.role = opened.role
                return
        raise LinkError(
            "identify: the pump answers only inside another programmer's session, and no key "
            "in the key store opens a new one; restart the pump's session (power cycle) to recover"
        )

    def pair(
        self,
        role: Role = Role.CLINICIAN,
        show_code: Callable[[str], bool] | None = None,
        *,
        on_waiting: Callable[[str], None] | None = None,
        confirm_timeout_s: float = 120.0,
        poll_interval_s: float = 0.25,
    ) -> StoredKey:
        """Pair with the pump (its pairing window must be open) and store the key.

        ``show_code`` receives the 6-digit confirmation code ("123 456"); it returns False if the
        code the pump shows differs, which cancels before the pump stores anything.  Then the
        pump waits for the person at the pump to accept the same code: ``on_waiting`` is told
        once, and PAIR_CONFIRM is asked again every ``poll_interval_s`` until the pump stores
        the key, refuses, or ``confirm_timeout_s`` passes (nothing stored).
        """
        serial = self.serial_number
        private, nonce = self._entropy(32), self._entropy(16)  # a retry repeats the same begin
        programmer_id = self.keystore.programmer_id()
        begin = self._handshake(
            MsgType.PAIR_BEGIN,
            lambda seq: self.endpoint.begin_pairing(role, private, nonce, seq, programmer_id),
            "pair",
        )
        code = next((e.code for e in begin if isinstance(e, PairingCode)), None)
        if code is None:
            raise AuthenticationError(f"pairing failed: {_rejection_text(begin)}")
        if show_code is not None and not show_code(code):
            raise UsageError(
                "pairing cancelled: the confirmation codes did not match; nothing was stored "
                "(reject the pairing at the pump too: `vpump ctl pairing reject`)"
            )
        done = self._confirm_pairing(code, on_waiting, confirm_timeout_s, poll_interval_s)
        stored = StoredKey(serial, done.key_id, done.role, done.pairing_key, now_iso())
        self.keystore.put(stored)
        return stored

    def _confirm_pairing(
        self,
        code: str,
        on_waiting: Callable[[str], None] | None,
        confirm_timeout_s: float,
        poll_interval_s: float,
    ) -> PairingCompleted:
        """PAIR_CONFIRM until the pump answers with its proof (the code was accepted there)."""
        clock = self.link.clock
        deadline = Deadline(clock, confirm_timeout_s)
        told, lost = False, 0
        while True:
            seq = self.link.next_seq()
            self.link.take_side_events()
            self.link.send(self.endpoint.confirm_pairing(seq))
            reply = self.link.wait_reply(MsgType.PAIR_CONFIRM, seq, self.timeout_s)
            if reply is None:  # asking again is safe: the pump answers a decided pairing again
                self.retries_used += 1
                lost += 1
                if lost > self.retries:
                    raise LinkError(
                        "pair: no answer from the pump (PAIR_CONFIRM); this programmer stored "
                        "no key: pair again"
                    )
                continue
            lost = 0
            events: list[Any] = self.link.take_side_events()
            if reply.status == ErrorCode.PAIRING_AWAITING_CONFIRMATION:
                if not told and on_waiting is not None:
                    on_waiting(code)
                told = True
                if deadline.passed:
                    raise AuthenticationError(
                        f"pair: the code {code} was not accepted at the pump within "
                        f"{confirm_timeout_s:g} s; nothing was stored (reject it at the pump, "
                        "or pair again)",
                        ErrorCode.PAIRING_AWAITING_CONFIRMATION,
                    )
                clock.sleep(poll_interval_s)
                continue
            if not reply.ok:
                raise refusal(reply.status, reply.reason, "pair")
            done = next((e for e in events if isinstance(e, PairingCompleted)), None)
            if done is None:
                raise AuthenticationError(f"pairing failed: {_rejection_text(events)}")
            return done

    def open_session(self) -> Role:
        """Open an authenticated session with the stored key, then resolve the journal."""
        role = self._open_session_raw()
        self.resolve_journal()
        return role

    def _open_session_raw(self) -> Role:
        serial = self.serial_number
        stored = self.keystore.get(serial)
        if stored is None:
            raise AuthenticationError(
                f"this programmer is not paired with pump {serial} "
                f"(key store {self.keystore.path}): run `pumpctl pair` with the wand over the pump"
            )
        opened = self._session_open_step(stored)
        if opened is None:
            raise AuthenticationError(
                "session open failed: the pump's proof does not verify (wrong pump or damaged key?)"
            )
        self.role = opened.role
        return opened.role

    def _session_open_step(self, stored: StoredKey, *, retry: bool = True) -> SessionOpened | None:
        """SESSION_OPEN with ``stored``: the event if the pump's proof verified, else None."""

        def build(seq: int) -> bytes:
            return self.endpoint.open_session(stored.key_id, stored.key, self._entropy(16), seq)

        events = self._handshake(MsgType.SESSION_OPEN, build, "open session", retry=retry)
        return next((e for e in events if isinstance(e, SessionOpened)), None)

    def _handshake(
        self, msg: MsgType, build: Callable[[int], bytes], what: str, *, retry: bool = True
    ) -> list[Any]:
        """One unauthenticated handshake step; the endpoint's side events that came with it."""
        self._check_announced(msg, {}, what)
        for _attempt in range(self.retries + 1 if retry else 1):
            seq = self.link.next_seq()
            self.link.take_side_events()
            self.link.send(build(seq))
            reply = self.link.wait_reply(msg, seq, self.timeout_s)
            if reply is None:
                self.retries_used += 1
                continue
            events: list[Any] = self.link.take_side_events()
            if not reply.ok:
                raise refusal(reply.status, reply.reason, what)
            return events
        raise LinkError(f"{what}: no answer from the pump ({msg.name}); nothing was changed")

    def close(self) -> None:
        """Close the session politely (best effort) and the transport."""
        if self.in_session:
            try:
                seq = self.link.next_seq()
                self.link.send(self.endpoint.send(Request(MsgType.SESSION_CLOSE, {}, seq)))
                self.link.wait_reply(MsgType.SESSION_CLOSE, seq, min(self.timeout_s, 0.5))
            except ProgrammerError:
                pass
            self.endpoint.close_session()
        self.link.transport.close()

    def __enter__(self) -> PumpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the request core ------------------------------------------------------------------------
    def _round_trip(self, msg: MsgType, body: Mapping[str, Any]) -> Reply | None:
        seq = self.link.next_seq()
        self.link.send(self.endpoint.send(Request(msg, dict(body), seq)))
        return self.link.wait_reply(msg, seq, self.timeout_s)

    def _call(
        self, msg: MsgType, body: Mapping[str, Any] | None = None, *, what: str = ""
    ) -> dict[str, Any]:
        """A request that changes nothing: retried freely; the success body or an exception."""
        what = what or msg.name.lower()
        body = body or {}
        self._check_announced(msg, body, what)
        self._check_size(msg, body, what)
        reopened = False
        attempt = 0
        while attempt <= self.retries:
            attempt += 1
            if CATALOG[msg].auth and not self.in_session:
                self._open_session_raw()
            reply = self._round_trip(msg, body)
            if reply is None:
                self.retries_used += 1
                continue
            if reply.ok:
                return reply.body
            if self._session_lost(reply) and not reopened:
                reopened = True
                attempt -= 1
                self._open_session_raw()
                continue
            raise refusal(reply.status, reply.reason, what)
        raise LinkError(
            f"{what}: no answer from the pump after {self.retries + 1} attempts of "
            f"{self.timeout_s:g} s; this request only reads, so nothing changed"
        )

    def _ensure_session(self) -> None:
        """Open the session (resolving the journal first) unless one is open."""
        if not self.in_session:
            self.open_session()

    def _session_lost(self, reply: Reply) -> bool:
        return not reply.authenticated and reply.status in SESSION_LOST

    def new_request_id(self) -> int:
        """A random non-zero 32-bit request id."""
        while True:
            rid = int.from_bytes(self._entropy(4), "big")
            if rid:
                return rid

    def _change(
        self, msg: MsgType, body: Mapping[str, Any] | None = None, *, what: str = ""
    ) -> dict[str, Any]:
        """A state-changing request: executed at most once, outcome made certain or reported."""
        what = what or msg.name.lower()
        self._check_announced(msg, body or {}, what)
        self._check_size(msg, {"request_id": 1, **(body or {})}, what)
        self._explain_limits(msg, body or {})  # the pump's own limits, in clinical units
        self._ensure_session()
        rid = self.new_request_id()
        session = self.endpoint.session
        key_id = session.key_id if session is not None else None
        pending = PendingRequest(self.serial_number, rid, msg, what, now_iso(), key_id)
        pending = self.journal.record(pending)
        try:
            status, reply_body, reason = self._settle(
                msg, {"request_id": rid, **(body or {})}, what
            )
        except UncertainOutcome:
            raise  # the journal keeps the entry for the next session
        except ProgrammerError:
            self.journal.remove(pending.serial_number, rid)
            raise
        self.journal.remove(pending.serial_number, rid)
        if status != 0:
            raise refusal(status, reason, what)
        return reply_body

    def _settle(self, msg: MsgType, body: dict[str, Any], what: str) -> Outcome:
        rid = int(body["request_id"])
        attempts = 0
        while True:
            attempts += 1
            seq = self.link.next_seq()
            try:
                self.link.send(self.endpoint.send(Request(msg, dict(body), seq)))
            except LinkError as exc:  # not sent now; certain only if no earlier attempt left
                if attempts == 1:
                    raise
                raise self._uncertain(
                    rid, msg, f"the link was lost during a retry ({exc})"
                ) from exc
            try:
                reply = self.link.wait_reply(msg, seq, self.timeout_s)
            except LinkError as exc:  # the request left: it may have run before the link died
                raise self._uncertain(
                    rid, msg, f"the link was lost after it was sent ({exc})"
                ) from exc
            if reply is not None and reply.authenticated and error_spec(reply.status).certain:
                return reply.status, reply.body, reply.reason
            if reply is None and attempts <= self.retries:
                self.retries_used += 1
                continue  # same request id: the pump's cache answers if it already ran
            self.uncertain_outcomes += 1
            if reply is not None and self._session_lost(reply):
                self.endpoint.close_session()  # ask inside a fresh session
            outcome = self._ask_fate(rid, msg)
            if outcome is not None:
                return outcome
            # The pump never saw it: certainly nothing happened.
            if attempts <= self.retries:
                self.retries_used += 1
                continue
            if reply is not None:
                return reply.status, reply.body, reply.reason
            raise LinkError(
                f"{what}: no answer after {attempts} attempts; the pump confirms it never "
                f"received request {rid:#010x}, so nothing changed"
            )

    def _ask_fate(self, rid: int, msg: MsgType) -> Outcome | None:
        """REQUEST_STATUS: the original outcome, None if the pump certainly never saw it, or
        raise ``UncertainOutcome``."""
        try:
            answer = self._call(MsgType.REQUEST_STATUS, {"request_id": rid}, what="request status")
        except (LinkError, AuthenticationError, IncompatiblePump) as exc:
            raise self._uncertain(rid, msg, str(exc)) from exc
        state = answer["state"]
        if state in (RequestState.INTERRUPTED, RequestState.IN_PROGRESS):
            raise self._uncertain(rid, msg, _INTERRUPTED_WHY)
        if state == RequestState.UNKNOWN:
            if self._never_received(self.journal.get(self.serial_number, rid)):
                return None
            raise self._uncertain(rid, msg, _NOT_RECALLED_WHY)
        if state != RequestState.COMPLETED:  # EVICTED, or a state from a newer pump
            raise self._uncertain(rid, msg, _EVICTED_WHY)
        if answer["msg_type"] != msg:
            raise self._uncertain(rid, msg, "the pump remembers this id for another message")
        if not error_spec(answer["status"]).certain:  # answered INTERNAL_ERROR, MEMORY_ERROR...
            raise self._uncertain(rid, msg, _ANSWERED_UNCERTAIN_WHY)
        payload = int(answer["status"]).to_bytes(2, "big") + bytes(answer["reply"])
        return decode_reply(msg, payload)

    def _never_received(self, pending: PendingRequest | None) -> bool:
        """Does the pump's UNKNOWN prove that ``pending`` never reached it?  Only if the pump
        still recalls every request id this programmer sent since with the same key: it recalls
        the last RECALLED_PER_KEY ids of each key (docs/PROTOCOL.md section 5)."""
        if pending is None or pending.key_id is None:
            return False
        session = self.endpoint.session
        if session is None or session.key_id != pending.key_id:
            return False  # re-paired since: the old key's record is gone
        later = self.journal.sent_after(pending)
        return later is not None and later < RECALLED_PER_KEY

    def _uncertain(self, rid: int, msg: MsgType, why: str) -> UncertainOutcome:
        serial = self.identity["serial_number"] if self.identity else "?"
        return UncertainOutcome(
            f"{msg.name} (request {rid:#010x}) may or may not have taken effect on pump "
            f"{serial}: {why}.  Do not repeat it blindly.  Check `pumpctl status` and "
            f"`pumpctl log therapy`; the next pumpctl session with this pump asks it and reports "
            f"the outcome (journal {self.journal.path}).",
            rid,
            msg.name,
        )

    def resolve_journal(self) -> list[ResolvedRequest]:
        """Ask the pump about every journalled request for it; remove them once known."""
        found: list[ResolvedRequest] = []
        for pending in self.journal.entries(self.serial_number):
            try:
                answer = self._call(
                    MsgType.REQUEST_STATUS,
                    {"request_id": pending.request_id},
                    what="resolve earlier request",
                )
            except (LinkError, AuthenticationError, IncompatiblePump) as exc:
                raise self._uncertain(pending.request_id, pending.msg, str(exc)) from exc
            state = answer["state"]
            if state == RequestState.COMPLETED and answer["msg_type"] == pending.msg:
                payload = int(answer["status"]).to_bytes(2, "big") + bytes(answer["reply"])
                status, _body, reason = decode_reply(pending.msg, payload)
                resolved = ResolvedRequest(pending, True, status, reason)
            elif state in (RequestState.INTERRUPTED, RequestState.IN_PROGRESS):
                resolved = ResolvedRequest(pending, None, reason=_INTERRUPTED_WHY)
            elif state == RequestState.UNKNOWN and self._never_received(pending):
                resolved = ResolvedRequest(pending, False)
            elif state == RequestState.UNKNOWN:
                resolved = ResolvedRequest(pending, None, reason=_NOT_RECALLED_WHY)
            elif state == RequestState.COMPLETED:
                why = "the pump remembers this request id for another message"
                resolved = ResolvedRequest(pending, None, reason=why)
            else:  # EVICTED, or a state this programmer does not know
                resolved = ResolvedRequest(pending, None, reason=_EVICTED_WHY)
            self.journal.remove(pending.serial_number, pending.request_id)
            found.append(resolved)
            if self.on_resolved is not None:
                self.on_resolved(resolved)
        self.resolved.extend(found)
        return found

    def request_status(self, request_id: int) -> dict[str, Any]:
        """REQUEST_STATUS for any request id (state, msg_type, status, reply bytes)."""
        return self._call(MsgType.REQUEST_STATUS, {"request_id": request_id})


INSECURE_TEST_KEYS_WARNING = (
    "WARNING: pump {} runs in INSECURE TEST-KEY MODE: its keys and nonces follow from a seed, so "
    "anyone can compute them. Use it for tests only, never with a patient."
)

_INTERRUPTED_WHY = (
    "a reset of the pump interrupted it while it was being carried out, so the pump itself "
    "cannot tell whether it took effect"
)
_ANSWERED_UNCERTAIN_WHY = (
    "the pump answered it with a failure of its own whose outcome it cannot vouch for (the "
    "pump's answer to a request id is final, so asking again cannot settle it): check the pump"
)
_EVICTED_WHY = (
    "the pump received it, but its outcome has left the pump's request cache since (later "
    "requests, perhaps from another programmer, took its place), so whether it took effect is "
    "unknown: check the pump"
)
_NOT_RECALLED_WHY = (
    "the pump has no record of it, but that no longer proves it never arrived (the pump "
    f"recalls only the last {RECALLED_PER_KEY} request ids of each key, and this programmer "
    "sent more since or was paired again), so whether it took effect is unknown: check the pump"
)


def _rejection_text(events: list[Any]) -> str:
    for event in events:
        if isinstance(event, FrameRejected):
            return f"{event.code.name}: {event.reason}"
    return "the pump's answer did not verify"
