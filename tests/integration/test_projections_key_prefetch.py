"""`DataKeyStore.prefetch`, which the projection runner calls once per batch: the keys of
many pupils (and of their access streams) with one query, so that decrypting needs no
round trip per pupil; shredded, unknown and already cached keys behave as before."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import event

from api.app.access import record_views
from api.application import PupilRecords
from crypto.errors import KeyShredded, UnknownPupilKey
from domain.access import access_stream_id
from domain.values import Recorder, Role
from projections.catalogue import build_projections
from projections.runner import ProjectionRunner
from tests.conftest import OpenRecords
from tests.factories import a_pupil


@pytest.fixture
def key_queries(open_records: OpenRecords) -> Iterator[tuple[PupilRecords, list[str]]]:
    """A freshly opened application (nothing cached, as in a new process) and the queries
    it sends to the data-key table."""
    records = open_records()
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "chronicle_data_keys" in statement and statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    engine = records.datastore.engine
    event.listen(engine, "before_cursor_execute", record)
    yield records, seen
    event.remove(engine, "before_cursor_execute", record)


def test_prefetch_unwraps_many_keys_with_one_query_and_cipher_uses_them(
    open_records: OpenRecords, key_queries: tuple[PupilRecords, list[str]]
) -> None:
    reader, seen = key_queries
    writer = open_records()  # the same KEK ring, its own key cache
    pupils = [a_pupil(f"P{n}", concerns=1) for n in range(30)]
    writer.save(*pupils)
    writer.clock = lambda: datetime(2025, 3, 3, 12, tzinfo=UTC)
    dsl = Recorder("OAK-dsl-1", Role.DSL)
    record_views(writer, [p.id for p in pupils[:3]], dsl, "record", None)
    gone = pupils[-1]
    writer.shred(gone.id)
    keys = reader.data_keys
    seen.clear()
    streams = [p.id for p in pupils] + [access_stream_id(p.id) for p in pupils[:3]]
    keys.prefetch([*streams, uuid4()])
    assert len(seen) == 1
    for p in pupils[:-1]:
        assert keys.cipher(p.id) is keys.cipher(p.id)
    for p in pupils[:3]:  # an access stream is sealed under its pupil's key
        assert keys.cipher(access_stream_id(p.id)) is keys.cipher(p.id)
    assert len(seen) == 1  # every live key came from the prefetch
    with pytest.raises(KeyShredded):
        keys.cipher(gone.id)
    with pytest.raises(UnknownPupilKey):
        keys.cipher(UUID(int=7))
    before = len(seen)
    keys.prefetch([p.id for p in pupils[:-1]])  # all cached: no query at all
    assert len(seen) == before


def test_the_runner_looks_keys_up_once_per_batch(
    open_records: OpenRecords, key_queries: tuple[PupilRecords, list[str]]
) -> None:
    reader, seen = key_queries
    writer = open_records()
    writer.save(*[a_pupil(f"P{n}", concerns=3) for n in range(40)])
    seen.clear()
    applied = ProjectionRunner(reader, build_projections(reader.policy)).catch_up(batch=50)
    assert applied == 40 * 4
    assert 1 <= len(seen) <= -(-applied // 50)  # one key query per batch, not one per pupil
