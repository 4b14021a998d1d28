"""Enumerations that travel on the wire: therapy modes, alarms, logs and log events.

Why: the pump stores these numbers in its log and NVM and the programmer prints their names, so
they belong to the protocol, not to either side.  Numbers are stable; new members are appended.
"""

from __future__ import annotations

import enum


def enum_label(kind: type[enum.Enum], value: int, unknown: str = "{value}") -> str:
    """The name of ``kind``'s member ``value``, or ``unknown`` (formatted with ``value``) for a
    number ``kind`` lacks: a newer peer's code is still shown, as a number, never an error."""
    try:
        return str(kind(value).name)
    except ValueError:
        return unknown.format(value=value)


class Role(enum.IntEnum):
    """Who a pairing key belongs to; bound to the key at pairing time."""

    CLINICIAN = 1
    PATIENT = 2


class TherapyMode(enum.IntEnum):
    STOPPED = 0
    CONTINUOUS = 1
    FLEX = 2
    SINGLE_BOLUS = 3  # then back to the previous therapy
    PRIMING_BOLUS = 4
    BRIDGE_BOLUS = 5
    PATIENT_BOLUS = 6  # a patient bolus on top of the basal therapy
    SAFE_MINIMUM = 7  # low battery reset or empty reservoir: profile's minimum rate


class ChangeKind(enum.IntEnum):
    """What a staged prescription change asks for."""

    STOPPED = 0
    CONTINUOUS = 1
    FLEX = 2
    SINGLE_BOLUS = 3
    PRIMING_BOLUS = 4
    BRIDGE_BOLUS = 5


class AlarmId(enum.IntEnum):
    LOW_RESERVOIR = 1
    RESERVOIR_EMPTY = 2
    ELECTIVE_REPLACEMENT = 3
    END_OF_SERVICE = 4
    MOTOR_STALL = 5
    LOW_BATTERY_RESET = 6
    MEMORY_ERROR = 7
    PUMP_STOPPED = 8
    REFILL_REMINDER = 9


#: Critical alarms: two-tone, drug no longer flowing as programmed.
CRITICAL_ALARMS: frozenset[AlarmId] = frozenset(
    {
        AlarmId.RESERVOIR_EMPTY,
        AlarmId.END_OF_SERVICE,
        AlarmId.MOTOR_STALL,
        AlarmId.LOW_BATTERY_RESET,
        AlarmId.MEMORY_ERROR,
        AlarmId.PUMP_STOPPED,
    }
)


class LogId(enum.IntEnum):
    THERAPY = 1
    ALARM = 2
    AUDIT = 3
    #: One DAILY_TOTAL record per pump day, apart from the therapy log: years of zero totals
    #: after end of service never push the implant and refill history out of the therapy ring.
    DAILY = 4


class ResetCause(enum.IntEnum):
    """Why the firmware is booting: argument ``a`` of the RESET log record."""

    POWER_ON = 0  # first boot of a new device, or a normal power cycle
    POWER_LOSS = 1  # supply interrupted (e.g. process killed); state comes from NVM
    LOW_BATTERY = 2  # low battery reset: boot into the safe state at the minimum rate
    WATCHDOG = 3  # the firmware stopped answering its watchdog and was restarted


#: What each reset cause means, for docs/PROTOCOL.md's table.
RESET_CAUSE_MEANINGS: dict[ResetCause, str] = {
    ResetCause.POWER_ON: "first boot of a new pump, or an orderly power cycle",
    ResetCause.POWER_LOSS: "the supply was interrupted; the pump restored its state from NVM "
    "(a request it was carrying out is then INTERRUPTED)",
    ResetCause.LOW_BATTERY: "low-battery reset: the pump boots into the safe state at the "
    "minimum rate (alarm LOW_BATTERY_RESET)",
    ResetCause.WATCHDOG: "the watchdog restarted the firmware; state restored from NVM",
}


class LogEvent(enum.IntEnum):
    """Event codes of log records.  ``a`` and ``b`` are the record's two signed 32-bit arguments."""

    # therapy log
    RESET = 1  # a=ResetCause
    THERAPY_CHANGED = 2  # a=ChangeKind, b=daily dose ng (or bolus ng)
    BOLUS_STARTED = 3  # a=TherapyMode, b=dose ng
    BOLUS_COMPLETED = 4  # a=TherapyMode, b=delivered ng
    REFILL = 5  # a=added nL, b=discrepancy nL (signed: withdrawn - expected)
    PUMP_STOPPED = 6
    PUMP_RESUMED = 7
    CLOCK_CHANGED = 8  # a=change in seconds (signed, clamped), b=previous pump time (u32 bits)
    PATIENT_BOLUS_CONFIGURED = 9  # a=dose ng, b=max per day
    PATIENT_BOLUS_REFUSED = 10  # a=ErrorCode
    SAFE_MINIMUM_ENTERED = 11  # a=AlarmId cause
    DAILY_TOTAL = 12  # a=delivered ng in the day, b=programmed ng in the day
    UTC_OFFSET_CHANGED = 13  # a=new UTC offset s (local - UTC), b=previous UTC offset s
    MOTOR_STALLED = 20  # a=strokes that did not complete
    MOTOR_RECOVERED = 21  # a=seconds stalled, b=trial strokes commanded
    BRIDGE_SKIPPED = 22  # a=BridgeSkip (1 clinician, 2 one-shot refill), b=old mcg/mL
    CATHETER_SET = 23  # a=catheter length mm
    # alarm log
    ALARM_RAISED = 32  # a=AlarmId
    ALARM_CLEARED = 33  # a=AlarmId
    ALARM_ACKNOWLEDGED = 34  # a=AlarmId
    ALARM_TEST = 35
    ALARM_CONFIG_CHANGED = 36  # a=low reservoir nL, b=critical interval s
    # audit log
    PAIRED = 64  # a=key id, b=Role
    UNPAIRED = 65  # a=key id, b=Role (0 in records written before pairing audit had it)
    SESSION_OPENED = 66  # a=key id, b=session id
    AUTH_FAILURE = 67  # a=ErrorCode, b=message type
    PAIRING_REFUSED = 68  # a=ErrorCode
    LOCKOUT_STARTED = 69  # a=lockout seconds
    REQUEST_REFUSED = 70  # a=ErrorCode, b=message type
    NVM_RECOVERED = 71  # a=bank used
    REJECTIONS_SUPPRESSED = (
        72  # a=ErrorCode, b=how many more refusals of it were not logged one by one
    )
    PAIRING_REJECTED = 80  # a=Role asked for, b=ErrorCode why (PAIRING_REJECTED: at the pump)
    PATIENT_PAIRING_AUTHORIZED = 81  # a=key id of the clinician, b=seconds it stays valid
    #: A state-changing request carried out: a=key id, b=message type | Role << 8 | detail << 16
    #: | choice << 24, flags=StageWarning bits acknowledged (protocol.audit.WriteAudit)
    WRITE_ACCEPTED = 82
