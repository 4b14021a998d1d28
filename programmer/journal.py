"""The journal of state-changing requests whose outcome is not yet known.

Why: a bolus whose reply never came may or may not be running.  The insulin-pump tools that got
this right settle such a request by reading the pump before sending any new command.  The
programmer writes each state-changing request here *before* it goes on the line and removes it
once the outcome is certain, so even a programmer killed between send and reply leaves a record;
the next session with the same pump asks ``REQUEST_STATUS`` for every entry before anything else.

The journal lives next to the key store (``unresolved.json``, mode 0600, atomic replace).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from protocol.catalog import MsgType
from protocol.errors import ErrorCode

from .errors import UsageError
from .keystore import read_json, write_private_json

JOURNAL_NAME = "unresolved.json"


@dataclass(frozen=True, slots=True)
class PendingRequest:
    """A state-changing request sent (or about to be) whose outcome is not yet known."""

    serial_number: str
    request_id: int
    msg: MsgType
    description: str
    sent_at: str  # ISO 8601, this computer's clock

    def to_json(self) -> dict[str, Any]:
        return {
            "serial_number": self.serial_number,
            "request_id": self.request_id,
            "msg": self.msg.name,
            "description": self.description,
            "sent_at": self.sent_at,
        }

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> PendingRequest:
        try:
            return cls(
                str(entry["serial_number"]),
                int(entry["request_id"]),
                MsgType[str(entry["msg"])],
                str(entry.get("description", "")),
                str(entry.get("sent_at", "")),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise UsageError(f"unresolved-request journal entry is damaged ({exc})") from None


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


class Journal:
    """Unresolved requests on disk; small, so it is rewritten whole on every change."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def beside(cls, keystore_path: Path) -> Journal:
        return cls(keystore_path.parent / JOURNAL_NAME)

    def entries(self, serial_number: str | None = None) -> list[PendingRequest]:
        document = read_json(self.path)
        if document is None:
            return []
        items = [PendingRequest.from_json(e) for e in document.get("pending", [])]
        if serial_number is None:
            return items
        return [e for e in items if e.serial_number == serial_number]

    def _write(self, items: list[PendingRequest]) -> None:
        if not items and not self.path.exists():
            return
        write_private_json(self.path, {"version": 1, "pending": [e.to_json() for e in items]})

    def record(self, pending: PendingRequest) -> None:
        items = [
            e
            for e in self.entries()
            if (e.serial_number, e.request_id) != (pending.serial_number, pending.request_id)
        ]
        items.append(pending)
        self._write(items)

    def remove(self, serial_number: str, request_id: int) -> None:
        items = self.entries()
        kept = [e for e in items if (e.serial_number, e.request_id) != (serial_number, request_id)]
        if len(kept) != len(items):
            self._write(kept)


@dataclass(frozen=True, slots=True)
class ResolvedRequest:
    """What became of a journalled request, learnt from the pump."""

    pending: PendingRequest
    executed: bool | None  # None: interrupted by a reset of the pump, so nobody can tell
    status: int = 0
    reason: str = ""

    def describe(self) -> str:
        rid = f"request {self.pending.request_id:#010x} ({self.pending.description})"
        if self.executed is None:
            return f"{rid}: {self.reason}; check `pumpctl status` and the therapy log before acting"
        if not self.executed:
            return f"{rid}: the pump has no record of it; it did not take effect"
        if self.status == 0:
            return f"{rid}: it DID take effect (completed successfully)"
        code = _code_name(self.status)
        return f"{rid}: the pump refused it ({code}: {self.reason}); nothing changed"


def _code_name(status: int) -> str:
    try:
        return ErrorCode(status).name
    except ValueError:
        return f"error {status}"
