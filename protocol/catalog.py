"""The message catalog: every message of the protocol in one table.

Why: one source of truth.  The encoder and decoder (``codec.py``), the endpoints' authentication
and role checks, docs/PROTOCOL.md's tables and the conformance suite all read this table, so a
message cannot be documented one way and handled another.

A row says: the message number, who sends it, the request and reply payload layouts (construct),
whether it needs an authenticated session, whether it changes pump state (then its request starts
with a ``request_id`` and a duplicate is answered from the pump's cache, never executed twice),
which roles may send it, and whether the reply may span several frames (``MORE`` flag).
Field units are in the field names: ``_nl`` nanolitres, ``_ng`` nanograms, ``_s`` seconds,
``_time`` pump time in Unix seconds, UTC (0 = none; the clinic's local time is pump time +
``utc_offset_s``), ``_ppm`` parts per million,
``_mcg_per_ml`` micrograms per millilitre.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import construct as c

from .enums import Role
from .layouts import (
    AlarmEntry,
    Bytes16,
    Empty,
    RequestId,
    ShortText,
    TherapyChange,
    i32,
    strict,
    u8,
    u16,
    u32,
    u64,
)
from .log_record import LOG_RECORD_SIZE


class MsgType(enum.IntEnum):
    HELLO = 0x01
    PAIR_BEGIN = 0x02
    PAIR_CONFIRM = 0x03
    SESSION_OPEN = 0x04
    SESSION_CLOSE = 0x05
    UNPAIR = 0x06
    PAIRINGS_LIST = 0x07
    PATIENT_PAIRING_AUTHORIZE = 0x08
    STATUS = 0x10
    READ_PRESCRIPTION = 0x11
    STAGE_PRESCRIPTION = 0x12
    COMMIT_PRESCRIPTION = 0x13
    ABORT_PRESCRIPTION = 0x14
    REFILL = 0x15
    PATIENT_BOLUS_CONFIG = 0x16
    PATIENT_BOLUS_REQUEST = 0x17
    STOP = 0x18
    RESUME = 0x19
    SET_CLOCK = 0x1A
    DEVICE_LIMITS = 0x1B
    ALARMS_READ = 0x20
    ALARMS_ACK = 0x21
    ALARMS_TEST = 0x22
    ALARMS_CONFIG = 0x23
    LOG_INFO = 0x30
    LOG_READ = 0x31
    TELEMETRY_SUBSCRIBE = 0x40
    TELEMETRY = 0x41
    ALARM_EVENT = 0x42
    REQUEST_STATUS = 0x50
    STAGE_REFILL = 0x1D
    COMMIT_REFILL = 0x1E


class MessageKind(enum.Enum):
    """What a catalog row is: a request the pump answers, or an event the pump sends unasked."""

    REQUEST = "programmer -> pump, answered by a reply"
    EVENT = "pump -> programmer, unsolicited"


class Capability(enum.IntFlag):
    """Bits of HELLO's ``capabilities``: what a device implements beyond the core."""

    PAIRING = 1 << 0
    FLEX = 1 << 1
    PATIENT_BOLUS = 1 << 2
    TELEMETRY = 1 << 3
    LOG_STREAM = 1 << 4
    BRIDGE_BOLUS = 1 << 5
    PRIMING_BOLUS = 1 << 6
    #: Not a feature, a warning: keys and nonces follow from a seed (test mode, never clinical).
    INSECURE_TEST_KEYS = 1 << 31


class StageWarning(enum.IntFlag):
    """Soft-limit warnings of a staged change; a commit must acknowledge every one raised."""

    SOFT_DOSE_LIMIT = 1 << 0
    TITRATION_INCREASE_OVER_LIMIT = 1 << 1
    SECOND_INCREASE_WITHIN_24H = 1 << 2
    CONCENTRATION_CHANGED_NEEDS_BRIDGE = 1 << 3
    LOW_RESERVOIR_SOON = 1 << 4
    #: A priming bolus into a catheter that already holds drug: the whole priming volume of drug
    #: reaches the patient (the stage summary's ``to_patient_ng``).
    PRIME_INTO_FULL_CATHETER = 1 << 5


class RefillFlag(enum.IntFlag):
    DISCREPANCY_WARNING = 1 << 0  # |withdrawn - expected| above the profile's threshold
    CONCENTRATION_CHANGED = 1 << 1  # the tubing and catheter hold the old concentration
    BRIDGE_INCLUDED = 1 << 2  # the staged refill starts the bridge bolus the pump computed
    BRIDGE_SKIPPED = 1 << 3  # the concentration changes and the request skips the bridge


#: ``catheter_length_mm`` meaning "the catheter the pump knows" (in a request) or "unknown"
#: (in STATUS and a refill's stage summary).
CATHETER_STORED = 0xFFFF


class RequestState(enum.IntEnum):
    """REQUEST_STATUS answer: what became of a request id."""

    UNKNOWN = 0  # not among the ids the pump recalls: none of this key's last 16 requests
    COMPLETED = 1  # answered (success or refusal); ``status`` and ``reply`` are that answer
    INTERRUPTED = 2  # a reset came while it was being carried out: it may have taken effect
    IN_PROGRESS = 3  # being carried out right now: ask again
    EVICTED = 4  # it reached the pump, whose cache no longer holds the outcome: check the pump


ALL_ROLES = frozenset({Role.CLINICIAN, Role.PATIENT})
CLINICIAN = frozenset({Role.CLINICIAN})


@dataclass(frozen=True, slots=True)
class MessageSpec:
    msg: MsgType
    kind: MessageKind
    request: Any  # construct layout of the request payload (or the event payload)
    reply: Any  # construct layout of a success reply's body (None for events)
    auth: bool  # needs an authenticated session
    state_changing: bool  # starts with request_id; executed at most once
    roles: frozenset[Role]
    streamed: bool  # reply may span several frames
    summary: str

    @property
    def name(self) -> str:
        return self.msg.name


def _req(
    msg: MsgType,
    request: Any,
    reply: Any,
    summary: str,
    *,
    auth: bool = True,
    changes: bool = False,
    roles: frozenset[Role] = CLINICIAN,
    streamed: bool = False,
) -> MessageSpec:
    return MessageSpec(
        msg, MessageKind.REQUEST, request, reply, auth, changes, roles, streamed, summary
    )


def _event(msg: MsgType, layout: Any, summary: str) -> MessageSpec:
    return MessageSpec(msg, MessageKind.EVENT, layout, None, True, False, ALL_ROLES, False, summary)


M = MsgType

#: Weekday names of STATUS's day totals, Monday first (the weekday map's order).
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_STATUS_REPLY = strict(
    "pump_time" / u32,
    "mode" / u8,  # TherapyMode
    "prescription_version" / u32,
    "daily_dose_ng" / u32,  # programmed basal dose now in force, per day (0 when stopped)
    "rate_nl_per_day" / u32,  # flow now in force: basal (paused in a clinician bolus) + bolus
    "concentration_mcg_per_ml" / u16,  # 0 until the first fill
    "reservoir_nl" / u32,  # the pump's estimate
    "reservoir_capacity_nl" / u32,
    "low_reservoir_nl" / u32,  # low-reservoir alarm threshold
    "low_reservoir_time" / u32,  # when the estimate crosses the threshold at this program
    "empty_time" / u32,  # when the estimate reaches zero at this program
    "battery_ppm" / u32,  # remaining battery charge
    "eri_time" / u32,
    "eos_time" / u32,
    "replace_by_time" / u32,
    "delivered_ng" / u64,  # since manufacture, the pump's estimate
    "delivered_nl" / u64,
    "strokes" / u64,
    "bolus_mode" / u8,  # TherapyMode of a running bolus (3..6); 0 = no bolus running
    "bolus_remaining_ng" / u32,  # not yet delivered as programmed
    "bolus_end_time" / u32,
    "critical_interval_s" / u32,
    "patient_bolus_enabled" / c.Flag,
    "alarms" / c.PrefixedArray(u8, AlarmEntry),
    "delivering" / c.Flag,  # drug reaches the patient now (0: stopped, halted, or empty)
    "patient_bolus_dose_ng" / u32,  # the patient's bolus settings (0 when never configured)
    "patient_bolus_duration_s" / u32,
    "patient_bolus_max_per_day" / u8,
    "patient_bolus_lockout_s" / u32,
    "patient_boluses_given" / u8,  # granted in the last 24 h (the daily maximum's window)
    "patient_boluses_refused" / u8,  # refused in the last 24 h
    "patient_boluses_left" / u8,  # still allowed in that window
    "patient_bolus_lockout_end_time" / u32,  # end of the lockout after the last grant (0: none)
    *(f"day_total_{day}_ng" / u32 for day in WEEKDAY_NAMES),  # basal per day as programmed
    "utc_offset_s" / i32,  # the clinic's local time - UTC, set with the clock (0: never set)
    "clock_drift_warning_s" / u16,  # a programmer warns when the pump's local time is off more
    "projected_replace_by_time" / u32,  # end of service projected from the gauge and the flow
    "catheter_length_mm" / u16,  # the implanted catheter the pump knows; 0xFFFF = unknown
)

#: DEVICE_LIMITS reply: every limit the pump checks a request against, in its own units.
_DEVICE_LIMITS_REPLY = strict(
    "drug"
    / c.Struct(
        "drug_name" / ShortText,
        "concentrations_mcg_per_ml" / c.PrefixedArray(u8, u16),
        "hard_max_daily_dose_ng" / u32,
        "soft_max_daily_dose_ng" / u32,
        "max_bolus_ng" / u32,
        "min_bolus_duration_s" / u32,
        "max_bolus_duration_s" / u32,
    ),
    "titration" / c.Struct("soft_increase_pct" / u16, "window_s" / u32),
    "delivery"
    / c.Struct(
        "min_rate_nl_per_day" / u32,
        "max_rate_nl_per_day" / u32,
        "safe_rate_nl_per_day" / u32,
        "reservoir_capacity_nl" / u32,
        "max_flex_steps" / u8,
        "max_catheter_length_mm" / u16,
    ),
    "patient_bolus"
    / c.Struct(
        "max_dose_ng" / u32,
        "min_duration_s" / u32,
        "max_duration_s" / u32,
        "max_per_day_limit" / u8,
        "min_lockout_s" / u32,
        "max_lockout_s" / u32,
    ),
    "alarms"
    / c.Struct(
        "low_reservoir_min_nl" / u32,
        "low_reservoir_max_nl" / u32,
        "critical_interval_min_s" / u32,
        "critical_interval_max_s" / u32,
    ),
    "clock" / c.Struct("earliest_time" / u32, "latest_time" / u32),
)

_PATIENT_BOLUS_CONFIG = c.Struct(
    "enabled" / c.Flag,
    "dose_ng" / u32,
    "duration_s" / u32,
    "max_per_day" / u8,
    "lockout_s" / u32,
)

#: PATIENT_BOLUS_CONFIG reply: the pump's summary of the configuration (its Finish view), checked
#: like a dose increase: the worst day against the soft limit and the titration baseline.
_PATIENT_BOLUS_SUMMARY = strict(
    "daily_dose_ng" / u32,  # basal daily dose (flex: largest day total)
    "allowance_ng" / u32,  # dose x maximum per 24 h (0 when disabled)
    "worst_day_ng" / u32,  # basal + every allowed patient bolus
    "current_worst_day_ng" / u32,  # the same with the configuration in force now
    "baseline_ng" / u32,  # what the worst day is compared with (0: none)
    "change_permille" / i32,  # (worst day - baseline) / baseline, in 0.1 %
    "titration_limit_pct" / u16,
    "soft_limit_ng" / u32,
    "hard_limit_ng" / u32,
    "warnings" / u16,  # StageWarning bits; the configuration is written only if all are acked
)

CATALOG: dict[MsgType, MessageSpec] = {
    s.msg: s
    for s in (
        _req(
            M.HELLO,
            Empty,
            strict(
                "model" / ShortText,
                "serial_number" / ShortText,
                "firmware_version" / ShortText,
                "protocol_min" / u8,
                "protocol_max" / u8,
                "max_payload" / u16,
                "capabilities" / u32,
                "pairing_window_open" / c.Flag,
                "paired_keys" / u8,
                "messages" / c.PrefixedArray(u8, u8),
            ),
            "identify the pump: the only message an unpaired peer may read",
            auth=False,
            roles=ALL_ROLES,
        ),
        _req(
            M.PAIR_BEGIN,
            strict(
                "role" / u8,
                "programmer_public" / c.Bytes(32),
                "programmer_nonce" / Bytes16,
                "programmer_id" / u64,
            ),
            strict("device_public" / c.Bytes(32), "device_nonce" / Bytes16),
            "start pairing (only while the wand window is open; a patient key only after a "
            "clinician's PATIENT_PAIRING_AUTHORIZE): X25519 public keys and nonces",
            auth=False,
            roles=ALL_ROLES,
        ),
        _req(
            M.PAIR_CONFIRM,
            strict("programmer_proof" / Bytes16),
            strict("key_id" / u32, "device_proof" / Bytes16),
            "finish pairing: both sides prove they derived the same keys; the pump stores the key "
            "once the person at the pump accepts the code (PAIRING_AWAITING_CONFIRMATION until "
            "then: send it again)",
            auth=False,
            roles=ALL_ROLES,
        ),
        _req(
            M.SESSION_OPEN,
            strict("key_id" / u32, "programmer_nonce" / Bytes16),
            strict(
                "session_id" / u32, "device_nonce" / Bytes16, "device_proof" / Bytes16, "role" / u8
            ),
            "open an authenticated session with a paired key",
            auth=False,
            roles=ALL_ROLES,
        ),
        _req(M.SESSION_CLOSE, Empty, Empty, "close the session", roles=ALL_ROLES),
        _req(
            M.UNPAIR,
            strict(RequestId, "key_id" / u32),
            Empty,
            "forget a pairing (key_id 0: the key of this session)",
            changes=True,
            roles=ALL_ROLES,
        ),
        _req(
            M.PAIRINGS_LIST,
            Empty,
            strict(
                "max_pairings" / u8,
                "pairings"
                / c.PrefixedArray(
                    u8,
                    c.Struct(
                        "key_id" / u32,
                        "role" / u8,
                        "programmer_id" / u64,
                        "paired_time" / u32,
                    ),
                ),
            ),
            "list the pump's pairing keys (clinician)",
        ),
        _req(
            M.PATIENT_PAIRING_AUTHORIZE,
            strict(RequestId),
            strict("valid_until_time" / u32),
            "allow one patient key to pair (clinician): valid until a patient pairing completes "
            "or valid_until_time",
            changes=True,
        ),
        _req(M.STATUS, Empty, _STATUS_REPLY, "read the pump's state", roles=ALL_ROLES),
        _req(
            M.READ_PRESCRIPTION,
            Empty,
            strict(
                "version" / u32,
                "concentration_mcg_per_ml" / u16,
                "therapy" / TherapyChange,
                "patient_bolus" / _PATIENT_BOLUS_CONFIG,
                "low_reservoir_nl" / u32,
                "critical_interval_s" / u32,
            ),
            "read the active prescription",
            roles=ALL_ROLES,
        ),
        _req(
            M.STAGE_PRESCRIPTION,
            strict(RequestId, "change" / TherapyChange),
            strict(
                "staged_hash" / Bytes16,
                "active_version" / u32,
                "daily_dose_ng" / u32,
                "rate_nl_per_day" / u32,
                "duration_s" / u32,  # boluses: how long delivery takes; 0 otherwise
                "next_refill_time" / u32,
                "low_reservoir_time" / u32,
                "warnings" / u16,  # StageWarning bits
                "bolus_dose_ng" / u32,  # boluses: the drug the bolus moves; 0 otherwise
                "to_patient_ng" / u32,  # boluses: the drug that reaches the patient by it
                "baseline_ng" / u32,  # titration baseline (daily dose); 0: none (a start)
                "change_permille" / i32,  # (new - baseline) / baseline, in 0.1 %
                "titration_limit_pct" / u16,  # the increase that needs acknowledgement
                "soft_limit_ng" / u32,  # the drug library's soft daily limit
                "hard_limit_ng" / u32,  # the drug library's hard daily limit
                "worst_day_ng" / u32,  # largest day: basal + patient boluses + this bolus
            ),
            "validate a therapy change whole and hold it; returns the Finish-view summary",
            changes=True,
        ),
        _req(
            M.COMMIT_PRESCRIPTION,
            strict(
                RequestId,
                "staged_hash" / Bytes16,
                "active_version" / u32,
                "ack_warnings" / u16,  # must include every Warning bit the stage raised
            ),
            strict("version" / u32),
            "apply the staged change atomically if it and the active version still match",
            changes=True,
        ),
        _req(
            M.ABORT_PRESCRIPTION, strict(RequestId), Empty, "drop the staged change", changes=True
        ),
        _req(
            M.REFILL,
            strict(
                RequestId,
                "withdrawn_nl" / u32,
                "added_nl" / u32,
                "concentration_mcg_per_ml" / u16,
            ),
            strict(
                "expected_nl" / u32,
                "discrepancy_nl" / i32,  # withdrawn - expected
                "flags" / u8,  # RefillFlag bits
                "reservoir_nl" / u32,
                "low_reservoir_time" / u32,
            ),
            "record a refill: volume withdrawn, volume added, concentration",
            changes=True,
        ),
        _req(
            M.PATIENT_BOLUS_CONFIG,
            strict(
                RequestId,
                "config" / _PATIENT_BOLUS_CONFIG,
                "ack_warnings" / u16,  # StageWarning bits the clinician accepts
                "preview" / c.Flag,  # true: check and summarise, write nothing
            ),
            _PATIENT_BOLUS_SUMMARY,
            "set the patient-bolus dose, duration, maximum per 24 h and lockout (preview: only "
            "the pump's summary); written only if every warning is acknowledged",
            changes=True,
        ),
        _req(
            M.PATIENT_BOLUS_REQUEST,
            strict(RequestId),
            strict("dose_ng" / u32, "duration_s" / u32, "end_time" / u32, "remaining_today" / u8),
            "patient asks for a bolus within the configured limits",
            changes=True,
            roles=ALL_ROLES,
        ),
        _req(
            M.STOP,
            strict(RequestId),
            Empty,
            "stop delivery (critical alarm PUMP_STOPPED)",
            changes=True,
        ),
        _req(
            M.RESUME,
            strict(RequestId),
            Empty,
            "resume the therapy in force before the stop",
            changes=True,
        ),
        _req(
            M.SET_CLOCK,
            strict(RequestId, "pump_time" / u32, "utc_offset_s" / i32),
            strict("previous_time" / u32, "previous_utc_offset_s" / i32),
            "set the pump's real-time clock (UTC) and the clinic's UTC offset: flex steps and the "
            "daily totals' midnight run on local time = pump_time + utc_offset_s",
            changes=True,
        ),
        _req(
            M.DEVICE_LIMITS,
            Empty,
            _DEVICE_LIMITS_REPLY,
            "read the pump's limits and drug library: every range it checks requests against",
            roles=ALL_ROLES,
        ),
        _req(
            M.ALARMS_READ,
            Empty,
            strict(
                "alarms" / c.PrefixedArray(u8, AlarmEntry),
                "low_reservoir_nl" / u32,
                "critical_interval_s" / u32,
            ),
            "list active alarms and the alarm settings",
            roles=ALL_ROLES,
        ),
        _req(
            M.ALARMS_ACK,
            strict(RequestId, "alarms" / c.PrefixedArray(u8, u8)),
            strict("acknowledged" / u8),
            "acknowledge (silence) alarms; an empty list means all",
            changes=True,
            roles=ALL_ROLES,
        ),
        _req(
            M.ALARMS_TEST, strict(RequestId), Empty, "sound every tone pattern once", changes=True
        ),
        _req(
            M.ALARMS_CONFIG,
            strict(RequestId, "low_reservoir_nl" / u32, "critical_interval_s" / u32),
            Empty,
            "set the low-reservoir threshold and the critical alarm repeat interval",
            changes=True,
        ),
        _req(
            M.LOG_INFO,
            strict("log" / u8),
            strict(
                "first_seq" / u32,
                "next_seq" / u32,
                "count" / u32,
                "capacity" / u32,
                "record_size" / u8,
            ),
            "sequence range and size of a log (therapy 1, alarm 2, audit 3)",
        ),
        _req(
            M.LOG_READ,
            strict("log" / u8, "cursor" / u32, "max_count" / u32),
            strict("records" / c.PrefixedArray(u8, c.Bytes(LOG_RECORD_SIZE)), "next_cursor" / u32),
            "stream records from cursor (a sequence number); MORE set on all but the last frame",
            streamed=True,
        ),
        _req(
            M.TELEMETRY_SUBSCRIBE,
            strict("interval_s" / u32),
            strict("interval_s" / u32),
            "push TELEMETRY events every interval_s of pump time (0 stops them)",
            roles=ALL_ROLES,
        ),
        _event(
            M.TELEMETRY,
            strict(
                "pump_time" / u32,
                "mode" / u8,
                "rate_nl_per_day" / u32,
                "reservoir_nl" / u32,
                "delivered_ng" / u64,
                "battery_ppm" / u32,
                "alarm_bits" / u32,  # bit (AlarmId - 1) set while the alarm is active
            ),
            "periodic state for a subscribed programmer",
        ),
        _event(
            M.ALARM_EVENT,
            strict("alarm" / u8, "raised" / c.Flag, "critical" / c.Flag, "time" / u32),
            "an alarm was raised or cleared",
        ),
        _req(
            M.STAGE_REFILL,
            strict(
                RequestId,
                "withdrawn_nl" / u32,
                "added_nl" / u32,
                "concentration_mcg_per_ml" / u16,
                "bridge" / c.Flag,  # run the bridge the pump computes if the concentration changes
                "catheter_length_mm" / u16,  # 0xFFFF: the catheter the pump knows
            ),
            strict(
                "staged_hash" / Bytes16,
                "active_version" / u32,
                "withdrawn_nl" / u32,
                "expected_nl" / u32,
                "discrepancy_nl" / i32,  # withdrawn - expected
                "discrepancy_limit_nl" / u32,
                "flags" / u8,  # RefillFlag bits
                "reservoir_nl" / u32,  # after the refill
                "old_concentration_mcg_per_ml" / u16,
                "concentration_mcg_per_ml" / u16,
                "daily_dose_ng" / u32,
                "day_doses_ng" / c.Array(7, u32),  # Monday first
                "day_volumes_nl" / c.Array(7, u32),  # Monday first, at the new concentration
                "old_rate_nl_per_day" / u32,
                "rate_nl_per_day" / u32,
                "low_reservoir_time" / u32,
                "next_refill_time" / u32,
                "empty_time" / u32,
                "catheter_length_mm" / u16,  # 0xFFFF: unknown
                "bridge_volume_nl" / u32,
                "bridge_dose_ng" / u32,
                "bridge_rate_nl_per_day" / u32,
                "bridge_duration_s" / u32,
                "bridge_end_time" / u32,
            ),
            "validate a refill whole (and the bridge a concentration change needs) and hold it; "
            "returns the Finish-view summary",
            changes=True,
        ),
        _req(
            M.COMMIT_REFILL,
            strict(RequestId, "staged_hash" / Bytes16, "active_version" / u32),
            strict(
                "expected_nl" / u32,
                "discrepancy_nl" / i32,
                "flags" / u8,  # RefillFlag bits
                "reservoir_nl" / u32,
                "low_reservoir_time" / u32,
                "bridge_end_time" / u32,
            ),
            "apply the staged refill and its bridge atomically if nothing changed since the stage",
            changes=True,
        ),
        _req(
            M.REQUEST_STATUS,
            strict("request_id" / u32),
            strict("state" / u8, "msg_type" / u8, "status" / u16, "reply" / c.GreedyBytes),
            "what became of a request id: its original answer, evicted (it reached the pump), or "
            "not recalled",
            roles=ALL_ROLES,
        ),
    )
}
del M

assert set(CATALOG) == set(MsgType), "every message type needs a catalog row"

#: A failure reply's body: a human-readable reason after the status code.
ERROR_BODY = strict("message" / ShortText)


def spec_for(msg_type: int) -> MessageSpec | None:
    """The catalog row for a numeric message type, or None if it is not in the catalog."""
    try:
        return CATALOG[MsgType(msg_type)]
    except ValueError:
        return None
