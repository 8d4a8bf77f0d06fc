"""A purge interrupted at every step boundary is finished by the next start: the pupil's key
destroyed, the signed purge record in the table and the journal exactly once, nothing
decryptable; or, interrupted before its tombstone, nothing of it happened and it can be
approved again. A crash is injected at each boundary (not timed). On SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.application import PupilRecords
from api.bootstrap import build_ledger
from api.retention import Retention, read_journal, unapplied_purges
from crypto.kek import InMemoryKekRing
from domain.errors import PupilPurged
from domain.values import Recorder, Role
from tests.conftest import OpenRecords, Store
from tests.factories import a_pupil
from tests.integration.test_store_contract import _all_stored_bytes
from tests.sql import raw

STEPS = ("intent", "tombstone", "journal", "record", "key", "read_models")
DPO_A, DPO_B = Recorder("dpo-ada", Role.DPO), Recorder("dpo-bo", Role.DPO)
LATER = datetime(2060, 1, 1, 12, 0, tzinfo=UTC)


class Crash(BaseException):
    """The process dies here (BaseException: no `except Exception` can swallow it)."""


def _retention(
    records: PupilRecords, key: Ed25519PrivateKey, home: Path, crash_at: str | None = None
) -> Retention:
    def step(name: str) -> None:
        if name == crash_at:
            raise Crash(name)

    ledger = build_ledger(records, key, home / "checkpoints.jsonl")
    return Retention(records, ledger, key, home / "purges.jsonl", on_step=step)


@pytest.mark.parametrize("crash_at", STEPS)
def test_a_crash_at_each_step_is_finished_by_the_next_start(
    open_records: OpenRecords, store: Store, tmp_path: Path, crash_at: str
) -> None:
    ring, key = InMemoryKekRing(), Ed25519PrivateKey.generate()
    records = open_records(ring)
    records.clock = lambda: LATER
    pupil = a_pupil("Zanzibarine")  # born 2015: due in 2040, long before LATER
    records.save(pupil)
    wrapped = raw(store, "SELECT wrapped FROM chronicle_data_keys")[0][0]
    first = _retention(records, key, tmp_path, crash_at)
    first.propose(pupil.id, DPO_A)
    with pytest.raises(Crash):
        first.approve(pupil.id, DPO_B)

    # The next start: another process, a new key cache.
    again = open_records(ring)
    again.clock = lambda: LATER
    assert unapplied_purges(again, tmp_path / "purges.jsonl") == []  # start is not refused
    restarted = _retention(again, key, tmp_path)
    done = restarted.resume()
    if crash_at == "intent":
        assert done == [(pupil.id, "not started")]
        assert again.get_pupil(pupil.id).legal_given_names == "Zanzibarine"
        record = restarted.approve(pupil.id, DPO_B)  # the proposal still stands
        assert record.pupil_id == pupil.id
    else:
        assert done == [(pupil.id, "purged")]
    assert restarted.interrupted() == []
    assert restarted.resume() == []  # nothing left to finish
    with pytest.raises(PupilPurged):
        again.get_pupil(pupil.id)
    assert again.data_keys.shredded_at(pupil.id) is not None
    assert [r.pupil_id for r in restarted.purge_records()] == [pupil.id]
    assert [r.pupil_id for r in read_journal(tmp_path / "purges.jsonl")] == [pupil.id]
    assert raw(store, "SELECT wrapped FROM chronicle_data_keys")[0][0] is None
    if store.kind != "postgresql":  # (PostgreSQL: the row's old version is vacuumed)
        assert bytes(wrapped) not in _all_stored_bytes(store)
