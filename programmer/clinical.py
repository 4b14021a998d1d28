"""The clinical commands of the programmer: one method per thing a clinic does to a pump.

Why: ``client.PumpClient`` owns the hard part (sessions, matching, retries, uncertain outcomes);
this mixin is the readable list of operations on top of it, each a thin, typed wrapper that says
whether it only reads (``_call``) or changes the pump (``_change``, executed at most once).
Log downloads are streamed: one LOG_READ, many reply frames flagged MORE, so a long download is
bounded by the line rate, not by round trips.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from protocol.catalog import CATHETER_STORED, MsgType, RefillFlag
from protocol.enums import AlarmId, LogId
from protocol.events import Notification, Request
from protocol.log_record import LogRecord

from .errors import LinkError, refusal
from .exchange import Exchange
from .limits import applies_to, explain


@dataclass(frozen=True, slots=True)
class StagedSummary:
    """The pump's summary of a staged change: what the Finish view shows before commit."""

    staged_hash: bytes
    active_version: int
    daily_dose_ng: int
    rate_nl_per_day: int
    duration_s: int
    next_refill_time: int
    low_reservoir_time: int
    warnings: int
    bolus_dose_ng: int = 0  # the drug a bolus moves
    to_patient_ng: int = 0  # the drug a bolus brings to the patient
    baseline_ng: int = 0  # titration baseline (0: none)
    change_permille: int = 0  # change against the baseline, 0.1 %
    titration_limit_pct: int = 0
    soft_limit_ng: int = 0
    hard_limit_ng: int = 0
    worst_day_ng: int = 0  # basal + patient boluses + this bolus

    @classmethod
    def from_reply(cls, body: Mapping[str, Any]) -> StagedSummary:
        return cls(
            bytes(body["staged_hash"]),
            int(body["active_version"]),
            int(body["daily_dose_ng"]),
            int(body["rate_nl_per_day"]),
            int(body["duration_s"]),
            int(body["next_refill_time"]),
            int(body["low_reservoir_time"]),
            int(body["warnings"]),
            int(body["bolus_dose_ng"]),
            int(body["to_patient_ng"]),
            int(body["baseline_ng"]),
            int(body["change_permille"]),
            int(body["titration_limit_pct"]),
            int(body["soft_limit_ng"]),
            int(body["hard_limit_ng"]),
            int(body["worst_day_ng"]),
        )


@dataclass(frozen=True, slots=True)
class StagedRefillSummary:
    """The pump's summary of a staged refill (STAGE_REFILL): every figure of its Finish view."""

    staged_hash: bytes
    active_version: int
    body: dict[str, Any]  # the reply, in the pump's integer units

    @classmethod
    def from_reply(cls, body: Mapping[str, Any]) -> StagedRefillSummary:
        return cls(bytes(body["staged_hash"]), int(body["active_version"]), dict(body))

    @property
    def flags(self) -> RefillFlag:
        return RefillFlag(int(self.body["flags"]))

    def __getitem__(self, name: str) -> Any:
        return self.body[name]


ProgressCallback = Callable[[int, int], None]  # (records so far, records expected)


class ClinicalCommands:
    """Mixin: needs ``_call``, ``_change``, ``link``, ``retries`` and ``timeout_s``."""

    link: Exchange
    retries: int
    timeout_s: float
    identity: dict[str, Any] | None
    _limits: tuple[str, dict[str, Any]] | None = None  # (serial number, DEVICE_LIMITS body)

    def _call(
        self, msg: MsgType, body: Mapping[str, Any] | None = None, *, what: str = ""
    ) -> dict[str, Any]:
        raise NotImplementedError

    def _change(
        self, msg: MsgType, body: Mapping[str, Any] | None = None, *, what: str = ""
    ) -> dict[str, Any]:
        raise NotImplementedError

    def _ensure_session(self) -> None:
        raise NotImplementedError

    def identify(self) -> dict[str, Any]:
        raise NotImplementedError

    # -- reading ---------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """STATUS: mode, doses, reservoir estimate, battery, alarms (raw integer units)."""
        return self._call(MsgType.STATUS, what="status")

    def read_prescription(self) -> dict[str, Any]:
        """READ_PRESCRIPTION: version, concentration, therapy, patient bolus, alarm settings."""
        return self._call(MsgType.READ_PRESCRIPTION, what="read prescription")

    def alarms(self) -> dict[str, Any]:
        """ALARMS_READ: active alarms and the alarm settings."""
        return self._call(MsgType.ALARMS_READ, what="read alarms")

    def device_limits(self) -> dict[str, Any]:
        """DEVICE_LIMITS: drug library, dose, bolus, rate, titration, patient-bolus, alarm and
        clock limits, in the pump's integer units (grouped as on the wire)."""
        body = self._call(MsgType.DEVICE_LIMITS, what="device limits")
        serial = str(self.identity["serial_number"]) if self.identity else ""
        self._limits = (serial, body)
        return body

    def _explain_limits(self, msg: MsgType, body: Mapping[str, Any]) -> None:
        """Before sending (``_change`` calls it after the HELLO checks): refuse, in clinical
        units, what the pump's own limits rule out (``limits.LimitRefusal``; nothing sent).
        Only messages the limits apply to; pumps without DEVICE_LIMITS are not asked."""
        if not applies_to(msg):
            return
        if self.identity is None:
            self.identify()
        assert self.identity is not None
        if int(MsgType.DEVICE_LIMITS) not in self.identity["messages"]:
            return
        serial = str(self.identity["serial_number"])
        if self._limits is None or self._limits[0] != serial:
            self.device_limits()
        assert self._limits is not None
        explain(msg, body, self._limits[1])

    def log_info(self, log: LogId) -> dict[str, Any]:
        """LOG_INFO: first_seq, next_seq, count, capacity, record_size of one log."""
        return self._call(MsgType.LOG_INFO, {"log": int(log)}, what=f"{log.name.lower()} log info")

    # -- prescription: stage, then commit or abort -----------------------------------------------
    def stage(self, change: Mapping[str, Any]) -> StagedSummary:
        """STAGE_PRESCRIPTION: validate a change whole; nothing is applied until commit."""
        body = self._change(MsgType.STAGE_PRESCRIPTION, {"change": change}, what="stage")
        return StagedSummary.from_reply(body)

    def commit(self, staged: StagedSummary, ack_warnings: int = 0) -> int:
        """COMMIT_PRESCRIPTION of exactly the staged change; returns the new version."""
        body = self._change(
            MsgType.COMMIT_PRESCRIPTION,
            {
                "staged_hash": staged.staged_hash,
                "active_version": staged.active_version,
                "ack_warnings": ack_warnings,
            },
            what="commit",
        )
        return int(body["version"])

    def abort(self) -> None:
        """ABORT_PRESCRIPTION: drop the staged change."""
        self._change(MsgType.ABORT_PRESCRIPTION, what="abort staged change")

    # -- other changes ---------------------------------------------------------------------------
    def refill(
        self, withdrawn_nl: int, added_nl: int, concentration_mcg_per_ml: int
    ) -> dict[str, Any]:
        """REFILL at once, with no Finish view and never a bridge (the pump logs a skipped
        bridge): a first fill, scripts.  ``pumpctl refill`` stages and commits instead.
        Returns expected_nl, discrepancy_nl (withdrawn - expected), flags, reservoir_nl..."""
        body = {
            "withdrawn_nl": withdrawn_nl,
            "added_nl": added_nl,
            "concentration_mcg_per_ml": concentration_mcg_per_ml,
        }
        return self._change(MsgType.REFILL, body, what="refill")

    def stage_refill(
        self,
        withdrawn_nl: int,
        added_nl: int,
        concentration_mcg_per_ml: int,
        *,
        bridge: bool = True,
        catheter_length_mm: int | None = None,
    ) -> StagedRefillSummary:
        """STAGE_REFILL: the pump validates the refill (and the bridge a concentration change
        needs, unless ``bridge`` is False) and returns the figures of its Finish view; nothing
        changes until :meth:`commit_refill`.  ``catheter_length_mm`` None: the one it knows."""
        body = {
            "withdrawn_nl": withdrawn_nl,
            "added_nl": added_nl,
            "concentration_mcg_per_ml": concentration_mcg_per_ml,
            "bridge": bridge,
            "catheter_length_mm": (
                CATHETER_STORED if catheter_length_mm is None else catheter_length_mm
            ),
        }
        reply = self._change(MsgType.STAGE_REFILL, body, what="stage refill")
        return StagedRefillSummary.from_reply(reply)

    def commit_refill(self, staged: StagedRefillSummary) -> dict[str, Any]:
        """COMMIT_REFILL of exactly the staged refill: expected_nl, discrepancy_nl, flags,
        reservoir_nl, low_reservoir_time, bridge_end_time."""
        body = {"staged_hash": staged.staged_hash, "active_version": staged.active_version}
        return self._change(MsgType.COMMIT_REFILL, body, what="commit refill")

    def configure_patient_bolus(
        self,
        dose_ng: int,
        duration_s: int,
        max_per_day: int,
        lockout_s: int,
        enabled: bool = True,
        *,
        ack_warnings: int = 0,
        preview: bool = False,
    ) -> dict[str, Any]:
        """PATIENT_BOLUS_CONFIG: the pump's summary (worst day, baseline, change, limits,
        warnings).  ``preview`` writes nothing; otherwise every warning must be in
        ``ack_warnings`` (WARNINGS_NOT_ACKNOWLEDGED)."""
        config = {
            "enabled": enabled,
            "dose_ng": dose_ng,
            "duration_s": duration_s,
            "max_per_day": max_per_day,
            "lockout_s": lockout_s,
        }
        body = {"config": config, "ack_warnings": ack_warnings, "preview": preview}
        what = "check patient bolus" if preview else "configure patient bolus"
        return self._change(MsgType.PATIENT_BOLUS_CONFIG, body, what=what)

    def request_patient_bolus(self) -> dict[str, Any]:
        """PATIENT_BOLUS_REQUEST: dose_ng, duration_s, end_time, remaining_today."""
        return self._change(MsgType.PATIENT_BOLUS_REQUEST, what="patient bolus")

    def stop(self) -> None:
        """STOP: delivery stops and stays stopped until ``resume`` (critical alarm)."""
        self._change(MsgType.STOP, what="stop pump")

    def resume(self) -> None:
        self._change(MsgType.RESUME, what="resume pump")

    def set_clock(self, pump_time: int, utc_offset_s: int = 0) -> int:
        """SET_CLOCK to Unix seconds (UTC) and the clinic's UTC offset (local time - UTC, s:
        flex steps and the daily totals' midnight run on local time); returns the pump's
        previous time (UTC)."""
        body = self._change(
            MsgType.SET_CLOCK,
            {"pump_time": pump_time, "utc_offset_s": utc_offset_s},
            what="set clock",
        )
        return int(body["previous_time"])

    def acknowledge_alarms(self, alarm_ids: Iterable[AlarmId] = ()) -> int:
        """ALARMS_ACK: silence the listed alarms (none listed: all); returns how many."""
        body = self._change(
            MsgType.ALARMS_ACK, {"alarms": [int(a) for a in alarm_ids]}, what="acknowledge alarms"
        )
        return int(body["acknowledged"])

    def test_alarm_tones(self) -> None:
        self._change(MsgType.ALARMS_TEST, what="test alarm tones")

    def configure_alarms(self, low_reservoir_nl: int, critical_interval_s: int) -> None:
        body = {"low_reservoir_nl": low_reservoir_nl, "critical_interval_s": critical_interval_s}
        self._change(MsgType.ALARMS_CONFIG, body, what="configure alarms")

    def pairings(self) -> dict[str, Any]:
        """PAIRINGS_LIST (clinician): max_pairings and each key's id, role, programmer, time."""
        return self._call(MsgType.PAIRINGS_LIST, what="list pairings")

    def authorize_patient_pairing(self) -> int:
        """PATIENT_PAIRING_AUTHORIZE (clinician): one patient key may pair; returns valid-until."""
        body = self._change(MsgType.PATIENT_PAIRING_AUTHORIZE, what="authorise patient pairing")
        return int(body["valid_until_time"])

    def unpair_key(self, key_id: int = 0) -> None:
        """UNPAIR a key on the pump (0: this session's own key)."""
        self._change(MsgType.UNPAIR, {"key_id": key_id}, what="unpair")

    # -- streams ---------------------------------------------------------------------------------
    def log_read(
        self,
        log: LogId,
        since: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> list[LogRecord]:
        """Download a log from ``since`` (a sequence number; default the oldest kept) to its end.

        One LOG_READ is answered by a stream of frames.  Records are taken only in sequence; if a
        frame is lost or the stream stalls, the download resumes from the last record received
        (reads are safe to repeat).  A gap is accepted only where the pump no longer keeps the
        records (its ``first_seq`` moved past them).
        """
        self._ensure_session()
        info = self.log_info(log)
        cursor = max(since if since is not None else info["first_seq"], info["first_seq"])
        end = int(info["next_seq"])
        total = max(0, end - cursor)
        records: list[LogRecord] = []
        stalls = 0
        while cursor < end:
            before = cursor
            cursor, finished = self._log_stream(log, cursor, end - cursor, records, progress, total)
            if finished and cursor == before:
                break  # the pump has nothing more to give
            if not finished:
                # a stall or a gap (a lost frame): records older than the pump's first kept
                # one are gone for good; anything else is asked for again from the cursor
                cursor = max(cursor, int(self.log_info(log)["first_seq"]))
                if cursor == before:
                    stalls += 1
                    if stalls > self.retries:
                        raise LinkError(
                            f"log download stalled at sequence {cursor}; nothing changed"
                        )
        return records

    def _log_stream(
        self,
        log: LogId,
        cursor: int,
        count: int,
        records: list[LogRecord],
        progress: ProgressCallback | None,
        total: int,
    ) -> tuple[int, bool]:
        seq = self.link.next_seq()
        body = {"log": int(log), "cursor": cursor, "max_count": count}
        self.link.send(self.link.endpoint.send(Request(MsgType.LOG_READ, body, seq)))
        while True:
            reply = self.link.wait_reply(MsgType.LOG_READ, seq, self.timeout_s)
            if reply is None:
                return cursor, False
            if not reply.ok:
                raise refusal(reply.status, reply.reason, "log read")
            for raw in reply.body["records"]:
                record = LogRecord.parse(bytes(raw))
                if record.seq > cursor:
                    return cursor, False  # a frame of this stream was lost: ask again
                if record.seq == cursor:
                    records.append(record)
                    cursor += 1
            if progress is not None:
                progress(len(records), total)
            if not reply.more:
                return cursor, True

    def subscribe(self, interval_s: int) -> int:
        """TELEMETRY_SUBSCRIBE every ``interval_s`` of pump time (0 stops); the interval granted."""
        body = self._call(MsgType.TELEMETRY_SUBSCRIBE, {"interval_s": interval_s}, what="subscribe")
        return int(body["interval_s"])

    def notifications(self, timeout_s: float | None = None) -> Iterator[Notification]:
        """Telemetry and alarm events as they arrive; ends after ``timeout_s`` of silence."""
        while True:
            event = self.link.next_notification(
                timeout_s if timeout_s is not None else self.timeout_s
            )
            if event is None:
                if timeout_s is not None:
                    return
                continue
            yield event
