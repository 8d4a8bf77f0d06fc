"""The pupil's events: immutable, past-tense facts, each with who recorded it and both dates.

Every event carries `recorded_by` (staff id and role), `happened_on` (when it happened,
often earlier: back-dated entries are normal in schools) and the library's `timestamp`
(when it was recorded; `recorded_at` in the export payload).
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from eventsourcing.domain import AggregateCreated, AggregateEvent

from domain.payload import from_payload, to_payload
from domain.values import AreaOfNeed, ConcernSource, NeedType, Recorder, RegisterStatus, SubFlag


class PupilEvent(AggregateEvent):
    """Base of every event on a pupil's record after registration."""

    recorded_by: Recorder
    happened_on: date

    # Events whose payload holds no personal data and must stay readable after a purge.
    stored_in_clear: ClassVar[bool] = False

    def apply(self, aggregate: Any) -> None:
        aggregate.when(self)

    def payload(self) -> dict[str, Any]:
        return to_payload(self)

    @classmethod
    def fields_from_payload(cls, payload: dict[str, Any]) -> dict[str, Any]:
        return from_payload(cls, payload)


class PupilRegistered(AggregateCreated):
    """A pupil's SEND record was opened at an academy of the trust."""

    recorded_by: Recorder
    happened_on: date
    upn: str
    legal_given_names: str
    legal_family_name: str
    preferred_name: str | None
    date_of_birth: date
    academy: str
    year_group: int

    stored_in_clear: ClassVar[bool] = False
    # The aggregate class's topic; not part of the payload, restored when events are read.
    originator_topic_for_payload: ClassVar[str] = "domain.pupil:Pupil"

    def apply(self, aggregate: Any) -> None:
        aggregate.when(self)

    def payload(self) -> dict[str, Any]:
        return to_payload(self)

    @classmethod
    def fields_from_payload(cls, payload: dict[str, Any]) -> dict[str, Any]:
        return from_payload(cls, payload)


class ConcernRaised(PupilEvent):
    """A concern was logged: the start of every chronology."""

    source: ConcernSource
    area_of_need: AreaOfNeed | None
    description: str
    evidence: str


class RegisterStatusChanged(PupilEvent):
    """The pupil moved on the graduated response (none, monitoring, K, E), with sub-flags."""

    status: RegisterStatus
    sub_flags: tuple[SubFlag, ...]
    reason: str
    decision_maker: str
    parents_informed_on: date | None


class NeedRecorded(PupilEvent):
    """An area of need was identified, with its census type code, primary or secondary."""

    need: NeedType
    primary: bool
    notes: str


class NeedWithdrawn(PupilEvent):
    """A previously recorded need no longer applies."""

    need: NeedType
    reason: str


class EntryCorrected(PupilEvent):
    """An earlier entry was wrong; it stays, and this entry says what and why."""

    corrects_seq: int
    what_was_wrong: str
    correction: str
    reason: str


class RecordsPurged(PupilEvent):
    """Tombstone: the pupil's records were destroyed at the end of retention.

    Carries no personal data and is stored in the clear, so the purge stays visible after
    the pupil's key is gone.
    """

    proposed_by: str
    approved_by: str
    reason: str

    stored_in_clear: ClassVar[bool] = True


EVENT_TYPES: tuple[type[Any], ...] = (
    PupilRegistered,
    ConcernRaised,
    RegisterStatusChanged,
    NeedRecorded,
    NeedWithdrawn,
    EntryCorrected,
    RecordsPurged,
)
