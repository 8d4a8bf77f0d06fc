"""A purge interrupted at every step boundary is finished by the next start: the pupil's key
destroyed, the signed purge record in the table and the journal exactly once, nothing
decryptable; or, interrupted before its tombstone, nothing of it happened and it can be
approved again. A crash is injected at each boundary (not timed). On SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.application import PupilRecords
from api.bootstrap import (
    build_ledger,
    init_home,
    open_chronicle,
    open_ledger,
    purge_journal_path,
)
from api.bootstrap import open_records as open_home_records
from api.retention import Retention, read_journal, unapplied_purges
from api.settings import Settings
from crypto.kek import InMemoryKekRing
from crypto.signing import load_signing_key
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


@pytest.mark.parametrize("crash_at", ["tombstone", "journal", "key"])
def test_the_installations_next_start_finishes_it_and_says_so(
    store: Store, tmp_path: Path, crash_at: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Through the composition root, as `chronicle serve` and every verb start: nothing but
    opening the installation is needed, and the operator is told which pupil was finished."""
    settings = Settings(home=tmp_path / "home", database_url=store.url)
    init_home(settings)
    records = open_home_records(settings, clock=lambda: LATER)
    try:
        pupil = a_pupil("Zanzibarine")
        records.save(pupil)
        key = load_signing_key(settings.keys_dir)
        first = Retention(
            records,
            open_ledger(settings, records),
            key,
            purge_journal_path(settings),
            on_step=lambda name: _crash_at(name, crash_at),
        )
        first.propose(pupil.id, DPO_A)
        with pytest.raises(Crash):
            first.approve(pupil.id, DPO_B)
    finally:
        records.close()

    with caplog.at_level(logging.WARNING, logger="chronicle.start"):
        chronicle = open_chronicle(settings, clock=lambda: LATER)
    try:
        said = [r.getMessage() for r in caplog.records if r.name == "chronicle.start"]
        assert said == [
            f"finished the interrupted purge of pupil {pupil.id}: its key is destroyed and "
            "the signed purge record is in the table and the journal"
        ]
    finally:
        chronicle.close()
    assert raw(store, "SELECT wrapped FROM chronicle_data_keys") == [(None,)]
    assert [r.pupil_id for r in read_journal(purge_journal_path(settings))] == [pupil.id]
    # Started again: nothing left to finish, nothing said.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="chronicle.start"):
        open_chronicle(settings, clock=lambda: LATER).close()
    assert not [r for r in caplog.records if r.name == "chronicle.start"]


def _crash_at(name: str, crash_at: str) -> None:
    if name == crash_at:
        raise Crash(name)
