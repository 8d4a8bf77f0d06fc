"""A new pupil's data key is written with its events: same transaction, no extra round trip
on PostgreSQL, and still written (never lost) if the recorder's hook did not run."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy.event
from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder
from sqlalchemy import func, select

from api.application import PupilRecords
from crypto.datakeys import data_keys
from crypto.errors import KeyEncryptionKeyError
from tests.conftest import OpenRecords
from tests.factories import a_pupil


def _statements(records: PupilRecords) -> list[str]:
    seen: list[str] = []

    def log(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    sqlalchemy.event.listen(records.datastore.engine, "before_cursor_execute", log)
    return seen


def _key_rows(records: PupilRecords) -> int:
    with records.datastore.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(data_keys)).scalar_one())


def test_key_shares_the_round_trip_of_the_save(records: PupilRecords) -> None:
    seen = _statements(records)
    pupil = a_pupil()
    records.save(pupil)
    keyed = [s for s in seen if "chronicle_data_keys" in s]
    assert len(keyed) == 1
    if records.datastore.engine.dialect.name == "postgresql":
        # Lock, events, NOTIFY + key: as many round trips as the library's own save.
        assert keyed[0].startswith("NOTIFY ")
        assert len(seen) == 3
    assert _key_rows(records) == 1
    assert records.get_pupil(pupil.id).version == pupil.version


def test_key_is_written_even_if_the_recorder_hook_does_not_run(
    records: PupilRecords,
) -> None:
    records.recorder.__class__ = SQLAlchemyApplicationRecorder  # as if the hook vanished
    pupil = a_pupil()
    records.save(pupil)
    assert _key_rows(records) == 1
    records.data_keys.forget(pupil.id)
    assert records.get_pupil(pupil.id).version == pupil.version


def test_a_failed_key_write_saves_nothing(
    records: PupilRecords, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: Any, **__: Any) -> None:
        raise KeyEncryptionKeyError("no key-encryption key in force")

    monkeypatch.setattr(records.data_keys, "store", refuse)
    pupil = a_pupil()
    with pytest.raises(KeyEncryptionKeyError):
        records.save(pupil)
    assert records.stored_events(pupil.id) == []
    assert _key_rows(records) == 0


def test_two_new_pupils_in_one_save(open_records: OpenRecords) -> None:
    records = open_records()
    first, second = a_pupil(), a_pupil()
    records.save(first, second)
    assert _key_rows(records) == 2
    records.data_keys.forget(first.id)
    records.data_keys.forget(second.id)
    assert records.get_pupil(first.id).version == first.version
    assert records.get_pupil(second.id).version == second.version
