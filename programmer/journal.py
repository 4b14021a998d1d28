"""The journal of state-changing requests whose outcome is not yet known.

Why: a bolus whose reply never came may or may not be running.  The insulin-pump tools that got
this right settle such a request by reading the pump before sending any new command.  The
programmer writes each state-changing request here *before* it goes on the line and removes it
once the outcome is certain, so even a programmer killed between send and reply leaves a record;
the next session with the same pump asks ``REQUEST_STATUS`` for every entry before anything else.

The journal lives next to the key store (``unresolved.json``, mode 0600, atomic replace).

It also counts, per pump, the state-changing requests this programmer has sent (``sent``), and
each entry remembers that count and the pairing key it was sent with.  The pump recalls the ids
of only the last ``RECALLED_PER_KEY`` requests of each key, so its "no record of it" proves that
a request never arrived only if fewer than that many were sent with the same key after it
(``sent_after``); otherwise the outcome stays unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from protocol.catalog import MsgType
from protocol.enums import enum_label
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
    key_id: int | None = None  # the pairing key of the session it was sent in
    ordinal: int | None = None  # this programmer's count of requests sent to the pump, with it

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "serial_number": self.serial_number,
            "request_id": self.request_id,
            "msg": self.msg.name,
            "description": self.description,
            "sent_at": self.sent_at,
        }
        if self.key_id is not None:
            entry["key_id"] = self.key_id
        if self.ordinal is not None:
            entry["ordinal"] = self.ordinal
        return entry

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> PendingRequest:
        try:
            return cls(
                str(entry["serial_number"]),
                int(entry["request_id"]),
                MsgType[str(entry["msg"])],
                str(entry.get("description", "")),
                str(entry.get("sent_at", "")),
                _optional_int(entry.get("key_id")),
                _optional_int(entry.get("ordinal")),
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

    def _load(self) -> tuple[list[PendingRequest], dict[str, int]]:
        document = read_json(self.path)
        if document is None:
            return [], {}
        items = [PendingRequest.from_json(e) for e in document.get("pending", [])]
        sent = document.get("sent", {})
        if not isinstance(sent, dict):
            raise UsageError("unresolved-request journal is damaged (sent is not a map)")
        return items, {str(k): int(v) for k, v in sent.items()}

    def entries(self, serial_number: str | None = None) -> list[PendingRequest]:
        items, _sent = self._load()
        if serial_number is None:
            return items
        return [e for e in items if e.serial_number == serial_number]

    def get(self, serial_number: str, request_id: int) -> PendingRequest | None:
        return next((e for e in self.entries(serial_number) if e.request_id == request_id), None)

    def sent_after(self, pending: PendingRequest) -> int | None:
        """How many requests this programmer sent to the pump after ``pending`` (None: unknown,
        an entry written before the journal counted)."""
        if pending.ordinal is None:
            return None
        _items, sent = self._load()
        return max(0, sent.get(pending.serial_number, 0) - pending.ordinal)

    def _write(self, items: list[PendingRequest], sent: dict[str, int]) -> None:
        if not items and not sent and not self.path.exists():
            return
        document = {"version": 1, "pending": [e.to_json() for e in items], "sent": sent}
        write_private_json(self.path, document)

    def record(self, pending: PendingRequest) -> PendingRequest:
        """Journal ``pending`` before it is sent; returns it with its ordinal."""
        items, sent = self._load()
        items = [
            e
            for e in items
            if (e.serial_number, e.request_id) != (pending.serial_number, pending.request_id)
        ]
        if pending.ordinal is None:
            sent[pending.serial_number] = sent.get(pending.serial_number, 0) + 1
            pending = replace(pending, ordinal=sent[pending.serial_number])
        items.append(pending)
        self._write(items, sent)
        return pending

    def remove(self, serial_number: str, request_id: int) -> None:
        items, sent = self._load()
        kept = [e for e in items if (e.serial_number, e.request_id) != (serial_number, request_id)]
        if len(kept) != len(items):
            self._write(kept, sent)


@dataclass(frozen=True, slots=True)
class ResolvedRequest:
    """What became of a journalled request, learnt from the pump."""

    pending: PendingRequest
    executed: bool | None  # None: nobody can tell (interrupted, evicted, too old to prove)
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


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _code_name(status: int) -> str:
    return enum_label(ErrorCode, status, "error {value}")
