"""The access log: who read a pupil's records, what, when and (where required) why.

Each pupil has one access stream, a separate aggregate whose id is derived from the pupil's
(`access_stream_id`), so a read never changes the version a writer of the pupil's record is
working from. Its events are sealed under the pupil's own key (the stream is an alias of the
pupil in the key store), enter the trust-wide log like any other event, and are shredded with
the pupil.

The events carry `recorded_by` and `happened_on` like the pupil's own events, so read models
that index every entry by author and date can take them unchanged.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from typing import Any, ClassVar
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, AggregateCreated, AggregateEvent

from domain.errors import InvalidEntry
from domain.payload import from_payload, to_payload
from domain.values import Recorder

# Fixed for ever: changing it would orphan every access stream already written.
ACCESS_NAMESPACE = UUID("6f1d3c0e-6c1b-5a7e-9a51-2f0f6a3c9b10")


@lru_cache(maxsize=65_536)  # a page of the register asks it three times for 50 pupils
def access_stream_id(pupil_id: UUID) -> UUID:
    """The id of `pupil_id`'s access stream (stable, derived, never the pupil's own id)."""
    return uuid5(ACCESS_NAMESPACE, str(pupil_id))


class AccessLogOpened(AggregateCreated):
    """The pupil's access log was opened, by the first read of the pupil's records."""

    recorded_by: Recorder
    happened_on: date
    pupil_id: UUID

    stored_in_clear: ClassVar[bool] = False
    originator_topic_for_payload: ClassVar[str] = "domain.access:AccessLog"

    def apply(self, aggregate: Any) -> None:
        aggregate.pupil_id = self.pupil_id

    def payload(self) -> dict[str, Any]:
        return to_payload(self)

    @classmethod
    def fields_from_payload(cls, payload: dict[str, Any]) -> dict[str, Any]:
        return from_payload(cls, payload)


class RecordsViewed(AggregateEvent):
    """Someone read part of the pupil's records (`what`), for a stated `purpose` if any."""

    recorded_by: Recorder
    happened_on: date
    what: str
    purpose: str | None

    stored_in_clear: ClassVar[bool] = False

    def apply(self, aggregate: Any) -> None:
        pass  # an access log's state is its id and head version; reads add no state

    def payload(self) -> dict[str, Any]:
        return to_payload(self)

    @classmethod
    def fields_from_payload(cls, payload: dict[str, Any]) -> dict[str, Any]:
        return from_payload(cls, payload)


ACCESS_EVENT_TYPES: tuple[type[Any], ...] = (AccessLogOpened, RecordsViewed)


class AccessLog(Aggregate):
    """One pupil's access log: an append-only list of reads."""

    def __init__(self) -> None:
        # Filled by the created event's apply (the library calls __init__ first).
        self.pupil_id: UUID | None = None

    @classmethod
    def open(cls, pupil_id: UUID, recorded_by: Recorder, at: datetime) -> AccessLog:
        log: AccessLog = cls._create(
            AccessLogOpened,
            id=access_stream_id(pupil_id),
            timestamp=at,
            recorded_by=recorded_by,
            happened_on=at.date(),
            pupil_id=pupil_id,
        )
        return log

    @classmethod
    def at_head(cls, pupil_id: UUID, version: int, at: datetime) -> AccessLog:
        """The pupil's existing log, positioned at its head `version`, without replaying it.

        The log is append-only and holds no state but its id (derived from the pupil's) and
        its version, so an append needs only the head version: reading every earlier access
        record (and decrypting it) on each read would make reads slower the more a pupil is
        read, and widen the window in which two readers race for the next version.
        """
        log = object.__new__(cls)
        log.__base_init__(access_stream_id(pupil_id), version, at)
        log.pupil_id = pupil_id
        return log

    def viewed(
        self, *, what: str, purpose: str | None, recorded_by: Recorder, at: datetime
    ) -> None:
        """Record one read; `what` says which part of the record was shown."""
        if not what.strip():
            raise InvalidEntry("an access record must say what was read")
        self.trigger_event(
            RecordsViewed,
            timestamp=at,
            recorded_by=recorded_by,
            happened_on=at.date(),
            what=what,
            purpose=purpose,
        )
