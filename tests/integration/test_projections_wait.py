"""A read waits only for the projections it reads (`ProjectionRunner.wait_for` with their
names): those catch up to the write, the others (the access log above all: its records
are left unread) are left for the background follower; with no names, everything. A
projection named whose tables another version made is refused; one not named is not in
the way. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import Column, MetaData, Table, Uuid

from api.app.access import record_views
from api.application import PupilRecords
from domain.values import Recorder, Role
from projections.access_log import AccessLogIndex
from projections.base import Projection
from projections.catalogue import build_projections
from projections.chronology import chronology
from projections.runner import ACCESS_LOG, ProjectionError, ProjectionRunner
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

    content = [p.name for p in runner.projections if p.name != ACCESS_LOG]
    runner.wait_for(written, content)
    assert len(chronology(records, pupil.id)) == 3  # registered and two concerns
    assert viewed() == 0  # none of the 30 access records read
    positions = _positions(runner, records)
    assert (
        positions[ACCESS_LOG] < written <= min(v for k, v in positions.items() if k != ACCESS_LOG)
    )
    runner.wait_for(written, content)  # known caught up: nothing more is read
    assert viewed() == 0

    runner.wait_for(records.viewed_to)  # every projection: the access log too
    assert min(_positions(runner, records).values()) >= written
    assert viewed() == 30


def test_a_read_waits_for_the_projections_it_names_and_no_other(records: PupilRecords) -> None:
    runner = ProjectionRunner(records, build_projections(records.policy))
    pupil = a_pupil(concerns=1)
    records.save(pupil)
    runner.catch_up()
    before = _positions(runner, records)
    loaded = records.get_pupil(pupil.id)
    add_concern(loaded, "Only the chronology is read: only it catches up")
    records.save(loaded)
    written = records.written_to

    runner.wait_for(written, ["chronology"])
    after = _positions(runner, records)
    assert after["chronology"] >= written
    assert {k: v for k, v in after.items() if k != "chronology"} == {
        k: v for k, v in before.items() if k != "chronology"
    }
    assert len(chronology(records, pupil.id)) == 3

    runner.wait_for(written, ["send_register", "deadlines"])  # two more; the rest stay
    after = _positions(runner, records)
    assert min(after["send_register"], after["deadlines"]) >= written
    assert after["safeguarding"] == before["safeguarding"] < written
    with pytest.raises(ProjectionError, match="unknown projection 'registre'"):
        runner.wait_for(written, ["registre"])


def test_a_stale_read_model_refuses_only_the_reads_of_it(records: PupilRecords) -> None:
    old = Table("retention_holds", MetaData(), Column("pupil_id", Uuid, primary_key=True))
    old.create(records.datastore.engine)
    records.save(a_pupil())
    runner = ProjectionRunner(records, build_projections(records.policy))
    runner.wait_for(records.written_to, ["chronology", "send_register"])  # not in the way
    assert _positions(runner, records)["chronology"] >= records.written_to
    for names in (["retention_schedule"], ["send_register", "retention_schedule"], None):
        with pytest.raises(ProjectionError, match="retention_schedule were made by another"):
            runner.wait_for(records.written_to, names)


def test_readers_arriving_together_are_caught_up_by_one(
    records: PupilRecords, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight readers of the chronology after one write: one catches up (one pass over the
    log), the others wait for it and find the position reached with no query of their own."""
    runner = ProjectionRunner(records, build_projections(records.policy))
    records.save(a_pupil(concerns=2))
    written = records.written_to
    follows: list[list[str]] = []
    follow = runner._follow
    first_in = threading.Event()

    def counting(projections: list[Projection], *args: Any) -> int:
        follows.append([p.name for p in projections])
        first_in.set()
        time.sleep(0.2)  # the others arrive while this one catches up
        return follow(projections, *args)

    monkeypatch.setattr(runner, "_follow", counting)
    readers = [
        threading.Thread(target=runner.wait_for, args=(written, ["chronology"])) for _ in range(8)
    ]
    readers[0].start()
    first_in.wait(5)
    for reader in readers[1:]:
        reader.start()
    for reader in readers:
        reader.join()
    assert follows == [["chronology"]]
