"""Plans and reviews: one test per rule, each asserting the error and that nothing was emitted."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from uuid import UUID

import pytest

from domain.errors import (
    DateOutOfRange,
    InvalidEntry,
    NotAllowedByPolicy,
    OutOfOrder,
    UnknownEntry,
)
from domain.events import PlanAgreed
from domain.policy import TrustPolicy
from domain.pupil import Pupil
from domain.values import (
    AgreementKind,
    Participant,
    PlanKind,
    SmartOutcome,
    TargetOutcome,
    TargetReview,
)
from tests.factories import DEFAULT, a_pupil, agree, on, policy, refused, review, sign, smart

DAY = date(2025, 2, 3)
LATER = date(2025, 5, 6)
TARGETS = ("Blends CVC words", "Follows two-part instructions")
HARMONY = policy("harmony")


def _pupil() -> Pupil:
    pupil = a_pupil(concerns=0)
    pupil.collect_events()
    return pupil


def _plan(trust: TrustPolicy = DEFAULT, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "policy": trust,
        "kind": PlanKind.INDIVIDUAL_PLAN,
        "outcomes": [smart(t, DAY + timedelta(days=60)) for t in TARGETS],
        "provision": "Daily phonics group",
        "review_on": None,
        "agreed_by": (Participant.PARENT, Participant.SENDCO),
        "la_informed_on": None,
    } | on(DAY)
    return args | kw


def _with_plan() -> tuple[Pupil, UUID]:
    pupil = _pupil()
    plan = agree(pupil, DAY)
    pupil.collect_events()
    return pupil, plan


def _review(plan: UUID, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "plan_id": plan,
        "outcomes": [TargetReview(t, TargetOutcome.ACHIEVED) for t in TARGETS],
        "pupil_voice": "I can read my book",
        "parent_voice": "Much happier",
        "next_steps": "Move to CCVC words",
        "next_review_on": LATER + timedelta(days=90),
        "closes_plan": False,
    } | on(LATER)
    return args | kw


# ----- agreeing a plan ------------------------------------------------------------------


def test_the_review_date_defaults_to_the_policy_interval() -> None:
    pupil = _pupil()
    agree(pupil, DAY)
    (event,) = pupil.collect_events()
    assert isinstance(event, PlanAgreed)
    assert event.review_on == DAY + timedelta(days=122)


def test_a_plan_kind_the_trust_does_not_use_is_refused() -> None:
    pupil = _pupil()
    refused(
        pupil,
        NotAllowedByPolicy,
        r"this trust's policy does not use peep plans \(its plan kinds: individual_plan, "
        r"exam_access\)",
        pupil.agree_plan,
        **_plan(policy("aspire"), kind=PlanKind.PEEP),
    )


def test_a_plan_id_is_used_once() -> None:
    pupil, plan = _with_plan()
    refused(
        pupil,
        InvalidEntry,
        "is already recorded: give a new plan its own id",
        pupil.agree_plan,
        **_plan(plan_id=plan),
    )


def test_an_individual_plan_has_smart_outcomes() -> None:
    pupil = _pupil()
    refused(
        pupil,
        InvalidEntry,
        r"an individual_plan needs at least one SMART outcome \(target, measure, by when\)",
        pupil.agree_plan,
        **_plan(outcomes=[]),
    )


def test_a_one_page_profile_needs_no_outcomes() -> None:
    pupil = _pupil()
    pupil.agree_plan(**_plan(kind=PlanKind.ONE_PAGE_PROFILE, outcomes=[]))
    assert len(pupil.plans) == 1


def test_targets_are_distinct() -> None:
    pupil = _pupil()
    twice = [smart("Blends CVC words", LATER)] * 2
    refused(
        pupil,
        InvalidEntry,
        "target 'Blends CVC words' is listed twice",
        pupil.agree_plan,
        **_plan(outcomes=twice),
    )


def test_a_target_says_how_it_is_measured() -> None:
    pupil = _pupil()
    vague = [SmartOutcome("Reads better", " ", LATER)]
    refused(
        pupil,
        InvalidEntry,
        "how target 'Reads better' is measured is required",
        pupil.agree_plan,
        **_plan(outcomes=vague),
    )


def test_a_target_is_due_after_the_plan_is_agreed() -> None:
    pupil = _pupil()
    refused(
        pupil,
        DateOutOfRange,
        "the due date of target 'Blends CVC words' is 2025-01-01: it must be after the day "
        "the plan is agreed",
        pupil.agree_plan,
        **_plan(outcomes=[smart("Blends CVC words", date(2025, 1, 1))]),
    )


def test_the_review_date_is_after_the_plan() -> None:
    pupil = _pupil()
    refused(
        pupil,
        DateOutOfRange,
        r"the review date is 2025-02-03: it must be after the day the plan is agreed",
        pupil.agree_plan,
        **_plan(review_on=DAY),
    )


def test_a_plan_says_who_agreed_it() -> None:
    pupil = _pupil()
    refused(pupil, InvalidEntry, "say who agreed the plan", pupil.agree_plan, **_plan(agreed_by=()))


def test_a_plan_states_its_provision() -> None:
    pupil = _pupil()
    refused(pupil, InvalidEntry, "provision is required", pupil.agree_plan, **_plan(provision=""))


def test_only_a_reduced_timetable_records_the_la_informed() -> None:
    pupil = _pupil()
    refused(
        pupil,
        InvalidEntry,
        "only an interim reduced timetable records when the local authority was informed",
        pupil.agree_plan,
        **_plan(la_informed_on=DAY),
    )


# ----- interim reduced timetables (Harmony: consent, LA informed, principal agrees) ------

_IRT = {
    "kind": PlanKind.INTERIM_REDUCED_TIMETABLE,
    "outcomes": [smart("Attends full mornings", LATER)],
    "agreed_by": (Participant.PARENT, Participant.PRINCIPAL, Participant.HEAD_OF_INCLUSION),
    "la_informed_on": DAY,
}


def _consented() -> Pupil:
    pupil = _pupil()
    sign(pupil, DAY - timedelta(days=1), AgreementKind.INTERIM_REDUCED_TIMETABLE, policy=HARMONY)
    pupil.collect_events()
    return pupil


def test_a_reduced_timetable_needs_parents_consent() -> None:
    pupil = _pupil()
    refused(
        pupil,
        NotAllowedByPolicy,
        r"needs parents' consent: record ParentalAgreementSigned \(interim_reduced_timetable\)",
        pupil.agree_plan,
        **_plan(HARMONY, **_IRT),
    )


def test_consent_to_something_else_does_not_count() -> None:
    pupil = _pupil()
    sign(pupil, DAY, AgreementKind.SEND_SUPPORT, policy=HARMONY)
    pupil.collect_events()
    refused(
        pupil,
        NotAllowedByPolicy,
        "needs parents' consent",
        pupil.agree_plan,
        **_plan(HARMONY, **_IRT),
    )


def test_harmony_reduced_timetable_needs_the_la_informed() -> None:
    pupil = _consented()
    refused(
        pupil,
        NotAllowedByPolicy,
        r"give the date it was informed \(la_informed_on\)",
        pupil.agree_plan,
        **_plan(HARMONY, **(_IRT | {"la_informed_on": None})),
    )


def test_harmony_reduced_timetable_needs_the_principal() -> None:
    pupil = _consented()
    refused(
        pupil,
        NotAllowedByPolicy,
        "requires the principal to agree an interim reduced timetable: add principal",
        pupil.agree_plan,
        **_plan(HARMONY, **(_IRT | {"agreed_by": (Participant.PARENT,)})),
    )


def test_the_la_cannot_be_informed_in_the_future() -> None:
    pupil = _consented()
    refused(
        pupil,
        DateOutOfRange,
        "the date the LA was informed is 2025-02-10, after the day it is recorded",
        pupil.agree_plan,
        **_plan(HARMONY, **(_IRT | {"la_informed_on": date(2025, 2, 10)})),
    )


def test_a_reduced_timetable_with_everything_is_agreed() -> None:
    pupil = _consented()
    plan = pupil.agree_plan(**_plan(HARMONY, **_IRT))
    assert pupil.plans[plan].kind == PlanKind.INTERIM_REDUCED_TIMETABLE


# ----- reviews --------------------------------------------------------------------------


def test_a_review_needs_a_known_plan() -> None:
    pupil, _ = _with_plan()
    other = UUID(int=7)
    refused(
        pupil,
        UnknownEntry,
        f"there is no plan {other} on this record: record PlanAgreed first",
        pupil.review_plan,
        **_review(other),
    )


def test_a_closed_plan_is_not_reviewed_again() -> None:
    pupil, plan = _with_plan()
    review(pupil, LATER, plan, targets=TARGETS, closes=True)
    pupil.collect_events()
    refused(
        pupil,
        OutOfOrder,
        "was closed at its review on 2025-05-06: agree a new plan instead",
        pupil.review_plan,
        **_review(plan) | on(LATER + timedelta(days=30)),
    )


def test_a_review_comes_after_the_plan() -> None:
    pupil, plan = _with_plan()
    refused(
        pupil,
        DateOutOfRange,
        "the review is 2025-02-03: it must be after the day the plan was agreed",
        pupil.review_plan,
        **_review(plan) | on(DAY),
    )


def test_a_review_gives_an_outcome_for_every_target() -> None:
    pupil, plan = _with_plan()
    refused(
        pupil,
        InvalidEntry,
        "the review gives no outcome for target 'Follows two-part instructions'",
        pupil.review_plan,
        **_review(plan, outcomes=[TargetReview(TARGETS[0], TargetOutcome.NOT_YET)]),
    )


def test_a_review_only_judges_the_plans_targets() -> None:
    pupil, plan = _with_plan()
    outcomes = [TargetReview(t, TargetOutcome.PARTLY) for t in (*TARGETS, "Swims a width")]
    refused(
        pupil,
        InvalidEntry,
        "'Swims a width' is not a target of this plan",
        pupil.review_plan,
        **_review(plan, outcomes=outcomes),
    )


def test_a_target_gets_one_outcome() -> None:
    pupil, plan = _with_plan()
    outcomes = [TargetReview(t, TargetOutcome.PARTLY) for t in (*TARGETS, TARGETS[0])]
    refused(
        pupil,
        InvalidEntry,
        "target 'Blends CVC words' has two outcomes",
        pupil.review_plan,
        **_review(plan, outcomes=outcomes),
    )


def test_a_closing_review_sets_no_next_review() -> None:
    pupil, plan = _with_plan()
    refused(
        pupil,
        InvalidEntry,
        "a review that closes the plan has no next review date",
        pupil.review_plan,
        **_review(plan, closes_plan=True),
    )


def test_an_open_plan_gets_a_next_review() -> None:
    pupil, plan = _with_plan()
    refused(
        pupil,
        InvalidEntry,
        r"give the next review date \(next_review_on\), or close the plan",
        pupil.review_plan,
        **_review(plan, next_review_on=None),
    )


def test_the_next_review_is_after_this_one() -> None:
    pupil, plan = _with_plan()
    refused(
        pupil,
        DateOutOfRange,
        "the next review date is 2025-05-06: it must be after this review",
        pupil.review_plan,
        **_review(plan, next_review_on=LATER),
    )


@pytest.mark.parametrize(
    ("field", "what"),
    [
        ("pupil_voice", "the pupil's voice"),
        ("parent_voice", "the parents' voice"),
        ("next_steps", "next steps"),
    ],
)
def test_a_review_records_both_voices_and_next_steps(field: str, what: str) -> None:
    pupil, plan = _with_plan()
    refused(
        pupil,
        InvalidEntry,
        f"{what} is required",
        pupil.review_plan,
        **_review(plan, **{field: " "}),
    )


def test_reviews_chain_and_move_the_review_date() -> None:
    pupil, plan = _with_plan()
    review(pupil, LATER, plan)
    assert pupil.plans[plan].review_on == LATER + timedelta(days=90)
    review(pupil, LATER + timedelta(days=90), plan, closes=True)
    assert pupil.plans[plan].closed_on == LATER + timedelta(days=90)
