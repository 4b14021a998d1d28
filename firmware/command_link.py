"""The pump's telemetry link: the device endpoint wired to the therapy engine.

Why: the protocol endpoint knows frames, keys and replay windows; the therapy engine knows doses
and alarms.  This module is the seam between them and the only place that decides what the pump
says on the line: it feeds received bytes to the endpoint, answers requests through the command
table, streams log records, pushes telemetry and alarm events to a subscribed programmer, writes
security events to the audit log, and keeps the endpoint's security state (pairings, request
cache, lockout) in NVM through the firmware's security blob.

Everything leaves through ``hal.telemetry.send``; time arrives as ``now`` (board time).  Session
replies, telemetry and alarm events go at normal priority; replies to unauthenticated requests
(bounded by the endpoint's token bucket) at low priority, so a flood never delays a session.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from protocol.audit import (
    AUDIT_BURST,
    AUDIT_WINDOW_S,
    LOCKOUT_FAILURES,
    NOT_AUDITED_WRITES,
    WriteAudit,
    audit_event_for,
)
from protocol.catalog import Capability, MsgType
from protocol.codec import LOG_RECORDS_PER_FRAME
from protocol.device import DeviceEndpoint, DeviceInfo, SecurityPolicy
from protocol.enums import CRITICAL_ALARMS, LogEvent
from protocol.errors import ErrorCode, Refusal
from protocol.events import (
    NEED_DATA,
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

from .handlers import HANDLERS, MAX_RECORDS_PER_READ
from .nvm_layout import SECURITY_BLOB_MAX
from .wire_mapping import telemetry_to_wire, time_or_zero

if TYPE_CHECKING:
    from .hal import Hal
    from .pump import PumpFirmware

CAPABILITIES = (
    Capability.PAIRING
    | Capability.FLEX
    | Capability.PATIENT_BOLUS
    | Capability.TELEMETRY
    | Capability.LOG_STREAM
    | Capability.BRIDGE_BOLUS
    | Capability.PRIMING_BOLUS
)
MIN_TELEMETRY_INTERVAL_S = 1


def _changes_the_pump(req: Request) -> bool:
    """Whether a request carried out is a write to audit: staging and previews change nothing
    delivered (the commit's or the configuration's own record names the change)."""
    if req.msg in NOT_AUDITED_WRITES:
        return False
    return not (req.msg is MsgType.PATIENT_BOLUS_CONFIG and bool(req.body.get("preview")))


class CommandLink:
    def __init__(
        self, firmware: PumpFirmware, hal: Hal, *, auto_accept_pairing: bool = False
    ) -> None:
        self.fw = firmware
        self.hal = hal
        profile = firmware.profile
        info = DeviceInfo(
            model=profile.model,
            serial_number=firmware.identity.serial_number,
            firmware_version=profile.firmware_version,
            capabilities=CAPABILITIES
            | (Capability.INSECURE_TEST_KEYS if hal.entropy.deterministic else Capability(0)),
            max_pairings=profile.max_pairings,
        )
        policy = SecurityPolicy(
            failures_before_lockout=profile.auth_failures_before_lockout,
            lockout_s=profile.auth_lockout_s,
            pairing_window_s=profile.pairing_window_s,
            writes_need_head=profile.writes_need_head,
        )
        self.endpoint = DeviceEndpoint(
            info,
            hal.entropy.random_bytes,
            policy,
            max_state_bytes=SECURITY_BLOB_MAX,
            auto_accept_pairing=auto_accept_pairing,
        )
        self._telemetry_interval = 0
        self._next_telemetry: int | None = None
        self._audit_window: dict[int, tuple[int, int]] = {}  # code -> (window start, records)
        self._suppressed: dict[int, int] = {}  # code -> refusals counted, not logged
        self._over_budget_logged = 0  # of endpoint.unauthenticated.dropped, already audited
        #: Called after every answered request (the bench uses it to do a refill's syringe work).
        self.after_request: Callable[[Request, Reply], None] | None = None
        #: Called with one line of text for the pump's side of pairing (the code to compare,
        #: accepted, rejected): the bench prints it on its console.
        self.on_pairing: Callable[[str], None] | None = None
        self.load_security_state()

    # -- persistence -------------------------------------------------------------------------------
    def load_security_state(self) -> None:
        blob = self.fw.get_security_blob()
        if blob:
            # a blob that passed the NVM checks but is not ours leaves the pump unpaired
            with contextlib.suppress(ValueError, IndexError, struct.error):
                self.endpoint.import_state(blob)
        self._telemetry_interval, self._next_telemetry = 0, None

    def _persist_security(self, now: int) -> None:
        self.fw.set_security_blob(self.endpoint.export_state(), now)

    # -- inputs ------------------------------------------------------------------------------------
    def set_wand(self, present: bool, now: int) -> None:
        """The programmer head placed over the pump, or taken away: it opens the pairing
        window, and while it is there requests that change the pump are accepted (the
        profile's ``writes_need_head``)."""
        self.endpoint.head_present = present
        if present:
            locked = self.endpoint.locked(now)
            self.endpoint.open_pairing_window(now)  # proximity lifts a pairing lockout
            if locked:
                self._persist_security(now)
        else:
            self.endpoint.close_pairing_window()
        self.drain_events(now)

    def accept_pairing(self, code: str, now: int) -> None:
        """The person at the pump accepts the code it shows; PairingDecisionError if not."""
        try:
            self.endpoint.accept_pairing(code, now)
        finally:
            self.drain_events(now)

    def reject_pairing(self, now: int) -> None:
        try:
            self.endpoint.reject_pairing(now)
        finally:
            self.drain_events(now)

    def drain_events(self, now: int) -> None:
        while (event := self.endpoint.next_event(now)) is not NEED_DATA:
            self._flush()
            self._on_event(event, now)
        self._flush()

    def receive_data(self, data: bytes, now: int) -> None:
        self.fw.run_until(now)
        self.endpoint.receive_data(data)
        while (event := self.endpoint.next_event(now)) is not NEED_DATA:
            self._flush()
            self._on_event(event, now)
        self._flush()
        self.push_alarm_events(now)

    def on_timer(self, now: int) -> None:
        """Board calls this at ``next_wakeup()``: telemetry ticks and pending alarm events."""
        if self._next_telemetry is not None and now >= self._next_telemetry:
            self._send_telemetry(now)
            self._next_telemetry = now + self._telemetry_interval
        self.push_alarm_events(now)

    def next_wakeup(self) -> int | None:
        return self._next_telemetry

    def push_alarm_events(self, now: int) -> None:
        for ev in self.fw.drain_alarm_events():
            body = {
                "alarm": int(ev.alarm_id),
                "raised": ev.raised,
                "critical": ev.alarm_id in CRITICAL_ALARMS,
                "time": time_or_zero(ev.time),
            }
            self._send(self.endpoint.send(Notification(MsgType.ALARM_EVENT, 0, body)))

    # -- internals ---------------------------------------------------------------------------------
    def _send(self, data: bytes, low_priority: bool = False) -> None:
        if data:
            self.hal.telemetry.send(data, low_priority)

    def _flush(self) -> None:
        """The endpoint's own replies: sealed ones first, then those in the clear (to anyone,
        within the endpoint's unauthenticated budget) at low priority."""
        session, unauthenticated = self.endpoint.data_to_send_by_priority()
        self._send(session)
        self._send(unauthenticated, low_priority=True)

    def _on_event(self, event: object, now: int) -> None:
        if isinstance(event, Request):
            self._on_request(event, now)
        elif isinstance(event, FrameRejected):
            self._audit_rejection(event, now)
            if event.code in LOCKOUT_FAILURES:
                self._persist_security(now)  # the failure count survives a power cycle
        elif isinstance(event, PairingCompleted):
            self.fw.audit(LogEvent.PAIRED, event.key_id, int(event.role), now)
            self._persist_security(now)
            self._pairing_notice(
                f"pairing accepted: {event.role.name.lower()} key {event.key_id:#010x} stored"
                + (f", replacing {event.replaced_key_id:#010x}" if event.replaced_key_id else "")
                + "; pairing window closed"
            )
        elif isinstance(event, PairingPending):
            auto = event.confirmed and self.endpoint.auto_accept_pairing
            self._pairing_notice(
                f"PAIRING CODE {event.code} ({event.role.name.lower()} key): auto-accepted "
                "(--auto-accept-pairing: nobody compared it)"
                if auto
                else _pending_text(event)
            )
        elif isinstance(event, PairingRejected):
            self.fw.audit(LogEvent.PAIRING_REJECTED, int(event.role), int(event.code), now)
            self._pairing_notice(
                f"pairing of a {event.role.name.lower()} key ended, nothing stored: {event.reason}"
            )
        elif isinstance(event, PatientPairingAuthorized):
            self.fw.audit(
                LogEvent.PATIENT_PAIRING_AUTHORIZED, event.key_id, max(0, event.until - now), now
            )
            self._pairing_notice(
                f"clinician key {event.key_id:#010x} authorised one patient pairing "
                f"for {max(0, event.until - now)} s"
            )
        elif isinstance(event, Unpaired):
            role = 0 if event.role is None else int(event.role)
            self.fw.audit(LogEvent.UNPAIRED, event.key_id, role, now)
            self._persist_security(now)
        elif isinstance(event, SessionOpened):
            self.fw.audit(
                LogEvent.SESSION_OPENED, event.key_id, event.session_id & 0x7FFF_FFFF, now
            )
            self._telemetry_interval, self._next_telemetry = 0, None
        elif isinstance(event, SessionClosed):
            self._telemetry_interval, self._next_telemetry = 0, None
        elif isinstance(event, LockoutStarted):
            self.fw.audit(LogEvent.LOCKOUT_STARTED, max(0, event.until - now), 0, now)
            self._persist_security(now)

    def _pairing_notice(self, text: str) -> None:
        if self.on_pairing is not None:
            self.on_pairing(text)

    def _audit_rejection(self, event: FrameRejected, now: int) -> None:
        """One audit record per refused frame, up to AUDIT_BURST per code and window; beyond
        that a count, written as one REJECTIONS_SUPPRESSED record when the window ends or before
        anyone reads a log - so a flood of junk cannot push the pairing and session records out
        of the bounded audit ring, and every refusal is still accounted for."""
        code = int(event.code)
        start, used = self._audit_window.get(code, (now, 0))
        if now - start >= AUDIT_WINDOW_S:
            self.flush_suppressed(now)
            start, used = now, 0
        if used >= AUDIT_BURST:
            self._suppressed[code] = self._suppressed.get(code, 0) + 1
            self._audit_window[code] = (start, used)
            return
        self._audit_window[code] = (start, used + 1)
        msg_type = event.msg_type or 0
        # which record, and what counts towards lockout: protocol/audit.py (one rule, documented)
        self.fw.audit(audit_event_for(event.code), int(event.code), msg_type, now)

    def flush_suppressed(self, now: int) -> None:
        """Write the counts of refusals that were not logged one by one, and of unauthenticated
        requests dropped unanswered over the endpoint's budget (as code BUSY)."""
        over_budget = self.endpoint.unauthenticated.dropped - self._over_budget_logged
        if over_budget > 0:
            self._suppressed[int(ErrorCode.BUSY)] = (
                self._suppressed.get(int(ErrorCode.BUSY), 0) + over_budget
            )
            self._over_budget_logged += over_budget
        for code, count in sorted(self._suppressed.items()):
            self.fw.audit(LogEvent.REJECTIONS_SUPPRESSED, code, count, now)
        self._suppressed.clear()
        self._audit_window.clear()

    def _on_request(self, req: Request, now: int) -> None:
        if req.msg in (MsgType.LOG_READ, MsgType.LOG_INFO):
            self.flush_suppressed(now)  # a reader sees every refusal accounted for
        if req.request_id is not None:
            # write-ahead: the endpoint holds this request as pending; persisted before it runs,
            # a reset in the middle leaves "interrupted", never a false "never seen"
            self._persist_security(now)
        try:
            if req.msg is MsgType.LOG_READ:
                self._stream_log(req)
                return
            if req.msg is MsgType.TELEMETRY_SUBSCRIBE:
                self._subscribe(req, now)
                return
            handler = HANDLERS.get(req.msg)
            if handler is None:
                raise Refusal(
                    ErrorCode.UNKNOWN_MESSAGE, f"{req.msg.name} is not handled by this pump"
                )
            self.fw.take_write_note()  # a note no write claimed (a direct call) is not this one
            body = handler(self.fw, req.body, now)
            reply = Reply(req.msg, req.seq, 0, body)
            if req.request_id is not None and _changes_the_pump(req):
                self._audit_write(req, now)
        except Refusal as refusal:
            reply = Reply(req.msg, req.seq, int(refusal.code), {}, refusal.message)
            if req.request_id is not None:
                self.fw.audit(LogEvent.REQUEST_REFUSED, int(refusal.code), int(req.msg), now)
        self._send(self.endpoint.send(reply))
        if req.request_id is not None:
            self._persist_security(now)  # the request cache now holds this outcome
        if self.after_request is not None:
            self.after_request(req, reply)

    def _audit_write(self, req: Request, now: int) -> None:
        """One WRITE_ACCEPTED record per state-changing request carried out: the session's key
        id and role, the message, and what the firmware noted (protocol.audit.WriteAudit)."""
        note = self.fw.take_write_note()
        session = self.endpoint.session
        key_id = session.key_id if session is not None else 0
        role = 0 if req.role is None else int(req.role)
        write = WriteAudit(key_id, role, int(req.msg), note.detail, note.acknowledged, note.choice)
        a, b, flags = write.arguments()
        self.fw.audit(LogEvent.WRITE_ACCEPTED, a, b, now, flags)

    def _subscribe(self, req: Request, now: int) -> None:
        interval = int(req.body["interval_s"])
        if interval:
            interval = max(interval, MIN_TELEMETRY_INTERVAL_S)
            self._telemetry_interval, self._next_telemetry = interval, now
        else:
            self._telemetry_interval, self._next_telemetry = 0, None
        self._send(self.endpoint.send(Reply(req.msg, req.seq, 0, {"interval_s": interval})))

    def _send_telemetry(self, now: int) -> None:
        body = telemetry_to_wire(self.fw.status(now))
        self._send(self.endpoint.send(Notification(MsgType.TELEMETRY, 0, body)))

    def _stream_log(self, req: Request) -> None:
        """Answer LOG_READ with as many frames as needed, MORE set on all but the last.

        The frames go out back to back: a download is bounded by the line rate, not round trips.
        The last frame is the one with the last record (never an empty frame after frames that
        filled up exactly); only an empty answer is an empty frame, whose ``next_cursor`` is where
        the stream would have started: the cursor, raised to ``first_seq`` and capped at
        ``next_seq`` (docs/PROTOCOL.md section 7).
        """
        log = int(req.body["log"])
        info = self.fw.log_info(log)  # refuses an unknown log before any frame goes out
        cursor = min(max(int(req.body["cursor"]), info.first_seq), info.next_seq)
        remaining = min(int(req.body["max_count"]), MAX_RECORDS_PER_READ)
        while True:
            chunk = (
                self.fw.log_read(log, cursor, min(remaining, LOG_RECORDS_PER_FRAME))
                if remaining
                else []
            )
            if chunk:
                cursor = chunk[-1].seq + 1
                remaining -= len(chunk)
            last = (
                not chunk
                or remaining == 0
                or len(chunk) < LOG_RECORDS_PER_FRAME
                or cursor >= info.next_seq
            )
            body = {"records": [r.pack() for r in chunk], "next_cursor": cursor}
            self._send(self.endpoint.send(Reply(req.msg, req.seq, 0, body, more=not last)))
            if last:
                return


def _pending_text(event: PairingPending) -> str:
    role = event.role.name.lower()
    replaces = f", replaces key {event.replaces_key_id:#010x}" if event.replaces_key_id else ""
    if not event.confirmed:
        return f"pairing begun: {role} key, code {event.code}{replaces}"
    digits = event.code.replace(" ", "")
    return (
        f"PAIRING CODE {event.code} ({role} key{replaces}): if the programmer shows the same "
        f"code, accept it with `vpump ctl pairing accept {digits}`, else `vpump ctl pairing reject`"
    )
