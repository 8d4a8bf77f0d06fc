"""The API's request and response bodies: typed, with examples for /docs.

Separate input and output models (the full-stack template's counter-lesson): a command body
says what the caller decides; who recorded it and when are taken from the token and clock.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from domain.values import (
    AgencyKind,
    AgreementKind,
    AreaOfNeed,
    AssessmentRequester,
    ConcernSource,
    DslDecision,
    ExamArrangement,
    NeedType,
    Participant,
    PlanKind,
    RegisterStatus,
    ReviewRecommendation,
    SubFlag,
    TargetOutcome,
    TransitionKind,
)


class _Body(BaseModel):
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


class RegisterPupil(_Body):
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


class RaiseConcern(_Body):
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


class ChangeRegisterStatus(_Body):
    """A move on the graduated response, as the trust's policy allows."""

    status: RegisterStatus = Field(examples=["monitoring"])
    sub_flags: list[SubFlag] = Field(default_factory=list, examples=[[]])
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


class RecordNeed(_Body):
    """A need, by its census type code, recorded as the primary or a secondary need."""

    need: NeedType = Field(examples=["SLCN"])
    primary: bool = Field(description="The primary need? (K and E need one.)", examples=[True])
    notes: str = _text("Speech and language therapy assessment, Jan 2025", required=False)
    happened_on: date | None = _happened_on("2025-02-10")


class WithdrawNeed(_Body):
    """A need that no longer applies."""

    need: NeedType = Field(examples=["MLD"])
    reason: str = _text("Reassessed by the educational psychologist: not a learning difficulty")
    happened_on: date | None = _happened_on("2025-06-02")


class CorrectEntry(_Body):
    """A correction of an earlier entry: the entry stays, the correction sits beside it."""

    corrects_seq: int = Field(
        ge=1, le=1_000_000, description="Sequence number of the entry.", examples=[2]
    )
    what_was_wrong: str = _text("The concern was dated the wrong week")
    correction: str = _text("It happened on 15 January, not 22 January", required=False)
    reason: str = _text("Class teacher checked the observation notes")
    happened_on: date | None = _happened_on("2025-03-04")


class SmartOutcomeIn(_Body):
    """A SMART target of a plan: what, how it is measured, and by when."""

    target: str = Field(min_length=1, max_length=1_000, examples=["Reads 40 CVC words"])
    measure: str = Field(min_length=1, max_length=1_000, examples=["Half-termly phonics check"])
    by_when: date = Field(examples=["2025-07-18"])


class AgreePlan(_Body):
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


class TargetReviewIn(_Body):
    """How far one of the plan's targets was met (`target` repeats its text)."""

    target: str = Field(min_length=1, max_length=1_000, examples=["Reads 40 CVC words"])
    outcome: TargetOutcome = Field(examples=["partly"])


class ReviewPlan(_Body):
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


class InvolveAgency(_Body):
    """An outside professional service became involved."""

    agency: AgencyKind = Field(examples=["speech_and_language_therapy"])
    service: str = _name("North Shire NHS SALT")
    professional: str | None = _optional_name("Dr A. Example", "Who, if known.")
    reason: str = _text("Receptive language below age-related expectations")
    happened_on: date | None = _happened_on("2025-02-10")


class ReceiveAdvice(_Body):
    """Advice received from an outside professional."""

    agency: AgencyKind = Field(examples=["educational_psychologist"])
    service: str = _name("Shire Educational Psychology Service")
    professional: str | None = _optional_name("Dr A. Example", "Who advised, if known.")
    summary: str = _text("Working memory a relative weakness")
    recommendations: list[Annotated[str, StringConstraints(min_length=1, max_length=2_000)]] = (
        Field(default_factory=list, max_length=_ITEMS, examples=[["Chunk instructions"]])
    )
    happened_on: date | None = _happened_on("2025-03-01")


class RequestEhcNeedsAssessment(_Body):
    """A request to the local authority for an EHC needs assessment."""

    local_authority: str = _name("Shire County Council")
    requested_by: AssessmentRequester = Field(examples=["school"])
    reason: str = _text("Needs persist despite two cycles of SEN support")
    happened_on: date | None = _happened_on("2025-03-10")


class RecordLaInformationRequest(_Body):
    """The local authority asked for information (dated the day it arrived)."""

    local_authority: str = _name("Shire County Council")
    information_requested: str = _text("Plans, reviews and attainment data")
    happened_on: date | None = _happened_on("2025-03-20")


class IssueEhcPlan(_Body):
    """The local authority issued an EHC plan (or an existing plan came with the pupil)."""

    local_authority: str = _name("Shire County Council")
    plan_reference: str = _name("EHCP-2025-0193")
    named_setting: str = _name("Oak Primary Academy")
    transferred_from: str | None = _optional_name(
        None, "Where an existing plan came from; leave out for a plan after a request here."
    )
    happened_on: date | None = _happened_on("2025-09-01")


class ScheduleAnnualReview(_Body):
    """Arrange an annual review meeting (invitees need the policy's notice)."""

    meeting_on: date = Field(examples=["2026-06-15"])
    invitees: list[Name] = _names(["Parent", "Class teacher", "LA SEND officer"])
    notice_given_on: date = Field(examples=["2026-05-18"])
    happened_on: date | None = _happened_on("2026-05-18")


class HoldAnnualReview(_Body):
    """The annual review meeting was held."""

    attendees: list[Name] = _names(["Parent", "Class teacher", "SENDCo"])
    papers_circulated_on: date | None = Field(default=None, examples=["2026-06-01"])
    pupil_voice: str = _text("I want to join the football club")
    parent_voice: str = _text("Happy with progress in reading")
    recommendation: ReviewRecommendation = Field(examples=["maintain"])
    happened_on: date | None = _happened_on("2026-06-15")


class SendAnnualReviewReport(_Body):
    """The annual review report was sent."""

    sent_to: list[Name] = _names(["Shire County Council", "Parent"])
    summary: str = _text("Recommends the plan is maintained")
    happened_on: date | None = _happened_on("2026-06-29")


class AmendEhcPlan(_Body):
    """The local authority amended the EHC plan."""

    local_authority: str = _name("Shire County Council")
    changes: str = _text("Section F: weekly SALT replaces fortnightly")
    reason: str = _text("Annual review recommendation")
    phase_transfer: bool = Field(default=False, examples=[False])
    happened_on: date | None = _happened_on("2026-07-20")


class CeaseEhcPlan(_Body):
    """The local authority ceased the EHC plan."""

    local_authority: str = _name("Shire County Council")
    reason: str = _text("Outcomes achieved; needs met at SEN support")
    happened_on: date | None = _happened_on("2027-07-01")


class CrossReferenceSafeguarding(_Body):
    """A pointer to a CPOMS log: its id, a one-line note, and the DSL's decision."""

    cpoms_log_id: str = Field(min_length=1, max_length=64, examples=["CP-00042"])
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


class SignParentalAgreement(_Body):
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


class GrantExamAccess(_Body):
    """Access arrangements granted for tests and examinations."""

    arrangements: list[ExamArrangement] = Field(
        min_length=1, max_length=len(ExamArrangement), examples=[["extra_time", "reader"]]
    )
    for_assessments: str = _name("KS2 SATs 2026")
    evidence: str = _text("Standardised reading score 79")
    happened_on: date | None = _happened_on("2026-02-02")


class PlanTransition(_Body):
    """A planned move to another phase, setting or class."""

    transition: TransitionKind = Field(examples=["phase_transfer"])
    to_setting: str = _name("Elm Secondary Academy")
    planned_for: date = Field(examples=["2026-09-03"])
    information_shared: str = _text("One-page profile and current plan", required=False)
    happened_on: date | None = _happened_on("2026-03-02")


class TransferWithinTrust(_Body):
    """The pupil moved to another academy of the trust."""

    to_academy: str = Field(min_length=1, max_length=40, examples=["ELM"])
    reason: str = _text("Family moved")
    happened_on: date | None = _happened_on("2025-04-22")


class LeaveTrust(_Body):
    """The pupil left the trust (dated the last day on roll); again for the same destination
    to add when records were sent and their receipt acknowledged."""

    destination: str = _name("Birch Academy (another trust)")
    records_sent_on: date | None = Field(default=None, examples=["2025-07-21"])
    receipt_acknowledged_on: date | None = Field(default=None, examples=[None])
    receipt_acknowledged_by: str | None = _optional_name(None, "Who acknowledged receipt.")
    happened_on: date | None = _happened_on("2025-07-18")


class Written(BaseModel):
    """What a write did: the pupil, the version it is now at and the new entry's number."""

    pupil_id: UUID
    version: int = Field(description="Send it as If-Match on your next write.", examples=[3])
    seq: int = Field(description="Sequence number of the new entry.", examples=[3])
    type: str = Field(examples=["ConcernRaised"])


class PupilRecord(BaseModel):
    """A pupil's details and current SEND status (the aggregate's state)."""

    pupil_id: UUID
    version: int = Field(examples=[5])
    upn: str = Field(examples=["A873204120012"])
    legal_given_names: str
    legal_family_name: str
    preferred_name: str | None
    date_of_birth: date
    academy: str = Field(examples=["OAK"])
    year_group_registered: int = Field(examples=[4])
    status: RegisterStatus
    sub_flags: list[SubFlag]
    needs: dict[str, bool] = Field(
        description="Census need code -> primary?", examples=[{"SLCN": True}]
    )
    left_trust: bool


class RegisterEntry(BaseModel):
    """One pupil on the register."""

    pupil_id: UUID
    upn: str | None
    name: str | None
    academy: str | None
    year_group: int | None
    status: str
    census_code: str | None = None
    primary_need: str | None = None


class ChronologyItem(BaseModel):
    """One entry of a chronology; `payload` and `recorded_by` are null when `masked`."""

    seq: int
    type: str = Field(examples=["ConcernRaised"])
    happened_on: date
    recorded_at: str = Field(examples=["2025-03-03T10:00:00.000000Z"])
    recorded_by: dict[str, str] | None
    payload: dict[str, Any] | None
    commitment: str
    restricted: bool
    masked: bool
    corrects_seq: int | None = None
    corrections: list[ChronologyItem] = Field(default_factory=list)


class Chronology(BaseModel):
    pupil_id: UUID
    entries: list[ChronologyItem]


class AccessRecord(BaseModel):
    """One read of the pupil's records."""

    seq: int
    recorded_at: str
    staff_id: str = Field(examples=["OAK-dsl-1"])
    role: str = Field(examples=["dsl"])
    what: str = Field(examples=["chronology"])
    purpose: str | None = Field(examples=["SAR-2025-014"])


class AccessLogOut(BaseModel):
    pupil_id: UUID
    records: list[AccessRecord]


class Checkpoint(BaseModel):
    """A signed checkpoint of the trust-wide log (docs/verifiable-export.md)."""

    checkpoint: dict[str, Any] = Field(
        examples=[
            {"log": "ab12...", "size": 42, "root": "9f86...", "issued_at": "2025-03-03T10:00:00Z"}
        ]
    )
    signature: str
    public_key: str


class Consistency(BaseModel):
    """A consistency proof (RFC 9162 2.1.4) between two sizes of the log."""

    old_size: int
    new_size: int
    old_root: str
    new_root: str
    proof: list[str]


class RegisterPage(BaseModel):
    """A page of the register, and how many pupils it has in all."""

    total: int
    pupils: list[RegisterEntry]


# ----- read models and exports (api/http/reads.py, api/http/exports.py) ----------------------


class RegisterRowOut(BaseModel):
    """One pupil on the SEND register."""

    pupil_id: UUID
    upn: str | None = Field(description="Null if the records cannot be read (being purged).")
    name: str | None = Field(examples=["Zeb Quartermaine"])
    academy: str | None = Field(examples=["OAK"])
    year_group: int | None = Field(examples=[5])
    status: str = Field(examples=["sen_support"])
    census_code: str = Field(examples=["K"])
    sub_flags: list[str] = Field(examples=[["specialist_send_support"]])
    primary_need: str | None = Field(examples=["SLCN"])
    secondary_needs: list[str] = Field(examples=[["SPLD"]])
    since: date = Field(description="On this status since.", examples=["2025-02-03"])
    key_worker: str | None = Field(
        description="Staff id of who made the last register decision.", examples=["OAK-sendco-1"]
    )


class CensusCounts(BaseModel):
    """One academy's census counts: pupils by code, and K and E by primary need."""

    academy: str = Field(examples=["OAK"])
    N: int = Field(examples=[12])
    K: int = Field(examples=[30])
    E: int = Field(examples=[4])
    primary_need: dict[str, dict[str, int]] = Field(examples=[{"SLCN": {"K": 9, "E": 1}}])


class RegisterOut(BaseModel):
    """A page of the SEND register, how many pupils match in all, and census counts of the
    academies shown (all pupils on the register there, whatever the filters)."""

    total: int
    pupils: list[RegisterRowOut]
    counts: list[CensusCounts]


class DeadlineOut(BaseModel):
    """An open deadline: `days` is how many remain (negative: overdue by)."""

    pupil_id: UUID
    name: str | None = Field(examples=["Zeb Quartermaine"])
    rule: str = Field(examples=["plan_review"])
    what: str = Field(examples=["review the plan"])
    detail: str | None = Field(examples=["individual_plan"])
    academy: str = Field(examples=["OAK"])
    responsible: str = Field(description="Staff id.", examples=["OAK-sendco-1"])
    opened_seq: int = Field(description="The entry that opened it.", examples=[4])
    opened_on: date
    due_on: date
    status: str = Field(examples=["overdue"])
    days: int = Field(examples=[-3])


class DeadlinesOut(BaseModel):
    as_of: date
    total: int
    deadlines: list[DeadlineOut]


class CrossReferenceOut(BaseModel):
    """A safeguarding cross-reference: where the CPOMS log is and what the DSL decided (the
    brief note stays in the pupil's chronology)."""

    pupil_id: UUID
    name: str | None = Field(examples=["Zeb Quartermaine"])
    seq: int
    academy: str = Field(description="The pupil's academy now.", examples=["OAK"])
    added_at_academy: str = Field(examples=["OAK"])
    cpoms_log_id: str = Field(examples=["CP-00042"])
    added_by: str = Field(examples=["OAK-sendco-1"])
    added_role: str = Field(examples=["sendco"])
    added_on: date
    recorded_at: str
    dsl_decision: str = Field(examples=["early_help"])
    decided_by: str | None = Field(examples=["OAK-dsl-1"])
    corrected_by: int | None = Field(description="Seq of a correction of this entry, if any.")


class CrossReferencesOut(BaseModel):
    total: int
    cross_references: list[CrossReferenceOut]


class AwaitingDecisionOut(BaseModel):
    """A pupil with social, emotional and mental health concerns no DSL decision followed."""

    pupil_id: UUID
    name: str | None = Field(examples=["Zeb Quartermaine"])
    academy: str = Field(examples=["OAK"])
    concern_seqs: list[int] = Field(examples=[[3, 7]])
    first_raised_on: date
    raised_by: list[str] = Field(examples=[["OAK-teacher-1"]])


class AwaitingDecisionPage(BaseModel):
    total: int
    pupils: list[AwaitingDecisionOut]


class Redaction(_Body):
    """An entry withheld from the export, and why (its commitment still proves it)."""

    seq: int = Field(ge=1, le=1_000_000, examples=[5])
    reason: str = Field(min_length=1, max_length=500, examples=["Third-party information"])


class ExportRequest(_Body):
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


class AccessLogRow(BaseModel):
    """One read of a pupil's records, across pupils (the access-log read model)."""

    pupil_id: UUID
    seq: int = Field(description="The entry's number in the pupil's access stream.")
    staff_id: str = Field(examples=["OAK-sendco-1"])
    role: str = Field(examples=["sendco"])
    what: str = Field(examples=["chronology"])
    detail: str | None = Field(
        default=None, description="The full `what` (a chronology read's filters, say)."
    )
    read_on: date
    recorded_at: str = Field(examples=["2025-03-03T10:00:00.000000Z"])
    academy: str | None = Field(description="The pupil's academy when it was read.")
    purpose: str | None = Field(examples=["SAR-2025-014"])


class AccessLogPage(BaseModel):
    """Reads of pupils' records, most recent last."""

    entries: list[AccessLogRow]
