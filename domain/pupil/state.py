"""What the pupil's decisions see: the state rebuilt from events, and the shared rules.

`PupilState` is the base of the concept mixins (register, plans, EHC, ...). It holds no
library machinery: `Pupil` supplies `_emit`, which triggers the event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from domain.errors import PupilLeftTrust, PupilPurged
from domain.events import (
    EntryCorrected,
    ErasureRequestRefused,
    HistoryImported,
    LeftTrust,
    LegalHoldLifted,
    LegalHoldPlaced,
    PupilEvent,
    PupilRejoined,
    RecordsDisclosed,
    RecordsPurged,
    SafeguardingReferenceImported,
    SubjectAccessExtended,
    SubjectAccessRequested,
)
from domain.pupil.checks import check_happened_on
from domain.values import (
    AgencyKind,
    AgreementKind,
    NeedType,
    PlanKind,
    Recorder,
    RegisterStatus,
    SubFlag,
    year_group_on,
)

# Applies one stored event to the state; the state and event types vary by concept.
Mutator = Callable[[Any, Any], None]
Mutators = dict[type[Any], Mutator]

# Once a pupil has left, the record is kept, corrected, held, disclosed and purged; no new
# provision is recorded against it.
AFTER_LEAVING: frozenset[type[PupilEvent]] = frozenset(
    {
        EntryCorrected,
        LeftTrust,
        PupilRejoined,
        LegalHoldPlaced,
        LegalHoldLifted,
        RecordsDisclosed,
        SubjectAccessRequested,
        ErasureRequestRefused,
        SubjectAccessExtended,
        RecordsPurged,
        # The history a trust brings in for a pupil who has since left is still their record.
        HistoryImported,
        SafeguardingReferenceImported,
    }
)


@dataclass(frozen=True)
class PlanState:
    kind: PlanKind
    agreed_on: date
    targets: tuple[str, ...]
    review_on: date
    closed_on: date | None = None


@dataclass(frozen=True)
class Agreement:
    signed_on: date
    valid_until: date | None

    def in_force_on(self, day: date) -> bool:
        return self.signed_on <= day and (self.valid_until is None or day <= self.valid_until)


@dataclass(frozen=True)
class AnnualReview:
    """The annual review in progress: scheduled, or held and awaiting its report."""

    scheduled_on: date
    meeting_on: date
    held_on: date | None = None


@dataclass(frozen=True)
class EhcState:
    requested_on: date | None = None  # the latest EHC needs assessment request
    issued_on: date | None = None  # the EHC plan in force, if any
    ceased_on: date | None = None  # when the last plan ceased
    review: AnnualReview | None = None
    # The LA's decisions on the latest request: whether to assess, then whether to issue.
    assessment_decision: str | None = None
    issue_decision: str | None = None
    draft_on: date | None = None  # the draft plan of the latest request, when received
    last_review_held_on: date | None = None  # the latest annual review meeting held
    review_decided: bool = False  # the LA decided after that meeting
    # When the last EHC needs assessment ended: the LA's decision whether to issue (its
    # letter), or the plan issued after it; what a re-assessment interval counts from.
    assessment_ended_on: date | None = None


@dataclass(frozen=True)
class Departure:
    left_on: date
    destination: str


class PupilState:
    """The pupil's state, rebuilt only by the mutators, and the checks every entry passes."""

    pupil_id: UUID
    upn: str
    legal_given_names: str
    legal_family_name: str
    preferred_name: str | None
    date_of_birth: date
    academy: str
    year_group: int  # at registration
    registered_on: date
    # The year group set after registration (re-joining, a change of year group) and from
    # when; None while the registration's holds.
    year_group_set: tuple[int, date] | None
    purged: bool
    status: RegisterStatus
    status_since: date | None  # when the latest register status change happened
    sub_flags: tuple[SubFlag, ...]
    needs: dict[NeedType, bool]  # need -> primary?
    kinds: list[str]  # event type by sequence number - 1
    plans: dict[UUID, PlanState]
    agencies: dict[AgencyKind, date]  # first involvement of each kind
    agreements: dict[AgreementKind, Agreement]  # the latest of each kind
    ehc: EhcState
    left: Departure | None
    holds: dict[UUID, date]  # legal holds in force, by id: when placed
    imported: set[tuple[str, str]]  # (source, source id) of each entry imported
    # Subject access requests by entry: the response's due date, and whether extended.
    subject_access: dict[int, tuple[date, bool]]
    key_worker: str | None  # the named key worker's staff id, if one was named

    def _init_state(self) -> None:
        self.purged = False
        self.status = RegisterStatus.NONE
        self.status_since = None
        self.sub_flags = ()
        self.needs = {}
        self.kinds = []
        self.plans = {}
        self.agencies = {}
        self.agreements = {}
        self.ehc = EhcState()
        self.left = None
        self.holds = {}
        self.imported = set()
        self.subject_access = {}
        self.key_worker = None
        self.year_group_set = None

    # ----- queries ----------------------------------------------------------------------

    def year_group_on(self, day: date) -> int:
        """The pupil's year group on `day`: the latest set, moved up each September."""
        year, since = self.year_group_set or (self.year_group, self.registered_on)
        return year_group_on(year, since, day)

    @property
    def primary_need(self) -> NeedType | None:
        return next((need for need, primary in self.needs.items() if primary), None)

    @property
    def ehc_plan_in_force(self) -> bool:
        return self.ehc.issued_on is not None

    def agency_involved_by(self, day: date) -> bool:
        """Whether any outside professional was involved on or before `day`."""
        return any(first <= day for first in self.agencies.values())

    def agreed(self, kind: AgreementKind, day: date) -> bool:
        """Whether parents' agreement of this kind was signed and in force on `day`."""
        agreement = self.agreements.get(kind)
        return agreement is not None and agreement.in_force_on(day)

    # ----- shared decision steps --------------------------------------------------------

    def _open_entry(
        self, event_class: type[PupilEvent], happened_on: date, recorded_at: datetime | None
    ) -> datetime:
        """Refuse any entry on a closed record or with an impossible date; the entry's
        recording time."""
        if self.purged:
            raise PupilPurged(self.pupil_id)
        if self.left is not None and event_class not in AFTER_LEAVING:
            raise PupilLeftTrust(
                f"the pupil left the trust on {self.left.left_on} ({self.left.destination}): "
                f"a {event_class.__name__} cannot be added; corrections, legal holds, "
                "disclosures and the purge still can"
            )
        at = recorded_at or event_class.create_timestamp()
        check_happened_on(happened_on, at, self.date_of_birth)
        return at

    def _emit(
        self,
        event_class: type[PupilEvent],
        at: datetime,
        recorded_by: Recorder,
        happened_on: date,
        **fields: Any,
    ) -> None:
        raise NotImplementedError  # supplied by Pupil, which owns the library's machinery
