"""The pupil's events: immutable, past-tense facts, each with who recorded it and both dates.

Every event carries `recorded_by` (staff id and role), `happened_on` (when it happened,
often earlier: back-dated entries are normal in schools) and the library's `timestamp`
(when it was recorded; `recorded_at` in the export payload).
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import AggregateCreated, AggregateEvent

from domain.payload import from_payload, to_payload
from domain.values import (
    AgencyKind,
    AgreementKind,
    AreaOfNeed,
    AssessmentDecision,
    AssessmentRequester,
    ConcernSource,
    DisclosurePurpose,
    DslDecision,
    ExamArrangement,
    HistoryKind,
    IssueDecision,
    NeedType,
    Participant,
    PlanKind,
    Provenance,
    Recorder,
    RegisterStatus,
    ReviewRecommendation,
    SmartOutcome,
    SubFlag,
    TargetReview,
    TransitionKind,
)


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


class PlanAgreed(PupilEvent):
    """A plan was agreed (IEP, one-page profile, health care plan, PEEP, ...).

    `plan_id` is how reviews point at it. `la_informed_on` is set only on an interim
    reduced timetable: the day the local authority was told.
    """

    plan_id: UUID
    kind: PlanKind
    outcomes: tuple[SmartOutcome, ...]
    provision: str
    review_on: date
    agreed_by: tuple[Participant, ...]
    la_informed_on: date | None


class PlanReviewed(PupilEvent):
    """A plan was reviewed: an outcome for each target, both voices, the next steps.

    An open plan gets a next review date; a review that closes the plan has none.
    """

    plan_id: UUID
    outcomes: tuple[TargetReview, ...]
    pupil_voice: str
    parent_voice: str
    next_steps: str
    next_review_on: date | None
    closes_plan: bool


class ExternalAgencyInvolved(PupilEvent):
    """A service outside the school became involved (after a referral or at its own hand)."""

    agency: AgencyKind
    service: str
    professional: str | None
    reason: str


class AdviceReceived(PupilEvent):
    """Advice or a report arrived from an outside professional."""

    agency: AgencyKind
    service: str
    professional: str | None
    summary: str
    recommendations: tuple[str, ...]


class EHCNeedsAssessmentRequested(PupilEvent):
    """The local authority was asked for an EHC needs assessment (a re-assessment when an
    EHC plan is already in force)."""

    local_authority: str
    requested_by: AssessmentRequester
    reason: str
    reassessment: bool


class LAInformationRequested(PupilEvent):
    """The local authority asked the school for information for an EHC needs assessment;
    `respond_by` is the trust policy's deadline counted from the request."""

    local_authority: str
    information_requested: str
    respond_by: date


class LAInformationProvided(PupilEvent):
    """The school sent the local authority the information it asked for (`answers_seq`: the
    LAInformationRequested entry answered)."""

    answers_seq: int
    information_sent: str


class EHCAssessmentDecided(PupilEvent):
    """The local authority decided whether to carry out an EHC needs assessment, by its
    letter dated `letter_dated` (the school learned of it on `happened_on`); a decision not
    to assess may be appealed to the tribunal by `appeal_by`."""

    local_authority: str
    decision: AssessmentDecision
    letter_dated: date
    la_reference: str | None
    appeal_by: date | None


class EHCPlanDecided(PupilEvent):
    """After the assessment, the local authority decided whether to issue an EHC plan (its
    letter dated `letter_dated`); a decision not to issue may be appealed by `appeal_by`."""

    local_authority: str
    decision: IssueDecision
    letter_dated: date
    la_reference: str | None
    appeal_by: date | None


class DraftEHCPlanReceived(PupilEvent):
    """The local authority sent the draft EHC plan (dated `letter_dated`); parents have until
    `comments_by` to comment and ask for a setting to be named (`setting_named`, if any)."""

    local_authority: str
    letter_dated: date
    la_reference: str | None
    setting_named: str | None
    comments_by: date


class EHCPlanIssued(PupilEvent):
    """The local authority issued an EHC plan naming the setting; `transferred_from` names
    where an existing plan came from when it was not requested here."""

    local_authority: str
    plan_reference: str
    named_setting: str
    transferred_from: str | None
    first_review_by: date


class AnnualReviewScheduled(PupilEvent):
    """An annual review meeting of the EHC plan was arranged and invitees given notice."""

    meeting_on: date
    invitees: tuple[str, ...]
    notice_given_on: date
    papers_due_by: date


class AnnualReviewPapersCirculated(PupilEvent):
    """The advice and information for the annual review meeting went to every invitee."""

    circulated_to: tuple[str, ...]


class AnnualReviewHeld(PupilEvent):
    """The annual review meeting took place; the report is due by `report_due_by` and the
    next review by `next_review_by`."""

    attendees: tuple[str, ...]
    papers_circulated_on: date | None
    pupil_voice: str
    parent_voice: str
    recommendation: ReviewRecommendation
    report_due_by: date
    next_review_by: date


class AnnualReviewReportSent(PupilEvent):
    """The report of the annual review was sent to the local authority and every invitee."""

    sent_to: tuple[str, ...]
    summary: str


class AnnualReviewDecided(PupilEvent):
    """After an annual review the local authority decided to maintain, amend or cease the EHC
    plan (its letter dated `letter_dated`); an amended plan is due by `amended_plan_by`."""

    local_authority: str
    decision: ReviewRecommendation
    letter_dated: date
    la_reference: str | None
    amended_plan_by: date | None


class EHCPlanAmended(PupilEvent):
    """The local authority amended the EHC plan (after a review or a phase transfer)."""

    local_authority: str
    changes: str
    reason: str
    phase_transfer: bool


class EHCPlanCeased(PupilEvent):
    """The local authority ceased to maintain the EHC plan."""

    local_authority: str
    reason: str


class SafeguardingCrossReferenced(PupilEvent):
    """A brief note points at a safeguarding log in CPOMS; the detail stays in CPOMS.

    `recorded_by` added it; `decided_by` is the DSL whose decision it records.
    """

    cpoms_log_id: str
    note: str
    dsl_decision: DslDecision
    decided_by: str | None


class HistoryImported(PupilEvent):
    """An entry of the pupil's SEND history brought in from another product (a provision
    map, a spreadsheet): what it was (`kind`), its title and text as the source held them,
    dated when it happened there, and where it came from (`imported_from`). It records the
    past; it opens no deadline and changes no register status."""

    kind: HistoryKind
    title: str
    details: str
    imported_from: Provenance


class SafeguardingReferenceImported(PupilEvent):
    """A safeguarding record in another product (a CPOMS incident) brought in as a pointer
    only: its log id, the date, and a brief note Chronicle writes; the detail is never
    imported. Restricted like `SafeguardingCrossReferenced`."""

    cpoms_log_id: str
    note: str
    imported_from: Provenance


class ParentalAgreementSigned(PupilEvent):
    """Parents or carers signed their agreement (to SEN support, outside professionals, a
    reduced timetable, sharing information, disclosing the EHC plan, intimate care)."""

    agreement: AgreementKind
    signed_by: str
    relationship: str
    valid_until: date | None
    notes: str


class ExamAccessArrangementGranted(PupilEvent):
    """Access arrangements were granted for tests or examinations; `lapses_on` is when the
    trust's policy says they stop carrying over (None: until changed)."""

    arrangements: tuple[ExamArrangement, ...]
    for_assessments: str
    evidence: str
    lapses_on: date | None


class TransitionPlanned(PupilEvent):
    """A move was planned and what will be shared agreed; `ehcp_review_by` is when an EHC
    plan must be amended for a phase transfer (None without a plan or a phase transfer)."""

    transition: TransitionKind
    to_setting: str
    planned_for: date
    information_shared: str
    ehcp_review_by: date | None


class MonitoringReviewed(PupilEvent):
    """The pupil's place on the monitoring register was reviewed; the next review is due by
    `next_review_by` (the policy's interval; None when the policy sets none)."""

    findings: str
    next_review_by: date | None


class KeyWorkerAssigned(PupilEvent):
    """From `happened_on`, `key_worker` (a staff id) is the pupil's named key worker: the
    adult who knows their needs and plan and is the family's first contact. The register
    shows them in place of whoever made the last register decision."""

    key_worker: str


class TransferredWithinTrust(PupilEvent):
    """The pupil moved to another academy of the trust; the record moves with them."""

    from_academy: str
    to_academy: str
    reason: str


class LeftTrust(PupilEvent):
    """The pupil left the trust for `destination`; the SEND file is due there by
    `records_due_by`, and the next setting acknowledged receipt (when known)."""

    destination: str
    records_due_by: date
    records_sent_on: date | None
    receipt_acknowledged_on: date | None
    receipt_acknowledged_by: str | None


class YearGroupChanged(PupilEvent):
    """From `happened_on` the pupil is taught in `year_group` (kept back a year, moved up,
    or out of their chronological year group; or the MIS says so), and moves up each
    September from there."""

    year_group: int
    reason: str


class PupilRejoined(PupilEvent):
    """A pupil who had left the trust came back on roll at `academy`; the record reopens."""

    academy: str
    year_group: int
    returned_from: str


class LegalHoldPlaced(PupilEvent):
    """A legal hold stops the records being purged (litigation, tribunal, inquiry)."""

    hold_id: UUID
    reason: str
    requested_by: str


class LegalHoldLifted(PupilEvent):
    """A legal hold was lifted; the retention schedule applies again once none remain."""

    hold_id: UUID
    reason: str


class RecordsDisclosed(PupilEvent):
    """Records left the trust: entries 1 to `up_to_seq` less `redacted_seqs`, to whom, why,
    on what legal basis, and the SHA-256 digest (lower-case hex) of what was sent."""

    recipient: str
    purpose: DisclosurePurpose
    purpose_detail: str
    legal_basis: str
    up_to_seq: int
    redacted_seqs: tuple[int, ...]
    export_digest: str


class SubjectAccessRequested(PupilEvent):
    """A subject access request (UK GDPR art. 15) for the pupil's records was received on
    `happened_on`; the response is due by `respond_by` (one calendar month later). The
    requester is named by relationship only, the case by the trust's own reference."""

    request_reference: str
    requester_relationship: str
    respond_by: date


class SubjectAccessExtended(PupilEvent):
    """The response to the subject access request of entry `request_seq` is extended by two
    further months (UK GDPR art. 12(3): a complex request, or many), to `respond_by`; the
    requester was told, with `reason`, on `happened_on` (within the first month)."""

    request_seq: int
    reason: str
    respond_by: date


class ErasureRequestRefused(PupilEvent):
    """A request to erase entry `entry_seq` was refused: the trust must keep it. The entry
    stays; this records who asked (by relationship), why it is kept and the legal basis."""

    entry_seq: int
    request_reference: str
    requester_relationship: str
    reason: str
    legal_basis: str


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
    PlanAgreed,
    PlanReviewed,
    ExternalAgencyInvolved,
    AdviceReceived,
    EHCNeedsAssessmentRequested,
    LAInformationRequested,
    LAInformationProvided,
    EHCAssessmentDecided,
    EHCPlanDecided,
    DraftEHCPlanReceived,
    EHCPlanIssued,
    AnnualReviewScheduled,
    AnnualReviewPapersCirculated,
    AnnualReviewHeld,
    AnnualReviewReportSent,
    AnnualReviewDecided,
    EHCPlanAmended,
    EHCPlanCeased,
    SafeguardingCrossReferenced,
    HistoryImported,
    SafeguardingReferenceImported,
    ParentalAgreementSigned,
    ExamAccessArrangementGranted,
    TransitionPlanned,
    TransferredWithinTrust,
    LeftTrust,
    PupilRejoined,
    YearGroupChanged,
    MonitoringReviewed,
    KeyWorkerAssigned,
    EntryCorrected,
    LegalHoldPlaced,
    LegalHoldLifted,
    RecordsDisclosed,
    SubjectAccessRequested,
    SubjectAccessExtended,
    ErasureRequestRefused,
    RecordsPurged,
)
