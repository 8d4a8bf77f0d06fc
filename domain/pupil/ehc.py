"""EHC steps in their legal order: request, LA information, plan, annual reviews, changes.

The order is enforced (a review needs a plan in force, a report a held review); deadlines
are computed from the trust's policy and stored on the entry, so the deadlines a
tribunal sees are the ones that applied on the day. Lateness is not refused: a late report
is still a fact to record, and the deadlines view shows it as late.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta

from domain.errors import NotAllowedByPolicy, OutOfOrder, UnknownEntry
from domain.events import (
    AnnualReviewDecided,
    AnnualReviewHeld,
    AnnualReviewPapersCirculated,
    AnnualReviewReportSent,
    AnnualReviewScheduled,
    DraftEHCPlanReceived,
    EHCAssessmentDecided,
    EHCNeedsAssessmentRequested,
    EHCPlanAmended,
    EHCPlanCeased,
    EHCPlanDecided,
    EHCPlanIssued,
    LAInformationProvided,
    LAInformationRequested,
)
from domain.policy import TrustPolicy
from domain.pupil.checks import (
    check_not_before,
    check_past,
    member,
    require_text,
    require_texts,
)
from domain.pupil.la import LaDecisions
from domain.pupil.state import AnnualReview, Mutators, PupilState
from domain.values import AssessmentRequester, Recorder, ReviewRecommendation, add_months


class EhcCommands(LaDecisions):
    def request_ehc_needs_assessment(
        self,
        *,
        policy: TrustPolicy,
        local_authority: str,
        requested_by: AssessmentRequester,
        reason: str,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        at = self._open_entry(EHCNeedsAssessmentRequested, happened_on, recorded_at)
        requested_by = member(AssessmentRequester, requested_by, "requested by")
        require_text("the local authority", local_authority)
        require_text("the reason for the request", reason)
        reassessment = self.ehc_plan_in_force
        least = policy.deadlines.reassessment_min_months
        # Counted from when the last assessment ended (Aspire §14: "at least six months after
        # an initial assessment"), or from its request when no end is recorded.
        ended = self.ehc.assessment_ended_on
        last = ended or self.ehc.requested_on
        if reassessment and least is not None and last is not None:
            earliest = add_months(last, least)
            if happened_on < earliest:
                since = "the last assessment ended" if ended else "the last request"
                raise NotAllowedByPolicy(
                    f"this trust's policy allows a re-assessment request no sooner than {least} "
                    f"months after {since} ({last}): not before {earliest}"
                )
        self._emit(
            EHCNeedsAssessmentRequested,
            at,
            recorded_by,
            happened_on,
            local_authority=local_authority,
            requested_by=requested_by,
            reason=reason,
            reassessment=reassessment,
        )

    def record_la_information_request(
        self,
        *,
        policy: TrustPolicy,
        local_authority: str,
        information_requested: str,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        """The LA's request, dated the day it arrived; the response is due by the policy."""
        at = self._open_entry(LAInformationRequested, happened_on, recorded_at)
        requested = self.ehc.requested_on
        if requested is None:
            raise OutOfOrder(
                "an LA information request belongs to an EHC needs assessment: record "
                "EHCNeedsAssessmentRequested first"
            )
        check_not_before("the LA's request", happened_on, "the assessment request", requested)
        require_text("the local authority", local_authority)
        require_text("what the LA asked for", information_requested)
        self._emit(
            LAInformationRequested,
            at,
            recorded_by,
            happened_on,
            local_authority=local_authority,
            information_requested=information_requested,
            respond_by=policy.la_information_due(happened_on),
        )

    def issue_ehc_plan(
        self,
        *,
        policy: TrustPolicy,
        local_authority: str,
        plan_reference: str,
        named_setting: str,
        transferred_from: str | None,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        """The LA issued a plan after a request recorded here, or an existing plan arrived
        with the pupil (`transferred_from`)."""
        at = self._open_entry(EHCPlanIssued, happened_on, recorded_at)
        if self.ehc.issued_on is not None:
            raise OutOfOrder(
                f"an EHC plan is already in force (issued {self.ehc.issued_on}): record "
                "EHCPlanAmended for changes, or EHCPlanCeased first"
            )
        requested = self.ehc.requested_on
        if transferred_from is None:
            if requested is None:
                raise OutOfOrder(
                    "an EHC plan follows an EHC needs assessment: record "
                    "EHCNeedsAssessmentRequested first, or name where an existing plan came "
                    "from (transferred_from)"
                )
            check_not_before("the plan", happened_on, "the assessment request", requested)
        else:
            require_text("where the plan came from", transferred_from)
        require_text("the local authority", local_authority)
        require_text("the plan reference", plan_reference)
        require_text("the setting named in the plan", named_setting)
        months = policy.deadlines.annual_review_interval_months
        self._emit(
            EHCPlanIssued,
            at,
            recorded_by,
            happened_on,
            local_authority=local_authority,
            plan_reference=plan_reference,
            named_setting=named_setting,
            transferred_from=transferred_from,
            first_review_by=add_months(happened_on, months),
        )

    def record_la_information_sent(
        self,
        *,
        answers_seq: int,
        information_sent: str,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        """The school's answer to the LA's request `answers_seq`, sent on `happened_on`."""
        at = self._open_entry(LAInformationProvided, happened_on, recorded_at)
        if not 1 <= answers_seq <= len(self.kinds) or (
            self.kinds[answers_seq - 1] != "LAInformationRequested"
        ):
            raise UnknownEntry(
                f"entry {answers_seq} is not an LA information request on this record: give "
                "the sequence number of the LAInformationRequested entry answered"
            )
        require_text("what was sent to the LA", information_sent)
        self._emit(
            LAInformationProvided,
            at,
            recorded_by,
            happened_on,
            answers_seq=answers_seq,
            information_sent=information_sent,
        )

    def circulate_annual_review_papers(
        self,
        *,
        circulated_to: Sequence[str],
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        """The advice for the arranged meeting went to the invitees on `happened_on`."""
        at = self._open_entry(AnnualReviewPapersCirculated, happened_on, recorded_at)
        self._plan_in_force("circulating annual review papers")
        review = self.ehc.review
        if review is None or review.held_on is not None:
            raise OutOfOrder(
                "papers are circulated before an arranged annual review meeting: record "
                "AnnualReviewScheduled first"
            )
        people = require_texts("who the papers went to", circulated_to)
        if happened_on > review.meeting_on:
            raise OutOfOrder(
                f"the meeting was arranged for {review.meeting_on}: papers circulated after it "
                "belong to the meeting's record (AnnualReviewHeld, papers_circulated_on)"
            )
        self._emit(AnnualReviewPapersCirculated, at, recorded_by, happened_on, circulated_to=people)

    def schedule_annual_review(
        self,
        *,
        policy: TrustPolicy,
        meeting_on: date,
        invitees: Sequence[str],
        notice_given_on: date,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        """Arrange the meeting; refused unless invitees get the policy's notice. Arranging
        again before the meeting is held moves it."""
        at = self._open_entry(AnnualReviewScheduled, happened_on, recorded_at)
        issued = self._plan_in_force("an annual review")
        review = self.ehc.review
        if review is not None and review.held_on is not None:
            raise OutOfOrder(
                f"the annual review held on {review.held_on} has no report yet: record "
                "AnnualReviewReportSent first"
            )
        people = require_texts("invitees", invitees)
        check_past("the date notice was given", notice_given_on, at, self.date_of_birth)
        check_not_before("the notice", notice_given_on, "the EHC plan", issued)
        check_not_before("the meeting", meeting_on, "the day it was arranged", happened_on)
        notice_by = policy.annual_review_notice_by(meeting_on)
        if notice_given_on > notice_by:
            days = policy.deadlines.annual_review_notice_days
            raise NotAllowedByPolicy(
                f"invitees must have {days} days' notice of an annual review: for a meeting "
                f"on {meeting_on} notice was due by {notice_by}, but was given on "
                f"{notice_given_on}; hold the meeting on or after "
                f"{notice_given_on + timedelta(days=days)}"
            )
        self._emit(
            AnnualReviewScheduled,
            at,
            recorded_by,
            happened_on,
            meeting_on=meeting_on,
            invitees=people,
            notice_given_on=notice_given_on,
            papers_due_by=policy.annual_review_papers_by(meeting_on),
        )

    def hold_annual_review(
        self,
        *,
        policy: TrustPolicy,
        attendees: Sequence[str],
        papers_circulated_on: date | None,
        pupil_voice: str,
        parent_voice: str,
        recommendation: ReviewRecommendation,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        at = self._open_entry(AnnualReviewHeld, happened_on, recorded_at)
        recommendation = member(ReviewRecommendation, recommendation, "recommendation")
        self._plan_in_force("an annual review meeting")
        review = self.ehc.review
        if review is None or review.held_on is not None:
            raise OutOfOrder(
                "an annual review meeting needs a review arranged with notice: record "
                "AnnualReviewScheduled first"
            )
        check_not_before("the meeting", happened_on, "the day it was arranged", review.scheduled_on)
        people = require_texts("attendees", attendees)
        if papers_circulated_on is not None:
            check_past("the date papers went out", papers_circulated_on, at, self.date_of_birth)
            check_not_before("the meeting", happened_on, "the papers", papers_circulated_on)
        require_text("the pupil's voice", pupil_voice)
        require_text("the parents' voice", parent_voice)
        months = policy.deadlines.annual_review_interval_months
        self._emit(
            AnnualReviewHeld,
            at,
            recorded_by,
            happened_on,
            attendees=people,
            papers_circulated_on=papers_circulated_on,
            pupil_voice=pupil_voice,
            parent_voice=parent_voice,
            recommendation=recommendation,
            report_due_by=policy.annual_review_report_due(happened_on),
            next_review_by=add_months(happened_on, months),
        )

    def send_annual_review_report(
        self,
        *,
        sent_to: Sequence[str],
        summary: str,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        at = self._open_entry(AnnualReviewReportSent, happened_on, recorded_at)
        review = self.ehc.review
        if review is None or review.held_on is None:
            raise OutOfOrder(
                "an annual review report needs a review meeting held: record AnnualReviewHeld first"
            )
        check_not_before("the report", happened_on, "the review meeting", review.held_on)
        people = require_texts("recipients of the report", sent_to)
        require_text("a summary of the report", summary)
        self._emit(
            AnnualReviewReportSent,
            at,
            recorded_by,
            happened_on,
            sent_to=people,
            summary=summary,
        )

    def amend_ehc_plan(
        self,
        *,
        local_authority: str,
        changes: str,
        reason: str,
        phase_transfer: bool,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        at = self._open_entry(EHCPlanAmended, happened_on, recorded_at)
        issued = self._plan_in_force("an amendment")
        check_not_before("the amendment", happened_on, "the EHC plan", issued)
        require_text("the local authority", local_authority)
        require_text("what changed", changes)
        require_text("the reason for the amendment", reason)
        self._emit(
            EHCPlanAmended,
            at,
            recorded_by,
            happened_on,
            local_authority=local_authority,
            changes=changes,
            reason=reason,
            phase_transfer=phase_transfer,
        )

    def cease_ehc_plan(
        self,
        *,
        local_authority: str,
        reason: str,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        at = self._open_entry(EHCPlanCeased, happened_on, recorded_at)
        issued = self._plan_in_force("ceasing a plan")
        check_not_before("the decision to cease", happened_on, "the EHC plan", issued)
        require_text("the local authority", local_authority)
        require_text("the reason the plan ceased", reason)
        self._emit(
            EHCPlanCeased,
            at,
            recorded_by,
            happened_on,
            local_authority=local_authority,
            reason=reason,
        )

    def _plan_in_force(self, what: str) -> date:
        issued = self.ehc.issued_on
        if issued is None:
            after = f" (the last one ceased on {self.ehc.ceased_on})" if self.ehc.ceased_on else ""
            raise OutOfOrder(
                f"{what} needs an EHC plan in force{after}: record EHCPlanIssued first"
            )
        return issued

    # ----- mutators ---------------------------------------------------------------------

    def _assessment_requested(self, event: EHCNeedsAssessmentRequested) -> None:
        self.ehc = replace(
            self.ehc,
            requested_on=event.happened_on,
            assessment_decision=None,
            issue_decision=None,
            draft_on=None,
        )

    def _plan_issued(self, event: EHCPlanIssued) -> None:
        ended, requested = self.ehc.assessment_ended_on, self.ehc.requested_on
        undecided = requested is not None and (ended is None or ended < requested)
        if event.transferred_from is None and undecided:
            ended = event.happened_on  # no decision recorded: the plan ends the assessment
        self.ehc = replace(
            self.ehc, issued_on=event.happened_on, review=None, assessment_ended_on=ended
        )

    def _review_scheduled(self, event: AnnualReviewScheduled) -> None:
        self.ehc = replace(self.ehc, review=AnnualReview(event.happened_on, event.meeting_on))

    def _review_held(self, event: AnnualReviewHeld) -> None:
        self.ehc = replace(self.ehc, last_review_held_on=event.happened_on, review_decided=False)
        if self.ehc.review is not None:
            self.ehc = replace(self.ehc, review=replace(self.ehc.review, held_on=event.happened_on))

    def _report_sent(self, event: AnnualReviewReportSent) -> None:
        self.ehc = replace(self.ehc, review=None)

    def _plan_ceased(self, event: EHCPlanCeased) -> None:
        self.ehc = replace(self.ehc, issued_on=None, ceased_on=event.happened_on, review=None)


def _unchanged(state: PupilState, event: object) -> None:
    """LA requests and amendments are on the chronology; the EHC order does not change."""


MUTATORS: Mutators = {
    EHCNeedsAssessmentRequested: EhcCommands._assessment_requested,
    LAInformationRequested: _unchanged,
    LAInformationProvided: _unchanged,
    EHCAssessmentDecided: LaDecisions._assessment_decided,
    EHCPlanDecided: LaDecisions._issue_decided,
    DraftEHCPlanReceived: LaDecisions._draft_received,
    EHCPlanIssued: EhcCommands._plan_issued,
    AnnualReviewScheduled: EhcCommands._review_scheduled,
    AnnualReviewPapersCirculated: _unchanged,
    AnnualReviewHeld: EhcCommands._review_held,
    AnnualReviewReportSent: EhcCommands._report_sent,
    AnnualReviewDecided: LaDecisions._review_decided,
    EHCPlanAmended: _unchanged,
    EHCPlanCeased: EhcCommands._plan_ceased,
}
