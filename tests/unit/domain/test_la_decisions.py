"""The LA's decisions in their statutory order, the school's closing entries, re-joining
(issue 16): each refusal says what to record first and leaves the record unchanged."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from domain.errors import (
    DateOutOfRange,
    NotAllowedByPolicy,
    OutOfOrder,
    PupilLeftTrust,
    UnknownEntry,
)
from domain.values import AssessmentDecision, IssueDecision, RegisterStatus
from tests.factories import (
    a_pupil,
    decide_assessment,
    decide_issue,
    hold_review,
    issue_plan,
    on,
    refused,
    request_assessment,
    schedule_review,
)

LA = "Northshire County Council"


def test_a_decision_to_assess_answers_a_request() -> None:
    pupil = a_pupil(concerns=0)
    refused(
        pupil,
        OutOfOrder,
        "record EHCNeedsAssessmentRequested first",
        pupil.record_assessment_decision,
        local_authority=LA,
        decision=AssessmentDecision.ASSESS,
        letter_dated=date(2025, 1, 6),
        la_reference=None,
        **on(date(2025, 1, 7)),
    )


def test_the_la_decides_once_per_request_and_a_new_request_starts_again() -> None:
    pupil = a_pupil(concerns=0)
    request_assessment(pupil, date(2025, 1, 6))
    decide_assessment(pupil, date(2025, 2, 3), AssessmentDecision.NOT_ASSESS)
    refused(
        pupil,
        OutOfOrder,
        "the LA already decided",
        pupil.record_assessment_decision,
        local_authority=LA,
        decision=AssessmentDecision.ASSESS,
        letter_dated=date(2025, 2, 4),
        la_reference=None,
        **on(date(2025, 2, 4)),
    )
    request_assessment(pupil, date(2025, 9, 1))
    decide_assessment(pupil, date(2025, 10, 1))


def test_the_letter_is_not_before_the_request_nor_after_the_school_heard() -> None:
    pupil = a_pupil(concerns=0)
    request_assessment(pupil, date(2025, 1, 6))
    for letter, heard, says in (
        (date(2025, 1, 3), date(2025, 1, 20), "before the assessment request"),
        (date(2025, 1, 21), date(2025, 1, 20), "before the letter"),
    ):
        refused(
            pupil,
            DateOutOfRange,
            says,
            pupil.record_assessment_decision,
            local_authority=LA,
            decision=AssessmentDecision.ASSESS,
            letter_dated=letter,
            la_reference="  ",
            **on(heard),
        )


def test_a_decision_to_issue_and_a_draft_follow_a_decision_to_assess() -> None:
    pupil = a_pupil(concerns=0)
    request_assessment(pupil, date(2025, 1, 6))
    refused(
        pupil,
        OutOfOrder,
        r"record EHCAssessmentDecided \(assess\) first",
        pupil.record_draft_plan,
        local_authority=LA,
        letter_dated=date(2025, 4, 1),
        la_reference=None,
        setting_named=None,
        **on(date(2025, 4, 2)),
    )
    decide_assessment(pupil, date(2025, 2, 10))
    decide_issue(pupil, date(2025, 4, 20), IssueDecision.NOT_ISSUE)
    refused(
        pupil,
        OutOfOrder,
        "decided not to issue",
        pupil.record_draft_plan,
        local_authority=LA,
        letter_dated=date(2025, 4, 21),
        la_reference=None,
        setting_named=None,
        **on(date(2025, 4, 22)),
    )


def test_the_la_decides_after_a_review_meeting_once() -> None:
    pupil = a_pupil(concerns=0)
    request_assessment(pupil, date(2025, 1, 6))
    issue_plan(pupil, date(2025, 5, 1))
    kw = {
        "local_authority": LA,
        "decision": "maintain",
        "letter_dated": date(2026, 5, 1),
        "la_reference": None,
    }
    refused(
        pupil,
        OutOfOrder,
        "record AnnualReviewHeld first",
        pupil.record_review_decision,
        **kw,
        **on(date(2026, 5, 2)),
    )
    schedule_review(pupil, date(2026, 3, 2), date(2026, 4, 13))
    hold_review(pupil, date(2026, 4, 13))
    pupil.record_review_decision(**kw, **on(date(2026, 5, 2)))  # type: ignore[arg-type]
    refused(
        pupil,
        OutOfOrder,
        "already decided after the review held on 2026-04-13",
        pupil.record_review_decision,
        **kw,
        **on(date(2026, 5, 3)),
    )


def test_information_sent_names_the_request_it_answers() -> None:
    pupil = a_pupil(concerns=0)
    request_assessment(pupil, date(2025, 1, 6))
    refused(
        pupil,
        UnknownEntry,
        f"entry {pupil.version} is not an LA information request",
        pupil.record_la_information_sent,
        answers_seq=pupil.version,
        information_sent="Advice",
        **on(date(2025, 1, 20)),
    )


def test_papers_are_circulated_before_the_arranged_meeting() -> None:
    pupil = a_pupil(concerns=0)
    request_assessment(pupil, date(2025, 1, 6))
    issue_plan(pupil, date(2025, 5, 1))
    schedule_review(pupil, date(2026, 3, 2), date(2026, 4, 13))
    refused(
        pupil,
        OutOfOrder,
        "papers circulated after it",
        pupil.circulate_annual_review_papers,
        circulated_to=("parents",),
        **on(date(2026, 4, 14)),
    )
    pupil.circulate_annual_review_papers(circulated_to=("parents",), **on(date(2026, 3, 30)))


def test_monitoring_reviews_need_the_pupil_on_monitoring() -> None:
    from tests.factories import DEFAULT

    pupil = a_pupil(concerns=0)
    assert pupil.status == RegisterStatus.NONE
    refused(
        pupil,
        OutOfOrder,
        "not on the monitoring register",
        pupil.review_monitoring,
        policy=DEFAULT,
        findings="Fine",
        **on(date(2025, 2, 3)),
    )


def test_a_pupil_who_left_can_rejoin_and_the_record_reopens() -> None:
    from tests.factories import DEFAULT

    pupil = a_pupil(concerns=0)
    left = date(2025, 3, 3)
    pupil.leave_trust(
        policy=DEFAULT,
        destination="Birch Academy",
        records_sent_on=left,
        receipt_acknowledged_on=None,
        receipt_acknowledged_by=None,
        **on(left),
    )
    with pytest.raises(PupilLeftTrust, match="cannot be added"):
        request_assessment(pupil, left)
    refused(
        pupil,
        DateOutOfRange,
        "before the day the pupil left",
        pupil.rejoin,
        academy="HTH",
        year_group=5,
        returned_from="Birch Academy",
        **on(left - timedelta(days=1)),
    )
    pupil.rejoin(academy="HTH", year_group=5, returned_from="Birch Academy", **on(date(2025, 9, 3)))
    assert pupil.left is None and pupil.academy == "HTH"
    request_assessment(pupil, date(2025, 9, 10))
    refused(
        pupil,
        OutOfOrder,
        "has not left the trust",
        pupil.rejoin,
        academy="HTH",
        year_group=5,
        returned_from="Birch Academy",
        **on(date(2025, 9, 11)),
    )


def test_a_reassessment_counts_from_the_la_s_decision_that_ended_the_assessment() -> None:
    from tests.factories import policy

    aspire = policy("aspire")
    pupil = a_pupil(concerns=0)
    request_assessment(pupil, date(2025, 1, 6), policy=aspire)
    decide_assessment(pupil, date(2025, 2, 10))
    decide_issue(pupil, date(2025, 4, 22))  # the letter: 21 April
    issue_plan(pupil, date(2025, 5, 19), policy=aspire)
    kw = {
        "policy": aspire,
        "local_authority": LA,
        "requested_by": "school",
        "reason": "Needs have changed",
    }
    refused(
        pupil,
        NotAllowedByPolicy,
        r"after the last assessment ended \(2025-04-21\): not before 2025-10-21",
        pupil.request_ehc_needs_assessment,
        **kw,
        **on(date(2025, 10, 20)),
    )
    pupil.request_ehc_needs_assessment(**kw, **on(date(2025, 10, 21)))  # type: ignore[arg-type]
