"""The wire protocol between the virtual pump and its programmer (sans-I/O).

Bytes in, events out; events in, bytes out; time passed in.  Nothing here touches a port, a file
or a clock, so the same objects run behind a pty, a USB-serial adapter, a TCP socket or an
in-memory pair in tests.  Start with ``DeviceEndpoint`` / ``ProgrammerEndpoint``; the catalog
(``CATALOG``) and the error table (``ERROR_TABLE``) are the protocol's single source of truth.
"""

from .catalog import (
    CATALOG,
    Capability,
    MessageKind,
    MessageSpec,
    MsgType,
    RefillFlag,
    RequestState,
    StageWarning,
    spec_for,
)
from .codec import decode_reply, decode_request, encode_reply, encode_request
from .device import DeviceEndpoint, DeviceInfo, SecurityPolicy
from .enums import CRITICAL_ALARMS, AlarmId, ChangeKind, LogEvent, LogId, Role, TherapyMode
from .errors import (
    ERROR_TABLE,
    ErrorCode,
    ErrorSpec,
    LocalProtocolError,
    ProtocolError,
    Refusal,
    RemoteProtocolError,
    error_spec,
)
from .events import (
    NEED_DATA,
    Event,
    FrameRejected,
    LockoutStarted,
    NeedData,
    Notification,
    PairingCode,
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
from .framing import (
    MAX_PAYLOAD,
    PROTOCOL_VERSION,
    DropReason,
    Flags,
    Frame,
    FrameDecoder,
    encode_frame,
)
from .programmer import ProgrammerEndpoint
from .security_state import Pairing
from .states import (
    DevicePairingState,
    DeviceState,
    ProgrammerPairingState,
    ProgrammerState,
    SessionState,
)

__all__ = [
    "CATALOG",
    "CRITICAL_ALARMS",
    "ERROR_TABLE",
    "MAX_PAYLOAD",
    "NEED_DATA",
    "PROTOCOL_VERSION",
    "AlarmId",
    "Capability",
    "ChangeKind",
    "DeviceEndpoint",
    "DeviceInfo",
    "DevicePairingState",
    "DeviceState",
    "DropReason",
    "ErrorCode",
    "ErrorSpec",
    "Event",
    "Flags",
    "Frame",
    "FrameDecoder",
    "FrameRejected",
    "LocalProtocolError",
    "LockoutStarted",
    "LogEvent",
    "LogId",
    "MessageKind",
    "MessageSpec",
    "MsgType",
    "NeedData",
    "Notification",
    "Pairing",
    "PairingCode",
    "PairingCompleted",
    "PairingPending",
    "PairingRejected",
    "PatientPairingAuthorized",
    "ProgrammerEndpoint",
    "ProgrammerPairingState",
    "ProgrammerState",
    "ProtocolError",
    "RefillFlag",
    "Refusal",
    "RemoteProtocolError",
    "Reply",
    "Request",
    "RequestState",
    "Role",
    "SecurityPolicy",
    "SessionClosed",
    "SessionOpened",
    "SessionState",
    "StageWarning",
    "TherapyMode",
    "Unpaired",
    "decode_reply",
    "decode_request",
    "encode_frame",
    "encode_reply",
    "encode_request",
    "error_spec",
    "spec_for",
]
