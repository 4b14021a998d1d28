"""Finding 4 of issue 9: an executed bolus reported as not executed.

The attack (or accident): a clinician's programmer is killed as the COMMIT of a bolus is
answered, so the reply is lost and the request stays in the programmer's journal.  Then the
patient's remote sends 32 requests, which evicted the COMMIT from the pump's 32-entry request
cache.  The clinician's next session asked REQUEST_STATUS, got UNKNOWN and printed "the pump has
no record of it; it did not take effect" while the bolus ran - repeating it would double the dose.

The specification now: the pump recalls, per pairing key, the request ids of at least its last
RECALLED_PER_KEY requests even after their outcomes left the cache (another key's traffic cannot
push them out; an entry dropped to fit the NVM blob counts as evicted too), answers EVICTED for
them and refuses to run such an id again (REQUEST_EVICTED).  The programmer reports "unknown,
check the pump" for EVICTED, and for an UNKNOWN it can no longer prove (too many requests sent
since with the key, or another key) - never "did not take effect".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from programmer import therapy
from programmer.client import PumpClient
from programmer.errors import UncertainOutcome
from programmer.journal import PendingRequest
from programmer.keystore import KeyStore
from programmer.transport import Transport
from protocol import DeviceEndpoint, ErrorCode, MsgType, Reply, RequestState, Role
from protocol.request_cache import RECALLED_PER_KEY, CachedOutcome, RequestCache
from tests.protocol.linkpair import LinkPair
from tests.reliability.harness import fill_and_program, open_client, pair, served_pump

CACHE = 32


class _KilledAfter:
    """The programmer's line, cut (the programmer killed) right after ``msg`` was written."""

    def __init__(self, inner: Transport, msg: MsgType) -> None:
        self.inner = inner
        self.msg = msg
        self.dead = False

    def write(self, data: bytes) -> None:
        if self.dead:
            return
        self.inner.write(data)
        from protocol.framing import FrameDecoder

        frames = FrameDecoder().feed(data)
        if frames and frames[0].msg_type == self.msg:
            self.dead = True

    def read(self, timeout_s: float) -> bytes:
        if self.dead:
            return b""
        return bytes(self.inner.read(timeout_s))

    def close(self) -> None:
        self.inner.close()


@pytest.mark.timeout(180)
def test_a_bolus_evicted_by_the_patients_remote_is_never_reported_as_not_executed(
    tmp_path: Path,
) -> None:
    clinic_keys = KeyStore(tmp_path / "clinic" / "keys.json")
    remote_keys = KeyStore(tmp_path / "remote" / "keys.json")
    with served_pump(tmp_path / "pump.nvm") as pump:
        pair(pump, clinic_keys, Role.CLINICIAN)
        pair(pump, remote_keys, Role.PATIENT, authorized_by=clinic_keys)
        with open_client(pump.port, clinic_keys) as clinician:
            fill_and_program(clinician)
            staged = clinician.stage(therapy.single_bolus(50_000, 3600))
            clinician.link.transport = _KilledAfter(
                clinician.link.transport, MsgType.COMMIT_PRESCRIPTION
            )
            with pytest.raises(UncertainOutcome):
                clinician.commit(staged, staged.warnings)
        (lost,) = clinician.journal.entries()
        assert lost.msg is MsgType.COMMIT_PRESCRIPTION
        # the bolus runs: the pump executed the commit whose reply never arrived
        with open_client(pump.port, remote_keys) as remote:
            remote.open_session()
            assert remote.status()["bolus_mode"] != 0
            for _ in range(CACHE + 8):  # the patient's remote: enough to evict the commit
                remote.acknowledge_alarms()
        with open_client(pump.port, clinic_keys) as clinician:
            clinician.open_session()
            (resolved,) = clinician.resolved
            text = resolved.describe()
            assert resolved.executed is not False, text
            assert "did not take effect" not in text
            assert "check" in text
            answer = clinician.request_status(lost.request_id)
            assert answer["state"] == RequestState.EVICTED
        pump.stop()  # the record of evicted ids is in NVM: it survives a restart
        pump.start()
        with open_client(pump.port, clinic_keys) as clinician:
            clinician.open_session()
            assert clinician.request_status(lost.request_id)["state"] == RequestState.EVICTED


# -- the pump's record, in process --------------------------------------------------------------


def _stop(link: LinkPair, rid: int) -> int:
    replies = [e for e in link.request(MsgType.STOP, {"request_id": rid}) if hasattr(e, "status")]
    return int(replies[0].status)


def test_an_evicted_request_id_is_answered_evicted_and_never_run_again() -> None:
    link = LinkPair()
    link.paired_session()
    assert _stop(link, 1) == 0
    for rid in range(100, 100 + CACHE):
        assert _stop(link, rid) == 0
    assert link.device.cache.get(1) is None
    (status,) = [e for e in link.request(MsgType.REQUEST_STATUS, {"request_id": 1})]
    assert isinstance(status, Reply)
    assert status.body["state"] == RequestState.EVICTED
    assert _stop(link, 1) == ErrorCode.REQUEST_EVICTED
    assert len(link.executed) == CACHE + 1  # the evicted id was not executed a second time
    (never,) = [e for e in link.request(MsgType.REQUEST_STATUS, {"request_id": 99})]
    assert isinstance(never, Reply)
    assert never.body["state"] == RequestState.UNKNOWN


def test_another_keys_traffic_cannot_push_a_keys_recent_ids_out() -> None:
    cache = RequestCache()
    cache.put(7, CachedOutcome(0x18, bytes(8), b"\0\0", key_id=0xC1))
    for rid in range(1000, 1000 + 50 * CACHE):  # a remote hammering the pump
        cache.put(rid, CachedOutcome(0x21, bytes(8), b"\0\0", key_id=0xBA))
    assert cache.get(7) is None and cache.evicted(7)
    assert len(cache.evicted_ids(0xBA)) == RECALLED_PER_KEY  # bounded per key


def test_entries_dropped_to_fit_the_nvm_blob_are_evicted_not_forgotten() -> None:
    link = LinkPair()
    link.paired_session()
    for rid in range(1, 30):
        _stop(link, rid)
    link.device.max_state_bytes = 400
    state = link.device.export_state()
    assert len(state) <= 400
    restored = DeviceEndpoint(link.device.info, link.rng.randbytes)
    restored.import_state(state)
    assert restored.cache.get(1) is None and restored.cache.evicted(1)
    assert restored.cache.get(29) is not None


def test_the_programmer_never_concludes_not_executed_from_an_unknown_it_cannot_prove(
    tmp_path: Path,
) -> None:
    """UNKNOWN proves "never received" only for a request sent with the session's key and with
    fewer than RECALLED_PER_KEY requests sent after it."""
    from programmer.journal import Journal

    journal = Journal(tmp_path / "unresolved.json")
    first = journal.record(PendingRequest("S", 1, MsgType.STOP, "stop", "t", key_id=5))
    for rid in range(2, 2 + RECALLED_PER_KEY):
        journal.record(PendingRequest("S", rid, MsgType.STOP, "stop", "t", key_id=5))
    last = journal.get("S", 1 + RECALLED_PER_KEY)
    assert last is not None
    client = PumpClient.__new__(PumpClient)
    client.journal = journal

    class _Session:
        key_id = 5

    class _Endpoint:
        session = _Session()

    client.endpoint = _Endpoint()  # type: ignore[assignment]
    assert journal.sent_after(first) == RECALLED_PER_KEY
    assert not client._never_received(first)  # too old to prove
    assert client._never_received(last)
    _Session.key_id = 6  # paired again since: the old key's record is gone
    assert not client._never_received(last)
    old = PendingRequest("S", 77, MsgType.STOP, "stop", "t")  # journalled before the count
    assert not client._never_received(old)
