"""The external programmer: client session, transports, key store, the ``pumpctl`` command.

Start with ``open_transport(url)`` and ``PumpClient(transport, KeyStore())``: ``identify()``,
``pair()``, ``open_session()``, then the clinical commands (``status()``, ``stage()`` /
``commit()``, ``refill()``, ``log_read()``...).  Every failure is one of the exceptions in
``programmer.errors`` (each mapped to a ``pumpctl`` exit code); units typed by people are parsed
by ``programmer.units``.  Any object with ``write``/``read(timeout_s)``/``close`` is a
``Transport``; one that is no line (an in-process simulated pump) also brings its ``clock`` (a
``Clock``), and every wait of the client passes on that clock instead of the wall clock.

The names below are loaded on first use (PEP 562), so ``pumpctl --help`` and ``--version`` do
not pay for the cryptography, the codec and the message catalog.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from .transport import Clock, SerialTransport, Transport, open_transport

_WHERE = {
    "LogRecord": "protocol.log_record",
    "PumpClient": "programmer.client",
    "StagedSummary": "programmer.clinical",
    "AuthenticationError": "programmer.errors",
    "LinkError": "programmer.errors",
    "ProgrammerError": "programmer.errors",
    "PumpRefused": "programmer.errors",
    "UncertainOutcome": "programmer.errors",
    "UnitError": "programmer.errors",
    "UsageError": "programmer.errors",
    "exit_code_for": "programmer.errors",
    "Journal": "programmer.journal",
    "PendingRequest": "programmer.journal",
    "ResolvedRequest": "programmer.journal",
    "KeyStore": "programmer.keystore",
    "StoredKey": "programmer.keystore",
    "Clock": "programmer.transport",
    "SerialTransport": "programmer.transport",
    "Transport": "programmer.transport",
    "open_transport": "programmer.transport",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(where), name)
    globals()[name] = value
    return value


__all__ = [
    "AuthenticationError",
    "Clock",
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
