"""What the pump announced in HELLO, and the checks that keep the programmer within it.

Why: a pump tells in HELLO which protocol versions, messages, capabilities and payload size it
handles.  A programmer that sends beyond them gets refusals at best and misread answers at worst,
so every request is checked here, before anything is sent or journalled, and a mismatch is an
``IncompatiblePump`` error naming what the pump lacks.  Pure functions over the HELLO body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from protocol.catalog import Capability, MsgType
from protocol.codec import encode_request
from protocol.enums import ChangeKind
from protocol.errors import ErrorCode
from protocol.framing import MAX_PAYLOAD, PROTOCOL_VERSION

from .errors import IncompatiblePump

#: Messages that need a capability bit of HELLO on top of being listed in ``messages``.
NEEDS_CAPABILITY: dict[MsgType, Capability] = {
    MsgType.PAIR_BEGIN: Capability.PAIRING,
    MsgType.PAIR_CONFIRM: Capability.PAIRING,
    MsgType.PATIENT_BOLUS_CONFIG: Capability.PATIENT_BOLUS,
    MsgType.PATIENT_BOLUS_REQUEST: Capability.PATIENT_BOLUS,
    MsgType.TELEMETRY_SUBSCRIBE: Capability.TELEMETRY,
}
#: Prescription changes that need a capability bit.
CHANGE_NEEDS_CAPABILITY: dict[ChangeKind, Capability] = {
    ChangeKind.FLEX: Capability.FLEX,
    ChangeKind.BRIDGE_BOLUS: Capability.BRIDGE_BOLUS,
    ChangeKind.PRIMING_BOLUS: Capability.PRIMING_BOLUS,
}


def insecure_test_keys(identity: Mapping[str, Any] | None) -> bool:
    """True if the pump announced that its keys follow from a seed (test mode)."""
    caps = int(identity["capabilities"]) if identity else 0
    return bool(caps & Capability.INSECURE_TEST_KEYS)


def max_payload(identity: Mapping[str, Any] | None) -> int:
    """The largest request payload this pump accepts (its HELLO, capped by ours)."""
    announced = int(identity["max_payload"]) if identity else MAX_PAYLOAD
    return min(announced, MAX_PAYLOAD)


def check_version(identity: Mapping[str, Any], what: str) -> None:
    low, high = int(identity["protocol_min"]), int(identity["protocol_max"])
    if not low <= PROTOCOL_VERSION <= high:
        raise IncompatiblePump(
            ErrorCode.UNSUPPORTED_VERSION,
            f"pump {identity['serial_number']} speaks protocol versions {low}..{high}, "
            f"this programmer speaks version {PROTOCOL_VERSION} only; nothing was sent",
            what,
        )


def check_announced(
    identity: Mapping[str, Any], msg: MsgType, body: Mapping[str, Any], what: str
) -> None:
    """Refuse, before anything is sent, a request the pump's HELLO rules out."""
    check_version(identity, what)
    serial = identity["serial_number"]
    if int(msg) not in identity["messages"]:
        raise IncompatiblePump(
            ErrorCode.UNKNOWN_MESSAGE,
            f"pump {serial} does not announce {msg.name} in its HELLO; nothing was sent",
            what,
        )
    announced = int(identity["capabilities"])  # unknown bits of newer pumps kept
    needed = NEEDS_CAPABILITY.get(msg)
    change = body.get("change")
    if msg is MsgType.STAGE_PRESCRIPTION and isinstance(change, Mapping):
        try:
            needed = CHANGE_NEEDS_CAPABILITY.get(ChangeKind(int(change["kind"])))
        except (KeyError, ValueError):
            needed = None
    if needed is not None and not announced & int(needed):
        raise IncompatiblePump(
            ErrorCode.UNKNOWN_MESSAGE,
            f"pump {serial} does not announce the {needed.name} capability in its HELLO; "
            "nothing was sent",
            what,
        )


def check_size(
    identity: Mapping[str, Any] | None, msg: MsgType, body: Mapping[str, Any], what: str
) -> None:
    size = len(encode_request(msg, dict(body)))
    limit = max_payload(identity)
    if size > limit:
        raise IncompatiblePump(
            ErrorCode.FRAME_TOO_LARGE,
            f"the request is {size} bytes and pump accepts at most {limit} "
            "(max_payload in its HELLO); nothing was sent",
            what or msg.name.lower(),
        )
