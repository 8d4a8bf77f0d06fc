"""EHC steps in their legal order, with deadlines from the trust's policy: one test per rule."""

from __future__ import annotations

from datetime import date
from typing import Any

from domain.errors import DateOutOfRange, InvalidEntry, NotAllowedByPolicy, OutOfOrder
from domain.events import (
    AnnualReviewHeld,
    AnnualReviewScheduled,
    EHCNeedsAssessmentRequested,
    EHCPlanIssued,
    LAInformationRequested,
)
from domain.pupil import Pupil
from domain.values import ReviewRecommendation
from tests.factories import (
    DEFAULT,
    a_pupil,
    hold_review,
    issue_plan,
    on,
    policy,
    refused,
    request_assessment,
    schedule_review,
    send_report,
)

REQUESTED = date(2025, 1, 13)
ISSUED = date(2025, 3, 3)
ASPIRE = policy("aspire")


def _pupil() -> Pupil:
    pupil = a_pupil(concerns=0)
    pupil.collect_events()
    return pupil


def _requested() -> Pupil:
    pupil = _pupil()
    request_assessment(pupil, REQUESTED)
    pupil.collect_events()
    return pupil


def _with_plan() -> Pupil:
    pupil = _requested()
    issue_plan(pupil, ISSUED)
    pupil.collect_events()
    return pupil


def _scheduled(day: date = date(2026, 1, 12), meeting: date = date(2026, 2, 2)) -> Pupil:
    pupil = _with_plan()
    schedule_review(pupil, day, meeting)
    pupil.collect_events()
    return pupil


def _la_request(day: date) -> dict[str, Any]:
    return {
        "policy": DEFAULT,
        "local_authority": "Northshire County Council",
        "information_requested": "Educational advice",
    } | on(day)


def _issue(day: date, **kw: Any) -> dict[str, Any]:
    return (
        {
            "policy": DEFAULT,
            "local_authority": "Northshire County Council",
            "plan_reference": "NCC-1",
            "named_setting": "Oakfield Primary Academy",
            "transferred_from": None,
        }
        | on(day)
        | kw
    )


def _schedule(day: date, meeting_on: date, **kw: Any) -> dict[str, Any]:
    return (
        {
            "policy": DEFAULT,
            "meeting_on": meeting_on,
            "invitees": ("parents", "LA SEN officer"),
            "notice_given_on": day,
        }
        | on(day)
        | kw
    )


def _hold(day: date, **kw: Any) -> dict[str, Any]:
    return (
        {
            "policy": DEFAULT,
            "attendees": ("parents", "SENDCo"),
            "papers_circulated_on": None,
            "pupil_voice": "Likes maths now",
            "parent_voice": "Pleased",
            "recommendation": ReviewRecommendation.MAINTAIN,
        }
        | on(day)
        | kw
    )


def _report(day: date) -> dict[str, Any]:
    return {"sent_to": ("LA SEN team",), "summary": "Maintain"} | on(day)


def _amend(day: date) -> dict[str, Any]:
    return {
        "local_authority": "Northshire County Council",
        "changes": "Section F updated",
        "reason": "Annual review",
        "phase_transfer": False,
    } | on(day)


def _cease(day: date) -> dict[str, Any]:
    return {"local_authority": "Northshire County Council", "reason": "Needs met"} | on(day)


# ----- assessment and information requests -----------------------------------------------


def test_an_la_information_request_follows_an_assessment_request() -> None:
    pupil = _pupil()
    refused(
        pupil,
        OutOfOrder,
        "an LA information request belongs to an EHC needs assessment: record "
        "EHCNeedsAssessmentRequested first",
        pupil.record_la_information_request,
        **_la_request(REQUESTED),
    )


def test_an_la_information_request_is_not_dated_before_the_assessment_request() -> None:
    pupil = _requested()
    refused(
        pupil,
        DateOutOfRange,
        "the LA's request is 2025-01-10, before the assessment request",
        pupil.record_la_information_request,
        **_la_request(date(2025, 1, 10)),
    )


def test_the_la_response_is_due_by_the_policy_deadline() -> None:
    pupil = _requested()
    pupil.record_la_information_request(**_la_request(date(2025, 1, 20)))
    (event,) = pupil.collect_events()
    assert isinstance(event, LAInformationRequested)
    assert event.respond_by == date(2025, 3, 3)  # six weeks


def test_a_reassessment_within_the_policys_minimum_is_refused() -> None:
    pupil = _with_plan()
    refused(
        pupil,
        NotAllowedByPolicy,
        # Counted from when the assessment ended (the plan, 3 March), not the request.
        "allows a re-assessment request no sooner than 6 months after the last assessment "
        r"ended \(2025-03-03\): not before 2025-09-03",
        pupil.request_ehc_needs_assessment,
        policy=ASPIRE,
        local_authority="Northshire County Council",
        requested_by="school",
        reason="Needs have changed",
        **on(date(2025, 9, 2)),
    )


def test_a_reassessment_after_the_minimum_is_recorded_as_one() -> None:
    pupil = _with_plan()
    request_assessment(pupil, date(2025, 9, 3), policy=ASPIRE)
    (event,) = pupil.collect_events()
    assert isinstance(event, EHCNeedsAssessmentRequested) and event.reassessment


# ----- the plan ---------------------------------------------------------------------------


def test_a_plan_follows_an_assessment_request() -> None:
    pupil = _pupil()
    refused(
        pupil,
        OutOfOrder,
        "an EHC plan follows an EHC needs assessment: record EHCNeedsAssessmentRequested first",
        pupil.issue_ehc_plan,
        **_issue(ISSUED),
    )


def test_a_plan_that_came_with_the_pupil_needs_no_request_here() -> None:
    pupil = _pupil()
    issue_plan(pupil, ISSUED, transferred_from="Westmoor Primary, Eastshire")
    (event,) = pupil.collect_events()
    assert isinstance(event, EHCPlanIssued)
    assert event.first_review_by == date(2026, 3, 3)
    assert pupil.ehc_plan_in_force


def test_a_plan_is_not_dated_before_its_request() -> None:
    pupil = _requested()
    refused(
        pupil,
        DateOutOfRange,
        "the plan is 2025-01-06, before the assessment request",
        pupil.issue_ehc_plan,
        **_issue(date(2025, 1, 6)),
    )


def test_one_plan_at_a_time() -> None:
    pupil = _with_plan()
    refused(
        pupil,
        OutOfOrder,
        r"an EHC plan is already in force \(issued 2025-03-03\): record EHCPlanAmended",
        pupil.issue_ehc_plan,
        **_issue(date(2025, 4, 1)),
    )


def test_an_amendment_needs_a_plan_in_force() -> None:
    pupil = _requested()
    refused(
        pupil,
        OutOfOrder,
        "an amendment needs an EHC plan in force: record EHCPlanIssued first",
        pupil.amend_ehc_plan,
        **_amend(ISSUED),
    )


def test_an_amendment_is_not_dated_before_the_plan() -> None:
    pupil = _with_plan()
    refused(
        pupil,
        DateOutOfRange,
        "the amendment is 2025-03-01, before the EHC plan",
        pupil.amend_ehc_plan,
        **_amend(date(2025, 3, 1)),
    )


def test_ceasing_needs_a_plan_in_force() -> None:
    pupil = _requested()
    refused(
        pupil,
        OutOfOrder,
        "ceasing a plan needs an EHC plan in force",
        pupil.cease_ehc_plan,
        **_cease(ISSUED),
    )


# ----- annual reviews ----------------------------------------------------------------------


def test_an_annual_review_needs_an_issued_plan() -> None:
    pupil = _requested()
    refused(
        pupil,
        OutOfOrder,
        "an annual review needs an EHC plan in force: record EHCPlanIssued first",
        pupil.schedule_annual_review,
        **_schedule(date(2026, 1, 5), date(2026, 2, 2)),
    )


def test_no_annual_review_after_the_plan_ceased() -> None:
    pupil = _with_plan()
    pupil.cease_ehc_plan(**_cease(date(2025, 9, 1)))
    pupil.collect_events()
    refused(
        pupil,
        OutOfOrder,
        r"needs an EHC plan in force \(the last one ceased on 2025-09-01\)",
        pupil.schedule_annual_review,
        **_schedule(date(2026, 1, 5), date(2026, 2, 2)),
    )


def test_invitees_get_the_policys_notice() -> None:
    pupil = _with_plan()
    refused(
        pupil,
        NotAllowedByPolicy,
        "invitees must have 14 days' notice of an annual review: for a meeting on 2026-01-15 "
        "notice was due by 2026-01-01, but was given on 2026-01-05; hold the meeting on or "
        "after 2026-01-19",
        pupil.schedule_annual_review,
        **_schedule(date(2026, 1, 5), date(2026, 1, 15)),
    )


def test_notice_cannot_be_given_in_the_future() -> None:
    pupil = _with_plan()
    refused(
        pupil,
        DateOutOfRange,
        "the date notice was given is 2026-01-09, after the day it is recorded",
        pupil.schedule_annual_review,
        **_schedule(date(2026, 1, 5), date(2026, 2, 2), notice_given_on=date(2026, 1, 9)),
    )


def test_the_meeting_is_not_before_it_was_arranged() -> None:
    pupil = _with_plan()
    refused(
        pupil,
        DateOutOfRange,
        "the meeting is 2025-12-01, before the day it was arranged",
        pupil.schedule_annual_review,
        **_schedule(date(2026, 1, 5), date(2025, 12, 1), notice_given_on=date(2025, 11, 1)),
    )


def test_a_review_has_invitees() -> None:
    pupil = _with_plan()
    refused(
        pupil,
        InvalidEntry,
        "invitees: name at least one",
        pupil.schedule_annual_review,
        **_schedule(date(2026, 1, 5), date(2026, 2, 2), invitees=()),
    )


def test_papers_are_due_by_the_policy() -> None:
    pupil = _with_plan()
    schedule_review(pupil, date(2026, 1, 12), date(2026, 2, 2))
    (event,) = pupil.collect_events()
    assert isinstance(event, AnnualReviewScheduled)
    assert event.papers_due_by == date(2026, 1, 19)


def test_a_meeting_needs_a_scheduled_review() -> None:
    pupil = _with_plan()
    refused(
        pupil,
        OutOfOrder,
        "an annual review meeting needs a review arranged with notice: record "
        "AnnualReviewScheduled first",
        pupil.hold_annual_review,
        **_hold(date(2026, 2, 2)),
    )


def test_a_meeting_is_held_once() -> None:
    pupil = _scheduled()
    hold_review(pupil, date(2026, 2, 2))
    pupil.collect_events()
    refused(
        pupil,
        OutOfOrder,
        "record AnnualReviewScheduled first",
        pupil.hold_annual_review,
        **_hold(date(2026, 2, 3)),
    )


def test_a_meeting_is_not_before_it_was_arranged() -> None:
    pupil = _scheduled()
    refused(
        pupil,
        DateOutOfRange,
        "the meeting is 2026-01-09, before the day it was arranged",
        pupil.hold_annual_review,
        **_hold(date(2026, 1, 9)),
    )


def test_papers_go_out_before_the_meeting() -> None:
    pupil = _scheduled()
    refused(
        pupil,
        DateOutOfRange,
        "the meeting is 2026-02-02, before the papers",
        pupil.hold_annual_review,
        **_hold(date(2026, 2, 2), papers_circulated_on=date(2026, 2, 3))
        | {"recorded_at": on(date(2026, 2, 4))["recorded_at"]},
    )


def test_the_report_is_due_by_the_policy_and_the_next_review_a_year_on() -> None:
    pupil = _scheduled()
    pupil.hold_annual_review(**_hold(date(2026, 2, 2), policy=ASPIRE))
    (event,) = pupil.collect_events()
    assert isinstance(event, AnnualReviewHeld)
    # Aspire's policy says four weeks; the law (SEND Regs 2014 reg. 20(7)) says two, and wins.
    assert event.report_due_by == date(2026, 2, 16)
    assert event.next_review_by == date(2027, 2, 2)


def test_a_report_needs_a_held_review() -> None:
    pupil = _scheduled()
    refused(
        pupil,
        OutOfOrder,
        "an annual review report needs a review meeting held: record AnnualReviewHeld first",
        pupil.send_annual_review_report,
        **_report(date(2026, 2, 10)),
    )


def test_a_report_is_not_dated_before_the_meeting() -> None:
    pupil = _scheduled()
    hold_review(pupil, date(2026, 2, 2))
    pupil.collect_events()
    refused(
        pupil,
        DateOutOfRange,
        "the report is 2026-02-01, before the review meeting",
        pupil.send_annual_review_report,
        **_report(date(2026, 2, 1)),
    )


def test_the_next_review_waits_for_the_last_report() -> None:
    pupil = _scheduled()
    hold_review(pupil, date(2026, 2, 2))
    pupil.collect_events()
    refused(
        pupil,
        OutOfOrder,
        "the annual review held on 2026-02-02 has no report yet: record AnnualReviewReportSent",
        pupil.schedule_annual_review,
        **_schedule(date(2026, 12, 1), date(2027, 1, 18)),
    )


def test_a_scheduled_review_can_be_moved() -> None:
    pupil = _scheduled()
    schedule_review(pupil, date(2026, 1, 20), date(2026, 2, 9))
    assert pupil.ehc.review is not None and pupil.ehc.review.meeting_on == date(2026, 2, 9)


def test_a_full_cycle_leaves_no_review_pending() -> None:
    pupil = _scheduled()
    hold_review(pupil, date(2026, 2, 2))
    send_report(pupil, date(2026, 2, 12))
    assert pupil.ehc.review is None
    schedule_review(pupil, date(2026, 12, 1), date(2027, 1, 18))
