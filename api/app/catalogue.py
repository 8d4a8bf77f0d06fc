"""The command catalogue: every kind of entry a person adds to a pupil's record, declared once.

A row (`Command`) names the entry's URL segment, title, summary, request body (a pydantic
model with examples), the event it records, how the body becomes a call on the `Pupil`
aggregate, which roles may add it, and what the retention audit calls it. `ENTRY_KINDS`
declares, for every kind of entry (added by a command or by another use case), which of its
fields carry third-party information and which deadline rules it opens or closes. The HTTP
routes (`POST /pupils/{pupil_id}/{slug}`), the permission table's rows, the web's forms, the
exports' third-party review and the docs tables all derive from these two tables, and
`tests/unit/api/test_catalogue.py` names anything a new row forgot (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

from api.app.bodies import (
    AgreePlan,
    AmendEhcPlan,
    AssignKeyWorker,
    CeaseEhcPlan,
    ChangeRegisterStatus,
    ChangeYearGroup,
    CirculateReviewPapers,
    CorrectEntry,
    CrossReferenceSafeguarding,
    ExtendSubjectAccess,
    GrantExamAccess,
    HoldAnnualReview,
    InvolveAgency,
    IssueEhcPlan,
    LeaveTrust,
    LiftLegalHolds,
    PlaceLegalHold,
    PlanTransition,
    RaiseConcern,
    ReceiveAdvice,
    ReceiveDraftEhcPlan,
    RecordAssessmentDecision,
    RecordIssueDecision,
    RecordLaInformationRequest,
    RecordNeed,
    RecordReviewDecision,
    RefuseErasure,
    RejoinTrust,
    RequestEhcNeedsAssessment,
    RequestSubjectAccess,
    ReviewMonitoring,
    ReviewPlan,
    ScheduleAnnualReview,
    SendAnnualReviewReport,
    SendLaInformation,
    SignParentalAgreement,
    TransferWithinTrust,
    WithdrawNeed,
)
from api.app.caller import Access, D, S
from domain.errors import InvalidEntry
from domain.policy import TrustPolicy
from domain.pupil import Pupil
from domain.values import Recorder, RegisterStatus, Role, SmartOutcome, TargetReview


@dataclass(frozen=True)
class Context:
    """What a command needs besides its body: the trust's policy, who records it, and when."""

    policy: TrustPolicy
    recorder: Recorder
    now: datetime

    def on(self, happened_on: date | None) -> dict[str, Any]:
        """The recording arguments every command takes (happened_on defaults to today)."""
        return {
            "recorded_by": self.recorder,
            "happened_on": happened_on or self.now.date(),
            "recorded_at": self.now,
        }


# Who may add an entry, in the order sendco, teacher, dsl, dpo, tribunal, trust_admin,
# auditor (docs/permissions.md explains each).
SENDCO_ONLY = (S, D, D, D, D, D, D)
DPO_ONLY = (D, D, D, S, D, D, D)


@dataclass(frozen=True)
class Command:
    """One kind of entry a person can add to a pupil's record."""

    slug: str  # POST /pupils/{pupil_id}/{slug}; the web's /ui/pupils/{id}/entries/{slug}
    title: str  # imperative, for forms and /docs: "Raise a concern"
    summary: str  # one sentence for /docs and the form's help text
    body: type[BaseModel]
    event: str  # the event type it records
    apply: Callable[[Pupil, Any, Context], None]
    access: tuple[Access, ...] = SENDCO_ONLY
    audit: str | None = None  # the retention audit's name for it, if it is audited there
    # The role of the person a `decided_by` field names: it must be the staff id of a user of
    # that role (a DSL's decision is made by a DSL), not any string.
    decided_by: Role | None = None
    # Another field naming a person (its name, the roles they may have): a current user's
    # staff id of one of those roles.
    names_user: tuple[str, frozenset[Role]] | None = None

    def named_users(self) -> list[tuple[str, frozenset[Role]]]:
        """The body's fields that must name a current user, with the roles allowed."""
        found = [] if self.decided_by is None else [("decided_by", frozenset({self.decided_by}))]
        return found + ([] if self.names_user is None else [self.names_user])

    @property
    def use_case(self) -> str:
        """The permission table's key (api/app/permissions.py)."""
        return f"entry:{self.slug}"

    @property
    def path(self) -> str:
        return f"/pupils/{{pupil_id}}/{self.slug}"


@dataclass(frozen=True)
class EntryKind:
    """What every edge and read model must know of one kind of entry."""

    third_party: tuple[str, ...] = ()  # fields holding someone else's information
    why: str = ""  # why those fields are third-party information (shown to the DPO)
    deadlines: tuple[str, ...] = ()  # rules (projections/deadlines.py) it opens or closes


def _raise_concern(pupil: Pupil, body: RaiseConcern, ctx: Context) -> None:
    pupil.raise_concern(
        source=body.source,
        area_of_need=body.area_of_need,
        description=body.description,
        evidence=body.evidence,
        **ctx.on(body.happened_on),
    )


def _change_register_status(pupil: Pupil, body: ChangeRegisterStatus, ctx: Context) -> None:
    pupil.change_register_status(
        policy=ctx.policy,
        status=body.status,
        sub_flags=tuple(body.sub_flags),
        reason=body.reason,
        decision_maker=body.decision_maker,
        parents_informed_on=body.parents_informed_on,
        **ctx.on(body.happened_on),
    )


def _record_need(pupil: Pupil, body: RecordNeed, ctx: Context) -> None:
    pupil.record_need(
        need=body.need, primary=body.primary, notes=body.notes, **ctx.on(body.happened_on)
    )


def _withdraw_need(pupil: Pupil, body: WithdrawNeed, ctx: Context) -> None:
    pupil.withdraw_need(need=body.need, reason=body.reason, **ctx.on(body.happened_on))


def _correct_entry(pupil: Pupil, body: CorrectEntry, ctx: Context) -> None:
    pupil.correct_entry(
        corrects_seq=body.corrects_seq,
        what_was_wrong=body.what_was_wrong,
        correction=body.correction,
        reason=body.reason,
        **ctx.on(body.happened_on),
    )


def _agree_plan(pupil: Pupil, body: AgreePlan, ctx: Context) -> None:
    pupil.agree_plan(
        policy=ctx.policy,
        kind=body.kind,
        outcomes=[SmartOutcome(o.target, o.measure, o.by_when) for o in body.outcomes],
        provision=body.provision,
        review_on=body.review_on,
        agreed_by=body.agreed_by,
        la_informed_on=body.la_informed_on,
        plan_id=body.plan_id,
        **ctx.on(body.happened_on),
    )


def _review_plan(pupil: Pupil, body: ReviewPlan, ctx: Context) -> None:
    pupil.review_plan(
        plan_id=body.plan_id,
        outcomes=[TargetReview(o.target, o.outcome) for o in body.outcomes],
        pupil_voice=body.pupil_voice,
        parent_voice=body.parent_voice,
        next_steps=body.next_steps,
        next_review_on=body.next_review_on,
        closes_plan=body.closes_plan,
        **ctx.on(body.happened_on),
    )


def _involve_agency(pupil: Pupil, body: InvolveAgency, ctx: Context) -> None:
    pupil.involve_agency(
        agency=body.agency,
        service=body.service,
        professional=body.professional,
        reason=body.reason,
        **ctx.on(body.happened_on),
    )


def _receive_advice(pupil: Pupil, body: ReceiveAdvice, ctx: Context) -> None:
    pupil.receive_advice(
        agency=body.agency,
        service=body.service,
        professional=body.professional,
        summary=body.summary,
        recommendations=body.recommendations,
        **ctx.on(body.happened_on),
    )


def _request_assessment(pupil: Pupil, body: RequestEhcNeedsAssessment, ctx: Context) -> None:
    pupil.request_ehc_needs_assessment(
        policy=ctx.policy,
        local_authority=body.local_authority,
        requested_by=body.requested_by,
        reason=body.reason,
        **ctx.on(body.happened_on),
    )


def _la_information(pupil: Pupil, body: RecordLaInformationRequest, ctx: Context) -> None:
    pupil.record_la_information_request(
        policy=ctx.policy,
        local_authority=body.local_authority,
        information_requested=body.information_requested,
        **ctx.on(body.happened_on),
    )


def _send_la_information(pupil: Pupil, body: SendLaInformation, ctx: Context) -> None:
    pupil.record_la_information_sent(
        answers_seq=body.answers_seq,
        information_sent=body.information_sent,
        **ctx.on(body.happened_on),
    )


def _la_letter(body: RecordAssessmentDecision | RecordIssueDecision | Any) -> dict[str, Any]:
    return {
        "local_authority": body.local_authority,
        "letter_dated": body.letter_dated,
        "la_reference": body.la_reference,
    }


def _assessment_decision(pupil: Pupil, body: RecordAssessmentDecision, ctx: Context) -> None:
    pupil.record_assessment_decision(
        decision=body.decision, **_la_letter(body), **ctx.on(body.happened_on)
    )


def _issue_decision(pupil: Pupil, body: RecordIssueDecision, ctx: Context) -> None:
    pupil.record_issue_decision(
        decision=body.decision, **_la_letter(body), **ctx.on(body.happened_on)
    )


def _draft_plan(pupil: Pupil, body: ReceiveDraftEhcPlan, ctx: Context) -> None:
    pupil.record_draft_plan(
        setting_named=body.setting_named, **_la_letter(body), **ctx.on(body.happened_on)
    )


def _review_decision(pupil: Pupil, body: RecordReviewDecision, ctx: Context) -> None:
    pupil.record_review_decision(
        decision=body.decision, **_la_letter(body), **ctx.on(body.happened_on)
    )


def _circulate_papers(pupil: Pupil, body: CirculateReviewPapers, ctx: Context) -> None:
    pupil.circulate_annual_review_papers(
        circulated_to=body.circulated_to, **ctx.on(body.happened_on)
    )


def _review_monitoring(pupil: Pupil, body: ReviewMonitoring, ctx: Context) -> None:
    pupil.review_monitoring(policy=ctx.policy, findings=body.findings, **ctx.on(body.happened_on))


def _rejoin(pupil: Pupil, body: RejoinTrust, ctx: Context) -> None:
    pupil.rejoin(
        academy=body.academy,
        year_group=body.year_group,
        returned_from=body.returned_from,
        **ctx.on(body.happened_on),
    )


def _issue_ehc_plan(pupil: Pupil, body: IssueEhcPlan, ctx: Context) -> None:
    pupil.issue_ehc_plan(
        policy=ctx.policy,
        local_authority=body.local_authority,
        plan_reference=body.plan_reference,
        named_setting=body.named_setting,
        transferred_from=body.transferred_from,
        **ctx.on(body.happened_on),
    )
    if body.on_register:
        # The plan and the move to E are one decision of the LA's: one write, both entries
        # or neither (the move's rules are the policy's, as for any register change).
        pupil.change_register_status(
            policy=ctx.policy,
            status=RegisterStatus.EHCP,
            sub_flags=(),
            reason="EHC plan issued by the local authority"
            + (f" (transferred from {body.transferred_from})" if body.transferred_from else ""),
            decision_maker=ctx.recorder.staff_id,
            parents_informed_on=body.parents_informed_on,
            **ctx.on(body.happened_on),
        )


def _schedule_annual_review(pupil: Pupil, body: ScheduleAnnualReview, ctx: Context) -> None:
    pupil.schedule_annual_review(
        policy=ctx.policy,
        meeting_on=body.meeting_on,
        invitees=body.invitees,
        notice_given_on=body.notice_given_on,
        **ctx.on(body.happened_on),
    )


def _hold_annual_review(pupil: Pupil, body: HoldAnnualReview, ctx: Context) -> None:
    pupil.hold_annual_review(
        policy=ctx.policy,
        attendees=body.attendees,
        papers_circulated_on=body.papers_circulated_on,
        pupil_voice=body.pupil_voice,
        parent_voice=body.parent_voice,
        recommendation=body.recommendation,
        **ctx.on(body.happened_on),
    )


def _send_report(pupil: Pupil, body: SendAnnualReviewReport, ctx: Context) -> None:
    pupil.send_annual_review_report(
        sent_to=body.sent_to, summary=body.summary, **ctx.on(body.happened_on)
    )


def _amend_ehc_plan(pupil: Pupil, body: AmendEhcPlan, ctx: Context) -> None:
    pupil.amend_ehc_plan(
        local_authority=body.local_authority,
        changes=body.changes,
        reason=body.reason,
        phase_transfer=body.phase_transfer,
        **ctx.on(body.happened_on),
    )


def _cease_ehc_plan(pupil: Pupil, body: CeaseEhcPlan, ctx: Context) -> None:
    pupil.cease_ehc_plan(
        local_authority=body.local_authority, reason=body.reason, **ctx.on(body.happened_on)
    )


def _cross_reference(pupil: Pupil, body: CrossReferenceSafeguarding, ctx: Context) -> None:
    pupil.cross_reference_safeguarding(
        policy=ctx.policy,
        cpoms_log_id=body.cpoms_log_id,
        note=body.note,
        dsl_decision=body.dsl_decision,
        decided_by=body.decided_by,
        **ctx.on(body.happened_on),
    )


def _sign_agreement(pupil: Pupil, body: SignParentalAgreement, ctx: Context) -> None:
    pupil.sign_parental_agreement(
        policy=ctx.policy,
        agreement=body.agreement,
        signed_by=body.signed_by,
        relationship=body.relationship,
        valid_until=body.valid_until,
        notes=body.notes,
        **ctx.on(body.happened_on),
    )


def _grant_exam_access(pupil: Pupil, body: GrantExamAccess, ctx: Context) -> None:
    pupil.grant_exam_access(
        policy=ctx.policy,
        arrangements=body.arrangements,
        for_assessments=body.for_assessments,
        evidence=body.evidence,
        **ctx.on(body.happened_on),
    )


def _plan_transition(pupil: Pupil, body: PlanTransition, ctx: Context) -> None:
    pupil.plan_transition(
        policy=ctx.policy,
        transition=body.transition,
        to_setting=body.to_setting,
        planned_for=body.planned_for,
        information_shared=body.information_shared,
        **ctx.on(body.happened_on),
    )


def _transfer(pupil: Pupil, body: TransferWithinTrust, ctx: Context) -> None:
    pupil.transfer_within_trust(
        to_academy=body.to_academy, reason=body.reason, **ctx.on(body.happened_on)
    )


def _change_year_group(pupil: Pupil, body: ChangeYearGroup, ctx: Context) -> None:
    pupil.change_year_group(
        year_group=body.year_group, reason=body.reason, **ctx.on(body.happened_on)
    )


def _assign_key_worker(pupil: Pupil, body: AssignKeyWorker, ctx: Context) -> None:
    pupil.assign_key_worker(key_worker=body.key_worker, **ctx.on(body.happened_on))


def _leave_trust(pupil: Pupil, body: LeaveTrust, ctx: Context) -> None:
    pupil.leave_trust(
        policy=ctx.policy,
        destination=body.destination,
        records_sent_on=body.records_sent_on,
        receipt_acknowledged_on=body.receipt_acknowledged_on,
        receipt_acknowledged_by=body.receipt_acknowledged_by,
        **ctx.on(body.happened_on),
    )


def _place_hold(pupil: Pupil, body: PlaceLegalHold, ctx: Context) -> None:
    pupil.place_legal_hold(reason=body.reason, requested_by=body.requested_by, **ctx.on(None))


def _lift_holds(pupil: Pupil, body: LiftLegalHolds, ctx: Context) -> None:
    if not pupil.holds:
        raise InvalidEntry(f"pupil {pupil.id} has no legal hold in force")
    for hold_id in list(pupil.holds):
        pupil.lift_legal_hold(hold_id=hold_id, reason=body.reason, **ctx.on(None))


def _request_subject_access(pupil: Pupil, body: RequestSubjectAccess, ctx: Context) -> None:
    pupil.request_subject_access(
        request_reference=body.request_reference,
        requester_relationship=body.requester_relationship,
        **ctx.on(body.received_on),
    )


def _extend_subject_access(pupil: Pupil, body: ExtendSubjectAccess, ctx: Context) -> None:
    pupil.extend_subject_access(
        request_seq=body.request_seq, reason=body.reason, **ctx.on(body.told_on)
    )


def _refuse_erasure(pupil: Pupil, body: RefuseErasure, ctx: Context) -> None:
    pupil.refuse_erasure(
        entry_seq=body.entry_seq,
        request_reference=body.request_reference,
        requester_relationship=body.requester_relationship,
        reason=body.reason,
        legal_basis=body.legal_basis,
        **ctx.on(None),
    )


COMMANDS: tuple[Command, ...] = (
    Command(
        "concerns",
        "Raise a concern",
        "Log a concern about the pupil: the start of every chronology.",
        RaiseConcern,
        "ConcernRaised",
        _raise_concern,
        (S, S, S, D, D, D, D),
    ),
    Command(
        "register-status",
        "Change SEND register status",
        "Move the pupil on the graduated response, as the trust's policy allows.",
        ChangeRegisterStatus,
        "RegisterStatusChanged",
        _change_register_status,
    ),
    Command(
        "needs",
        "Record a need",
        "Record an area of need by its census type code, as the primary or a secondary need.",
        RecordNeed,
        "NeedRecorded",
        _record_need,
    ),
    Command(
        "need-withdrawals",
        "Withdraw a need",
        "Record that a need no longer applies (a primary need on K or E must be replaced first).",
        WithdrawNeed,
        "NeedWithdrawn",
        _withdraw_need,
    ),
    Command(
        "corrections",
        "Correct an entry",
        "Say what was wrong with an earlier entry and why; the entry itself never changes.",
        CorrectEntry,
        "EntryCorrected",
        _correct_entry,
        (S, D, S, S, D, D, D),
    ),
    Command(
        "plans",
        "Agree a plan",
        "Record a plan agreed with the pupil and family: outcomes, provision, review date.",
        AgreePlan,
        "PlanAgreed",
        _agree_plan,
    ),
    Command(
        "plan-reviews",
        "Review a plan",
        "Record a plan's review: an outcome per target, voices, next steps.",
        ReviewPlan,
        "PlanReviewed",
        _review_plan,
    ),
    Command(
        "agencies",
        "Involve an outside agency",
        "Record that an outside professional service became involved.",
        InvolveAgency,
        "ExternalAgencyInvolved",
        _involve_agency,
    ),
    Command(
        "advice",
        "Record advice received",
        "Record advice from an outside professional and what they recommend.",
        ReceiveAdvice,
        "AdviceReceived",
        _receive_advice,
    ),
    Command(
        "ehc-assessment-requests",
        "Request an EHC needs assessment",
        "Record a request to the local authority for an EHC needs assessment.",
        RequestEhcNeedsAssessment,
        "EHCNeedsAssessmentRequested",
        _request_assessment,
    ),
    Command(
        "la-information-requests",
        "Record an LA information request",
        "Record what the local authority asked for; the answer is due by the trust's policy.",
        RecordLaInformationRequest,
        "LAInformationRequested",
        _la_information,
    ),
    Command(
        "la-information-sent",
        "Record information sent to the LA",
        "Record that the school sent the local authority what it asked for.",
        SendLaInformation,
        "LAInformationProvided",
        _send_la_information,
    ),
    Command(
        "ehc-assessment-decisions",
        "Record the LA's decision whether to assess",
        "Record the local authority's decision on the request, dated its letter.",
        RecordAssessmentDecision,
        "EHCAssessmentDecided",
        _assessment_decision,
    ),
    Command(
        "ehc-issue-decisions",
        "Record the LA's decision whether to issue",
        "Record the local authority's decision, after the assessment, whether to issue a plan.",
        RecordIssueDecision,
        "EHCPlanDecided",
        _issue_decision,
    ),
    Command(
        "draft-ehc-plans",
        "Record a draft EHC plan received",
        "Record the draft EHC plan the local authority sent; parents have 15 days to comment.",
        ReceiveDraftEhcPlan,
        "DraftEHCPlanReceived",
        _draft_plan,
    ),
    Command(
        "ehc-plans",
        "Record an issued EHC plan",
        "Record the EHC plan the local authority issued, or one that came with the pupil.",
        IssueEhcPlan,
        "EHCPlanIssued",
        _issue_ehc_plan,
    ),
    Command(
        "annual-reviews",
        "Arrange an annual review",
        "Arrange the EHC plan's annual review meeting, with the notice the policy requires.",
        ScheduleAnnualReview,
        "AnnualReviewScheduled",
        _schedule_annual_review,
    ),
    Command(
        "annual-review-papers",
        "Circulate the annual review papers",
        "Record that the advice for the annual review meeting went to every invitee.",
        CirculateReviewPapers,
        "AnnualReviewPapersCirculated",
        _circulate_papers,
    ),
    Command(
        "annual-review-meetings",
        "Record an annual review meeting",
        "Record the annual review meeting held: who came, the voices, the recommendation.",
        HoldAnnualReview,
        "AnnualReviewHeld",
        _hold_annual_review,
    ),
    Command(
        "annual-review-reports",
        "Send the annual review report",
        "Record that the annual review report was sent, and to whom.",
        SendAnnualReviewReport,
        "AnnualReviewReportSent",
        _send_report,
    ),
    Command(
        "annual-review-decisions",
        "Record the LA's decision after an annual review",
        "Record whether the local authority will maintain, amend or cease the plan.",
        RecordReviewDecision,
        "AnnualReviewDecided",
        _review_decision,
    ),
    Command(
        "ehc-plan-amendments",
        "Record an EHC plan amendment",
        "Record that the local authority amended the EHC plan.",
        AmendEhcPlan,
        "EHCPlanAmended",
        _amend_ehc_plan,
    ),
    Command(
        "ehc-plan-cessations",
        "Record that an EHC plan ceased",
        "Record that the local authority ceased the EHC plan.",
        CeaseEhcPlan,
        "EHCPlanCeased",
        _cease_ehc_plan,
    ),
    Command(
        "safeguarding-cross-references",
        "Cross-reference a safeguarding log",
        "Point at a CPOMS log with a one-line note and the DSL's decision; never the detail.",
        CrossReferenceSafeguarding,
        "SafeguardingCrossReferenced",
        _cross_reference,
        (S, D, S, D, D, D, D),
        decided_by=Role.DSL,
    ),
    Command(
        "parental-agreements",
        "Record a signed parental agreement",
        "Record what parents or carers signed their agreement to, and until when.",
        SignParentalAgreement,
        "ParentalAgreementSigned",
        _sign_agreement,
    ),
    Command(
        "exam-access-arrangements",
        "Grant exam access arrangements",
        "Record access arrangements granted for tests and examinations.",
        GrantExamAccess,
        "ExamAccessArrangementGranted",
        _grant_exam_access,
    ),
    Command(
        "transitions",
        "Plan a transition",
        "Plan a move to another phase, setting or class, and what is shared.",
        PlanTransition,
        "TransitionPlanned",
        _plan_transition,
    ),
    Command(
        "transfers",
        "Transfer within the trust",
        "Move the pupil to another academy of the trust; that academy's staff then hold it.",
        TransferWithinTrust,
        "TransferredWithinTrust",
        _transfer,
    ),
    Command(
        "departures",
        "Record leaving the trust",
        "Record the pupil leaving (last day on roll), and when records went and arrived.",
        LeaveTrust,
        "LeftTrust",
        _leave_trust,
        (S, D, S, D, D, D, D),
    ),
    Command(
        "rejoinings",
        "Record a pupil re-joining",
        "Record that a pupil who left the trust is back on roll; the record reopens.",
        RejoinTrust,
        "PupilRejoined",
        _rejoin,
    ),
    Command(
        "year-groups",
        "Change the year group",
        "Record that the pupil is taught in another year group from a date (kept back, moved "
        "up, out of their chronological year group).",
        ChangeYearGroup,
        "YearGroupChanged",
        _change_year_group,
    ),
    Command(
        "key-workers",
        "Name the key worker",
        "Name the pupil's key worker: the adult who knows their needs and plan and is the "
        "family's first contact.",
        AssignKeyWorker,
        "KeyWorkerAssigned",
        _assign_key_worker,
        names_user=("key_worker", frozenset({Role.SENDCO, Role.TEACHER, Role.DSL})),
    ),
    Command(
        "monitoring-reviews",
        "Review monitoring",
        "Record a review of the pupil's place on the monitoring register.",
        ReviewMonitoring,
        "MonitoringReviewed",
        _review_monitoring,
    ),
    # Retention and data-protection rights: the DPO's entries, audited in retention_audit.
    Command(
        "legal-holds",
        "Place a legal hold",
        "Place a legal hold: the records cannot be purged until it is lifted.",
        PlaceLegalHold,
        "LegalHoldPlaced",
        _place_hold,
        DPO_ONLY,
        audit="hold",
    ),
    Command(
        "legal-holds/release",
        "Lift the legal holds",
        "Lift every legal hold in force (one entry per hold).",
        LiftLegalHolds,
        "LegalHoldLifted",
        _lift_holds,
        DPO_ONLY,
        audit="release",
    ),
    Command(
        "subject-access-requests",
        "Record a subject access request",
        "Record a subject access request; the response is due one calendar month after receipt.",
        RequestSubjectAccess,
        "SubjectAccessRequested",
        _request_subject_access,
        DPO_ONLY,
        audit="subject_access",
    ),
    Command(
        "subject-access-extensions",
        "Extend a subject access response",
        "Extend the response to a complex subject access request by two further months, "
        "having told the requester why within the first month.",
        ExtendSubjectAccess,
        "SubjectAccessExtended",
        _extend_subject_access,
        DPO_ONLY,
        audit="extend_subject_access",
    ),
    Command(
        "erasure-refusals",
        "Record a refused erasure request",
        "Record that erasing an entry was asked for and refused; the entry itself is kept.",
        RefuseErasure,
        "ErasureRequestRefused",
        _refuse_erasure,
        DPO_ONLY,
        audit="refuse_erasure",
    ),
)

BY_SLUG: dict[str, Command] = {c.slug: c for c in COMMANDS}
BY_EVENT: dict[str, Command] = {c.event: c for c in COMMANDS}

_PARENT = "a parent's or carer's own words"

# Every kind of entry on a pupil's record (docs/events.md), whoever adds it. Third-party
# fields are marked for the DPO's review in a subject-access export and withheld from a
# copy to parents (docs/policies.md); staff ids acting in their professional role are not
# third-party information (the ICO's guidance: usually disclosed).
ENTRY_KINDS: dict[str, EntryKind] = {
    "PupilRegistered": EntryKind(deadlines=("phase_transfer",)),
    "ConcernRaised": EntryKind(
        ("description", "evidence"), "free text: may name or describe other pupils or adults"
    ),
    "RegisterStatusChanged": EntryKind(deadlines=("monitoring_review",)),
    "NeedRecorded": EntryKind(),
    "NeedWithdrawn": EntryKind(),
    "EntryCorrected": EntryKind(),
    "PlanAgreed": EntryKind(deadlines=("plan_review", "reduced_timetable_review")),
    "PlanReviewed": EntryKind(
        ("parent_voice",), _PARENT, deadlines=("plan_review", "reduced_timetable_review")
    ),
    "ExternalAgencyInvolved": EntryKind(
        ("professional", "reason"),
        "names an outside professional; their reasons are their information too",
    ),
    "AdviceReceived": EntryKind(
        ("professional", "summary", "recommendations"),
        "advice from an outside professional (their name, opinion and report): ask them "
        "or consider the DPA 2018 Sch. 2 Part 3 test",
    ),
    "EHCNeedsAssessmentRequested": EntryKind(deadlines=("la_assessment_decision", "la_final_plan")),
    "LAInformationRequested": EntryKind(deadlines=("la_information",)),
    "LAInformationProvided": EntryKind(deadlines=("la_information",)),
    "EHCAssessmentDecided": EntryKind(
        deadlines=("la_assessment_decision", "la_issue_decision", "la_final_plan")
    ),
    "EHCPlanDecided": EntryKind(deadlines=("la_issue_decision", "la_final_plan")),
    "DraftEHCPlanReceived": EntryKind(deadlines=("la_issue_decision",)),
    "EHCPlanIssued": EntryKind(
        deadlines=(
            "la_information",
            "phase_transfer",
            "la_assessment_decision",
            "la_issue_decision",
            "la_final_plan",
        )
    ),
    "AnnualReviewPapersCirculated": EntryKind(
        ("circulated_to",),
        "names the people the papers went to",
        deadlines=("annual_review_papers",),
    ),
    "AnnualReviewDecided": EntryKind(deadlines=("la_review_decision", "la_amended_plan")),
    "MonitoringReviewed": EntryKind(deadlines=("monitoring_review",)),
    "PupilRejoined": EntryKind(
        ("returned_from",),
        "names the setting the pupil comes back from",
        deadlines=("phase_transfer",),
    ),
    "YearGroupChanged": EntryKind(deadlines=("phase_transfer",)),
    "KeyWorkerAssigned": EntryKind(),
    "AnnualReviewScheduled": EntryKind(
        ("invitees",),
        "names the people invited",
        deadlines=("annual_review_notice", "annual_review_papers"),
    ),
    "AnnualReviewHeld": EntryKind(
        ("attendees", "parent_voice"),
        "names the attendees; " + _PARENT,
        deadlines=(
            "la_review_decision",
            "annual_review",
            "annual_review_papers",
            "annual_review_notice",
            "annual_review_report",
        ),
    ),
    "AnnualReviewReportSent": EntryKind(
        ("sent_to",),
        "names the recipients",
        deadlines=("annual_review_report", "annual_review", "annual_review_notice"),
    ),
    "EHCPlanAmended": EntryKind(deadlines=("phase_transfer", "la_amended_plan")),
    "EHCPlanCeased": EntryKind(
        deadlines=("annual_review", "phase_transfer", "la_review_decision", "la_amended_plan")
    ),
    "SafeguardingCrossReferenced": EntryKind(
        ("cpoms_log_id", "note", "decided_by"),
        "safeguarding: may identify others or risk serious harm (DPA 2018 Sch. 3)",
    ),
    "HistoryImported": EntryKind(
        ("title", "details", "imported_from"),
        "free text from another product, with its original author: may name or describe "
        "other pupils or adults",
    ),
    "SafeguardingReferenceImported": EntryKind(
        ("cpoms_log_id", "note"),
        "safeguarding: may identify others or risk serious harm (DPA 2018 Sch. 3)",
    ),
    "ParentalAgreementSigned": EntryKind(
        ("signed_by", "relationship", "notes"),
        "names the parent or carer who signed",
        deadlines=("parental_agreement",),
    ),
    "ExamAccessArrangementGranted": EntryKind(deadlines=("exam_access_review",)),
    "TransitionPlanned": EntryKind(deadlines=("phase_transfer",)),
    "TransferredWithinTrust": EntryKind(),
    "LeftTrust": EntryKind(
        ("receipt_acknowledged_by",),
        "names a person at the next setting",
        deadlines=("records_transfer",),
    ),
    "LegalHoldPlaced": EntryKind(
        ("requested_by", "reason"), "may name a claimant or legal adviser"
    ),
    "LegalHoldLifted": EntryKind(),
    "RecordsDisclosed": EntryKind(
        ("recipient",), "names who received the records", deadlines=("subject_access",)
    ),
    "SubjectAccessRequested": EntryKind(deadlines=("subject_access",)),
    "SubjectAccessExtended": EntryKind(deadlines=("subject_access",)),
    "ErasureRequestRefused": EntryKind(),
    "RecordsPurged": EntryKind(),
}
