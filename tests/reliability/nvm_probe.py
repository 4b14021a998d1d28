"""Read a pump's NVM image file from outside, as a bench engineer with a memory reader would.

Why: after the pump process is killed, what the NVM holds is the only truth about what was
persisted.  The power-loss campaign decodes the image with the firmware's own record layout
before restarting the pump, so it can check the restarted pump against what was on the chip.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from firmware.nvm_layout import NvmLayout, NvmStore, RecordId, RecordStatus
from firmware.persistence import Counters, Settings
from hw_sim.hardware.nvm_file import MemoryNvm
from hw_sim.profiles.loader import load_profile
from protocol import LogId


@dataclass(frozen=True)
class NvmSnapshot:
    statuses: dict[RecordId, RecordStatus]
    torn_banks: int  # records whose unused bank fails its check (recoverable)
    config: Settings | None
    counters: Counters | None
    log_tops: dict[LogId, int]  # highest sequence number stored per log (0: none)
    logs: dict[LogId, dict[int, tuple[int, int, int, int]]]  # seq -> (time, event, a, b)

    @property
    def corrupt(self) -> list[str]:
        return [r.name for r, s in self.statuses.items() if s is RecordStatus.CORRUPT]


def read_nvm(path: Path, profile: str = "vp20") -> NvmSnapshot:
    loaded = load_profile(profile)
    image = path.read_bytes()
    store = NvmStore(
        MemoryNvm(len(image), image),
        NvmLayout(loaded.device.log_capacity, loaded.device.daily_log_capacity),
    )
    statuses: dict[RecordId, RecordStatus] = {}
    torn = 0
    payloads: dict[RecordId, bytes] = {}
    for record_id in RecordId:
        record = store.load(record_id)
        statuses[record_id] = record.status
        torn += int(record.other_bank_corrupt)
        if record.status is RecordStatus.VALID:
            payloads[record_id] = record.payload
    config = Settings.decode(payloads[RecordId.CONFIG]) if RecordId.CONFIG in payloads else None
    counters = (
        Counters.decode(payloads[RecordId.COUNTERS]) if RecordId.COUNTERS in payloads else None
    )
    tops: dict[LogId, int] = {}
    logs: dict[LogId, dict[int, tuple[int, int, int, int]]] = {}
    for log_id in LogId:
        records = store.load_log(log_id)
        tops[log_id] = max((r.seq for r in records), default=0)
        logs[log_id] = {r.seq: (r.time, r.event, r.a, r.b) for r in records}
    return NvmSnapshot(statuses, torn, config, counters, tops, logs)
