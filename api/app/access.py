"""Recording reads in the pupils' access streams, and listing them for DSLs and DPOs.

The stream's key alias is committed before the stream's first event (DESIGN: a key is
durable no later than the first event it seals). It cannot share that event's transaction:
the key store resolves a stream's key on its own connection, which would not see an alias
inserted in an open transaction. An alias without events is harmless: the next read opens
the log. An append needs only the stream's head version (`AccessLog.at_head`; the heads of
a page of pupils in one query), never its earlier records, so its cost does not grow with
the number of reads. Readers arriving together share one transaction (`GroupCommit`: one
commit per batch, each reader answered once its own record is durable). Readers in this
process append to a stream one at a time (striped locks); readers in two processes
appending at once conflict on the stream's version, and the loser waits a short random
time, reads the heads again and appends again (on PostgreSQL holding the events table's
insert lock from before it reads them, so it cannot lose twice).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import sqlalchemy.exc
from eventsourcing.persistence import IntegrityError
from sqlalchemy import func, select

from api.app.errors import busy
from api.application import ConflictingUpdate, PupilRecords
from domain.access import AccessLog, access_stream_id
from domain.values import Recorder

_ATTEMPTS = 16
_BACKOFF = 0.002  # seconds; doubled per lost race, with jitter, capped below
_BACKOFF_CAP = 0.1
# Appends to one access stream from this process queue on a lock instead of racing for
# its next version (striped: a lock per stream would grow with the trust). Only readers in
# other processes can still race; they back off and retry.
_STRIPES = [threading.Lock() for _ in range(256)]
_KNOWN_HEADS = 100_000  # streams whose head a GroupCommit remembers (ids and numbers only)


@contextmanager
def _appending_to(streams: Sequence[UUID]) -> Iterator[None]:
    """Hold the stripes of `streams`, taken in one global order (no deadlock)."""
    stripes = sorted({stream.int % len(_STRIPES) for stream in streams})
    with ExitStack() as held:
        for stripe in stripes:
            held.enter_context(_STRIPES[stripe])
        yield


@dataclass
class _Views:
    """One reader's access records (a pupil or a page of pupils), waiting to commit."""

    pupil_ids: Sequence[UUID]
    viewer: Recorder
    what: str
    purpose: str | None
    done: bool = False
    error: BaseException | None = None


class GroupCommit:
    """Commits the access records of readers arriving together in one transaction.

    A reader queues its records and waits; whoever finds no commit under way commits
    everything queued (its own and the others') as one transaction, and wakes them. Each
    reader still returns only once its records are durable (no record, no content), and an
    error reaches every reader of the failed batch. On a busy server this turns one commit
    (one fsync on SQLite) per read into one per batch; an idle server commits each read at
    once, with no wait. A stream read twice in a batch gets both records, in the order
    the readers queued them.
    """

    MAX_BATCH = 256  # readers per transaction

    def __init__(self, records: PupilRecords) -> None:
        self._records = records
        # Each stream's head version after this process's last append to it: the next
        # append needs no query. Another process appending meanwhile makes the save
        # conflict, and the retry reads the heads from the store.
        self._heads: dict[UUID, int] = {}
        self._queue: list[_Views] = []
        self._committing = False
        self._changed = threading.Condition()

    def record(
        self, pupil_ids: Sequence[UUID], viewer: Recorder, what: str, purpose: str | None
    ) -> None:
        mine = _Views(list(pupil_ids), viewer, what, purpose)
        with self._changed:
            self._queue.append(mine)
            while not mine.done and self._committing:
                self._changed.wait()
            if mine.done:
                return self._outcome(mine)
            self._committing = True
            batch, self._queue = self._queue[: self.MAX_BATCH], self._queue[self.MAX_BATCH :]
        error: BaseException | None = None
        try:
            _commit(self._records, batch, self._heads)
        except BaseException as e:  # every reader of the batch is told
            error = e
        with self._changed:
            for views in batch:
                views.done, views.error = True, error
            self._committing = False
            self._changed.notify_all()
        return self._outcome(mine)

    @staticmethod
    def _outcome(views: _Views) -> None:
        if views.error is not None:
            raise views.error


def record_views(
    records: PupilRecords,
    pupil_ids: Sequence[UUID],
    viewer: Recorder,
    what: str,
    purpose: str | None,
) -> None:
    """Append one `RecordsViewed` to each pupil's access stream, in one transaction."""
    if pupil_ids:
        _commit(records, [_Views(pupil_ids, viewer, what, purpose)])


def _commit(
    records: PupilRecords, batch: Sequence[_Views], known: dict[UUID, int] | None = None
) -> None:
    """Every record of `batch` in one transaction, retried on a lost race with another
    process (the heads are read again). `known` holds heads from earlier appends (used on
    the first attempt, kept up to date; bounded)."""
    streams = list(dict.fromkeys(access_stream_id(p) for v in batch for p in v.pupil_ids))
    if not streams:
        return
    for attempt in range(_ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, min(_BACKOFF_CAP, _BACKOFF * 2**attempt)))
        with _appending_to(streams), _held_log(records, attempt):
            now = records.clock()
            cached = (
                {}
                if known is None or attempt
                else {stream: known[stream] for stream in streams if stream in known}
            )
            unknown = [stream for stream in streams if stream not in cached]
            heads = cached | (_heads(records, unknown) if unknown else {})
            logs: dict[UUID, AccessLog] = {}
            for views in batch:
                for pupil_id in views.pupil_ids:
                    stream = access_stream_id(pupil_id)
                    if stream not in logs:
                        logs[stream] = _access_log(
                            records, pupil_id, heads.get(stream), views.viewer
                        )
                    logs[stream].viewed(
                        what=views.what,
                        purpose=views.purpose,
                        recorded_by=views.viewer,
                        at=now,
                    )
            try:
                records.save(*logs.values())
            # save() reports a lost race of non-pupil aggregates as StopIteration (it looks
            # for a pupil to name in ConflictingUpdate).
            except (IntegrityError, ConflictingUpdate, StopIteration):
                if known is not None:
                    for stream in streams:
                        known.pop(stream, None)
                continue
            if known is not None:
                if len(known) > _KNOWN_HEADS:
                    known.clear()
                known.update({stream: log.version for stream, log in logs.items()})
            return
    raise busy(
        "access_log_busy",
        "the read could not be recorded in the access log (too many readers at once); "
        "nothing was shown: try again",
    )


@contextmanager
def _held_log(records: PupilRecords, attempt: int) -> Iterator[None]:
    """After a lost race on PostgreSQL, one transaction around reading the heads and
    appending, holding the lock every insert into the events table takes (the library's,
    for gapless notification ids) from before the heads are read: no other process can
    append in between, so this attempt cannot lose again. Two server processes whose
    batches overlap (register pages of the same pupils) otherwise kept losing to each other
    until the attempts ran out (503 access_log_busy). The first attempt takes no lock: with
    the heads this process remembers it usually wins, and holds the lock only to insert."""
    engine = records.datastore.engine
    if not attempt or engine is None or engine.dialect.name != "postgresql":
        yield
        return
    with records.datastore.transaction(commit=True) as session:
        records.recorder._lock_table(session)  # type: ignore[attr-defined]
        yield


def _heads(records: PupilRecords, streams: Sequence[UUID]) -> dict[UUID, int]:
    """The head version of each of `streams` that has events, in one query (a register
    page reads fifty pupils: fifty round trips otherwise)."""
    events = records.recorder.events_record_cls.__table__  # type: ignore[attr-defined]
    e = events.c
    with records.datastore.transaction(commit=False) as session:
        rows = session.execute(
            select(e.originator_id, func.max(e.originator_version))
            .where(e.originator_id.in_(list(streams)))
            .group_by(e.originator_id)
        ).tuples()
        return {stream: int(version) for stream, version in rows}


def _access_log(
    records: PupilRecords, pupil_id: UUID, head: int | None, viewer: Recorder
) -> AccessLog:
    if head is not None:
        return AccessLog.at_head(pupil_id, head, records.clock())
    _ensure_alias(records, access_stream_id(pupil_id), pupil_id)
    return AccessLog.open(pupil_id, viewer, records.clock())


def _ensure_alias(records: PupilRecords, stream: UUID, pupil_id: UUID) -> None:
    if records.data_keys.has_alias(stream):
        return
    try:
        with records.datastore.transaction(True) as session:
            records.data_keys.add_alias(stream, pupil_id, session)
    except (sqlalchemy.exc.IntegrityError, IntegrityError):
        pass  # another reader added it first


def access_records(records: PupilRecords, pupil_id: UUID) -> list[dict[str, Any]]:
    """Every read of the pupil's records, oldest first, as payloads with their seq."""
    stream = access_stream_id(pupil_id)
    found = []
    for stored in records.recorder.select_events(stream):
        if not stored.topic.endswith(":RecordsViewed"):
            continue
        payload = json.loads(records.sealing_mapper.committed(stored).payload)
        found.append({"seq": stored.originator_version, **payload})
    return found
