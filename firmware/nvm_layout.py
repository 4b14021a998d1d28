"""NVM record layout: every persistent record twice (two banks), each copy self-checking.

Why: a power cut can interrupt any write at any byte.  Updating a record writes the *inactive*
bank in full; that copy becomes the current one only by being complete (its CRC-32C verifies and
its sequence number is higher).  A torn write leaves a copy that fails its check (or, if the torn
tail happened to match, the complete new copy), so boot always finds the old state or the new
one, never a mix.  Each record type is written by one call, so a change that must be atomic goes
in one record (see :mod:`firmware.persistence`).

Layout (offsets from 0, big-endian)::

    CONFIG   bank 0, bank 1      prescription, settings          (CONFIG_BANK_SIZE each)
    COUNTERS bank 0, bank 1      estimate, totals, remainders     (COUNTERS_BANK_SIZE each)
    SECURITY bank 0, bank 1      opaque blob of the protocol layer (SECURITY_BANK_SIZE each)
    LOG therapy, alarm, audit    (log_capacity + 1) slots of 24 bytes each
    LOG daily                    (daily_log_capacity + 1) slots of 24 bytes (after the others,
                                 so an image written before the daily ring existed still loads)

    bank = magic "VP" | record id u8 | layout version u8 | seq u32 | length u32 | check u32
           | payload (length bytes)      check = CRC-32C(header[:12] + payload)

The CONFIG and COUNTERS payloads are :class:`~firmware.persistence.Settings` and
:class:`~firmware.persistence.Counters`, each declared once with its fields' encodings;
``Settings.layout()`` and ``Counters.layout()`` list them in byte order with their struct codes.

Log records carry their own check (:mod:`firmware.eventlog`) and are written one slot at a time
at ``seq % (capacity + 1)``: the slot overwritten always holds a record already outside the
ring's capacity, so a torn slot write loses nothing that was still in the log.

A bank whose header is all 0x00 or all 0xFF is *erased* (factory state); any other bank that fails
its check is *corrupt*.

A write the memory refuses (:class:`~firmware.hal.NvmWriteError`) never escapes the store: the
record (or log slot) is kept as *unsaved*, ``failing`` turns true, and :meth:`NvmStore.retry`
writes what is still unsaved.  The banks keep the previous copy readable meanwhile, because a
failed write went to the inactive bank and the bank choice does not advance until one succeeds.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from firmware.eventlog import LOG_RECORD_SIZE, LogRecord
from firmware.hal import NvmStorage, NvmWriteError
from firmware.profile import DAILY_LOG_CAPACITY
from protocol.crc import crc32c
from protocol.enums import LogId

MAGIC = b"VP"
LAYOUT_VERSION = 1
_HEADER = struct.Struct(">2sBBIII")
HEADER_SIZE = _HEADER.size  # 16

CONFIG_BANK_SIZE = 2048
COUNTERS_BANK_SIZE = 512
SECURITY_BANK_SIZE = 2304
#: Largest security blob the protocol layer may store.
SECURITY_BLOB_MAX = SECURITY_BANK_SIZE - HEADER_SIZE


class RecordId(enum.IntEnum):
    CONFIG = 1
    COUNTERS = 2
    SECURITY = 3


BANK_SIZES: dict[RecordId, int] = {
    RecordId.CONFIG: CONFIG_BANK_SIZE,
    RecordId.COUNTERS: COUNTERS_BANK_SIZE,
    RecordId.SECURITY: SECURITY_BANK_SIZE,
}


class RecordStatus(enum.Enum):
    ERASED = "erased"  # both banks blank: factory state
    VALID = "valid"
    CORRUPT = "corrupt"  # no bank passes its checks and at least one is not blank


@dataclass(frozen=True, slots=True)
class LoadedRecord:
    status: RecordStatus
    payload: bytes
    bank: int  # bank used (-1 if none)
    other_bank_corrupt: bool  # the unused bank failed its checks (e.g. a torn write)


class NvmLayout:
    """Offsets of every record bank and log slot for a given log capacity."""

    def __init__(self, log_capacity: int, daily_log_capacity: int = DAILY_LOG_CAPACITY) -> None:
        self.log_capacity = log_capacity
        self.log_slots = log_capacity + 1
        #: Slots of each ring: capacity + 1 (the daily ring has its own capacity).
        self.slots: dict[LogId, int] = {
            log_id: (daily_log_capacity if log_id is LogId.DAILY else log_capacity) + 1
            for log_id in LogId
        }
        offset = 0
        self.bank_offsets: dict[RecordId, tuple[int, int]] = {}
        for record_id in RecordId:
            size = BANK_SIZES[record_id]
            self.bank_offsets[record_id] = (offset, offset + size)
            offset += 2 * size
        self.log_offsets: dict[LogId, int] = {}
        for log_id in LogId:
            self.log_offsets[log_id] = offset
            offset += self.slots[log_id] * LOG_RECORD_SIZE
        self.required_size = offset

    def slot_offset(self, log_id: LogId, seq: int) -> int:
        return self.log_offsets[log_id] + (seq % self.slots[log_id]) * LOG_RECORD_SIZE


def required_nvm_size(log_capacity: int, daily_log_capacity: int = DAILY_LOG_CAPACITY) -> int:
    """Bytes of NVM a board must provide for a profile's log capacities."""
    return NvmLayout(log_capacity, daily_log_capacity).required_size


def _is_blank(data: bytes) -> bool:
    return data == b"\x00" * len(data) or data == b"\xff" * len(data)


_BLANK_SLOTS = (b"\x00" * LOG_RECORD_SIZE, b"\xff" * LOG_RECORD_SIZE)


class NvmStore:
    """Reads and atomically updates records in two banks; writes log slots."""

    def __init__(self, nvm: NvmStorage, layout: NvmLayout) -> None:
        self._nvm = nvm
        self.layout = layout
        self.usable = nvm.size >= layout.required_size
        self._seq: dict[RecordId, int] = {r: 0 for r in RecordId}
        self._active: dict[RecordId, int] = {r: -1 for r in RecordId}
        self.writes = 0  # number of write calls, for tests and budgets
        self.failed_writes = 0  # writes the memory refused
        self.last_error = ""  # reason of the last refused write
        self._unsaved: dict[RecordId, bytes] = {}
        self._unsaved_logs: dict[tuple[LogId, int], LogRecord] = {}

    @property
    def failing(self) -> bool:
        """Something the firmware asked to persist has not reached the memory yet."""
        return bool(self._unsaved or self._unsaved_logs)

    def _write(self, offset: int, data: bytes) -> bool:
        try:
            self._nvm.write(offset, data)
        except NvmWriteError as exc:
            self.failed_writes += 1
            self.last_error = exc.reason
            return False
        self.writes += 1
        return True

    def retry(self) -> bool:
        """Write again what the memory refused (records, then log slots, oldest first).

        Returns True once nothing is unsaved; stops at the first write that fails again.
        """
        for record_id, payload in list(self._unsaved.items()):
            if not self.save(record_id, payload):
                return False
        for key, record in sorted(self._unsaved_logs.items(), key=lambda item: item[1].seq):
            if not self._write(self.layout.slot_offset(key[0], record.seq), record.pack()):
                return False
            del self._unsaved_logs[key]
        return True

    def _read_bank(self, record_id: RecordId, bank: int) -> tuple[str, int, bytes]:
        """('erased'|'corrupt'|'valid', seq, payload) of one bank."""
        offset = self.layout.bank_offsets[record_id][bank]
        header = self._nvm.read(offset, HEADER_SIZE)
        if _is_blank(header):
            return "erased", 0, b""
        magic, rid, version, seq, length, check = _HEADER.unpack(header)
        if (
            magic != MAGIC
            or rid != record_id
            or version != LAYOUT_VERSION
            or length > BANK_SIZES[record_id] - HEADER_SIZE
        ):
            return "corrupt", 0, b""
        payload = self._nvm.read(offset + HEADER_SIZE, length)
        if crc32c(header[:12] + payload) != check:
            return "corrupt", 0, b""
        return "valid", seq, payload

    def load(self, record_id: RecordId) -> LoadedRecord:
        """The newest valid copy of a record, and what was found in the banks."""
        if not self.usable:
            return LoadedRecord(RecordStatus.CORRUPT, b"", -1, False)
        banks = [self._read_bank(record_id, bank) for bank in (0, 1)]
        valid = [(seq, bank) for bank, (kind, seq, _) in enumerate(banks) if kind == "valid"]
        if not valid:
            erased = all(kind == "erased" for kind, _, _ in banks)
            self._seq[record_id], self._active[record_id] = 0, -1
            status = RecordStatus.ERASED if erased else RecordStatus.CORRUPT
            return LoadedRecord(status, b"", -1, False)
        seq, bank = max(valid)
        self._seq[record_id], self._active[record_id] = seq, bank
        other_corrupt = banks[1 - bank][0] == "corrupt"
        return LoadedRecord(RecordStatus.VALID, banks[bank][2], bank, other_corrupt)

    def save(self, record_id: RecordId, payload: bytes) -> bool:
        """Write the inactive bank in one call; it becomes current by being complete.

        Returns False (and keeps the payload as unsaved) when the memory refused the write."""
        if len(payload) > BANK_SIZES[record_id] - HEADER_SIZE:
            raise ValueError(
                f"{record_id.name} record of {len(payload)} bytes does not fit its bank"
            )
        if not self.usable:
            return True
        bank = 0 if self._active[record_id] != 0 else 1
        seq = self._seq[record_id] + 1
        header = _HEADER.pack(MAGIC, record_id, LAYOUT_VERSION, seq, len(payload), 0)[:12]
        check = crc32c(header + payload)
        offset = self.layout.bank_offsets[record_id][bank]
        if not self._write(offset, header + struct.pack(">I", check) + payload):
            self._unsaved[record_id] = payload
            return False
        self._unsaved.pop(record_id, None)
        self._seq[record_id], self._active[record_id] = seq, bank
        return True

    def load_log(self, log_id: LogId) -> list[LogRecord]:
        """Every valid record of a log's slots (unordered)."""
        if not self.usable:
            return []
        base = self.layout.log_offsets[log_id]
        slots = self.layout.slots[log_id]
        data = self._nvm.read(base, slots * LOG_RECORD_SIZE)
        if _is_blank(data):  # an erased log (a new pump): nothing to parse
            return []
        records = []
        for slot in range(slots):
            chunk = data[slot * LOG_RECORD_SIZE : (slot + 1) * LOG_RECORD_SIZE]
            if chunk in _BLANK_SLOTS:  # erased: never a valid record (its check fails)
                continue
            try:
                record = LogRecord.unpack(chunk)
            except ValueError:
                continue
            if record.seq % slots == slot and record.seq > 0:
                records.append(record)
        return records

    def save_log_record(self, log_id: LogId, record: LogRecord, data: bytes | None = None) -> None:
        """Write ``record`` to its slot (``data``: its bytes when the caller has packed them)."""
        if not self.usable:
            return
        layout = self.layout
        slot = record.seq % layout.slots[log_id]
        offset = layout.log_offsets[log_id] + slot * LOG_RECORD_SIZE  # slot_offset
        if self._write(offset, record.pack() if data is None else data):
            if self._unsaved_logs:
                self._unsaved_logs.pop((log_id, slot), None)
        else:  # a newer record for the same slot replaces an older unsaved one
            self._unsaved_logs[log_id, slot] = record
