"""The local authority's decisions and documents, recorded as the school learns of them.

Each entry carries the date of the LA's letter (`letter_dated`, never after the day the
school recorded learning of it) and the LA's reference where known. The dates that follow
from a decision are the law's, not the trust's (`domain.statute`): an appeal by two months
after a refusal, fifteen days to comment on a draft, eight weeks for an amended plan. The
order is the statutory one: a decision to assess answers a request, a decision to issue
(or a draft) follows a decision to assess, a decision after an annual review follows the
meeting. A late LA is recorded, not refused: its lateness is the evidence.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

from domain.errors import OutOfOrder
from domain.events import (
    AnnualReviewDecided,
    DraftEHCPlanReceived,
    EHCAssessmentDecided,
    EHCPlanDecided,
)
from domain.pupil.checks import check_not_before, check_past, member, require_text
from domain.pupil.state import PupilState
from domain.statute import AMENDED_PLAN_WEEKS, APPEAL_MONTHS, DRAFT_COMMENT_DAYS, weeks_after
from domain.values import (
    AssessmentDecision,
    IssueDecision,
    Recorder,
    ReviewRecommendation,
    add_months,
)


class LaDecisions(PupilState):
    def record_assessment_decision(
        self,
        *,
        local_authority: str,
        decision: AssessmentDecision,
        letter_dated: date,
        la_reference: str | None,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        at = self._open_entry(EHCAssessmentDecided, happened_on, recorded_at)
        decision = member(AssessmentDecision, decision, "the LA's decision")
        requested = self._requested("the LA's decision whether to assess")
        if self.ehc.assessment_decision is not None:
            raise OutOfOrder(
                f"the LA already decided on the request of {requested} "
                f"({self.ehc.assessment_decision}): record a new EHCNeedsAssessmentRequested "
                "for a new request"
            )
        self._check_letter(letter_dated, happened_on, "the assessment request", requested, at)
        require_text("the local authority", local_authority)
        appeal = add_months(letter_dated, APPEAL_MONTHS)
        self._emit(
            EHCAssessmentDecided,
            at,
            recorded_by,
            happened_on,
            local_authority=local_authority,
            decision=decision,
            letter_dated=letter_dated,
            la_reference=_reference(la_reference),
            appeal_by=appeal if decision == AssessmentDecision.NOT_ASSESS else None,
        )

    def record_issue_decision(
        self,
        *,
        local_authority: str,
        decision: IssueDecision,
        letter_dated: date,
        la_reference: str | None,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        at = self._open_entry(EHCPlanDecided, happened_on, recorded_at)
        decision = member(IssueDecision, decision, "the LA's decision")
        requested = self._assessing("the LA's decision whether to issue a plan")
        if self.ehc.issue_decision is not None:
            raise OutOfOrder(
                f"the LA already decided whether to issue a plan ({self.ehc.issue_decision})"
            )
        self._check_letter(letter_dated, happened_on, "the assessment request", requested, at)
        require_text("the local authority", local_authority)
        appeal = add_months(letter_dated, APPEAL_MONTHS)
        self._emit(
            EHCPlanDecided,
            at,
            recorded_by,
            happened_on,
            local_authority=local_authority,
            decision=decision,
            letter_dated=letter_dated,
            la_reference=_reference(la_reference),
            appeal_by=appeal if decision == IssueDecision.NOT_ISSUE else None,
        )

    def record_draft_plan(
        self,
        *,
        local_authority: str,
        letter_dated: date,
        la_reference: str | None,
        setting_named: str | None,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        at = self._open_entry(DraftEHCPlanReceived, happened_on, recorded_at)
        requested = self._assessing("a draft EHC plan")
        if self.ehc.issue_decision == IssueDecision.NOT_ISSUE:
            raise OutOfOrder(
                "the LA decided not to issue a plan on this request: a draft needs a new "
                "decision (or a new request)"
            )
        self._check_letter(letter_dated, happened_on, "the assessment request", requested, at)
        require_text("the local authority", local_authority)
        named = (setting_named or "").strip() or None
        self._emit(
            DraftEHCPlanReceived,
            at,
            recorded_by,
            happened_on,
            local_authority=local_authority,
            letter_dated=letter_dated,
            la_reference=_reference(la_reference),
            setting_named=named,
            comments_by=letter_dated + timedelta(days=DRAFT_COMMENT_DAYS),
        )

    def record_review_decision(
        self,
        *,
        local_authority: str,
        decision: ReviewRecommendation,
        letter_dated: date,
        la_reference: str | None,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        at = self._open_entry(AnnualReviewDecided, happened_on, recorded_at)
        decision = member(ReviewRecommendation, decision, "the LA's decision")
        held = self.ehc.last_review_held_on
        if self.ehc.issued_on is None or held is None:
            raise OutOfOrder(
                "the LA's decision after an annual review needs the review meeting: record "
                "AnnualReviewHeld first"
            )
        if self.ehc.review_decided:
            raise OutOfOrder(f"the LA already decided after the review held on {held}")
        self._check_letter(letter_dated, happened_on, "the review meeting", held, at)
        require_text("the local authority", local_authority)
        amend = decision == ReviewRecommendation.AMEND
        self._emit(
            AnnualReviewDecided,
            at,
            recorded_by,
            happened_on,
            local_authority=local_authority,
            decision=decision,
            letter_dated=letter_dated,
            la_reference=_reference(la_reference),
            amended_plan_by=weeks_after(letter_dated, AMENDED_PLAN_WEEKS) if amend else None,
        )

    # ----- shared steps -------------------------------------------------------------------

    def _requested(self, what: str) -> date:
        requested = self.ehc.requested_on
        if requested is None:
            raise OutOfOrder(f"{what} answers a request: record EHCNeedsAssessmentRequested first")
        return requested

    def _assessing(self, what: str) -> date:
        requested = self._requested(what)
        if self.ehc.assessment_decision != AssessmentDecision.ASSESS:
            raise OutOfOrder(
                f"{what} follows the LA's decision to assess: record EHCAssessmentDecided "
                "(assess) first"
            )
        return requested

    def _check_letter(
        self, letter: date, learned: date, earlier: str, earlier_day: date, at: datetime
    ) -> None:
        check_past("the LA's letter", letter, at, self.date_of_birth)
        check_not_before("the LA's letter", letter, earlier, earlier_day)
        check_not_before("the day the school learned of it", learned, "the letter", letter)

    # ----- mutators -----------------------------------------------------------------------

    def _assessment_decided(self, event: EHCAssessmentDecided) -> None:
        self.ehc = replace(self.ehc, assessment_decision=event.decision)

    def _issue_decided(self, event: EHCPlanDecided) -> None:
        # The assessment ends with the decision whether to issue.
        self.ehc = replace(
            self.ehc, issue_decision=event.decision, assessment_ended_on=event.letter_dated
        )

    def _draft_received(self, event: DraftEHCPlanReceived) -> None:
        decided = self.ehc.issue_decision is not None
        self.ehc = replace(
            self.ehc,
            issue_decision=IssueDecision.ISSUE,
            draft_on=event.happened_on,
            assessment_ended_on=self.ehc.assessment_ended_on if decided else event.letter_dated,
        )

    def _review_decided(self, event: AnnualReviewDecided) -> None:
        self.ehc = replace(self.ehc, review_decided=True)


def _reference(value: str | None) -> str | None:
    return (value or "").strip() or None
