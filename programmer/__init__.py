"""The external programmer: client session, transports, key store, the ``pumpctl`` command.

Start with ``open_transport(url)`` and ``PumpClient(transport, KeyStore())``: ``identify()``,
``pair()``, ``open_session()``, then the clinical commands (``status()``, ``stage()`` /
``commit()``, ``refill()``, ``log_read()``...).  Every failure is one of the exceptions in
``programmer.errors`` (each mapped to a ``pumpctl`` exit code); units typed by people are parsed
by ``programmer.units``.
"""

from protocol.log_record import LogRecord

from .client import PumpClient
from .clinical import StagedSummary
from .errors import (
    AuthenticationError,
    LinkError,
    ProgrammerError,
    PumpRefused,
    UncertainOutcome,
    UnitError,
    UsageError,
    exit_code_for,
)
from .journal import Journal, PendingRequest, ResolvedRequest
from .keystore import KeyStore, StoredKey
from .transport import SerialTransport, Transport, open_transport

__all__ = [
    "AuthenticationError",
    "Journal",
    "KeyStore",
    "LinkError",
    "LogRecord",
    "PendingRequest",
    "ProgrammerError",
    "PumpClient",
    "PumpRefused",
    "ResolvedRequest",
    "SerialTransport",
    "StagedSummary",
    "StoredKey",
    "Transport",
    "UncertainOutcome",
    "UnitError",
    "UsageError",
    "exit_code_for",
    "open_transport",
]
