"""Plans and their reviews: the assess-plan-do-review cycle as chains of entries.

A plan has an id so that reviews point at it. Its kind must be one the trust's policy
uses; an interim reduced timetable needs what the policy's `reduced_timetable` section asks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime
from uuid import UUID, uuid4

from domain.errors import InvalidEntry, NotAllowedByPolicy, OutOfOrder, UnknownEntry
from domain.events import PlanAgreed, PlanReviewed
from domain.policy import TrustPolicy
from domain.pupil.checks import check_after, check_past, member, members, require_text
from domain.pupil.state import Mutators, PlanState, PupilState
from domain.values import (
    AgreementKind,
    Participant,
    PlanKind,
    Recorder,
    SmartOutcome,
    TargetOutcome,
    TargetReview,
)

# Plans whose purpose is targets to meet: the Code of Practice's SMART outcomes.
_NEED_OUTCOMES = frozenset({PlanKind.INDIVIDUAL_PLAN})


class PlanCommands(PupilState):
    def agree_plan(
        self,
        *,
        policy: TrustPolicy,
        kind: PlanKind,
        outcomes: Sequence[SmartOutcome],
        provision: str,
        review_on: date | None,
        agreed_by: Sequence[Participant],
        la_informed_on: date | None,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
        plan_id: UUID | None = None,
    ) -> UUID:
        """Record an agreed plan; `review_on` None takes the policy's review interval.
        Returns the plan's id."""
        at = self._open_entry(PlanAgreed, happened_on, recorded_at)
        kind = member(PlanKind, kind, "plan kind")
        agreed_by = members(Participant, agreed_by, "who agreed")
        if not policy.uses_plan_kind(kind):
            raise NotAllowedByPolicy(
                f"this trust's policy does not use {kind.value} plans "
                f"(its plan kinds: {', '.join(policy.plans.kinds)})"
            )
        plan_id = plan_id or uuid4()
        if plan_id in self.plans:
            raise InvalidEntry(f"plan {plan_id} is already recorded: give a new plan its own id")
        require_text("provision", provision)
        _check_outcomes(kind, tuple(outcomes), happened_on)
        if not agreed_by:
            raise InvalidEntry("say who agreed the plan (agreed_by: pupil, parent, teacher, ...)")
        review = review_on or policy.plan_review_due(happened_on, kind)
        check_after("the review date", review, "the day the plan is agreed", happened_on)
        if kind == PlanKind.INTERIM_REDUCED_TIMETABLE:
            self._check_reduced_timetable(policy, happened_on, agreed_by, la_informed_on, at)
        elif la_informed_on is not None:
            raise InvalidEntry(
                "only an interim reduced timetable records when the local authority was informed"
            )
        if (
            kind == PlanKind.INTIMATE_CARE_PLAN
            and policy.plans.intimate_care_requires_parental_consent
            and not self.agreed(AgreementKind.INTIMATE_CARE, happened_on)
        ):
            raise NotAllowedByPolicy(
                "an intimate care plan needs parents' written consent in force on the day it "
                "is agreed: record ParentalAgreementSigned (intimate_care) first"
            )
        self._emit(
            PlanAgreed,
            at,
            recorded_by,
            happened_on,
            plan_id=plan_id,
            kind=kind,
            outcomes=tuple(outcomes),
            provision=provision,
            review_on=review,
            agreed_by=tuple(agreed_by),
            la_informed_on=la_informed_on,
        )
        return plan_id

    def review_plan(
        self,
        *,
        plan_id: UUID,
        outcomes: Sequence[TargetReview],
        pupil_voice: str,
        parent_voice: str,
        next_steps: str,
        next_review_on: date | None,
        closes_plan: bool,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        """Record a review; an open plan needs a next review date, a closing review none."""
        at = self._open_entry(PlanReviewed, happened_on, recorded_at)
        outcomes = [
            TargetReview(o.target, member(TargetOutcome, o.outcome, "outcome")) for o in outcomes
        ]
        plan = self._open_plan(plan_id)
        check_after("the review", happened_on, "the day the plan was agreed", plan.agreed_on)
        _check_target_reviews(plan, tuple(outcomes))
        require_text("the pupil's voice", pupil_voice)
        require_text("the parents' voice", parent_voice)
        require_text("next steps", next_steps)
        if closes_plan and next_review_on is not None:
            raise InvalidEntry("a review that closes the plan has no next review date")
        if not closes_plan:
            if next_review_on is None:
                raise InvalidEntry("give the next review date (next_review_on), or close the plan")
            check_after("the next review date", next_review_on, "this review", happened_on)
        self._emit(
            PlanReviewed,
            at,
            recorded_by,
            happened_on,
            plan_id=plan_id,
            outcomes=tuple(outcomes),
            pupil_voice=pupil_voice,
            parent_voice=parent_voice,
            next_steps=next_steps,
            next_review_on=next_review_on,
            closes_plan=closes_plan,
        )

    def _open_plan(self, plan_id: UUID) -> PlanState:
        plan = self.plans.get(plan_id)
        if plan is None:
            raise UnknownEntry(
                f"there is no plan {plan_id} on this record: record PlanAgreed first, "
                "or check the plan id"
            )
        if plan.closed_on is not None:
            raise OutOfOrder(
                f"the {plan.kind.value} {plan_id} was closed at its review on "
                f"{plan.closed_on}: agree a new plan instead"
            )
        return plan

    def _check_reduced_timetable(
        self,
        policy: TrustPolicy,
        day: date,
        agreed_by: Sequence[Participant],
        la_informed_on: date | None,
        at: datetime,
    ) -> None:
        rules = policy.reduced_timetable
        if rules.requires_parental_consent and not self.agreed(
            AgreementKind.INTERIM_REDUCED_TIMETABLE, day
        ):
            raise NotAllowedByPolicy(
                "an interim reduced timetable needs parents' consent: record "
                "ParentalAgreementSigned (interim_reduced_timetable) first"
            )
        if rules.requires_la_informed and la_informed_on is None:
            raise NotAllowedByPolicy(
                "this trust's policy requires the local authority to be informed of an interim "
                "reduced timetable: give the date it was informed (la_informed_on)"
            )
        if la_informed_on is not None:
            check_past("the date the LA was informed", la_informed_on, at, self.date_of_birth)
        if rules.requires_principal_agreement and Participant.PRINCIPAL not in agreed_by:
            raise NotAllowedByPolicy(
                "this trust's policy requires the principal to agree an interim reduced "
                "timetable: add principal to agreed_by"
            )

    # ----- mutators ---------------------------------------------------------------------

    def _plan_agreed(self, event: PlanAgreed) -> None:
        targets = tuple(outcome.target for outcome in event.outcomes)
        self.plans[event.plan_id] = PlanState(
            event.kind, event.happened_on, targets, event.review_on
        )

    def _plan_reviewed(self, event: PlanReviewed) -> None:
        plan = self.plans[event.plan_id]
        if event.closes_plan:
            self.plans[event.plan_id] = replace(plan, closed_on=event.happened_on)
        elif event.next_review_on is not None:
            self.plans[event.plan_id] = replace(plan, review_on=event.next_review_on)


MUTATORS: Mutators = {
    PlanAgreed: PlanCommands._plan_agreed,
    PlanReviewed: PlanCommands._plan_reviewed,
}


def _check_outcomes(kind: PlanKind, outcomes: tuple[SmartOutcome, ...], agreed_on: date) -> None:
    if kind in _NEED_OUTCOMES and not outcomes:
        raise InvalidEntry(
            f"an {kind.value} needs at least one SMART outcome (target, measure, by when)"
        )
    seen: set[str] = set()
    for outcome in outcomes:
        require_text("the target of an outcome", outcome.target)
        require_text(f"how target {outcome.target!r} is measured", outcome.measure)
        if outcome.target in seen:
            raise InvalidEntry(f"target {outcome.target!r} is listed twice")
        seen.add(outcome.target)
        what = f"the due date of target {outcome.target!r}"
        check_after(what, outcome.by_when, "the day the plan is agreed", agreed_on)


def _check_target_reviews(plan: PlanState, outcomes: tuple[TargetReview, ...]) -> None:
    reviewed = [outcome.target for outcome in outcomes]
    for i, target in enumerate(reviewed):
        if target not in plan.targets:
            known = "; ".join(plan.targets) or "none"
            raise InvalidEntry(f"{target!r} is not a target of this plan (its targets: {known})")
        if target in reviewed[:i]:
            raise InvalidEntry(f"target {target!r} has two outcomes: give one")
    for target in plan.targets:
        if target not in reviewed:
            raise InvalidEntry(f"the review gives no outcome for target {target!r}")
