"""What a caller asks for: every request body of every use case, on one base (`Body`).

Typed, with examples for /docs and the web's generated forms. Separate input and output
models (the full-stack template's counter-lesson): a body says what the caller decides; who
recorded it and when are taken from the caller and the clock. Every body refuses unknown
fields, NUL characters anywhere (PostgreSQL cannot store them in text) and text or lists
beyond their stated sizes, whichever edge it arrives through.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from domain.values import (
    AgencyKind,
    AgreementKind,
    AreaOfNeed,
    AssessmentDecision,
    AssessmentRequester,
    ConcernSource,
    DslDecision,
    ExamArrangement,
    IssueDecision,
    NeedType,
    Participant,
    PlanKind,
    RegisterStatus,
    ReviewRecommendation,
    SubFlag,
    TargetOutcome,
    TransitionKind,
)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        """No text may hold a NUL character: no person types one, and PostgreSQL cannot
        store one where a code or id is kept in the clear."""
        if _has_nul(data):
            raise ValueError("text must not contain NUL (\\u0000) characters")
        return data


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class RegisterPupil(Body):
    """Open a pupil's SEND record at an academy of the trust."""

    upn: str = Field(min_length=13, max_length=13, examples=["A873204120012"])
    legal_given_names: str = Field(min_length=1, max_length=200, examples=["Zebedee"])
    legal_family_name: str = Field(min_length=1, max_length=200, examples=["Quartermaine"])
    preferred_name: str | None = Field(default=None, max_length=200, examples=["Zeb"])
    date_of_birth: date = Field(examples=["2015-05-17"])
    academy: str = Field(min_length=1, max_length=40, examples=["OAK"])
    year_group: int = Field(ge=-2, le=14, examples=[4])
    happened_on: date | None = Field(
        default=None,
        description="When the record was opened; default today.",
        examples=["2024-09-04"],
    )


class RaiseConcern(Body):
    """A concern about the pupil: the start of every chronology."""

    source: ConcernSource = Field(examples=["teacher"])
    area_of_need: AreaOfNeed | None = Field(default=None, examples=["cognition_and_learning"])
    description: str = Field(
        min_length=1, max_length=10_000, examples=["Finds transitions between lessons hard"]
    )
    evidence: str = Field(default="", max_length=10_000, examples=["Class observation"])
    happened_on: date | None = Field(
        default=None,
        description="When it happened (back-dating is normal); default today.",
        examples=["2025-01-15"],
    )


class ChangeRegisterStatus(Body):
    """A move on the graduated response, as the trust's policy allows."""

    status: RegisterStatus = Field(examples=["monitoring"])
    sub_flags: list[SubFlag] = Field(default_factory=list, max_length=10, examples=[[]])
    reason: str = Field(
        min_length=1,
        max_length=10_000,
        examples=["Concerns persist after two terms of quality-first teaching"],
    )
    decision_maker: str = Field(min_length=1, max_length=200, examples=["OAK-sendco-1"])
    parents_informed_on: date | None = Field(default=None, examples=["2025-02-03"])
    happened_on: date | None = Field(default=None, examples=["2025-02-03"])


# ----- the rest of the catalogue (api/http/commands.py) --------------------------------------
# Bodies are flat where the entry allows: scalars, enums, dates and lists of short texts;
# only a plan's SMART outcomes and a review's target outcomes are lists of small objects.

_NAME = 200  # a person, service, setting or local authority
_TEXT = 10_000  # free text: reasons, voices, summaries
_ITEMS = 50  # entries of a list

Name = Annotated[str, StringConstraints(min_length=1, max_length=_NAME)]


def _happened_on(example: str) -> Any:
    return Field(
        default=None,
        description="When it happened (back-dating is normal); default today.",
        examples=[example],
    )


def _text(example: str, *, required: bool = True) -> Any:
    if required:
        return Field(min_length=1, max_length=_TEXT, examples=[example])
    return Field(default="", max_length=_TEXT, examples=[example])


def _name(example: str) -> Any:
    return Field(min_length=1, max_length=_NAME, examples=[example])


def _optional_name(example: str | None, description: str | None = None) -> Any:
    return Field(default=None, max_length=_NAME, description=description, examples=[example])


def _names(example: list[str]) -> Any:
    return Field(min_length=1, max_length=_ITEMS, examples=[example])


class RecordNeed(Body):
    """A need, by its census type code, recorded as the primary or a secondary need."""

    need: NeedType = Field(examples=["SLCN"])
    primary: bool = Field(description="The primary need? (K and E need one.)", examples=[True])
    notes: str = _text("Speech and language therapy assessment, Jan 2025", required=False)
    happened_on: date | None = _happened_on("2025-02-10")


class WithdrawNeed(Body):
    """A need that no longer applies."""

    need: NeedType = Field(examples=["MLD"])
    reason: str = _text("Reassessed by the educational psychologist: not a learning difficulty")
    happened_on: date | None = _happened_on("2025-06-02")


class CorrectEntry(Body):
    """A correction of an earlier entry: the entry stays, the correction sits beside it."""

    corrects_seq: int = Field(
        ge=1, le=1_000_000, description="Sequence number of the entry.", examples=[2]
    )
    what_was_wrong: str = _text("The concern was dated the wrong week")
    correction: str = _text("It happened on 15 January, not 22 January", required=False)
    reason: str = _text("Class teacher checked the observation notes")
    happened_on: date | None = _happened_on("2025-03-04")


class SmartOutcomeIn(Body):
    """A SMART target of a plan: what, how it is measured, and by when."""

    target: str = Field(min_length=1, max_length=1_000, examples=["Reads 40 CVC words"])
    measure: str = Field(min_length=1, max_length=1_000, examples=["Half-termly phonics check"])
    by_when: date = Field(examples=["2025-07-18"])


class AgreePlan(Body):
    """A plan agreed with the pupil and family (kinds the trust's policy uses)."""

    kind: PlanKind = Field(examples=["individual_plan"])
    outcomes: list[SmartOutcomeIn] = Field(
        default_factory=list,
        max_length=_ITEMS,
        description="SMART outcomes; an individual plan needs at least one.",
        examples=[
            [{"target": "Reads 40 CVC words", "measure": "Phonics check", "by_when": "2025-07-18"}]
        ],
    )
    provision: str = _text("Daily 15-minute phonics intervention with a TA")
    review_on: date | None = Field(
        default=None,
        description="When it will be reviewed; default the policy's review interval.",
        examples=["2025-05-19"],
    )
    agreed_by: list[Participant] = Field(
        min_length=1, max_length=len(Participant), examples=[["pupil", "parent", "sendco"]]
    )
    la_informed_on: date | None = Field(
        default=None,
        description="Interim reduced timetables only: when the local authority was informed.",
        examples=[None],
    )
    plan_id: UUID | None = Field(
        default=None,
        description="Your id for the plan, to review it by; default a new one "
        "(it is in the chronology's PlanAgreed entry).",
        examples=[None],
    )
    happened_on: date | None = _happened_on("2025-02-24")


class TargetReviewIn(Body):
    """How far one of the plan's targets was met (`target` repeats its text)."""

    target: str = Field(min_length=1, max_length=1_000, examples=["Reads 40 CVC words"])
    outcome: TargetOutcome = Field(examples=["partly"])


class ReviewPlan(Body):
    """A review of a plan: an outcome for each of its targets, voices and next steps."""

    plan_id: UUID = Field(examples=["3f0e8c52-4a8f-4a8b-9d42-3c3f0c6c8a11"])
    outcomes: list[TargetReviewIn] = Field(
        default_factory=list,
        max_length=_ITEMS,
        examples=[[{"target": "Reads 40 CVC words", "outcome": "partly"}]],
    )
    pupil_voice: str = _text("I like the word games")
    parent_voice: str = _text("Reading at home more willingly")
    next_steps: str = _text("Continue the intervention; add blending practice")
    next_review_on: date | None = Field(
        default=None,
        description="Required unless the review closes the plan.",
        examples=["2025-10-13"],
    )
    closes_plan: bool = Field(default=False, examples=[False])
    happened_on: date | None = _happened_on("2025-05-19")


class InvolveAgency(Body):
    """An outside professional service became involved."""

    agency: AgencyKind = Field(examples=["speech_and_language_therapy"])
    service: str = _name("North Shire NHS SALT")
    professional: str | None = _optional_name("Dr A. Example", "Who, if known.")
    reason: str = _text("Receptive language below age-related expectations")
    happened_on: date | None = _happened_on("2025-02-10")


class ReceiveAdvice(Body):
    """Advice received from an outside professional."""

    agency: AgencyKind = Field(examples=["educational_psychologist"])
    service: str = _name("Shire Educational Psychology Service")
    professional: str | None = _optional_name("Dr A. Example", "Who advised, if known.")
    summary: str = _text("Working memory a relative weakness")
    recommendations: list[Annotated[str, StringConstraints(min_length=1, max_length=2_000)]] = (
        Field(default_factory=list, max_length=_ITEMS, examples=[["Chunk instructions"]])
    )
    happened_on: date | None = _happened_on("2025-03-01")


class RequestEhcNeedsAssessment(Body):
    """A request to the local authority for an EHC needs assessment."""

    local_authority: str = _name("Shire County Council")
    requested_by: AssessmentRequester = Field(examples=["school"])
    reason: str = _text("Needs persist despite two cycles of SEN support")
    happened_on: date | None = _happened_on("2025-03-10")


class RecordLaInformationRequest(Body):
    """The local authority asked for information (dated the day it arrived)."""

    local_authority: str = _name("Shire County Council")
    information_requested: str = _text("Plans, reviews and attainment data")
    happened_on: date | None = _happened_on("2025-03-20")


class SendLaInformation(Body):
    """The school sent the local authority what it asked for."""

    answers_seq: int = Field(
        ge=1,
        le=1_000_000,
        description="Sequence number of the LAInformationRequested entry answered.",
        examples=[7],
    )
    information_sent: str = _text("Educational advice, the last three plan reviews")
    happened_on: date | None = _happened_on("2025-04-10")


class _LaLetter(Body):
    local_authority: str = _name("Shire County Council")
    letter_dated: date = Field(description="The date of the LA's letter.", examples=["2025-04-28"])
    la_reference: str | None = _optional_name("SCC-EHC-25-0193", "The LA's reference, if given.")


class RecordAssessmentDecision(_LaLetter):
    """The LA decided whether to carry out an EHC needs assessment (dated its letter)."""

    decision: AssessmentDecision = Field(examples=["assess"])
    happened_on: date | None = _happened_on("2025-04-30")


class RecordIssueDecision(_LaLetter):
    """The LA decided, after the assessment, whether to issue an EHC plan."""

    decision: IssueDecision = Field(examples=["issue"])
    happened_on: date | None = _happened_on("2025-07-01")


class ReceiveDraftEhcPlan(_LaLetter):
    """The LA sent the draft EHC plan; parents have 15 days to comment."""

    setting_named: str | None = _optional_name(
        "Oak Primary Academy", "The setting the draft names, if any."
    )
    happened_on: date | None = _happened_on("2025-07-01")


class RecordReviewDecision(_LaLetter):
    """After an annual review the LA decided to maintain, amend or cease the plan."""

    decision: ReviewRecommendation = Field(examples=["amend"])
    happened_on: date | None = _happened_on("2026-07-10")


class CirculateReviewPapers(Body):
    """The advice for the annual review meeting went to every invitee."""

    circulated_to: list[Name] = _names(["Parent", "Shire County Council", "EP"])
    happened_on: date | None = _happened_on("2026-06-01")


class ReviewMonitoring(Body):
    """A review of the pupil's place on the monitoring register."""

    findings: str = _text("Reading age up six months; stays on monitoring")
    happened_on: date | None = _happened_on("2025-02-10")


class RejoinTrust(Body):
    """A pupil who had left the trust is back on roll."""

    academy: str = Field(min_length=1, max_length=40, examples=["OAK"])
    year_group: int = Field(ge=-2, le=14, examples=[5])
    returned_from: str = _name("Birch Academy (another trust)")
    happened_on: date | None = _happened_on("2025-11-03")


class ChangeYearGroup(Body):
    """The pupil is taught in another year group from `happened_on` (kept back a year,
    moved up, or out of their chronological year group)."""

    year_group: int = Field(ge=-2, le=14, examples=[3])
    reason: str = _text("Kept back a year after long absence; agreed with parents and the LA")
    happened_on: date | None = _happened_on("2025-09-03")


class IssueEhcPlan(Body):
    """The local authority issued an EHC plan (or an existing plan came with the pupil)."""

    local_authority: str = _name("Shire County Council")
    plan_reference: str = _name("EHCP-2025-0193")
    named_setting: str = _name("Oak Primary Academy")
    transferred_from: str | None = _optional_name(
        None, "Where an existing plan came from; leave out for a plan after a request here."
    )
    on_register: bool = Field(
        default=False,
        description="Also move the pupil to E on the SEND register in the same write (the "
        "policy's rules for a move into E apply: a primary need, parents informed).",
        examples=[True],
    )
    parents_informed_on: date | None = Field(
        default=None,
        description="With on_register: when parents were told of the move to E.",
        examples=["2025-09-01"],
    )
    happened_on: date | None = _happened_on("2025-09-01")


class ScheduleAnnualReview(Body):
    """Arrange an annual review meeting (invitees need the policy's notice)."""

    meeting_on: date = Field(examples=["2026-06-15"])
    invitees: list[Name] = _names(["Parent", "Class teacher", "LA SEND officer"])
    notice_given_on: date = Field(examples=["2026-05-18"])
    happened_on: date | None = _happened_on("2026-05-18")


class HoldAnnualReview(Body):
    """The annual review meeting was held."""

    attendees: list[Name] = _names(["Parent", "Class teacher", "SENDCo"])
    papers_circulated_on: date | None = Field(default=None, examples=["2026-06-01"])
    pupil_voice: str = _text("I want to join the football club")
    parent_voice: str = _text("Happy with progress in reading")
    recommendation: ReviewRecommendation = Field(examples=["maintain"])
    happened_on: date | None = _happened_on("2026-06-15")


class SendAnnualReviewReport(Body):
    """The annual review report was sent."""

    sent_to: list[Name] = _names(["Shire County Council", "Parent"])
    summary: str = _text("Recommends the plan is maintained")
    happened_on: date | None = _happened_on("2026-06-29")


class AmendEhcPlan(Body):
    """The local authority amended the EHC plan."""

    local_authority: str = _name("Shire County Council")
    changes: str = _text("Section F: weekly SALT replaces fortnightly")
    reason: str = _text("Annual review recommendation")
    phase_transfer: bool = Field(default=False, examples=[False])
    happened_on: date | None = _happened_on("2026-07-20")


class CeaseEhcPlan(Body):
    """The local authority ceased the EHC plan."""

    local_authority: str = _name("Shire County Council")
    reason: str = _text("Outcomes achieved; needs met at SEN support")
    happened_on: date | None = _happened_on("2027-07-01")


class CrossReferenceSafeguarding(Body):
    """A pointer to a CPOMS log: its id, a one-line note, and the DSL's decision."""

    cpoms_log_id: str = Field(
        default="",
        max_length=64,
        description="The CPOMS log's id; empty only for the DSL's own decision "
        "`not_safeguarding` (nothing was logged).",
        examples=["CP-00042"],
    )
    note: str = Field(
        min_length=1,
        max_length=1_000,
        description="One line: that a log exists and who to ask. The detail stays in CPOMS.",
        examples=["Logged on CPOMS; ask the DSL"],
    )
    dsl_decision: DslDecision = Field(examples=["early_help"])
    decided_by: str | None = Field(
        default=None,
        max_length=64,
        description="Staff id of the DSL who decided.",
        examples=["OAK-dsl-1"],
    )
    happened_on: date | None = _happened_on("2025-02-01")


class SignParentalAgreement(Body):
    """Parents or carers signed their agreement (dated the day they signed)."""

    agreement: AgreementKind = Field(examples=["send_support"])
    signed_by: str = _name("Mother")
    relationship: str = _name("Parent")
    valid_until: date | None = Field(
        default=None,
        description="Default: SEN support agreements last the policy's renewal period.",
        examples=[None],
    )
    notes: str = _text("Signed at the parents' meeting", required=False)
    happened_on: date | None = _happened_on("2025-02-03")


class GrantExamAccess(Body):
    """Access arrangements granted for tests and examinations."""

    arrangements: list[ExamArrangement] = Field(
        min_length=1, max_length=len(ExamArrangement), examples=[["extra_time", "reader"]]
    )
    for_assessments: str = _name("KS2 SATs 2026")
    evidence: str = _text("Standardised reading score 79")
    happened_on: date | None = _happened_on("2026-02-02")


class PlanTransition(Body):
    """A planned move to another phase, setting or class."""

    transition: TransitionKind = Field(examples=["phase_transfer"])
    to_setting: str = _name("Elm Secondary Academy")
    planned_for: date = Field(examples=["2026-09-03"])
    information_shared: str = _text("One-page profile and current plan", required=False)
    happened_on: date | None = _happened_on("2026-03-02")


class AssignKeyWorker(Body):
    """Name the pupil's key worker: the staff id of a current SENDCo, teacher or DSL."""

    key_worker: str = Field(min_length=1, max_length=64, examples=["OAK-teacher-3"])
    happened_on: date | None = _happened_on("2025-09-08")


class TransferWithinTrust(Body):
    """The pupil moved to another academy of the trust."""

    to_academy: str = Field(min_length=1, max_length=40, examples=["ELM"])
    reason: str = _text("Family moved")
    happened_on: date | None = _happened_on("2025-04-22")


class LeaveTrust(Body):
    """The pupil left the trust (dated the last day on roll); again for the same destination
    to add when records were sent and their receipt acknowledged."""

    destination: str = _name("Birch Academy (another trust)")
    records_sent_on: date | None = Field(default=None, examples=["2025-07-21"])
    receipt_acknowledged_on: date | None = Field(default=None, examples=[None])
    receipt_acknowledged_by: str | None = _optional_name(None, "Who acknowledged receipt.")
    happened_on: date | None = _happened_on("2025-07-18")


class Redaction(Body):
    """An entry withheld from the export, and why (its commitment still proves it)."""

    seq: int = Field(ge=1, le=1_000_000, examples=[5])
    reason: str = Field(min_length=1, max_length=500, examples=["Third-party information"])


class ExportRequest(Body):
    """A verifiable export of the pupil's history; it is recorded on the pupil
    (`RecordsDisclosed`, with the bundle's digest)."""

    purpose: str = Field(
        min_length=1,
        max_length=500,
        description="Why: a disclosure purpose code (send_tribunal_appeal, subject_access, "
        "secretary_of_state, criminal_court_order, ...) or free text.",
        examples=["send_tribunal_appeal"],
    )
    recipient: str = Field(min_length=1, max_length=_NAME, examples=["First-tier Tribunal (SEND)"])
    legal_basis: str = Field(
        min_length=1,
        max_length=500,
        examples=["SEND Regulations 2014, reg. 17(1)(a)"],
    )
    redactions: list[Redaction] = Field(default_factory=list, max_length=1_000, examples=[[]])
    released: list[Annotated[int, Field(ge=1, le=1_000_000)]] = Field(
        default_factory=list,
        max_length=1_000,
        description="DSL only: restricted entries (safeguarding cross-references) released "
        "into this export although its purpose would withhold them (docs/policies.md).",
        examples=[[]],
    )


# ----- retention and data-protection rights (api/app/retention.py) ---------------------------

Relationship = Literal["pupil", "parent", "carer", "legal_representative", "other"]


class PlaceLegalHold(Body):
    """Place a legal hold: the records cannot be purged until it is lifted."""

    reason: str = Field(min_length=1, max_length=500, examples=["Tribunal appeal pending"])
    requested_by: str = Field(min_length=1, max_length=_NAME, examples=["Trust solicitor"])


class LiftLegalHolds(Body):
    """Lift every legal hold in force."""

    reason: str = Field(min_length=1, max_length=500, examples=["Appeal concluded"])


class ProposePurge(Body):
    """Propose the purge; `override` (recorded, no personal data) purges before the due date."""

    override: str | None = Field(default=None, max_length=500, examples=[None])


class RequestSubjectAccess(Body):
    """A subject access request received: tracked with a one-month deadline."""

    request_reference: str = Field(min_length=1, max_length=64, examples=["SAR-2026-014"])
    requester_relationship: Relationship = Field(examples=["parent"])
    received_on: date | None = Field(default=None, description="Default: today.")


class ExtendSubjectAccess(Body):
    """The response to a complex subject access request extended by two further months
    (UK GDPR art. 12(3)); the requester was told, with the reason, within the first month."""

    request_seq: int = Field(
        ge=1, le=1_000_000, description="The SubjectAccessRequested entry.", examples=[7]
    )
    reason: str = _text("Seven years of records across two academies and three agencies")
    told_on: date | None = Field(
        default=None, description="When the requester was told. Default: today."
    )


class SubjectAccessExport(Body):
    """Export for a subject access request: the access log included, third-party
    information marked for review; recorded as RecordsDisclosed (purpose subject_access)."""

    request_seq: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="The request's entry; default the latest request.",
    )
    recipient: str | None = Field(default=None, max_length=_NAME, examples=[None])
    redactions: list[Redaction] = Field(default_factory=list, max_length=1_000)
    released: list[Annotated[int, Field(ge=1, le=1_000_000)]] = Field(
        default_factory=list, max_length=1_000, description="DSL only (see ExportRequest)."
    )


class RefuseErasure(Body):
    """A request to erase an entry, refused: the entry is kept, the refusal recorded."""

    entry_seq: int = Field(ge=1, le=1_000_000, examples=[7])
    request_reference: str = Field(min_length=1, max_length=64, examples=["ER-2026-003"])
    requester_relationship: Relationship = Field(examples=["parent"])
    reason: str = Field(min_length=1, max_length=1_000, examples=["Statutory SEND record"])
    legal_basis: str = Field(min_length=1, max_length=500, examples=["UK GDPR art. 17(3)(b)"])
