"""Two processes' group commits appending access records to the same pupils' streams at
once (as two server workers do under a register page load): every record lands once, each
stream stays gapless and no reader is refused; and on PostgreSQL an append that lost a
race never loses twice: its retry holds the events table's insert lock from before it reads
the heads, so another process's append waits for it. Two `PupilRecords` on separate
engines stand for the two processes; the in-process stream locks are lifted so that only
the database arbitrates, as between processes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from api.app import access
from api.app.access import GroupCommit, access_records, record_views
from domain.access import access_stream_id
from domain.values import Recorder, Role
from tests.conftest import OpenRecords, Store
from tests.factories import a_pupil

PAGES, PUPILS = 30, 10


@contextmanager
def _unlocked(streams: Any) -> Iterator[None]:
    yield


def test_two_processes_appending_to_the_same_streams(
    open_records: OpenRecords, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(access, "_appending_to", _unlocked)
    one, other = open_records(), open_records()
    pupils = [a_pupil(f"P{n}", concerns=0) for n in range(PUPILS)]
    one.save(*pupils)
    ids = [p.id for p in pupils]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def reader(n: int, records: Any) -> None:
        commits = GroupCommit(records)
        start.wait()
        try:
            for page in range(PAGES):
                commits.record(ids, Recorder(f"w{n}-{page}", Role.SENDCO), "register", None)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=reader, args=(n, r)) for n, r in enumerate((one, other))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for pupil_id in ids:
        stored = one.stored_events(access_stream_id(pupil_id))
        assert [e.originator_version for e in stored] == list(range(1, 2 + 2 * PAGES))
        who = sorted(r["recorded_by"]["staff_id"] for r in access_records(one, pupil_id))
        assert who == sorted(f"w{n}-{page}" for n in (0, 1) for page in range(PAGES))


def test_a_retry_after_a_lost_race_cannot_lose_again(
    open_records: OpenRecords, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(access, "_appending_to", _unlocked)
    one, other = open_records(), open_records()
    pupil = a_pupil(concerns=0)
    one.save(pupil)
    commits = GroupCommit(one)
    commits.record([pupil.id], Recorder("a-0", Role.SENDCO), "record", None)
    record_views(other, [pupil.id], Recorder("b-0", Role.SENDCO), "record", None)
    # `commits` remembers a head that `other` has moved on: its next append loses once.

    saves: list[int] = []
    save = one.save

    def counted(*objs: Any, **kwargs: Any) -> Any:
        saves.append(len(objs))
        return save(*objs, **kwargs)

    monkeypatch.setattr(one, "save", counted)
    heads = access._heads
    meanwhile: list[threading.Thread] = []
    finished = threading.Event()

    def heads_then_another_append(records: Any, streams: Any) -> Any:
        found = heads(records, streams)
        if records is one and not meanwhile:  # the retry, having read the heads

            def append() -> None:
                record_views(other, [pupil.id], Recorder("b-1", Role.SENDCO), "record", None)
                finished.set()

            meanwhile.append(threading.Thread(target=append))
            meanwhile[0].start()
            finished.wait(0.5)  # on PostgreSQL it waits for our lock instead
        return found

    monkeypatch.setattr(access, "_heads", heads_then_another_append)
    commits.record([pupil.id], Recorder("a-1", Role.SENDCO), "record", None)
    meanwhile[0].join()
    if store.kind == "postgresql":
        assert len(saves) == 2  # lost once, then won under the lock
    stored = one.stored_events(access_stream_id(pupil.id))
    assert [e.originator_version for e in stored] == list(range(1, 6))
    who = sorted(r["recorded_by"]["staff_id"] for r in access_records(one, pupil.id))
    assert who == ["a-0", "a-1", "b-0", "b-1"]
