"""Command routes: each POST is one typed entry on a pupil's record (docs/api.md).

The catalogue of commands is one table, `COMMANDS`: a URL segment, a title, the request
body (a pydantic model with examples) and how the body becomes a call on the `Pupil`
aggregate. The HTTP routes (`POST /pupils/{pupil_id}/{slug}`), the permission table's rows
and the web interface's forms are all generated from it, so a new kind of entry is one row.

This module deliberately does not use `from __future__ import annotations`: the generated
route functions annotate their body with the row's model, which FastAPI must resolve at
runtime.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.http.auth import BasedOn, Caller, IdempotencyKey, Permitted, ServiceDep
from api.http.errors import ApiError, responses
from api.http.models import (
    AgreePlan,
    AmendEhcPlan,
    CeaseEhcPlan,
    ChangeRegisterStatus,
    CorrectEntry,
    CrossReferenceSafeguarding,
    GrantExamAccess,
    HoldAnnualReview,
    InvolveAgency,
    IssueEhcPlan,
    LeaveTrust,
    PlanTransition,
    RaiseConcern,
    ReceiveAdvice,
    RecordLaInformationRequest,
    RecordNeed,
    RegisterPupil,
    RequestEhcNeedsAssessment,
    ReviewPlan,
    ScheduleAnnualReview,
    SendAnnualReviewReport,
    SignParentalAgreement,
    TransferWithinTrust,
    WithdrawNeed,
    Written,
)
from api.http.writes import WriteRequest, run
from domain.policy import TrustPolicy
from domain.pupil import Pupil
from domain.values import Recorder, SmartOutcome, TargetReview

router = APIRouter(prefix="/pupils", tags=["entries"])
_WRITE_ERRORS = responses(400, 401, 403, 404, 409, 410, 422, 428)


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


@dataclass(frozen=True)
class Command:
    """One kind of entry a person can add to a pupil's record."""

    slug: str  # POST /pupils/{pupil_id}/{slug}
    title: str  # imperative, for forms and /docs: "Raise a concern"
    summary: str  # one sentence for /docs and the form's help text
    body: type[BaseModel]
    event: str  # the event type it records
    apply: Callable[[Pupil, Any, Context], None]

    @property
    def path(self) -> str:
        return f"/pupils/{{pupil_id}}/{self.slug}"

    @property
    def endpoint(self) -> str:
        """The permission table's key (api/http/permissions.py)."""
        return f"POST {self.path}"


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


def _issue_ehc_plan(pupil: Pupil, body: IssueEhcPlan, ctx: Context) -> None:
    pupil.issue_ehc_plan(
        policy=ctx.policy,
        local_authority=body.local_authority,
        plan_reference=body.plan_reference,
        named_setting=body.named_setting,
        transferred_from=body.transferred_from,
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


def _leave_trust(pupil: Pupil, body: LeaveTrust, ctx: Context) -> None:
    pupil.leave_trust(
        policy=ctx.policy,
        destination=body.destination,
        records_sent_on=body.records_sent_on,
        receipt_acknowledged_on=body.receipt_acknowledged_on,
        receipt_acknowledged_by=body.receipt_acknowledged_by,
        **ctx.on(body.happened_on),
    )


COMMANDS: tuple[Command, ...] = (
    Command(
        "concerns",
        "Raise a concern",
        "Log a concern about the pupil: the start of every chronology.",
        RaiseConcern,
        "ConcernRaised",
        _raise_concern,
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
    ),
)

BY_SLUG: dict[str, Command] = {c.slug: c for c in COMMANDS}


def context(svc_policy: TrustPolicy, caller: Caller, now: datetime) -> Context:
    return Context(policy=svc_policy, recorder=caller.recorder, now=now)


@router.post("", status_code=201, response_model=Written, responses=responses(401, 403, 422))
def register_pupil(
    body: RegisterPupil, svc: ServiceDep, caller: Permitted, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Open a pupil's SEND record at one of your academies."""
    if not caller.user.covers(body.academy):
        raise ApiError(
            403,
            "forbidden",
            f"you may register pupils only at your academies "
            f"({', '.join(sorted(caller.user.academies))}), not {body.academy!r}",
        )
    write = WriteRequest(svc, caller, "/pupils", body, None, idempotency_key)

    def register() -> JSONResponse:
        replayed = write.replay()
        if replayed is not None:
            return replayed
        now = svc.records.clock()
        pupil = Pupil.register(
            pupil_id=uuid4(),
            upn=body.upn,
            legal_given_names=body.legal_given_names,
            legal_family_name=body.legal_family_name,
            preferred_name=body.preferred_name,
            date_of_birth=body.date_of_birth,
            academy=body.academy,
            year_group=body.year_group,
            recorded_by=caller.recorder,
            happened_on=body.happened_on or now.date(),
            recorded_at=now,
        )
        return write.save(pupil)

    return run(register)


def _route(command: Command) -> Callable[..., JSONResponse]:
    model = command.body

    def post(
        pupil_id: UUID,
        body: model,  # type: ignore[valid-type]
        svc: ServiceDep,
        caller: Permitted,
        based_on: BasedOn,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        write = WriteRequest(
            svc,
            caller,
            f"/pupils/{pupil_id}/{command.slug}",
            body,
            based_on,
            idempotency_key,
        )

        def apply(pupil: Pupil) -> None:
            command.apply(pupil, body, context(svc.records.policy, caller, svc.records.clock()))

        return run(lambda: write.on_pupil(pupil_id, apply))

    post.__name__ = command.slug.replace("-", "_")
    post.__doc__ = f"{command.summary} (If-Match: the version you read.) Records `{command.event}`."
    return post


for _command in COMMANDS:
    router.add_api_route(
        f"/{{pupil_id}}/{_command.slug}",
        _route(_command),
        methods=["POST"],
        status_code=201,
        response_model=Written,
        responses=_WRITE_ERRORS,
        summary=_command.title,
        name=_command.slug,
    )
