"""Deadlines: every rule at its boundary (the day before, the day of, the day after), per
policy where the policies differ. Histories are made by the real aggregate and fed to the
projection as the runner would, on an in-memory database."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from domain.policy import TrustPolicy
from domain.pupil import Pupil
from domain.values import AgreementKind, Participant, PlanKind, RegisterStatus, TransitionKind
from projections.base import ProjectedEvent
from projections.deadlines import (
    Deadline,
    DeadlineSchedule,
    deadlines,
    due_deadlines,
    metadata,
)
from tests.factories import (
    SENDCO,
    TEACHER,
    a_pupil,
    a_upn,
    agree,
    hold_review,
    issue_plan,
    move,
    on,
    policy,
    primary_need,
    request_assessment,
    review,
    schedule_review,
    send_report,
    sign,
)

DEFAULT, ASPIRE, HARMONY = policy("default"), policy("aspire"), policy("harmony")


class Schedule:
    """The deadline projection on an in-memory database; also the read port
    (`datastore.transaction`) its queries use."""

    def __init__(self, trust: TrustPolicy = DEFAULT) -> None:
        self.policy = trust
        self.engine = create_engine("sqlite://")
        metadata.create_all(self.engine)
        self.projection = DeadlineSchedule(trust)
        self.datastore = self
        self._ids = itertools.count(1)

    @contextmanager
    def transaction(self, commit: bool) -> Iterator[Session]:
        with Session(self.engine) as session:
            yield session
            if commit:
                session.commit()

    def feed(self, pupil: Pupil) -> None:
        """Apply the pupil's new events, in order, as the runner does."""
        with self.transaction(True) as session:
            for event in pupil.collect_events():
                self.projection.apply(session, projected(event, next(self._ids)))

    def due(self, day: date, **kw: Any) -> list[Deadline]:
        return due_deadlines(self, as_of=day, **kw)

    def rule(self, day: date, rule: str) -> Deadline | None:
        """The open deadline of `rule` that is overdue or due by the next day."""
        found = [d for d in self.due(day, within_days=1) if d.rule == rule]
        assert len(found) <= 1, found
        return found[0] if found else None

    def rows(self) -> list[dict[str, Any]]:
        with self.transaction(False) as session:
            return [dict(r) for r in session.execute(select(deadlines)).mappings()]


def projected(event: Any, notification_id: int) -> ProjectedEvent:
    return ProjectedEvent(
        notification_id=notification_id,
        pupil_id=event.originator_id,
        seq=event.originator_version,
        type=type(event).__name__,
        payload=json.loads(json.dumps(event.payload())),
    )


def assert_boundary(schedule: Schedule, rule: str, due: date) -> None:
    """Due (not overdue) the day before and on the day; overdue the day after."""
    before, on_the_day, after = (schedule.rule(due + timedelta(days=n), rule) for n in (-1, 0, 1))
    assert before is not None and (before.status, before.days, before.due_on) == ("due", 1, due)
    assert on_the_day is not None and (on_the_day.status, on_the_day.days) == ("due", 0)
    assert after is not None and (after.status, after.days) == ("overdue", -1)


def registered(year_group: int = 4, registered_on: date = date(2024, 9, 4)) -> Pupil:
    return Pupil.register(
        pupil_id=uuid4(),
        upn=a_upn(),
        legal_given_names="Zebedee",
        legal_family_name="Quartermaine",
        preferred_name=None,
        date_of_birth=date(2024 - 5 - year_group, 5, 17),
        academy="OAK",
        year_group=year_group,
        **on(registered_on),
    )


def with_ehc_plan(trust: TrustPolicy, issued: date, pupil: Pupil | None = None) -> Pupil:
    pupil = pupil or a_pupil(concerns=0)
    primary_need(pupil, date(2024, 9, 20))
    request_assessment(pupil, date(2024, 10, 1), policy=trust)
    issue_plan(pupil, issued, policy=trust)
    return pupil


# ----- plan reviews -----------------------------------------------------------------------


def test_a_plan_is_due_for_review_on_its_review_date() -> None:
    schedule, pupil = Schedule(), a_pupil(concerns=0)
    agree(pupil, date(2025, 1, 6), review_on=date(2025, 3, 28))
    schedule.feed(pupil)
    assert_boundary(schedule, "plan_review", date(2025, 3, 28))
    d = schedule.rule(date(2025, 3, 28), "plan_review")
    assert d is not None and (d.detail, d.responsible, d.academy) == (
        "individual_plan",
        SENDCO.staff_id,
        "OAK",
    )


@pytest.mark.parametrize("trust", [DEFAULT, ASPIRE, HARMONY], ids=lambda t: t.trust)
def test_a_plan_without_a_review_date_takes_the_policy_interval(trust: TrustPolicy) -> None:
    schedule, pupil = Schedule(trust), a_pupil(concerns=0)
    agree(pupil, date(2025, 1, 6), policy=trust)
    schedule.feed(pupil)
    interval = trust.deadlines.individual_plan_review_interval_days
    assert_boundary(schedule, "plan_review", date(2025, 1, 6) + timedelta(days=interval))


def test_a_review_meets_the_deadline_and_sets_the_next_one() -> None:
    schedule, pupil = Schedule(), a_pupil(concerns=0)
    plan = agree(pupil, date(2025, 1, 6), review_on=date(2025, 3, 28))
    review(pupil, date(2025, 3, 27), plan)  # next review 90 days on
    schedule.feed(pupil)
    assert_boundary(schedule, "plan_review", date(2025, 3, 27) + timedelta(days=90))
    # As of the day before the review, the first deadline was still open.
    before = schedule.due(date(2025, 3, 26))
    assert [(d.rule, d.due_on) for d in before] == [("plan_review", date(2025, 3, 28))]


def test_a_review_that_closes_the_plan_leaves_nothing_due() -> None:
    schedule, pupil = Schedule(), a_pupil(concerns=0)
    plan = agree(pupil, date(2025, 1, 6), review_on=date(2025, 3, 28))
    review(pupil, date(2025, 3, 27), plan, closes=True)
    schedule.feed(pupil)
    assert schedule.due(date(2026, 1, 1)) == []
    assert [r["outcome"] for r in schedule.rows()] == ["met"]


def test_an_interim_reduced_timetable_has_its_own_review() -> None:
    schedule, pupil = Schedule(), a_pupil(concerns=0)
    sign(pupil, date(2025, 1, 6), AgreementKind.INTERIM_REDUCED_TIMETABLE)
    agree(
        pupil,
        date(2025, 1, 7),
        kind=PlanKind.INTERIM_REDUCED_TIMETABLE,
        targets=("Attends mornings every day",),
        review_on=date(2025, 2, 7),
    )
    schedule.feed(pupil)
    assert_boundary(schedule, "reduced_timetable_review", date(2025, 2, 7))
    assert schedule.rule(date(2025, 2, 7), "plan_review") is None


# ----- EHC steps --------------------------------------------------------------------------


@pytest.mark.parametrize("trust", [DEFAULT, ASPIRE], ids=lambda t: t.trust)
def test_an_la_information_request_is_due_in_six_weeks(trust: TrustPolicy) -> None:
    schedule, pupil = Schedule(trust), a_pupil(concerns=0)
    request_assessment(pupil, date(2025, 1, 6), policy=trust)
    pupil.record_la_information_request(
        policy=trust,
        local_authority="Northshire County Council",
        information_requested="Educational advice",
        **on(date(2025, 1, 20)),
    )
    schedule.feed(pupil)
    assert_boundary(schedule, "la_information", date(2025, 3, 3))  # 42 days
    issue_plan(pupil, date(2025, 5, 1), policy=trust)
    schedule.feed(pupil)
    assert schedule.rule(date(2025, 5, 2), "la_information") is None


@pytest.mark.parametrize(
    ("trust", "days"),
    [(DEFAULT, 14), (ASPIRE, 14), (HARMONY, 14)],
    ids=["default", "aspire", "harmony"],
)
def test_the_annual_review_report_is_due_per_policy(trust: TrustPolicy, days: int) -> None:
    schedule = Schedule(trust)
    pupil = with_ehc_plan(trust, date(2025, 2, 3))
    schedule_review(pupil, date(2025, 12, 1), date(2026, 1, 12), policy=trust)
    hold_review(pupil, date(2026, 1, 12), policy=trust)
    schedule.feed(pupil)
    assert_boundary(schedule, "annual_review_report", date(2026, 1, 12) + timedelta(days=days))
    send_report(pupil, date(2026, 1, 20))
    schedule.feed(pupil)
    assert schedule.rule(date(2026, 1, 21), "annual_review_report") is None


def test_the_annual_review_papers_are_due_two_weeks_before_the_meeting() -> None:
    schedule = Schedule()
    pupil = with_ehc_plan(DEFAULT, date(2025, 2, 3))
    schedule_review(pupil, date(2025, 12, 1), date(2026, 1, 12))
    schedule.feed(pupil)
    assert_boundary(schedule, "annual_review_papers", date(2025, 12, 29))
    hold_review(pupil, date(2026, 1, 12))  # papers went out 14 days before
    schedule.feed(pupil)
    rows = [r for r in schedule.rows() if r["rule"] == "annual_review_papers"]
    assert [(r["closed_on"], r["outcome"]) for r in rows] == [(date(2025, 12, 29), "met")]


def test_moving_the_meeting_moves_the_papers() -> None:
    schedule = Schedule()
    pupil = with_ehc_plan(DEFAULT, date(2025, 2, 3))
    schedule_review(pupil, date(2025, 12, 1), date(2026, 1, 12))
    schedule_review(pupil, date(2025, 12, 15), date(2026, 1, 26))
    schedule.feed(pupil)
    assert_boundary(schedule, "annual_review_papers", date(2026, 1, 12))


def test_the_annual_review_and_its_invitations_fall_due_a_year_after_the_plan() -> None:
    schedule = Schedule(HARMONY)
    pupil = with_ehc_plan(HARMONY, date(2025, 2, 3))
    schedule.feed(pupil)
    assert_boundary(schedule, "annual_review", date(2026, 2, 3))
    assert_boundary(schedule, "annual_review_notice", date(2026, 1, 20))  # 14 days' notice
    schedule_review(pupil, date(2026, 1, 19), date(2026, 2, 2), policy=HARMONY)
    schedule.feed(pupil)
    assert schedule.rule(date(2026, 1, 21), "annual_review_notice") is None
    hold_review(pupil, date(2026, 2, 2), policy=HARMONY)
    schedule.feed(pupil)
    assert_boundary(schedule, "annual_review", date(2027, 2, 2))  # the next one


def test_ceasing_the_plan_ends_its_reviews() -> None:
    schedule = Schedule()
    pupil = with_ehc_plan(DEFAULT, date(2025, 2, 3))
    pupil.cease_ehc_plan(local_authority="Northshire", reason="Needs met", **on(date(2025, 6, 2)))
    schedule.feed(pupil)
    assert schedule.due(date(2030, 1, 1)) == []
    ehc_rows = [r for r in schedule.rows() if not r["rule"].startswith("la_")]
    assert {r["outcome"] for r in ehc_rows} == {"plan_ceased"}


# ----- phase transfers --------------------------------------------------------------------


def test_a_year_6_transfer_needs_the_plan_amended_by_15_february() -> None:
    schedule = Schedule()
    pupil = with_ehc_plan(DEFAULT, date(2025, 2, 3), registered(year_group=4))
    schedule.feed(pupil)
    # Year 4 in 2024-25, so Year 6 in 2026-27: amended by 15 February 2027.
    due = [
        d for d in schedule.due(date(2027, 2, 15), within_days=365) if d.rule == "phase_transfer"
    ]
    assert [(d.due_on, d.detail) for d in due] == [(date(2027, 2, 15), "secondary")]
    assert_boundary(schedule, "phase_transfer", date(2027, 2, 15))


def test_a_year_11_transfer_to_post_16_is_due_by_31_march() -> None:
    schedule = Schedule()
    pupil = with_ehc_plan(DEFAULT, date(2025, 2, 3), registered(year_group=10))
    schedule.feed(pupil)
    assert_boundary(schedule, "phase_transfer", date(2026, 3, 31))
    assert schedule.rule(date(2026, 3, 31), "phase_transfer").detail == "post16"  # type: ignore[union-attr]


def test_the_phase_transfer_date_is_the_policys() -> None:
    earlier = DEFAULT.model_copy(
        update={
            "deadlines": DEFAULT.deadlines.model_copy(update={"phase_transfer_review_by": "01-31"})
        }
    )
    schedule = Schedule(earlier)
    pupil = with_ehc_plan(earlier, date(2025, 2, 3), registered(year_group=5))
    schedule.feed(pupil)
    assert_boundary(schedule, "phase_transfer", date(2026, 1, 31))


def test_a_transfer_already_past_when_the_plan_is_issued_is_not_due() -> None:
    schedule = Schedule()
    pupil = with_ehc_plan(DEFAULT, date(2025, 3, 3), registered(year_group=6))
    schedule.feed(pupil)
    # Year 6 in 2024-25: its 15 February 2025 passed before the plan; Year 11 is next.
    transfers = [r for r in schedule.rows() if r["rule"] == "phase_transfer"]
    assert [(r["due_on"], r["detail"]) for r in transfers] == [(date(2030, 3, 31), "post16")]


def test_a_change_of_year_group_moves_the_phase_transfers_owed() -> None:
    schedule = Schedule()
    pupil = with_ehc_plan(DEFAULT, date(2025, 2, 3), registered(year_group=4))
    # Year 4 in 2024-25; kept back in September 2025: Year 4 again, so Year 6 in 2027-28.
    pupil.change_year_group(
        year_group=4, reason="Kept back after long absence", **on(date(2025, 9, 3))
    )
    schedule.feed(pupil)
    transfers = {
        r["due_on"]: r["outcome"] for r in schedule.rows() if r["rule"] == "phase_transfer"
    }
    assert transfers == {
        date(2027, 2, 15): "year_group_changed",  # no longer due
        date(2032, 3, 31): "year_group_changed",
        date(2028, 2, 15): None,  # due instead
        date(2033, 3, 31): None,
    }
    assert schedule.rule(date(2027, 2, 16), "phase_transfer") is None
    assert_boundary(schedule, "phase_transfer", date(2028, 2, 15))


def test_rejoining_in_a_year_group_counts_the_transfers_from_it() -> None:
    schedule = Schedule()
    pupil = registered(year_group=4)
    pupil.leave_trust(
        policy=DEFAULT, destination="Westmoor Academy", records_sent_on=None,
        receipt_acknowledged_on=None, receipt_acknowledged_by=None, **on(date(2025, 3, 7)),
    )  # fmt: skip
    # Back in September in Year 4 again (a year repeated elsewhere): Year 6 in 2027-28.
    pupil.rejoin(
        academy="OAK", year_group=4, returned_from="Westmoor Academy", **on(date(2025, 9, 8))
    )
    with_ehc_plan(DEFAULT, date(2025, 10, 6), pupil)
    schedule.feed(pupil)
    transfers = sorted(r["due_on"] for r in schedule.rows() if r["rule"] == "phase_transfer")
    assert transfers == [date(2028, 2, 15), date(2033, 3, 31)]


def test_an_amendment_for_the_transfer_meets_it() -> None:
    schedule = Schedule()
    pupil = with_ehc_plan(DEFAULT, date(2025, 2, 3), registered(year_group=4))
    pupil.amend_ehc_plan(
        local_authority="Northshire",
        changes="Section I names Riverside Academy",
        reason="Phase transfer",
        phase_transfer=True,
        **on(date(2027, 2, 10)),
    )
    schedule.feed(pupil)
    assert schedule.rule(date(2027, 2, 16), "phase_transfer") is None
    # The post-16 transfer in 2032 is still ahead.
    assert schedule.rule(date(2032, 3, 31), "phase_transfer") is not None


def test_a_planned_transition_adds_its_own_amendment_date_once() -> None:
    schedule = Schedule()
    pupil = with_ehc_plan(DEFAULT, date(2025, 2, 3), registered(year_group=4))
    pupil.plan_transition(
        policy=DEFAULT,
        transition=TransitionKind.PHASE_TRANSFER,
        to_setting="Riverside Academy",
        planned_for=date(2027, 9, 2),
        information_shared="EHC plan and one-page profile",
        **on(date(2025, 3, 3)),
    )
    schedule.feed(pupil)
    transfers = [r for r in schedule.rows() if r["rule"] == "phase_transfer"]
    assert sorted(r["due_on"] for r in transfers) == [date(2027, 2, 15), date(2032, 3, 31)]


# ----- leaving, agreements, moves ---------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "due"),
    [
        (date(2025, 3, 7), date(2025, 3, 14)),  # Friday: five weekdays is the next Friday
        (date(2025, 3, 5), date(2025, 3, 12)),  # Wednesday: the next Wednesday
    ],
)
def test_records_go_to_the_next_setting_within_five_school_days(left: date, due: date) -> None:
    schedule, pupil = Schedule(), a_pupil(concerns=0)
    agree(pupil, date(2025, 1, 6), review_on=date(2025, 4, 1))
    pupil.leave_trust(
        policy=DEFAULT,
        destination="Westmoor Academy",
        records_sent_on=None,
        receipt_acknowledged_on=None,
        receipt_acknowledged_by=None,
        **on(left),
    )
    schedule.feed(pupil)
    assert_boundary(schedule, "records_transfer", due)
    # The plan's review is no longer ours to hold.
    assert schedule.rule(date(2025, 4, 1), "plan_review") is None
    pupil.leave_trust(
        policy=DEFAULT,
        destination="Westmoor Academy",
        records_sent_on=due - timedelta(days=1),
        receipt_acknowledged_on=None,
        receipt_acknowledged_by=None,
        **on(due + timedelta(days=3)),
    )
    schedule.feed(pupil)
    assert schedule.rule(due, "records_transfer") is None
    # Judged as of the day before it was sent, it was still open.
    earlier = schedule.due(due - timedelta(days=2))
    assert [(d.rule, d.due_on) for d in earlier] == [("records_transfer", due)]


def test_harmony_renews_the_parents_agreement_every_year_and_the_default_does_not() -> None:
    harmony, default = Schedule(HARMONY), Schedule(DEFAULT)
    for schedule, trust in ((harmony, HARMONY), (default, DEFAULT)):
        pupil = a_pupil(concerns=0)
        sign(pupil, date(2025, 1, 10), AgreementKind.SEND_SUPPORT, policy=trust)
        schedule.feed(pupil)
    assert_boundary(harmony, "parental_agreement", date(2026, 1, 10))
    assert default.due(date(2026, 1, 11)) == []


def test_signing_again_renews_the_agreement() -> None:
    schedule, pupil = Schedule(HARMONY), a_pupil(concerns=0)
    sign(pupil, date(2025, 1, 10), AgreementKind.SEND_SUPPORT, policy=HARMONY)
    sign(pupil, date(2026, 1, 5), AgreementKind.SEND_SUPPORT, policy=HARMONY)
    schedule.feed(pupil)
    assert_boundary(schedule, "parental_agreement", date(2027, 1, 5))


def test_open_deadlines_move_with_a_transfer_within_the_trust() -> None:
    schedule, pupil = Schedule(), a_pupil(concerns=0)
    plan = agree(pupil, date(2025, 1, 6), review_on=date(2025, 3, 28))
    review(pupil, date(2025, 2, 3), plan)
    pupil.transfer_within_trust(to_academy="HTH", reason="Family moved", **on(date(2025, 2, 10)))
    schedule.feed(pupil)
    assert [d.academy for d in schedule.due(date(2025, 5, 1))] == ["HTH"]
    assert schedule.due(date(2025, 5, 1), academy="OAK") == []
    closed = [r for r in schedule.rows() if r["closed_seq"] is not None]
    assert [r["academy"] for r in closed] == ["OAK"]  # history stays where it happened


# ----- the query --------------------------------------------------------------------------


def test_filters_by_academy_person_and_overdue() -> None:
    schedule = Schedule()
    oak, hth = a_pupil(concerns=0), a_pupil(concerns=0, academy="HTH")
    agree(oak, date(2025, 1, 6), review_on=date(2025, 3, 1))
    hth.agree_plan(
        policy=DEFAULT,
        kind=PlanKind.ONE_PAGE_PROFILE,
        outcomes=[],
        provision="Visual timetable",
        review_on=date(2025, 3, 20),
        agreed_by=(Participant.PARENT,),
        la_informed_on=None,
        **on(date(2025, 1, 7), TEACHER),
    )
    for pupil in (oak, hth):
        schedule.feed(pupil)
    day = date(2025, 3, 10)
    assert {d.academy for d in schedule.due(day)} == {"OAK", "HTH"}
    assert [d.academy for d in schedule.due(day, academy="HTH")] == ["HTH"]
    assert [d.academy for d in schedule.due(day, person=TEACHER.staff_id)] == ["HTH"]
    assert [d.academy for d in schedule.due(day, overdue_only=True)] == ["OAK"]
    assert [d.academy for d in schedule.due(day, within_days=9)] == ["OAK"]
    assert [d.academy for d in schedule.due(day, within_days=10)] == ["OAK", "HTH"]
    # Before the plans were agreed nothing was due.
    assert schedule.due(date(2025, 1, 5)) == []


def test_a_purge_removes_the_pupils_deadlines_and_shredded_events_are_ignored() -> None:
    schedule = Schedule()
    kept, purged = a_pupil(concerns=0), a_pupil(concerns=0)
    for pupil in (kept, purged):
        agree(pupil, date(2025, 1, 6), review_on=date(2025, 3, 1))
        move(pupil, date(2025, 1, 7), RegisterStatus.MONITORING)
        schedule.feed(pupil)
    purged.record_purge(
        proposed_by="TRUST-dpo-1", approved_by="TRUST-dpo-2", reason="End", **on(date(2025, 2, 1))
    )
    schedule.feed(purged)
    assert {r["pupil_id"] for r in schedule.rows()} == {kept.id}
    with schedule.transaction(True) as session:
        schedule.projection.apply(
            session, ProjectedEvent(99, purged.id, 9, "PlanAgreed", payload=None)
        )
    assert {r["pupil_id"] for r in schedule.rows()} == {kept.id}


def test_a_transition_planned_after_the_amendment_does_not_reopen_it() -> None:
    schedule = Schedule()
    pupil = with_ehc_plan(DEFAULT, date(2025, 2, 3), registered(year_group=5))
    pupil.amend_ehc_plan(
        local_authority="Northshire",
        changes="Section I names Riverside Academy",
        reason="Phase transfer",
        phase_transfer=True,
        **on(date(2026, 1, 12)),
    )
    pupil.plan_transition(
        policy=DEFAULT,
        transition=TransitionKind.PHASE_TRANSFER,
        to_setting="Riverside Academy",
        planned_for=date(2026, 9, 2),
        information_shared="EHC plan and one-page profile",
        **on(date(2026, 3, 2)),
    )
    schedule.feed(pupil)
    assert schedule.rule(date(2026, 2, 16), "phase_transfer") is None
    transfers = [r for r in schedule.rows() if r["rule"] == "phase_transfer"]
    assert sorted((r["due_on"], r["outcome"]) for r in transfers) == [
        (date(2026, 2, 15), "met"),
        (date(2031, 3, 31), None),
    ]


# ----- data-protection rights -------------------------------------------------------------


def test_exam_arrangements_that_lapse_into_year_7_are_due_for_assessment_then() -> None:
    from domain.values import ExamArrangement

    schedule = Schedule(ASPIRE)
    pupil = registered(year_group=5)  # Year 5 in 2024-25, Year 6 in 2025-26
    grant = {
        "policy": ASPIRE, "arrangements": (ExamArrangement.EXTRA_TIME,),
        "for_assessments": "Key stage 2 tests", "evidence": "Processing speed score 79",
    }  # fmt: skip
    pupil.grant_exam_access(**grant, **on(date(2025, 10, 6)))
    schedule.feed(pupil)
    assert_boundary(schedule, "exam_access_review", date(2026, 9, 1))
    # Assessed again at the secondary academy: the reminder is met.
    pupil.grant_exam_access(**{**grant, "for_assessments": "GCSE mocks"}, **on(date(2026, 9, 14)))
    schedule.feed(pupil)
    rows = [r for r in schedule.rows() if r["rule"] == "exam_access_review"]
    assert [(r["due_on"], r["outcome"]) for r in rows] == [(date(2026, 9, 1), "met")]
    # Under a policy where arrangements carry on, no reminder.
    plain = Schedule(DEFAULT)
    other = registered(year_group=5)
    other.grant_exam_access(**{**grant, "policy": DEFAULT}, **on(date(2025, 10, 6)))
    plain.feed(other)
    assert not [r for r in plain.rows() if r["rule"] == "exam_access_review"]


def test_an_extended_subject_access_response_is_due_two_months_later() -> None:
    schedule, pupil = Schedule(), a_pupil(concerns=0)
    pupil.request_subject_access(
        request_reference="SAR-2025-001", requester_relationship="parent", **on(date(2025, 1, 31))
    )
    request = pupil.version
    due = pupil.extend_subject_access(
        request_seq=request, reason="Complex: three agencies' reports", **on(date(2025, 2, 28))
    )
    assert due == date(2025, 4, 28)
    schedule.feed(pupil)
    assert_boundary(schedule, "subject_access", date(2025, 4, 28))


@pytest.mark.parametrize("trust", [DEFAULT, ASPIRE, HARMONY], ids=lambda t: t.trust)
@pytest.mark.parametrize(
    ("received", "due"),
    [(date(2025, 1, 31), date(2025, 2, 28)), (date(2025, 3, 14), date(2025, 4, 14))],
)
def test_a_subject_access_response_is_due_one_calendar_month_after_receipt(
    trust: TrustPolicy, received: date, due: date
) -> None:
    schedule, pupil = Schedule(trust), a_pupil(concerns=0)
    pupil.request_subject_access(
        request_reference="SAR-2025-001", requester_relationship="parent", **on(received)
    )
    schedule.feed(pupil)
    assert_boundary(schedule, "subject_access", due)
