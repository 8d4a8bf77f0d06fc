"""Builders for test pupils and their histories; every name here is invented."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.errors import DomainError
from domain.policy import TrustPolicy, load_policy_named
from domain.pupil import Pupil
from domain.values import (
    AgencyKind,
    AgreementKind,
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
    Role,
    SmartOutcome,
    SubFlag,
    TargetOutcome,
    TargetReview,
    TransitionKind,
    upn_check_letter,
)

SENDCO = Recorder("OAK-sendco-1", Role.SENDCO)
TEACHER = Recorder("OAK-teacher-1", Role.TEACHER)
DSL = Recorder("OAK-dsl-1", Role.DSL)
DPO = Recorder("TRUST-dpo-1", Role.DPO)
RECORDED_AT = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
BORN = date(2015, 5, 17)
REGISTERED = date(2024, 9, 4)
DIGEST = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
_serial = itertools.count(1)


def policy(name: str = "default") -> TrustPolicy:
    return load_policy_named(name)


DEFAULT = policy()


def a_upn() -> str:
    body = f"87320412{next(_serial) % 10000:04d}"
    return upn_check_letter(body) + body


def a_pupil(
    given: str = "Zebedee",
    family: str = "Quartermaine",
    *,
    pupil_id: UUID | None = None,
    academy: str = "OAK",
    concerns: int = 1,
) -> Pupil:
    pupil = Pupil.register(
        pupil_id=pupil_id or uuid4(),
        upn=a_upn(),
        legal_given_names=given,
        legal_family_name=family,
        preferred_name=None,
        date_of_birth=BORN,
        academy=academy,
        year_group=4,
        recorded_by=SENDCO,
        happened_on=REGISTERED,
        recorded_at=RECORDED_AT,
    )
    for n in range(concerns):
        add_concern(pupil, f"Concern {n}: struggles with phonics, note by Mrs Featherstonehaugh")
    return pupil


def add_concern(pupil: Pupil, description: str = "Finds transitions between lessons hard") -> None:
    pupil.raise_concern(
        source=ConcernSource.TEACHER,
        area_of_need=None,
        description=description,
        evidence="Observation",
        recorded_by=TEACHER,
        happened_on=date(2025, 1, 15),
        recorded_at=RECORDED_AT,
    )


def on(day: date, by: Recorder = SENDCO) -> dict[str, Any]:
    """Who and when, for a command: recorded by `by` on `day` itself, at 4 pm."""
    return {
        "recorded_by": by,
        "happened_on": day,
        "recorded_at": datetime.combine(day, time(16), tzinfo=UTC),
    }


def refused(pupil: Pupil, error: type[Exception], match: str, command: Any, **kw: Any) -> None:
    """The command raises `error` with a message matching `match`, and emits nothing."""
    version, pending = pupil.version, len(pupil.pending_events)
    with pytest.raises(error, match=match):
        command(**kw)
    assert len(pupil.pending_events) == pending and pupil.version == version


# ----- steps of a history ---------------------------------------------------------------


def primary_need(pupil: Pupil, day: date, need: NeedType = NeedType.SLCN) -> None:
    pupil.record_need(need=need, primary=True, notes="Speech and language screen", **on(day))


def move(
    pupil: Pupil,
    day: date,
    status: RegisterStatus,
    *,
    policy: TrustPolicy = DEFAULT,
    flags: tuple[SubFlag, ...] = (),
) -> None:
    pupil.change_register_status(
        policy=policy,
        status=status,
        sub_flags=flags,
        reason="Agreed at the review meeting with parents",
        decision_maker="OAK-sendco-1",
        parents_informed_on=day,
        **on(day),
    )


def involve(
    pupil: Pupil, day: date, agency: AgencyKind = AgencyKind.EDUCATIONAL_PSYCHOLOGIST
) -> None:
    pupil.involve_agency(
        agency=agency,
        service="Northshire Educational Psychology Service",
        professional="Dr Ottoline Vance",
        reason="Little progress after two APDR cycles",
        **on(day),
    )


def sign(
    pupil: Pupil, day: date, agreement: AgreementKind, *, policy: TrustPolicy = DEFAULT
) -> None:
    pupil.sign_parental_agreement(
        policy=policy,
        agreement=agreement,
        signed_by="Mrs Perpetua Quartermaine",
        relationship="mother",
        valid_until=None,
        notes="Signed at the parents' meeting",
        **on(day),
    )


def smart(target: str, by_when: date) -> SmartOutcome:
    return SmartOutcome(target=target, measure="Weekly probe, 4 of 5 correct", by_when=by_when)


def agree(
    pupil: Pupil,
    day: date,
    *,
    policy: TrustPolicy = DEFAULT,
    kind: PlanKind = PlanKind.INDIVIDUAL_PLAN,
    targets: Sequence[str] = ("Blends CVC words", "Follows two-part instructions"),
    review_on: date | None = None,
    agreed_by: tuple[Participant, ...] = (Participant.PARENT, Participant.SENDCO),
    la_informed_on: date | None = None,
) -> UUID:
    return pupil.agree_plan(
        policy=policy,
        kind=kind,
        outcomes=[smart(t, day + timedelta(days=84)) for t in targets],
        provision="Daily 10-minute phonics group; visual timetable",
        review_on=review_on,
        agreed_by=agreed_by,
        la_informed_on=la_informed_on,
        **on(day),
    )


def review(
    pupil: Pupil,
    day: date,
    plan_id: UUID,
    *,
    targets: Sequence[str] = ("Blends CVC words", "Follows two-part instructions"),
    closes: bool = False,
) -> None:
    pupil.review_plan(
        plan_id=plan_id,
        outcomes=[TargetReview(t, TargetOutcome.PARTLY) for t in targets],
        pupil_voice="I like the group with Mr Tumnus",
        parent_voice="Reading more at home",
        next_steps="Keep the group; add a word mat",
        next_review_on=None if closes else day + timedelta(days=90),
        closes_plan=closes,
        **on(day),
    )


def request_assessment(pupil: Pupil, day: date, *, policy: TrustPolicy = DEFAULT) -> None:
    pupil.request_ehc_needs_assessment(
        policy=policy,
        local_authority="Northshire County Council",
        requested_by=AssessmentRequester.SCHOOL,
        reason="Needs exceed what SEN support can provide",
        **on(day),
    )


def issue_plan(
    pupil: Pupil, day: date, *, policy: TrustPolicy = DEFAULT, transferred_from: str | None = None
) -> None:
    pupil.issue_ehc_plan(
        policy=policy,
        local_authority="Northshire County Council",
        plan_reference="NCC-EHCP-0042",
        named_setting="Oakfield Primary Academy",
        transferred_from=transferred_from,
        **on(day),
    )


def decide_assessment(
    pupil: Pupil, day: date, decision: AssessmentDecision = AssessmentDecision.ASSESS
) -> None:
    """The LA's decision whether to assess, its letter dated the day before the school heard."""
    pupil.record_assessment_decision(
        local_authority="Northshire County Council",
        decision=decision,
        letter_dated=day - timedelta(days=1),
        la_reference="NCC-EHC-0042",
        **on(day),
    )


def decide_issue(pupil: Pupil, day: date, decision: IssueDecision = IssueDecision.ISSUE) -> None:
    pupil.record_issue_decision(
        local_authority="Northshire County Council",
        decision=decision,
        letter_dated=day - timedelta(days=1),
        la_reference="NCC-EHC-0042",
        **on(day),
    )


def receive_draft(pupil: Pupil, day: date) -> None:
    pupil.record_draft_plan(
        local_authority="Northshire County Council",
        letter_dated=day - timedelta(days=1),
        la_reference="NCC-EHC-0042",
        setting_named="Oakfield Primary Academy",
        **on(day),
    )


def decide_review(
    pupil: Pupil, day: date, decision: ReviewRecommendation = ReviewRecommendation.MAINTAIN
) -> None:
    pupil.record_review_decision(
        local_authority="Northshire County Council",
        decision=decision,
        letter_dated=day - timedelta(days=1),
        la_reference="NCC-EHCP-0042",
        **on(day),
    )


def schedule_review(
    pupil: Pupil, day: date, meeting_on: date, *, policy: TrustPolicy = DEFAULT
) -> None:
    pupil.schedule_annual_review(
        policy=policy,
        meeting_on=meeting_on,
        invitees=("parents", "Northshire SEN team", "educational psychologist"),
        notice_given_on=day,
        **on(day),
    )


def hold_review(pupil: Pupil, day: date, *, policy: TrustPolicy = DEFAULT) -> None:
    pupil.hold_annual_review(
        policy=policy,
        attendees=("parents", "class teacher", "SENDCo"),
        papers_circulated_on=day - timedelta(days=14),
        pupil_voice="Likes the quiet room",
        parent_voice="Happy with progress in reading",
        recommendation=ReviewRecommendation.MAINTAIN,
        **on(day),
    )


def send_report(pupil: Pupil, day: date) -> None:
    pupil.send_annual_review_report(
        sent_to=("Northshire SEN team", "parents"), summary="Plan to be maintained", **on(day)
    )


# ----- a history with every kind of entry -----------------------------------------------


def a_full_history(pupil_id: UUID | None = None, *, purged: bool = True) -> Pupil:
    """One pupil whose record holds every event type once at least, under the default
    policy; purged at the end unless `purged` is false."""
    pupil = a_pupil(pupil_id=pupil_id, concerns=0)
    d = date(2024, 9, 16)

    def step(days: int) -> date:
        nonlocal d
        d += timedelta(days=days)
        return d

    pupil.raise_concern(
        source=ConcernSource.PARENT,
        area_of_need=None,
        description="Parent reports distress at drop-off",
        evidence="Parent meeting notes",
        **on(step(1), TEACHER),
    )
    move(pupil, step(7), RegisterStatus.MONITORING)
    pupil.review_monitoring(
        policy=DEFAULT, findings="Settling; stays on monitoring", **on(step(14))
    )
    primary_need(pupil, step(16))
    pupil.record_need(need=NeedType.SEMH, primary=False, notes="Anxiety", **on(step(1)))
    pupil.withdraw_need(need=NeedType.SEMH, reason="Anxiety eased", **on(step(20)))
    move(pupil, step(1), RegisterStatus.SEN_SUPPORT, flags=(SubFlag.NSA,))
    involve(pupil, step(10))
    sign(pupil, step(1), AgreementKind.EXTERNAL_PROFESSIONALS)
    move(pupil, step(1), RegisterStatus.SEN_SUPPORT, flags=(SubFlag.SPECIALIST_SEND_SUPPORT,))
    plan = agree(pupil, step(1))
    pupil.receive_advice(
        agency=AgencyKind.EDUCATIONAL_PSYCHOLOGIST,
        service="Northshire Educational Psychology Service",
        professional="Dr Ottoline Vance",
        summary="Working memory well below average; verbal reasoning average",
        recommendations=("Chunk instructions", "Pre-teach vocabulary"),
        **on(step(20)),
    )
    review(pupil, step(60), plan)
    request_assessment(pupil, step(5))
    pupil.record_la_information_request(
        policy=DEFAULT,
        local_authority="Northshire County Council",
        information_requested="Educational advice and the last two APDR reviews",
        **on(step(7)),
    )
    pupil.record_la_information_sent(
        answers_seq=pupil.version,
        information_sent="Educational advice and the last two APDR reviews",
        **on(step(14)),
    )
    decide_assessment(pupil, step(14))
    decide_issue(pupil, step(50))
    receive_draft(pupil, step(5))
    issue_plan(pupil, step(31))
    move(pupil, step(1), RegisterStatus.EHCP)
    schedule_review(pupil, step(300), d + timedelta(days=21))
    pupil.circulate_annual_review_papers(
        circulated_to=("parents", "Northshire SEN team"), **on(step(7))
    )
    hold_review(pupil, step(14))
    send_report(pupil, step(10))
    decide_review(pupil, step(7), ReviewRecommendation.AMEND)
    pupil.amend_ehc_plan(
        local_authority="Northshire County Council",
        changes="Section F: weekly speech and language therapy",
        reason="Annual review recommendation",
        phase_transfer=False,
        **on(step(30)),
    )
    pupil.cross_reference_safeguarding(
        policy=DEFAULT,
        cpoms_log_id="CP-2025-00417",
        note="A CPOMS log exists; ask the DSL before contacting home.",
        dsl_decision=DslDecision.EARLY_HELP,
        decided_by="OAK-dsl-1",
        **on(step(3)),
    )
    pupil.import_history_entry(
        kind=HistoryKind.REVIEW,
        title="Spring term provision review",
        details="Phonics group twice a week continues.",
        imported_from=Provenance("Provision Map", "PM-88213", "J. Okafor", "14/03/2024 15:42"),
        **on(step(1)),
    )
    pupil.import_safeguarding_reference(
        policy=DEFAULT,
        cpoms_log_id="CP-2023-00871",
        imported_from=Provenance("CPOMS", "CP-2023-00871", "", "2023-06-02 10:15"),
        **on(step(1)),
    )
    pupil.grant_exam_access(
        policy=DEFAULT,
        arrangements=(ExamArrangement.EXTRA_TIME, ExamArrangement.READER),
        for_assessments="Key stage 2 tests",
        evidence="Standardised reading score 78; reader is normal way of working",
        **on(step(2)),
    )
    sign(pupil, step(1), AgreementKind.INFORMATION_SHARING)
    pupil.plan_transition(
        policy=DEFAULT,
        transition=TransitionKind.PHASE_TRANSFER,
        to_setting="Riverside Academy",
        planned_for=date(2027, 9, 2),
        information_shared="EHC plan, one-page profile, latest review",
        **on(step(5)),
    )
    pupil.transfer_within_trust(to_academy="HTH", reason="Family moved across town", **on(step(20)))
    pupil.cease_ehc_plan(
        local_authority="Northshire County Council",
        reason="Moved to a setting in another local authority",
        **on(step(10)),
    )
    hold = pupil.place_legal_hold(
        reason="Tribunal appeal lodged", requested_by="Trust solicitor", **on(step(1), DPO)
    )
    pupil.record_disclosure(
        policy=DEFAULT,
        recipient="First-tier Tribunal (SEND)",
        purpose=DisclosurePurpose.SEND_TRIBUNAL_APPEAL,
        purpose_detail="Appeal bundle",
        legal_basis="SEND Regulations 2014; UK GDPR art. 6(1)(c)",
        up_to_seq=pupil.version,
        redacted_seqs=(),
        export_digest=DIGEST,
        **on(step(1), DPO),
    )
    pupil.leave_trust(
        policy=DEFAULT,
        destination="Westmoor Academy, Eastshire",
        records_sent_on=d + timedelta(days=2),
        receipt_acknowledged_on=d + timedelta(days=3),
        receipt_acknowledged_by="Westmoor SENDCo",
        **on(step(3)),
    )
    pupil.rejoin(academy="HTH", year_group=7, returned_from="Westmoor Academy", **on(step(20)))
    pupil.assign_key_worker(key_worker="OAK-teacher-2", **on(step(1)))
    kept_back = step(5)
    pupil.change_year_group(
        year_group=pupil.year_group_on(kept_back) - 1,
        reason="Kept back a year after long absence; agreed with parents",
        **on(kept_back),
    )
    pupil.leave_trust(
        policy=DEFAULT,
        destination="Westmoor Academy, Eastshire",
        records_sent_on=d + timedelta(days=1),
        receipt_acknowledged_on=None,
        receipt_acknowledged_by=None,
        **on(step(20)),
    )
    pupil.correct_entry(
        corrects_seq=2,
        what_was_wrong="Source recorded as parent",
        correction="Raised by the class teacher after a parent's phone call",
        reason="Checked against the class teacher's notes",
        **on(step(1)),
    )
    pupil.lift_legal_hold(hold_id=hold, reason="Appeal withdrawn", **on(step(30), DPO))
    pupil.request_subject_access(
        request_reference="SAR-2026-014", requester_relationship="parent", **on(step(1), DPO)
    )
    pupil.extend_subject_access(
        request_seq=pupil.version,
        reason="Records across two academies and three agencies",
        **on(step(2), DPO),
    )
    pupil.refuse_erasure(
        entry_seq=2,
        request_reference="ER-2026-003",
        requester_relationship="parent",
        reason="Record of the graduated response; kept until the pupil is 25",
        legal_basis="UK GDPR art. 17(3)(b)",
        **on(step(1), DPO),
    )
    if purged:
        purge(pupil, step(1))
    return pupil


def purge(pupil: Pupil, day: date) -> None:
    pupil.record_purge(
        proposed_by="TRUST-dpo-1", approved_by="TRUST-dpo-2", reason="DOB + 25", **on(day, DPO)
    )


# ----- random histories (for property tests) ----------------------------------------------
#
# A history is a list of (step, number) pairs played from a registered pupil under one
# policy. Each step turns its number into the arguments of one command; many are refused,
# which is the point: the accepted ones must replay and round-trip exactly.

Step = Callable[[Pupil, date, int, TrustPolicy], None]
_NOTE = "A CPOMS log exists; ask the DSL. "


def _pick(options: Sequence[Any], n: int, shift: int = 0) -> Any:
    return options[(n >> shift) % len(options)]


def _step_concern(p: Pupil, d: date, n: int, t: TrustPolicy) -> None:
    p.raise_concern(
        source=_pick(list(ConcernSource), n),
        area_of_need=None,
        description=_pick(["Slow to settle", "Not reading yet", " "], n, 3),
        evidence="Observation",
        **on(d, TEACHER),
    )


def _step_need(p: Pupil, d: date, n: int, t: TrustPolicy) -> None:
    p.record_need(need=_pick(list(NeedType), n), primary=bool(n & 192), notes="", **on(d))


def _step_withdraw(p: Pupil, d: date, n: int, t: TrustPolicy) -> None:
    needs = sorted(p.needs) if n & 1 and p.needs else list(NeedType)
    p.withdraw_need(need=_pick(needs, n, 1), reason="No longer a barrier", **on(d))


def _step_status(p: Pupil, d: date, n: int, t: TrustPolicy) -> None:
    flags = _pick([(), (), (SubFlag.NSA,), (SubFlag.SPECIALIST_SEND_SUPPORT,)], n, 4)
    # Mostly a move the policy lists, sometimes any status, so refusals are exercised too.
    onward = [RegisterStatus(m.to) for m in t.send_register.transitions if m.from_ == p.status]
    p.change_register_status(
        policy=t,
        status=_pick(onward if onward and n & 3 else list(RegisterStatus), n, 8),
        sub_flags=flags,
        reason="Agreed at review",
        decision_maker="OAK-sendco-1",
        parents_informed_on=None if n & 64 and n & 128 else d,
        **on(d),
    )


def _step_involve(p: Pupil, d: date, n: int, t: TrustPolicy) -> None:
    involve(p, d, _pick(list(AgencyKind), n))


def _step_advice(p: Pupil, d: date, n: int, t: TrustPolicy) -> None:
    p.receive_advice(
        agency=_pick(list(AgencyKind), n),
        service="Northshire SALT",
        professional=None,
        summary="Expressive language delay",
        recommendations=("Visual supports",) * (n % 2),
        **on(d),
    )


def _step_sign(p: Pupil, d: date, n: int, t: TrustPolicy) -> None:
    sign(p, d, _pick(list(AgreementKind), n), policy=t)


def _step_agree(p: Pupil, d: date, n: int, t: TrustPolicy) -> None:
    kind = _pick(list(PlanKind), n)
    irt = kind == PlanKind.INTERIM_REDUCED_TIMETABLE
    agree(
        p,
        d,
        policy=t,
        kind=kind,
        targets=("Blends CVC words", "Follows two-part instructions")[: (n >> 4) % 3],
        agreed_by=(Participant.PARENT, Participant.PRINCIPAL),
        la_informed_on=d if irt and n & 128 else None,
    )


def _step_review(p: Pupil, d: date, n: int, t: TrustPolicy) -> None:
    if not p.plans:
        return
    plan_id = _pick(sorted(p.plans), n)
    review(p, d, plan_id, targets=p.plans[plan_id].targets, closes=bool(n & 64))


def _step_request(p: Pupil, d: date, n: int, t: TrustPolicy) -> None:
    request_assessment(p, d, policy=t)


def _step_la_request(p: Pupil, d: date, n: int, t: TrustPolicy) -> None:
    p.record_la_information_request(
        policy=t,
        local_authority="Northshire County Council",
        information_requested="Advice",
        **on(d),
    )


def _step_issue(p: Pupil, d: date, n: int, t: TrustPolicy) -> None:
    issue_plan(p, d, policy=t, transferred_from="Westmoor Primary" if n % 4 == 0 else None)


def _step_schedule(p: Pupil, d: date, n: int, t: TrustPolicy) -> None:
    schedule_review(p, d, d + timedelta(days=10 + n % 28), policy=t)


def _step_hold(p: Pupil, d: date, n: int, t: TrustPolicy) -> None:
    hold_review(p, d, policy=t)


def _step_report(p: Pupil, d: date, n: int, t: TrustPolicy) -> None:
    send_report(p, d)


def _step_amend(p: Pupil, d: date, n: int, t: TrustPolicy) -> None:
    p.amend_ehc_plan(
        local_authority="Northshire County Council",
        changes="Section F",
        reason="Review",
        phase_transfer=bool(n & 1),
        **on(d),
    )


def _step_cease(p: Pupil, d: date, n: int, t: TrustPolicy) -> None:
    p.cease_ehc_plan(local_authority="Northshire County Council", reason="Needs met", **on(d))


def _step_safeguarding(p: Pupil, d: date, n: int, t: TrustPolicy) -> None:
    p.cross_reference_safeguarding(
        policy=t,
        cpoms_log_id=f"CP-{n % 100000:05d}",
        note=_NOTE * (1 + n % 12),
        dsl_decision=_pick([d for d in DslDecision if d != DslDecision.NOT_SAFEGUARDING], n, 4),
        decided_by=None if n & 1024 else "OAK-dsl-1",
        **on(d),
    )


def _step_exam(p: Pupil, d: date, n: int, t: TrustPolicy) -> None:
    p.grant_exam_access(
        policy=t,
        arrangements=(_pick(list(ExamArrangement), n),),
        for_assessments="Key stage 2 tests",
        evidence="Normal way of working",
        **on(d),
    )


def _step_transition(p: Pupil, d: date, n: int, t: TrustPolicy) -> None:
    p.plan_transition(
        policy=t,
        transition=_pick(list(TransitionKind), n),
        to_setting="Riverside Academy",
        planned_for=d + timedelta(days=n % 300),
        information_shared="One-page profile" if n & 512 else "",
        **on(d),
    )


def _step_transfer(p: Pupil, d: date, n: int, t: TrustPolicy) -> None:
    p.transfer_within_trust(to_academy=_pick(["OAK", "RIV", "HTH"], n), reason="Move", **on(d))


def _step_leave(p: Pupil, d: date, n: int, t: TrustPolicy) -> None:
    acknowledged = bool(n & 2)
    p.leave_trust(
        policy=t,
        destination=_pick(["Westmoor Academy", "Home education"], n, 2),
        records_sent_on=d if n & 1 else None,
        receipt_acknowledged_on=d if acknowledged else None,
        receipt_acknowledged_by="Westmoor SENDCo" if acknowledged else None,
        **on(d),
    )


def _step_correct(p: Pupil, d: date, n: int, t: TrustPolicy) -> None:
    p.correct_entry(
        corrects_seq=1 + n % (p.version + 1),
        what_was_wrong="Wrong date",
        correction="A week earlier",
        reason="Checked the diary",
        **on(d),
    )


def _step_legal_hold(p: Pupil, d: date, n: int, t: TrustPolicy) -> None:
    if p.holds and n & 1:
        p.lift_legal_hold(hold_id=_pick(sorted(p.holds), n, 1), reason="Settled", **on(d, DPO))
    else:
        p.place_legal_hold(reason="Claim", requested_by="Trust solicitor", **on(d, DPO))


def _step_disclose(p: Pupil, d: date, n: int, t: TrustPolicy) -> None:
    up_to = 1 + n % p.version
    p.record_disclosure(
        policy=t,
        recipient="First-tier Tribunal (SEND)",
        purpose=_pick(list(DisclosurePurpose), n, 8),
        purpose_detail="Appeal",
        legal_basis="SEND Regulations 2014",
        up_to_seq=up_to,
        redacted_seqs=(up_to,) if n & 4 else (),
        export_digest=DIGEST,
        **on(d, DPO),
    )


def _step_subject_access(p: Pupil, d: date, n: int, t: TrustPolicy) -> None:
    relationship = ("pupil", "parent", "carer", "legal_representative", "other")[n % 5]
    p.request_subject_access(
        request_reference=f"SAR-{n}", requester_relationship=relationship, **on(d, DPO)
    )


def _step_refuse_erasure(p: Pupil, d: date, n: int, t: TrustPolicy) -> None:
    p.refuse_erasure(
        entry_seq=1 + n % (p.version + 1),
        request_reference=f"ER-{n}",
        requester_relationship="parent",
        reason="Statutory SEND record",
        legal_basis="UK GDPR art. 17(3)(b)",
        **on(d, DPO),
    )


def _step_purge(p: Pupil, d: date, n: int, t: TrustPolicy) -> None:
    purge(p, d)


STEPS: dict[str, Step] = {
    name.removeprefix("_step_"): step
    for name, step in list(globals().items())
    if name.startswith("_step_")
}
# Weights: the graduated response and plans often, leaving and purging rarely.
_WEIGHTS = {"purge": 1, "leave": 1, "transfer": 2, "legal_hold": 3, "status": 12}
_WEIGHTS |= {"issue": 8, "schedule": 10, "hold": 10, "report": 10}
WEIGHTED_STEPS = [name for name in STEPS for _ in range(_WEIGHTS.get(name, 6))]
POLICY_NAMES = ("default", "harmony", "inspire", "aspire", "humber", "leading-learners")


def play(pupil: Pupil, trust: TrustPolicy, history: Sequence[tuple[str, int, int]]) -> int:
    """Play (step, number, days later) from the registration day; refused commands must
    leave no trace. Returns how many commands were accepted."""
    day, accepted = REGISTERED, 0
    for name, n, gap in history:
        day += timedelta(days=gap)
        version, pending = pupil.version, len(pupil.pending_events)
        try:
            STEPS[name](pupil, day, n, trust)
        except DomainError:
            assert (pupil.version, len(pupil.pending_events)) == (version, pending), name
            continue
        accepted += 1
    return accepted
