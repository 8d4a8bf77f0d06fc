"""Plans reviewed on their own cycle (issue 16): a plan that states no review date takes its
kind's interval (`plans.review_interval_days`), else the termly one; the deadline follows."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from domain.policy import load_policy
from domain.values import PlanKind
from tests.factories import a_pupil, agree, policy
from tests.unit.domain.test_policy import write
from tests.unit.projections.test_deadlines import Schedule, assert_boundary

AGREED = date(2025, 2, 10)


@pytest.mark.parametrize(
    ("kind", "days"),
    [
        (PlanKind.HEALTH_CARE_PLAN, 365),
        (PlanKind.PEEP, 365),
        (PlanKind.INTIMATE_CARE_PLAN, 365),
        (PlanKind.RISK_ASSESSMENT, 365),
        (PlanKind.INDIVIDUAL_PLAN, 122),
        (PlanKind.ONE_PAGE_PROFILE, 122),
    ],
)
def test_a_plan_without_a_date_is_reviewed_at_its_kind_s_interval(
    kind: PlanKind, days: int
) -> None:
    trust = policy("default")
    schedule, pupil = Schedule(trust), a_pupil(concerns=0)
    targets = ("Reads 40 words",) if kind == PlanKind.INDIVIDUAL_PLAN else ()
    if kind == PlanKind.INTIMATE_CARE_PLAN:
        from domain.values import AgreementKind
        from tests.factories import sign

        sign(pupil, AGREED, AgreementKind.INTIMATE_CARE, policy=trust)
    plan = agree(pupil, AGREED, policy=trust, kind=kind, targets=targets)
    assert pupil.plans[plan].review_on == AGREED + timedelta(days=days)
    schedule.feed(pupil)
    assert_boundary(schedule, "plan_review", AGREED + timedelta(days=days))


def test_a_policy_sets_its_own_table(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "parent_meetings_per_year = 3",
        "parent_meetings_per_year = 3\nreview_interval_days = { peep = 180 }",
    )
    trust = load_policy(path)
    assert trust.plan_review_due(AGREED, "peep") == AGREED + timedelta(days=180)
    # The table replaces the default one: a health care plan is termly again here.
    assert trust.plan_review_due(AGREED, "health_care_plan") == AGREED + timedelta(days=122)


def test_an_intimate_care_plan_needs_parents_consent_unless_the_policy_says_not() -> None:
    from datetime import date

    from domain.errors import NotAllowedByPolicy
    from domain.policy import load_policy_named
    from domain.values import AgreementKind
    from tests.factories import a_pupil, agree, sign

    llt = load_policy_named("leading-learners")
    assert llt.plans.intimate_care_requires_parental_consent  # the default
    pupil, day = a_pupil(), date(2025, 2, 10)
    with pytest.raises(NotAllowedByPolicy, match="written consent"):
        agree(pupil, day, policy=llt, kind=PlanKind.INTIMATE_CARE_PLAN, targets=())
    sign(pupil, day, AgreementKind.INTIMATE_CARE, policy=llt)
    agree(pupil, day, policy=llt, kind=PlanKind.INTIMATE_CARE_PLAN, targets=())
    relaxed = llt.model_copy(
        update={
            "plans": llt.plans.model_copy(update={"intimate_care_requires_parental_consent": False})
        }
    )
    agree(a_pupil(), day, policy=relaxed, kind=PlanKind.INTIMATE_CARE_PLAN, targets=())
