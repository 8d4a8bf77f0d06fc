"""The steps stories are made of: one recorded entry (or a short run) each, following the
trust's policy."""

from __future__ import annotations

import hashlib
import random
from collections import deque
from datetime import date, timedelta
from uuid import UUID

from api.demo.clock import Clock, When
from api.demo.world import (
    ACADEMIES,
    DEMO_TODAY,
    FAMILY,
    GIVEN,
    LOCAL_AUTHORITY,
    SUPPORT_PLANS,
    TARGETS,
    VOICES,
    staff,
    upn,
)
from domain.policy import TrustPolicy
from domain.pupil import Pupil
from domain.values import (
    AgreementKind,
    AreaOfNeed,
    AssessmentRequester,
    DisclosurePurpose,
    Participant,
    PlanKind,
    Recorder,
    RegisterStatus,
    Role,
    SmartOutcome,
    SubFlag,
    TargetOutcome,
    TargetReview,
)


class Steps:
    """A pupil registered at an academy, and the steps that add to their record."""

    def __init__(self, rng: random.Random, policy: TrustPolicy, index: int) -> None:
        self.rng, self.policy, self.index = rng, policy, index
        self.academy = ACADEMIES[index % len(ACADEMIES)]
        self.area = rng.choice(list(AreaOfNeed))
        self.sendco = staff(self.academy, Role.SENDCO)
        self.teacher = staff(self.academy, Role.TEACHER, rng.randint(1, 6))
        self.pupil = self._register()
        self.plan: UUID | None = None
        self.targets: tuple[str, ...] = ()

    def _register(self) -> Pupil:
        rng, academy = self.rng, self.academy
        year_now = rng.randint(1, 6) if academy.phase == "primary" else rng.randint(7, 11)
        first_year = 0 if academy.phase == "primary" else 7
        school_year = DEMO_TODAY.year if DEMO_TODAY.month >= 9 else DEMO_TODAY.year - 1
        # Pupils who joined with an EHC plan have been here longest: long plan histories.
        self.arrived_with_plan = rng.random() < 0.06
        most = year_now - first_year
        years_here = most if self.arrived_with_plan else rng.randint(0, min(4, most))
        joined = date(school_year - years_here, 9, rng.randint(2, 8))
        born = school_year - year_now - 5  # England: born September to August
        month = rng.randint(1, 12)
        dob = date(born if month >= 9 else born + 1, month, rng.randint(1, 28))
        self.clock = Clock(rng, joined)
        return Pupil.register(
            pupil_id=UUID(int=rng.getrandbits(128), version=4),
            upn=upn(academy, joined.year, self.index),
            legal_given_names=rng.choice(GIVEN),
            legal_family_name=rng.choice(FAMILY),
            preferred_name=None,
            date_of_birth=dob,
            academy=academy.code,
            year_group=year_now - years_here,
            recorded_by=self.sendco,
            happened_on=joined,
            recorded_at=self.clock.recorded(joined),
        )

    # ----- steps -------------------------------------------------------------------------

    def _agree_main_plan(self) -> None:
        day = self.clock.next(5, 20)
        targets = self.rng.sample(TARGETS[self.area], self.rng.randint(1, 3))
        by_when = day + timedelta(days=self.rng.randint(70, 110))
        self.targets = tuple(target for target, _ in targets)
        self.plan = self.pupil.agree_plan(
            policy=self.policy,
            kind=PlanKind.INDIVIDUAL_PLAN,
            outcomes=tuple(SmartOutcome(t, measure, by_when) for t, measure in targets),
            provision="Small-group intervention three times a week; adapted resources in class.",
            review_on=by_when + timedelta(days=self.rng.randint(0, 10)),
            agreed_by=(
                Participant.PUPIL,
                Participant.PARENT,
                Participant.TEACHER,
                Participant.SENDCO,
            ),
            la_informed_on=None,
            plan_id=self._id(),
            **self._on(day),
        )

    def _agree_support_plan(self) -> None:
        kinds = [k for k in SUPPORT_PLANS[self.area] if self.policy.uses_plan_kind(k)]
        if kinds:
            kind, plan_id = self.rng.choice(kinds), self._id()
            when = self._on(self.clock.next(3, 15))
            if (
                kind == PlanKind.INTIMATE_CARE_PLAN
                and self.policy.plans.intimate_care_requires_parental_consent
            ):
                # Parents' written consent first, at the same meeting (no draw of the RNG,
                # so the rest of the demo is unchanged by it).
                self.pupil.sign_parental_agreement(
                    policy=self.policy, agreement=AgreementKind.INTIMATE_CARE,
                    signed_by=f"Parent of {self.pupil.legal_given_names}", relationship="parent",
                    valid_until=None, notes="Consent to the intimate care plan, signed with it.",
                    **when,
                )  # fmt: skip
                self.clock.last += timedelta(minutes=1)
                when = When(
                    recorded_by=when["recorded_by"],
                    happened_on=when["happened_on"],
                    recorded_at=self.clock.last,
                )
            self.pupil.agree_plan(
                policy=self.policy,
                kind=kind,
                outcomes=(),
                provision="Adjustments and who does what, shared with every adult in class.",
                review_on=None,
                agreed_by=(Participant.PARENT, Participant.SENDCO),
                la_informed_on=None,
                plan_id=plan_id,
                **when,
            )

    def _review(self, *, closes: bool) -> None:
        if self.plan is None or self.pupil.plans[self.plan].closed_on is not None:
            return
        day = self.clock.to(self.pupil.plans[self.plan].review_on)
        voice = self.rng.choice(VOICES)
        outcomes = [TargetOutcome.ACHIEVED, TargetOutcome.PARTLY, TargetOutcome.NOT_YET]
        self.pupil.review_plan(
            plan_id=self.plan,
            outcomes=tuple(TargetReview(t, self.rng.choice(outcomes)) for t in self.targets),
            pupil_voice=voice[0],
            parent_voice=voice[1],
            next_steps="Targets carried forward with smaller steps; intervention continues.",
            next_review_on=None if closes else day + timedelta(days=self.rng.randint(84, 122)),
            closes_plan=closes,
            **self._on(day),
        )

    def _request_assessment(self, day: date) -> None:
        self.pupil.request_ehc_needs_assessment(
            policy=self.policy,
            local_authority=self._la(),
            requested_by=self.rng.choice([AssessmentRequester.SCHOOL, AssessmentRequester.PARENT]),
            reason="Needs persist despite relevant and purposeful action over several cycles.",
            **self._on(day),
        )

    def _issue_plan(self, day: date, *, transferred_from: str | None) -> None:
        self.pupil.issue_ehc_plan(
            policy=self.policy,
            local_authority=self._la(),
            plan_reference=f"EHCP-{self.academy.la_code}-{self.rng.randint(10000, 99999)}",
            named_setting=self.academy.name,
            transferred_from=transferred_from,
            **self._on(day),
        )

    def _amend(self, reason: str, *, phase_transfer: bool) -> None:
        self.pupil.amend_ehc_plan(
            local_authority=self._la(),
            changes="Sections B and F updated; provision hours revised.",
            reason=reason,
            phase_transfer=phase_transfer,
            **self._on(self.clock.next(20, 60)),
        )

    def _cease(self) -> None:
        self.pupil.cease_ehc_plan(
            local_authority=self._la(),
            reason="Outcomes met; needs can be met from SEN support.",
            **self._on(self.clock.next(20, 60)),
        )
        self._move(RegisterStatus.SEN_SUPPORT, "EHC plan ceased by the local authority.")

    def _sign(self, agreement: AgreementKind, day: date) -> None:
        title, relationship = self.rng.choice(
            [("Mrs", "mother"), ("Mr", "father"), ("Ms", "carer")]
        )
        self.pupil.sign_parental_agreement(
            policy=self.policy,
            agreement=agreement,
            signed_by=f"{title} {self.pupil.legal_family_name}",
            relationship=relationship,
            valid_until=None,
            notes="Signed at the parents' meeting; copy given to parents.",
            **self._on(day),
        )

    def _disclose(
        self, recipient: str, purpose: DisclosurePurpose, detail: str, basis: str, day: date
    ) -> None:
        up_to = self.pupil.version
        digest = hashlib.sha256(f"{self.pupil.id}:{up_to}:{purpose}".encode()).hexdigest()
        self.pupil.record_disclosure(
            policy=self.policy,
            recipient=recipient,
            purpose=purpose,
            purpose_detail=detail,
            legal_basis=basis,
            up_to_seq=up_to,
            redacted_seqs=(),
            export_digest=digest,
            **self._on(day),
        )

    def _move(self, goal: RegisterStatus, reason: str, flags: tuple[SubFlag, ...] = ()) -> None:
        """Walk the policy's shortest route to `goal`, one recorded decision per move."""
        route = (
            _route(self.policy, self.pupil.status, goal) if goal != self.pupil.status else [goal]
        )
        for status in route:
            day = self.clock.next(20, 90)
            self.pupil.change_register_status(
                policy=self.policy,
                status=status,
                sub_flags=flags if status == goal else (),
                reason=reason,
                decision_maker=self.sendco.staff_id,
                parents_informed_on=day,
                **self._on(day),
            )

    def _can_move(self, goal: RegisterStatus) -> bool:
        return self.policy.allows_transition(self.pupil.status, goal) is not None

    def _flag_allowed(self, flag: SubFlag) -> bool:
        rule = self.policy.sub_flag_rule(flag)
        return rule is not None and rule.status == RegisterStatus.SEN_SUPPORT.value

    def _year(self) -> int:
        return self.pupil.year_group_on(self.clock.day)

    def _on(self, day: date, by: Recorder | None = None) -> When:
        return When(
            recorded_by=by or self.sendco, happened_on=day, recorded_at=self.clock.recorded(day)
        )

    def _la(self) -> str:
        return LOCAL_AUTHORITY[self.academy.la_code]

    def _id(self) -> UUID:
        return UUID(int=self.rng.getrandbits(128), version=4)


def _route(
    policy: TrustPolicy, start: RegisterStatus, goal: RegisterStatus
) -> list[RegisterStatus]:
    """The fewest moves the policy allows from `start` to `goal` (empty if none)."""
    came_from: dict[str, str | None] = {start: None}
    queue = deque([str(start)])
    while queue:
        here = queue.popleft()
        for move in policy.send_register.transitions:
            if move.from_ == here and move.to not in came_from:
                came_from[move.to] = here
                queue.append(move.to)
    if goal not in came_from:
        return []
    route: list[RegisterStatus] = []
    step: str | None = goal
    while step is not None and step != start:
        route.append(RegisterStatus(step))
        step = came_from[step]
    return route[::-1]
