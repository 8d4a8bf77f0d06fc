"""Recording reads in the pupils' access streams, and listing them for DSLs and DPOs.

The stream's key alias is committed before the stream's first event (DESIGN: a key is
durable no later than the first event it seals). It cannot share that event's transaction:
the key store resolves a stream's key on its own connection, which would not see an alias
inserted in an open transaction. An alias without events is harmless: the next read opens
the log. An append needs only the stream's head version (`AccessLog.at_head`), never its
earlier records, so its cost does not grow with the number of reads. Two readers appending
at once conflict on the stream's version; the loser waits a short random time, reads the
head again and appends again.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import sqlalchemy.exc
from eventsourcing.persistence import IntegrityError

from api.application import ConflictingUpdate, PupilRecords
from api.http.errors import ApiError
from domain.access import AccessLog, access_stream_id
from domain.values import Recorder

_ATTEMPTS = 16
_BACKOFF = 0.002  # seconds; doubled per lost race, with jitter, capped below
_BACKOFF_CAP = 0.1


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
    for attempt in range(_ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, min(_BACKOFF_CAP, _BACKOFF * 2**attempt)))
        now = records.clock()
        logs = []
        for pupil_id in pupil_ids:
            log = _access_log(records, pupil_id, viewer)
            log.viewed(what=what, purpose=purpose, recorded_by=viewer, at=now)
            logs.append(log)
        try:
            records.save(*logs)
            return
        # save() reports a lost race of non-pupil aggregates as StopIteration (it looks
        # for a pupil to name in ConflictingUpdate).
        except (IntegrityError, ConflictingUpdate, StopIteration):
            continue
    raise ApiError(
        503,
        "access_log_busy",
        "the read could not be recorded in the access log (too many readers at once); "
        "nothing was shown: try again",
    )


def _access_log(records: PupilRecords, pupil_id: UUID, viewer: Recorder) -> AccessLog:
    stream = access_stream_id(pupil_id)
    head = records.recorder.select_events(stream, desc=True, limit=1)
    if head:
        return AccessLog.at_head(pupil_id, head[0].originator_version, records.clock())
    _ensure_alias(records, stream, pupil_id)
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
