"""Recording reads in the pupils' access streams, and listing them for DSLs and DPOs.

The stream's key alias is committed before the stream's first event (DESIGN: a key is
durable no later than the first event it seals). It cannot share that event's transaction:
the key store resolves a stream's key on its own connection, which would not see an alias
inserted in an open transaction. An alias without events is harmless: the next read opens
the log. An append needs only the stream's head version (`AccessLog.at_head`; the heads of
a page of pupils in one query), never its earlier records, so its cost does not grow with
the number of reads. Readers in this process append to a stream one at a time (striped
locks); readers in two processes appending at once conflict on the stream's version, and
the loser waits a short random time, reads the head again and appends again.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
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


@contextmanager
def _appending_to(streams: Sequence[UUID]) -> Iterator[None]:
    """Hold the stripes of `streams`, taken in one global order (no deadlock)."""
    stripes = sorted({stream.int % len(_STRIPES) for stream in streams})
    with ExitStack() as held:
        for stripe in stripes:
            held.enter_context(_STRIPES[stripe])
        yield


def record_views(
    records: PupilRecords,
    pupil_ids: Sequence[UUID],
    viewer: Recorder,
    what: str,
    purpose: str | None,
) -> None:
    """Append one `RecordsViewed` to each pupil's access stream, in one transaction."""
    if not pupil_ids:
        return
    streams = [access_stream_id(p) for p in pupil_ids]
    for attempt in range(_ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, min(_BACKOFF_CAP, _BACKOFF * 2**attempt)))
        with _appending_to(streams):
            now = records.clock()
            heads = _heads(records, streams)
            logs = []
            for pupil_id, stream in zip(pupil_ids, streams, strict=True):
                log = _access_log(records, pupil_id, heads.get(stream), viewer)
                log.viewed(what=what, purpose=purpose, recorded_by=viewer, at=now)
                logs.append(log)
            try:
                records.save(*logs)
                return
            # save() reports a lost race of non-pupil aggregates as StopIteration (it looks
            # for a pupil to name in ConflictingUpdate).
            except (IntegrityError, ConflictingUpdate, StopIteration):
                continue
    raise busy(
        "access_log_busy",
        "the read could not be recorded in the access log (too many readers at once); "
        "nothing was shown: try again",
    )


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
