"""Each seeded trust's policy, end to end: a pupil's record built, saved, reloaded and read
back through the encrypted store (SQLite and PostgreSQL), and what the policy forbids refused.

The stories follow each trust's published policy (shared/seeds); every name is invented.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from api.application import PupilRecords
from api.demo import DEMO_TODAY, generate
from crypto.kek import InMemoryKekRing
from domain.errors import NotAllowedByPolicy, TransitionNotAllowed
from domain.events import EVENT_TYPES
from domain.policy import TrustPolicy, load_policy_named
from domain.pupil import Pupil
from domain.values import (
    AgencyKind,
    AgreementKind,
    DisclosurePurpose,
    DslDecision,
    ExamArrangement,
    Participant,
    PlanKind,
    RegisterStatus,
    ReviewRecommendation,
    SmartOutcome,
    SubFlag,
    TargetOutcome,
    TargetReview,
)
from projections.base import ProjectedEvent
from tests.conftest import Store
from tests.factories import (
    DIGEST,
    DSL,
    a_pupil,
    agree,
    decide_assessment,
    decide_issue,
    decide_review,
    hold_review,
    involve,
    issue_plan,
    move,
    on,
    primary_need,
    receive_draft,
    refused,
    request_assessment,
    schedule_review,
    send_report,
    sign,
)
from tests.unit.projections.test_deadlines import Schedule


def _reloaded(records: PupilRecords, pupil: Pupil) -> Pupil:
    records.save(pupil)
    loaded = records.get_pupil(pupil.id)
    assert loaded == pupil
    return loaded


def _refused(error: type[Exception], match: str, command: Any, **kw: Any) -> None:
    pupil: Pupil = command.__self__
    refused(pupil, error, match, command, **kw)


def _overdue(records: PupilRecords, pupil: Pupil, policy: TrustPolicy, day: date) -> set[str]:
    """The rules overdue on `day` for this pupil: the stored entries fed to the deadlines
    projection under the trust's policy, on an in-memory database."""
    schedule = Schedule(policy)
    events = [
        ProjectedEvent(n, e.pupil_id, e.seq, e.type, e.payload)
        for n, e in enumerate(records.entries(pupil.id), 1)
    ]
    with schedule.transaction(True) as session:
        schedule.projection.apply_batch(session, events)
    return {d.rule for d in schedule.due(day, overdue_only=True)}


def _entry_types(records: PupilRecords, pupil: Pupil) -> list[str]:
    return [entry.type for entry in records.entries(pupil.id)]


def test_harmony(records: PupilRecords) -> None:
    """Concern, monitoring register, SEN support (NSA), specialist SEND support once an EP
    is involved, an interim reduced timetable with consent and the LA informed, and a brief
    note pointing at CPOMS (Harmony §6, §10.1, §10.2, §11, §13, §17)."""
    harmony = load_policy_named("harmony")
    pupil = a_pupil(concerns=1)  # the concern log starts the chronology
    move(pupil, date(2025, 1, 20), RegisterStatus.MONITORING, policy=harmony)
    primary_need(pupil, date(2025, 3, 3))
    move(pupil, date(2025, 3, 4), RegisterStatus.SEN_SUPPORT, policy=harmony, flags=(SubFlag.NSA,))
    pupil = _reloaded(records, pupil)

    specialist = (SubFlag.SPECIALIST_SEND_SUPPORT,)
    _refused(
        TransitionNotAllowed,
        "needs an outside professional involved",
        pupil.change_register_status,
        policy=harmony,
        status=RegisterStatus.SEN_SUPPORT,
        sub_flags=specialist,
        reason="EP to assess",
        decision_maker="OAK-sendco-1",
        parents_informed_on=date(2025, 4, 1),
        **on(date(2025, 4, 1)),
    )
    sign(pupil, date(2025, 4, 1), AgreementKind.EXTERNAL_PROFESSIONALS, policy=harmony)
    involve(pupil, date(2025, 4, 22), AgencyKind.EDUCATIONAL_PSYCHOLOGIST)
    move(pupil, date(2025, 4, 23), RegisterStatus.SEN_SUPPORT, policy=harmony, flags=specialist)
    pupil = _reloaded(records, pupil)
    assert (pupil.status, pupil.sub_flags) == (RegisterStatus.SEN_SUPPORT, specialist)

    irt = {"kind": PlanKind.INTERIM_REDUCED_TIMETABLE, "targets": ("Attends full mornings",)}
    principal = (Participant.PARENT, Participant.PRINCIPAL, Participant.HEAD_OF_INCLUSION)
    with pytest.raises(NotAllowedByPolicy, match="needs parents' consent"):
        agree(pupil, date(2025, 5, 6), policy=harmony, agreed_by=principal, **irt)
    sign(pupil, date(2025, 5, 6), AgreementKind.INTERIM_REDUCED_TIMETABLE, policy=harmony)
    with pytest.raises(NotAllowedByPolicy, match="give the date it was informed"):
        agree(pupil, date(2025, 5, 7), policy=harmony, agreed_by=principal, **irt)
    agree(
        pupil, date(2025, 5, 7), policy=harmony, agreed_by=principal,
        la_informed_on=date(2025, 5, 7), **irt,
    )  # fmt: skip
    with pytest.raises(NotAllowedByPolicy, match="does not use strategy_sheet plans"):
        agree(pupil, date(2025, 5, 8), policy=harmony, kind=PlanKind.STRATEGY_SHEET)

    brief = "The DSL has logged a matter on CPOMS; ask the DSL before contacting home."
    cross_reference = {
        "policy": harmony,
        "cpoms_log_id": "CP-2025-00417",
        "dsl_decision": DslDecision.EARLY_HELP,
        "decided_by": DSL.staff_id,
    } | on(date(2025, 6, 2))
    _refused(
        NotAllowedByPolicy,
        "at most 280",
        pupil.cross_reference_safeguarding,
        note=brief * 4,
        **cross_reference,
    )
    pupil.cross_reference_safeguarding(note=brief, **cross_reference)
    pupil = _reloaded(records, pupil)

    entries = records.entries(pupil.id)
    assert [e.type for e in entries][-3:] == [
        "ParentalAgreementSigned",
        "PlanAgreed",
        "SafeguardingCrossReferenced",
    ]
    assert entries[-1].payload["note"] == brief
    assert entries[-2].payload["la_informed_on"] == "2025-05-07"
    assert not harmony.may_see("teacher", entries[-1].type)
    # Half-termly monitoring reviews (§10.1) were due from 20 January; the move to SEN
    # support on 4 March ended them, so nothing is overdue.
    for day in (date(2025, 3, 4), date(2025, 6, 2)):
        assert _overdue(records, pupil, harmony, day) == set(), day


def test_aspire(records: PupilRecords) -> None:
    """The statutory EHC path: the LA's decision to assess, the school's answer to its
    information request within six weeks, the decision to issue, the draft and the final plan
    within 20 weeks; an annual review with two weeks' notice, papers circulated two weeks
    before, the report within the law's two weeks (Aspire's "four weeks" is looser than the
    law), the LA's decision to amend and the amended plan; exam access arrangements that
    lapse on entry to Year 7 (Aspire §9, §13, §14). Nothing is overdue at any step."""
    aspire = load_policy_named("aspire")
    pupil = a_pupil(concerns=1)  # Year 4 in September 2024
    primary_need(pupil, date(2025, 1, 20))
    move(pupil, date(2025, 1, 21), RegisterStatus.SEN_SUPPORT, policy=aspire)
    request_assessment(pupil, date(2025, 2, 3), policy=aspire)
    pupil.record_la_information_request(
        policy=aspire,
        local_authority="Northshire County Council",
        information_requested="Educational advice and the last two reviews",
        **on(date(2025, 2, 10)),
    )
    pupil = _reloaded(records, pupil)
    la_request = records.entries(pupil.id)[-1].payload
    assert la_request["respond_by"] == str(aspire.la_information_due(date(2025, 2, 10)))
    assert la_request["respond_by"] == "2025-03-24"  # six weeks
    assert _overdue(records, pupil, aspire, date(2025, 3, 10)) == set()

    pupil.record_la_information_sent(
        answers_seq=pupil.version,
        information_sent="Educational advice and the last two reviews",
        **on(date(2025, 3, 10)),
    )
    decide_assessment(pupil, date(2025, 3, 14))  # the letter: 13 March, within six weeks
    pupil = _reloaded(records, pupil)
    assert _overdue(records, pupil, aspire, date(2025, 5, 1)) == set()
    decide_issue(pupil, date(2025, 5, 19))  # within 16 weeks of the request (26 May)
    receive_draft(pupil, date(2025, 5, 20))
    pupil = _reloaded(records, pupil)
    draft = records.entries(pupil.id)[-1].payload
    assert draft["comments_by"] == "2025-06-03"  # fifteen days from the letter
    assert _overdue(records, pupil, aspire, date(2025, 6, 16)) == set()

    issue_plan(pupil, date(2025, 6, 16), policy=aspire)  # within 20 weeks (23 June)
    move(pupil, date(2025, 6, 17), RegisterStatus.EHCP, policy=aspire)
    _refused(
        NotAllowedByPolicy,
        "re-assessment request no sooner than 6 months",
        pupil.request_ehc_needs_assessment,
        policy=aspire,
        local_authority="Northshire County Council",
        requested_by="school",
        reason="Needs have changed",
        **on(date(2025, 7, 1)),
    )
    _refused(
        NotAllowedByPolicy,
        "must have 14 days' notice",
        pupil.schedule_annual_review,
        policy=aspire,
        meeting_on=date(2026, 5, 11),
        invitees=("Parents/carers",),
        notice_given_on=date(2026, 5, 1),
        **on(date(2026, 5, 1)),
    )
    schedule_review(pupil, date(2026, 4, 20), date(2026, 5, 11), policy=aspire)
    pupil.circulate_annual_review_papers(
        circulated_to=("Parents/carers", "Northshire SEN team"), **on(date(2026, 4, 27))
    )
    hold_review(pupil, date(2026, 5, 11), policy=aspire)
    send_report(pupil, date(2026, 5, 22))
    pupil = _reloaded(records, pupil)
    scheduled, _, held, report = (e.payload for e in records.entries(pupil.id)[-4:])
    assert scheduled["notice_given_on"] == "2026-04-20"
    assert scheduled["papers_due_by"] == "2026-04-27"  # two weeks before the meeting
    assert held["papers_circulated_on"] == "2026-04-27"
    assert held["report_due_by"] == "2026-05-25"  # the law's two weeks, not Aspire's four
    assert report["happened_on"] <= held["report_due_by"]
    assert _overdue(records, pupil, aspire, date(2026, 6, 1)) == set()
    decide_review(pupil, date(2026, 6, 3), ReviewRecommendation.AMEND)  # within 4 weeks
    pupil.amend_ehc_plan(
        local_authority="Northshire County Council",
        changes="Section F: weekly speech and language therapy",
        reason="Annual review recommendation",
        phase_transfer=False,
        **on(date(2026, 7, 20)),  # within 8 weeks of the LA's letter
    )
    pupil = _reloaded(records, pupil)
    assert _overdue(records, pupil, aspire, date(2026, 7, 20)) == set()

    pupil.grant_exam_access(
        policy=aspire,
        arrangements=(ExamArrangement.EXTRA_TIME, ExamArrangement.READER),
        for_assessments="Key stage 2 tests",
        evidence="Reader is the normal way of working",
        **on(date(2027, 2, 1)),  # Year 6
    )
    pupil = _reloaded(records, pupil)
    assert records.entries(pupil.id)[-1].payload["lapses_on"] == "2027-09-01"

    disclosure = {
        "policy": aspire,
        "recipient": "A private tutoring agency",
        "purpose": DisclosurePurpose.OTHER,
        "purpose_detail": "Tutoring",
        "legal_basis": "Legitimate interests",
        "up_to_seq": pupil.version,
        "redacted_seqs": (),
        "export_digest": DIGEST,
    } | on(date(2027, 2, 2))
    _refused(
        NotAllowedByPolicy, "only with parents' consent", pupil.record_disclosure, **disclosure
    )


def test_aspire_keeps_the_monitoring_list_for_after_success(records: PupilRecords) -> None:
    aspire = load_policy_named("aspire")
    pupil = a_pupil(concerns=1)
    _refused(
        TransitionNotAllowed,
        "does not allow moving from none to monitoring; from none it allows: sen_support, ehcp",
        pupil.change_register_status,
        policy=aspire,
        status=RegisterStatus.MONITORING,
        sub_flags=(),
        reason="Watch progress",
        decision_maker="OAK-sendco-1",
        parents_informed_on=date(2025, 1, 20),
        **on(date(2025, 1, 20)),
    )
    primary_need(pupil, date(2025, 1, 20))
    move(pupil, date(2025, 1, 21), RegisterStatus.SEN_SUPPORT, policy=aspire)
    move(pupil, date(2025, 7, 14), RegisterStatus.MONITORING, policy=aspire)
    assert _reloaded(records, pupil).status == RegisterStatus.MONITORING


def test_humber(records: PupilRecords) -> None:
    """An IEP with SMART targets reviewed to the time frame agreed in it, an EP referral when
    support is not effective, and removal from the SEN record with monitoring continuing
    (Humber: Identification & Assessment; Reviewing)."""
    humber = load_policy_named("humber")
    pupil = a_pupil(concerns=1)
    primary_need(pupil, date(2025, 1, 20))
    move(pupil, date(2025, 1, 21), RegisterStatus.SEN_SUPPORT, policy=humber)
    agreed, time_frame = date(2025, 1, 27), date(2025, 3, 10)  # six weeks, agreed in the plan
    targets = ("Reads 40 high-frequency words", "Writes a sentence with a capital letter")
    iep = pupil.agree_plan(
        policy=humber,
        kind=PlanKind.INDIVIDUAL_PLAN,
        outcomes=[SmartOutcome(t, "Weekly probe", time_frame) for t in targets],
        provision="Daily precision teaching, 10 minutes",
        review_on=time_frame,
        agreed_by=(Participant.PARENT, Participant.PUPIL, Participant.SENDCO),
        la_informed_on=None,
        **on(agreed),
    )
    pupil = _reloaded(records, pupil)
    assert pupil.plans[iep].review_on == time_frame  # the plan's own time frame, not 122 days
    pupil.review_plan(
        plan_id=iep,
        outcomes=[TargetReview(t, TargetOutcome.NOT_YET) for t in targets],
        pupil_voice="The words are hard",
        parent_voice="Practising at home",
        next_steps="Refer to the educational psychologist",
        next_review_on=date(2025, 4, 28),
        closes_plan=False,
        **on(time_frame),
    )
    involve(pupil, date(2025, 3, 17), AgencyKind.EDUCATIONAL_PSYCHOLOGIST)
    pupil.review_plan(
        plan_id=iep,
        outcomes=[TargetReview(t, TargetOutcome.ACHIEVED) for t in targets],
        pupil_voice="I can read my book",
        parent_voice="Delighted",
        next_steps="Off the SEN record; progress monitored through reports",
        next_review_on=None,
        closes_plan=True,
        **on(date(2025, 4, 28)),
    )
    change = {
        "policy": humber,
        "sub_flags": (),
        "reason": "Appropriate progress",
        "decision_maker": "OAK-sendco-1",
        "parents_informed_on": date(2025, 4, 29),
    } | on(date(2025, 4, 29))
    _refused(
        TransitionNotAllowed,
        "does not allow moving from sen_support to none",
        pupil.change_register_status,
        status=RegisterStatus.NONE,
        **change,
    )
    pupil.change_register_status(status=RegisterStatus.MONITORING, **change)
    pupil = _reloaded(records, pupil)
    assert pupil.status == RegisterStatus.MONITORING and pupil.plans[iep].closed_on
    for day in (date(2025, 3, 10), date(2025, 4, 29), date(2025, 9, 1)):
        assert _overdue(records, pupil, humber, day) == set(), day
    assert _entry_types(records, pupil)[-4:] == [
        "PlanReviewed",
        "ExternalAgencyInvolved",
        "PlanReviewed",
        "RegisterStatusChanged",
    ]


def test_inspire(records: PupilRecords) -> None:
    """Two categories only, SEN support (K) and EHCP; notes of early discussions copied to
    parents; parents formally told; what a transition shares agreed with them first
    (Inspire: Definition of SEN; Consulting and involving pupils and parents)."""
    inspire = load_policy_named("inspire")
    pupil = a_pupil(concerns=1)
    concern = pupil.version
    pupil.record_disclosure(
        policy=inspire,
        recipient="Parents/carers",
        purpose=DisclosurePurpose.COPY_TO_PARENTS,
        purpose_detail="Notes of the early discussion",
        legal_basis="Inspire SEND policy: notes copied to parents/carers",
        up_to_seq=concern,
        redacted_seqs=(),
        export_digest=DIGEST,
        **on(date(2025, 1, 16)),
    )
    _refused(
        TransitionNotAllowed,
        "this trust's register has no monitoring category",
        pupil.change_register_status,
        policy=inspire,
        status=RegisterStatus.MONITORING,
        sub_flags=(),
        reason="Watch progress",
        decision_maker="OAK-sendco-1",
        parents_informed_on=date(2025, 1, 20),
        **on(date(2025, 1, 20)),
    )
    primary_need(pupil, date(2025, 1, 20))
    with pytest.raises(TransitionNotAllowed, match="needs the date parents were informed"):
        pupil.change_register_status(
            policy=inspire,
            status=RegisterStatus.SEN_SUPPORT,
            sub_flags=(),
            reason="Needs SEN support",
            decision_maker="OAK-sendco-1",
            parents_informed_on=None,
            **on(date(2025, 1, 21)),
        )
    move(pupil, date(2025, 1, 21), RegisterStatus.SEN_SUPPORT, policy=inspire)
    transition = {
        "policy": inspire,
        "transition": "phase_transfer",
        "to_setting": "Riverside Academy",
        "planned_for": date(2027, 9, 2),
        "information_shared": "Pupil passport and the latest plan",
    }
    _refused(
        NotAllowedByPolicy,
        r"ParentalAgreementSigned \(information_sharing\)",
        pupil.plan_transition,
        **transition | on(date(2026, 10, 5)),
    )
    sign(pupil, date(2026, 10, 5), AgreementKind.INFORMATION_SHARING, policy=inspire)
    pupil.plan_transition(**transition | on(date(2026, 10, 6)))
    pupil = _reloaded(records, pupil)

    entries = records.entries(pupil.id)
    copy = entries[concern]
    assert copy.type == "RecordsDisclosed" and entries[concern - 1].type == "ConcernRaised"
    assert copy.payload["purpose"] == "copy_to_parents" and copy.payload["up_to_seq"] == concern
    assert pupil.status.census_code == "K"
    assert _overdue(records, pupil, inspire, date(2026, 10, 6)) == set()


def test_leading_learners(records: PupilRecords) -> None:
    """Monitoring, SEND K and EHCP, parents informed of every decision; a health care plan,
    an intimate care plan, a PEEP and a physical-support risk assessment (LLT 2.1, 6.6-6.10,
    7.5)."""
    llt = load_policy_named("leading-learners")
    pupil = a_pupil(concerns=1)
    move(pupil, date(2025, 1, 20), RegisterStatus.MONITORING, policy=llt)
    primary_need(pupil, date(2025, 2, 3))
    move(pupil, date(2025, 2, 4), RegisterStatus.SEN_SUPPORT, policy=llt)
    day = date(2025, 2, 10)
    plans = {}
    # 6.7 defers to the school's intimate care policy: parents' written consent first.
    with pytest.raises(NotAllowedByPolicy, match="consent"):
        agree(pupil, day, policy=llt, kind=PlanKind.INTIMATE_CARE_PLAN, targets=())
    sign(pupil, day, AgreementKind.INTIMATE_CARE, policy=llt)
    for kind in (
        PlanKind.HEALTH_CARE_PLAN,
        PlanKind.INTIMATE_CARE_PLAN,
        PlanKind.PEEP,
        PlanKind.RISK_ASSESSMENT,
    ):
        plans[kind] = agree(pupil, day, policy=llt, kind=kind, targets=())
        day += timedelta(days=1)
    for kind in (PlanKind.BEHAVIOUR_PLAN, PlanKind.INTERIM_REDUCED_TIMETABLE):
        with pytest.raises(NotAllowedByPolicy, match=f"does not use {kind.value} plans"):
            agree(pupil, day, policy=llt, kind=kind)
    pupil = _reloaded(records, pupil)
    assert {pupil.plans[p].kind for p in plans.values()} == set(plans)
    # Care plans are reviewed on their own yearly cycle, not the termly APDR one.
    assert pupil.plans[plans[PlanKind.PEEP]].review_on == date(2026, 2, 12)
    request_assessment(pupil, date(2025, 3, 3), policy=llt)
    decide_assessment(pupil, date(2025, 4, 7))
    decide_issue(pupil, date(2025, 6, 16))
    receive_draft(pupil, date(2025, 6, 17))
    issue_plan(pupil, date(2025, 7, 7), policy=llt)
    move(pupil, date(2025, 7, 8), RegisterStatus.EHCP, policy=llt)
    pupil = _reloaded(records, pupil)
    for day in (date(2025, 4, 30), date(2025, 6, 30), date(2025, 7, 8), date(2026, 1, 30)):
        assert _overdue(records, pupil, llt, day) == set(), day
    assert pupil.status.census_code == "E"
    changes = [e.payload for e in records.entries(pupil.id) if e.type == "RegisterStatusChanged"]
    assert [c["status"] for c in changes] == ["monitoring", "sen_support", "ehcp"]
    assert all(c["parents_informed_on"] == c["happened_on"] for c in changes)


# ----- the demo trust under every policy ------------------------------------------------------

POLICIES = ("default", "harmony", "inspire", "aspire", "humber", "leading-learners")


def _open(store: Store, policy: TrustPolicy) -> PupilRecords:
    return PupilRecords(database_url=store.url, ring=InMemoryKekRing(), policy=policy)


@pytest.mark.parametrize("name", POLICIES)
def test_the_demo_follows_each_trusts_policy(store: Store, name: str) -> None:
    records = _open(store, load_policy_named(name))
    try:
        summary = generate(records, pupils=40, seed=11)  # a refusal would raise here
        assert summary.pupils == 40 and summary.events > 40
        pupil = records.get_pupil(summary.first_pupil) if summary.first_pupil else None
        assert pupil is not None and pupil.kinds[0] == "PupilRegistered"
    finally:
        records.close()


def test_the_demo_uses_the_whole_catalogue_briefly_and_never_after_today(
    tmp_path: Path,
) -> None:
    store = Store("sqlite", f"sqlite:///{tmp_path / 'demo.db'}")
    records = _open(store, load_policy_named("default"))
    try:
        summary = generate(records, pupils=200, seed=2026)
        stored = records.recorder.select_notifications(None, 100_000)
        assert len(stored) == summary.events
        assert {s.topic.rsplit(":", 1)[-1] for s in stored} == {c.__name__ for c in EVENT_TYPES}
        readable = [e for r in records.registrations() for e in records.entries(r.pupil_id)]
        assert len({e.pupil_id for e in readable}) == 200
        limit = records.policy.safeguarding.brief_note_max_chars
        for entry in readable:
            assert entry.payload["happened_on"] <= str(DEMO_TODAY)
            assert entry.payload["recorded_at"][:10] <= str(DEMO_TODAY)
            if entry.type == "SafeguardingCrossReferenced":
                note = entry.payload["note"]
                assert len(note) <= limit and "\n" not in note
    finally:
        records.close()


def test_the_demo_is_the_same_for_the_same_seed(tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        records = _open(
            Store("sqlite", f"sqlite:///{tmp_path / name}.db"), load_policy_named("default")
        )
        try:
            generate(records, pupils=30, seed=5)
            runs.append(
                [
                    (e.pupil_id, e.seq, e.type, e.payload)
                    for r in records.registrations()
                    for e in records.entries(r.pupil_id)
                ]
            )
        finally:
            records.close()
    assert runs[0] == runs[1] and len(runs[0]) > 30
