"""The EHC process's statutory clocks (the LA's and the school's closing steps): each at its
boundary (the day before, the day of, the day after) under every shipped policy, each closed
by the step that meets it, and the LA's steps marked as the LA's (issue 16)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from domain.policy import TrustPolicy, available_policies
from domain.pupil import Pupil
from domain.values import AssessmentDecision, IssueDecision, RegisterStatus, ReviewRecommendation
from tests.factories import (
    a_pupil,
    decide_assessment,
    decide_issue,
    decide_review,
    hold_review,
    issue_plan,
    move,
    on,
    policy,
    primary_need,
    receive_draft,
    request_assessment,
    schedule_review,
    send_report,
)
from tests.unit.projections.test_deadlines import Schedule, assert_boundary, projected

POLICIES = [policy(name) for name in available_policies()]
IDS = list(available_policies())
REQUESTED = date(2024, 10, 1)  # a Tuesday


def requested(trust: TrustPolicy) -> tuple[Schedule, Pupil]:
    schedule, pupil = Schedule(trust), a_pupil(concerns=0)
    primary_need(pupil, date(2024, 9, 20))
    request_assessment(pupil, REQUESTED, policy=trust)
    schedule.feed(pupil)
    return schedule, pupil


def closed(schedule: Schedule, rule: str) -> list[tuple[date, str]]:
    return [
        (row["closed_on"], row["outcome"])
        for row in schedule.rows()
        if row["rule"] == rule and row["closed_seq"] is not None
    ]


# ----- the local authority's clocks -------------------------------------------------------


@pytest.mark.parametrize("trust", POLICIES, ids=IDS)
def test_the_la_decides_whether_to_assess_within_six_weeks(trust: TrustPolicy) -> None:
    schedule, pupil = requested(trust)
    assert_boundary(schedule, "la_assessment_decision", REQUESTED + timedelta(weeks=6))
    d = schedule.rule(REQUESTED + timedelta(weeks=6), "la_assessment_decision")
    assert d is not None and d.party == "local_authority"
    # The school heard three days after the letter: the law's clock stopped on the letter.
    decide_assessment(pupil, REQUESTED + timedelta(weeks=6, days=3))
    schedule.feed(pupil)
    letter = REQUESTED + timedelta(weeks=6, days=2)
    assert closed(schedule, "la_assessment_decision") == [(letter, "met")]
    assert schedule.rule(letter, "la_assessment_decision") is None


@pytest.mark.parametrize("trust", POLICIES, ids=IDS)
def test_the_decision_whether_to_issue_is_due_16_weeks_from_the_request(
    trust: TrustPolicy,
) -> None:
    schedule, pupil = requested(trust)
    assert schedule.rule(REQUESTED + timedelta(weeks=16), "la_issue_decision") is None
    decide_assessment(pupil, REQUESTED + timedelta(weeks=5))
    schedule.feed(pupil)
    assert_boundary(schedule, "la_issue_decision", REQUESTED + timedelta(weeks=16))
    decide_issue(pupil, REQUESTED + timedelta(weeks=15))
    schedule.feed(pupil)
    assert closed(schedule, "la_issue_decision") == [
        (REQUESTED + timedelta(weeks=15, days=-1), "met")
    ]


def test_a_draft_plan_is_the_decision_to_issue() -> None:
    schedule, pupil = requested(policy("default"))
    decide_assessment(pupil, REQUESTED + timedelta(weeks=5))
    receive_draft(pupil, REQUESTED + timedelta(weeks=14))
    schedule.feed(pupil)
    letter = REQUESTED + timedelta(weeks=14, days=-1)
    assert closed(schedule, "la_issue_decision") == [(letter, "met")]


def test_the_draft_carries_fifteen_days_to_comment() -> None:
    _, pupil = requested(policy("default"))
    decide_assessment(pupil, REQUESTED + timedelta(weeks=5))
    pupil.collect_events()
    receive_draft(pupil, date(2025, 1, 10))
    (event,) = pupil.collect_events()
    assert event.comments_by == date(2025, 1, 9) + timedelta(days=15)  # type: ignore[attr-defined]
    assert event.setting_named == "Oakfield Primary Academy"  # type: ignore[attr-defined]


@pytest.mark.parametrize("trust", POLICIES, ids=IDS)
def test_the_final_plan_is_due_20_weeks_from_the_request(trust: TrustPolicy) -> None:
    schedule, pupil = requested(trust)
    assert_boundary(schedule, "la_final_plan", REQUESTED + timedelta(weeks=20))
    issue_plan(pupil, REQUESTED + timedelta(weeks=21), policy=trust)
    schedule.feed(pupil)
    assert closed(schedule, "la_final_plan") == [(REQUESTED + timedelta(weeks=21), "met")]
    # The plan also ends every other clock of the request.
    assert schedule.due(date(2025, 3, 1), overdue_only=True, within_days=0) == []


@pytest.mark.parametrize("outcome", ["not_assessed", "not_issued"])
def test_a_refusal_ends_the_20_weeks_and_carries_the_appeal_date(outcome: str) -> None:
    schedule, pupil = requested(policy("default"))
    day = date(2024, 12, 18)
    if outcome == "not_issued":
        decide_assessment(pupil, REQUESTED + timedelta(weeks=4))
        decide_issue(pupil, day, IssueDecision.NOT_ISSUE)
    else:
        decide_assessment(pupil, day, AssessmentDecision.NOT_ASSESS)
    events = pupil.collect_events()
    # Two months from the letter (17 December) to appeal (HESC Rules r. 20(1)).
    assert events[-1].appeal_by == date(2025, 2, 17)  # type: ignore[attr-defined]
    feed(schedule, events)
    assert closed(schedule, "la_final_plan") == [(date(2024, 12, 17), outcome)]
    assert schedule.due(date(2026, 1, 1), within_days=0) == []


def feed(schedule: Schedule, events: list[object]) -> None:
    with schedule.transaction(True) as session:
        for event in events:
            schedule.projection.apply(session, projected(event, next(schedule._ids)))


def with_review_held(trust: TrustPolicy, held: date) -> tuple[Schedule, Pupil]:
    schedule, pupil = requested(trust)
    issue_plan(pupil, date(2025, 2, 3), policy=trust)
    schedule_review(pupil, held - timedelta(days=42), held, policy=trust)
    hold_review(pupil, held, policy=trust)
    schedule.feed(pupil)
    return schedule, pupil


@pytest.mark.parametrize("trust", POLICIES, ids=IDS)
def test_the_la_decides_within_four_weeks_of_the_annual_review(trust: TrustPolicy) -> None:
    held = date(2026, 1, 12)
    schedule, pupil = with_review_held(trust, held)
    assert_boundary(schedule, "la_review_decision", held + timedelta(weeks=4))
    send_report(pupil, held + timedelta(days=7))
    decide_review(pupil, held + timedelta(days=30))
    schedule.feed(pupil)
    assert closed(schedule, "la_review_decision") == [(held + timedelta(days=29), "met")]


@pytest.mark.parametrize("trust", POLICIES, ids=IDS)
def test_the_amended_plan_is_due_eight_weeks_after_the_decision(trust: TrustPolicy) -> None:
    held = date(2026, 1, 12)
    schedule, pupil = with_review_held(trust, held)
    send_report(pupil, held + timedelta(days=7))
    decide_review(pupil, held + timedelta(days=20), ReviewRecommendation.AMEND)
    schedule.feed(pupil)
    letter = held + timedelta(days=19)
    assert_boundary(schedule, "la_amended_plan", letter + timedelta(weeks=8))
    pupil.amend_ehc_plan(
        local_authority="Northshire County Council",
        changes="Section F",
        reason="Annual review",
        phase_transfer=False,
        **on(letter + timedelta(weeks=7)),
    )
    schedule.feed(pupil)
    assert closed(schedule, "la_amended_plan") == [(letter + timedelta(weeks=7), "met")]


def test_a_maintain_decision_owes_no_amended_plan() -> None:
    held = date(2026, 1, 12)
    schedule, pupil = with_review_held(policy("default"), held)
    send_report(pupil, held + timedelta(days=7))
    decide_review(pupil, held + timedelta(days=20), ReviewRecommendation.MAINTAIN)
    schedule.feed(pupil)
    assert [r for r in schedule.rows() if r["rule"] == "la_amended_plan"] == []


def test_the_la_s_steps_are_listed_apart_from_the_school_s() -> None:
    held = date(2026, 1, 12)
    schedule, _ = with_review_held(policy("default"), held)
    late = schedule.due(held + timedelta(days=60), overdue_only=True)
    assert {(d.rule, d.party) for d in late} == {
        ("annual_review_report", "school"),
        ("la_review_decision", "local_authority"),
    }
    assert {d.as_json()["party"] for d in late} == {"school", "local_authority"}


# ----- the school's closing steps ---------------------------------------------------------


@pytest.mark.parametrize("trust", POLICIES, ids=IDS)
def test_information_sent_to_the_la_closes_its_request(trust: TrustPolicy) -> None:
    schedule, pupil = requested(trust)
    asked = REQUESTED + timedelta(days=7)
    pupil.record_la_information_request(
        policy=trust, local_authority="Northshire", information_requested="Advice", **on(asked)
    )
    schedule.feed(pupil)
    assert_boundary(schedule, "la_information", asked + timedelta(weeks=6))
    pupil.record_la_information_sent(
        answers_seq=pupil.version, information_sent="Advice", **on(asked + timedelta(days=20))
    )
    schedule.feed(pupil)
    assert closed(schedule, "la_information") == [(asked + timedelta(days=20), "met")]
    assert schedule.rule(asked + timedelta(weeks=6, days=1), "la_information") is None


def test_papers_circulated_close_their_deadline_before_the_meeting() -> None:
    schedule, pupil = requested(policy("default"))
    issue_plan(pupil, date(2025, 2, 3))
    meeting = date(2026, 1, 26)
    schedule_review(pupil, date(2025, 12, 1), meeting)
    schedule.feed(pupil)
    assert_boundary(schedule, "annual_review_papers", meeting - timedelta(days=14))
    pupil.circulate_annual_review_papers(
        circulated_to=("parents", "LA"), **on(meeting - timedelta(days=16))
    )
    schedule.feed(pupil)
    assert closed(schedule, "annual_review_papers") == [(meeting - timedelta(days=16), "met")]
    assert schedule.rule(meeting - timedelta(days=13), "annual_review_papers") is None


def test_monitoring_is_reviewed_at_harmony_s_interval_and_ends_with_the_status() -> None:
    harmony = policy("harmony")
    interval = harmony.deadlines.monitoring_review_interval_days
    assert interval == 61
    schedule, pupil = Schedule(harmony), a_pupil(concerns=0)
    start = date(2025, 1, 6)
    move(pupil, start, RegisterStatus.MONITORING, policy=harmony)
    schedule.feed(pupil)
    assert_boundary(schedule, "monitoring_review", start + timedelta(days=interval))
    reviewed = start + timedelta(days=50)
    pupil.review_monitoring(policy=harmony, findings="Settled", **on(reviewed))
    schedule.feed(pupil)
    assert_boundary(schedule, "monitoring_review", reviewed + timedelta(days=interval))
    move(pupil, reviewed + timedelta(days=10), RegisterStatus.NONE, policy=harmony)
    schedule.feed(pupil)
    assert schedule.due(date(2026, 1, 1), within_days=0) == []


def test_without_an_interval_monitoring_opens_no_deadline() -> None:
    schedule, pupil = Schedule(), a_pupil(concerns=0)
    move(pupil, date(2025, 1, 6), RegisterStatus.MONITORING)
    pupil.review_monitoring(policy=policy("default"), findings="Fine", **on(date(2025, 2, 6)))
    schedule.feed(pupil)
    assert [r for r in schedule.rows() if r["rule"] == "monitoring_review"] == []


# ----- re-joining -------------------------------------------------------------------------


def test_a_departure_after_re_joining_owes_a_records_transfer_of_its_own() -> None:
    trust = policy("default")
    schedule, pupil = Schedule(trust), a_pupil(concerns=0)

    def leave(day: date, sent: date | None) -> None:
        pupil.leave_trust(
            policy=trust,
            destination="Birch Academy",
            records_sent_on=sent,
            receipt_acknowledged_on=None,
            receipt_acknowledged_by=None,
            **on(day),
        )

    leave(date(2025, 3, 3), date(2025, 3, 3))
    pupil.rejoin(academy="HTH", year_group=5, returned_from="Birch Academy", **on(date(2025, 9, 3)))
    leave(date(2026, 3, 2), None)
    schedule.feed(pupil)
    assert_boundary(schedule, "records_transfer", date(2026, 3, 9))
    (second,) = [d for d in schedule.due(date(2026, 3, 9)) if d.rule == "records_transfer"]
    assert second.academy == "HTH"
    pupil.leave_trust(  # completing the second move, recorded once the file went
        policy=trust,
        destination="Birch Academy",
        records_sent_on=date(2026, 3, 6),
        receipt_acknowledged_on=None,
        receipt_acknowledged_by=None,
        **on(date(2026, 3, 6)),
    )
    schedule.feed(pupil)
    rows = sorted(
        (r["opened_on"], r["closed_on"]) for r in schedule.rows() if r["rule"] == "records_transfer"
    )
    assert rows == [(date(2025, 3, 3), date(2025, 3, 3)), (date(2026, 3, 2), date(2026, 3, 6))]
