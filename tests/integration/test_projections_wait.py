"""A read waits only for the projections it reads (`ProjectionRunner.wait_for`): without the
access log, the other read models catch up to the write and the access records are left
unread for the background follower; with it, everything. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from api.app.access import record_views
from api.application import PupilRecords
from domain.values import Recorder, Role
from projections.access_log import AccessLogIndex
from projections.catalogue import build_projections
from projections.chronology import chronology
from projections.runner import ACCESS_LOG, ProjectionRunner
from tests.conftest import count_decryptions
from tests.factories import a_pupil, add_concern

READER = Recorder("OAK-sendco-1", Role.SENDCO)


def _positions(runner: ProjectionRunner, records: PupilRecords) -> dict[str, int]:
    with records.datastore.transaction(commit=False) as session:
        return runner._positions(session, runner.projections)


def test_a_read_that_does_not_read_the_access_log_does_not_wait_for_it(
    records: PupilRecords, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert AccessLogIndex.name == ACCESS_LOG
    runner = ProjectionRunner(records, build_projections(records.policy))
    pupil = a_pupil(concerns=1)
    records.save(pupil)
    runner.catch_up()
    for n in range(30):
        record_views(records, [pupil.id], READER, "chronology", f"reading {n}")
    loaded = records.get_pupil(pupil.id)
    add_concern(loaded, "Written after the reads: the next read must show it")
    records.save(loaded)
    written = records.written_to

    decrypted = count_decryptions(records, monkeypatch)

    def viewed() -> int:
        return sum(e.topic.endswith(":RecordsViewed") for e in decrypted)

    runner.wait_for(written, access=False)
    assert len(chronology(records, pupil.id)) == 3  # registered and two concerns
    assert viewed() == 0  # none of the 30 access records read
    positions = _positions(runner, records)
    assert (
        positions[ACCESS_LOG] < written <= min(v for k, v in positions.items() if k != ACCESS_LOG)
    )
    runner.wait_for(written, access=False)  # known caught up: nothing more is read
    assert viewed() == 0

    runner.wait_for(records.viewed_to)  # the access log too
    assert min(_positions(runner, records).values()) >= written
    assert viewed() == 30
