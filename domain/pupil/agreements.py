"""Parents' signed agreements, and the access arrangements granted for exams."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from domain.errors import InvalidEntry
from domain.events import ExamAccessArrangementGranted, ParentalAgreementSigned
from domain.policy import TrustPolicy
from domain.pupil.checks import check_after, member, members, require_text
from domain.pupil.state import Agreement, Mutators, PupilState
from domain.values import (
    AgreementKind,
    ExamArrangement,
    Recorder,
    add_months,
    school_year,
)


class AgreementCommands(PupilState):
    def sign_parental_agreement(
        self,
        *,
        policy: TrustPolicy,
        agreement: AgreementKind,
        signed_by: str,
        relationship: str,
        valid_until: date | None,
        notes: str,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        """Record a signed agreement, dated the day it was signed. An agreement to SEN
        support without an end date lasts as long as the policy's renewal period."""
        at = self._open_entry(ParentalAgreementSigned, happened_on, recorded_at)
        agreement = member(AgreementKind, agreement, "agreement")
        require_text("who signed", signed_by)
        require_text("their relationship to the pupil", relationship)
        renewal = policy.deadlines.parental_agreement_renewal_months
        if valid_until is None and agreement == AgreementKind.SEND_SUPPORT and renewal:
            valid_until = add_months(happened_on, renewal)
        if valid_until is not None:
            check_after(
                "the end of the agreement", valid_until, "the day it was signed", happened_on
            )
        self._emit(
            ParentalAgreementSigned,
            at,
            recorded_by,
            happened_on,
            agreement=agreement,
            signed_by=signed_by,
            relationship=relationship,
            valid_until=valid_until,
            notes=notes,
        )

    def grant_exam_access(
        self,
        *,
        policy: TrustPolicy,
        arrangements: Sequence[ExamArrangement],
        for_assessments: str,
        evidence: str,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        """Grant arrangements; they lapse when the policy says (Aspire: on entry to Year 7)."""
        at = self._open_entry(ExamAccessArrangementGranted, happened_on, recorded_at)
        granted = members(ExamArrangement, arrangements, "arrangement")
        if not granted or len(set(granted)) != len(granted):
            raise InvalidEntry("list each arrangement granted once (extra_time, reader, ...)")
        require_text("the tests or examinations the arrangements are for", for_assessments)
        require_text("the evidence of need", evidence)
        self._emit(
            ExamAccessArrangementGranted,
            at,
            recorded_by,
            happened_on,
            arrangements=granted,
            for_assessments=for_assessments,
            evidence=evidence,
            lapses_on=self._exam_access_lapses_on(policy, happened_on),
        )

    def _exam_access_lapses_on(self, policy: TrustPolicy, day: date) -> date | None:
        lapse_year = policy.exam_access.lapse_on_entry_to_year
        now = self.year_group_on(day)
        if lapse_year is None or now >= lapse_year:
            return None
        return date(school_year(day) + lapse_year - now, 9, 1)

    # ----- mutators ---------------------------------------------------------------------

    def _agreement_signed(self, event: ParentalAgreementSigned) -> None:
        latest = self.agreements.get(event.agreement)
        if latest is None or latest.signed_on <= event.happened_on:
            self.agreements[event.agreement] = Agreement(event.happened_on, event.valid_until)


def _exam_access_granted(state: PupilState, event: ExamAccessArrangementGranted) -> None:
    """Arrangements are read from the chronology; no decision depends on them."""


MUTATORS: Mutators = {
    ParentalAgreementSigned: AgreementCommands._agreement_signed,
    ExamAccessArrangementGranted: _exam_access_granted,
}
