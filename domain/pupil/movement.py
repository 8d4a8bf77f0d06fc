"""Moves: planned transitions, transfers between the trust's academies, leaving the trust."""

from __future__ import annotations

from datetime import date, datetime

from domain.errors import InvalidEntry, NotAllowedByPolicy, OutOfOrder
from domain.events import (
    LeftTrust,
    PupilRejoined,
    TransferredWithinTrust,
    TransitionPlanned,
    YearGroupChanged,
)
from domain.policy import TrustPolicy
from domain.pupil.checks import check_not_before, check_past, member, require_text
from domain.pupil.state import Departure, Mutators, PupilState
from domain.values import AgreementKind, Recorder, TransitionKind

_PHASE_TRANSFERS = {TransitionKind.PHASE_TRANSFER: False, TransitionKind.POST16: True}


class MovementCommands(PupilState):
    def plan_transition(
        self,
        *,
        policy: TrustPolicy,
        transition: TransitionKind,
        to_setting: str,
        planned_for: date,
        information_shared: str,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        """Plan a move; a phase transfer with an EHC plan gets the policy's amendment date."""
        at = self._open_entry(TransitionPlanned, happened_on, recorded_at)
        transition = member(TransitionKind, transition, "transition")
        require_text("the setting the pupil moves to", to_setting)
        check_not_before("the move", planned_for, "the day it was planned", happened_on)
        sharing = policy.transition.share_requires_parental_agreement
        agreed = self.agreed(AgreementKind.INFORMATION_SHARING, happened_on)
        if sharing and information_shared.strip() and not agreed:
            raise NotAllowedByPolicy(
                "this trust agrees with parents what is shared at a transition: record "
                "ParentalAgreementSigned (information_sharing) first"
            )
        self._emit(
            TransitionPlanned,
            at,
            recorded_by,
            happened_on,
            transition=transition,
            to_setting=to_setting,
            planned_for=planned_for,
            information_shared=information_shared,
            ehcp_review_by=self._ehcp_review_by(policy, transition, planned_for),
        )

    def _ehcp_review_by(
        self, policy: TrustPolicy, transition: TransitionKind, planned_for: date
    ) -> date | None:
        """The statutory amendment date before the move (15 February, or 31 March for
        post-16): the latest one on or before the day of the move."""
        if not self.ehc_plan_in_force or transition not in _PHASE_TRANSFERS:
            return None
        post16 = _PHASE_TRANSFERS[transition]
        due = policy.phase_transfer_review_due(planned_for.year, post16=post16)
        if due > planned_for:
            due = policy.phase_transfer_review_due(planned_for.year - 1, post16=post16)
        return due

    def transfer_within_trust(
        self,
        *,
        to_academy: str,
        reason: str,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        at = self._open_entry(TransferredWithinTrust, happened_on, recorded_at)
        require_text("the academy the pupil moves to", to_academy)
        if to_academy == self.academy:
            raise InvalidEntry(f"the pupil is already at {to_academy}")
        require_text("the reason for the transfer", reason)
        self._emit(
            TransferredWithinTrust,
            at,
            recorded_by,
            happened_on,
            from_academy=self.academy,
            to_academy=to_academy,
            reason=reason,
        )

    def leave_trust(
        self,
        *,
        policy: TrustPolicy,
        destination: str,
        records_sent_on: date | None,
        receipt_acknowledged_on: date | None,
        receipt_acknowledged_by: str | None,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        """Record leaving, dated the last day on roll. Recording it again for the same
        destination completes what was not yet known (records sent, receipt)."""
        at = self._open_entry(LeftTrust, happened_on, recorded_at)
        require_text("where the pupil went", destination)
        if self.left is not None and destination != self.left.destination:
            raise InvalidEntry(
                f"the pupil already left the trust on {self.left.left_on} for "
                f"{self.left.destination}: correct that entry instead"
            )
        if records_sent_on is not None:
            check_past("the date records were sent", records_sent_on, at, self.date_of_birth)
        self._check_receipt(records_sent_on, receipt_acknowledged_on, receipt_acknowledged_by, at)
        self._emit(
            LeftTrust,
            at,
            recorded_by,
            happened_on,
            destination=destination,
            records_due_by=policy.records_transfer_due(happened_on),
            records_sent_on=records_sent_on,
            receipt_acknowledged_on=receipt_acknowledged_on,
            receipt_acknowledged_by=receipt_acknowledged_by,
        )

    def rejoin(
        self,
        *,
        academy: str,
        year_group: int,
        returned_from: str,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        """A pupil who left comes back on roll (the first day back); the record reopens at
        `academy` and new entries can be added again."""
        at = self._open_entry(PupilRejoined, happened_on, recorded_at)
        if self.left is None:
            raise OutOfOrder("the pupil has not left the trust: a re-joining follows LeftTrust")
        check_not_before("the return", happened_on, "the day the pupil left", self.left.left_on)
        require_text("the academy the pupil rejoins", academy)
        require_text("where the pupil returns from", returned_from)
        if not -2 <= year_group <= 14:
            raise InvalidEntry(
                f"year group {year_group} is out of range: use -2 (nursery 1) to 14 (post-16)"
            )
        self._emit(
            PupilRejoined,
            at,
            recorded_by,
            happened_on,
            academy=academy,
            year_group=year_group,
            returned_from=returned_from,
        )

    def change_year_group(
        self,
        *,
        year_group: int,
        reason: str,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        """The pupil is taught in another year group from `happened_on` (kept back, moved
        up, out of their chronological year group)."""
        at = self._open_entry(YearGroupChanged, happened_on, recorded_at)
        if type(year_group) is not int or not -2 <= year_group <= 14:
            raise InvalidEntry(
                f"year group {year_group} is out of range: use -2 (nursery 1) to 14 (post-16)"
            )
        require_text("the reason for the change of year group", reason)
        check_not_before("the change", happened_on, "the registration", self.registered_on)
        now = self.year_group_on(happened_on)
        if year_group == now:
            raise InvalidEntry(f"the pupil is already in year group {now} on {happened_on}")
        self._emit(
            YearGroupChanged, at, recorded_by, happened_on, year_group=year_group, reason=reason
        )

    def _check_receipt(
        self, sent: date | None, acknowledged: date | None, by: str | None, at: datetime
    ) -> None:
        if (acknowledged is None) != (by is None or not by.strip()):
            raise InvalidEntry(
                "give both the date receipt was acknowledged and who acknowledged it, or neither"
            )
        if acknowledged is not None:
            if sent is None:
                raise InvalidEntry(
                    "receipt can be acknowledged only for records sent: give the date sent"
                )
            check_past("the date receipt was acknowledged", acknowledged, at, self.date_of_birth)
            check_not_before("the acknowledgement", acknowledged, "the records were sent", sent)

    # ----- mutators ---------------------------------------------------------------------

    def _transferred(self, event: TransferredWithinTrust) -> None:
        self.academy = event.to_academy

    def _left(self, event: LeftTrust) -> None:
        if self.left is None:
            self.left = Departure(event.happened_on, event.destination)


def _rejoined(state: PupilState, event: PupilRejoined) -> None:
    state.left = None
    state.academy = event.academy
    state.year_group_set = (event.year_group, event.happened_on)


def _year_group_changed(state: PupilState, event: YearGroupChanged) -> None:
    state.year_group_set = (event.year_group, event.happened_on)


def _transition_planned(state: PupilState, event: TransitionPlanned) -> None:
    """A plan for a move; the move itself is TransferredWithinTrust or LeftTrust."""


MUTATORS: Mutators = {
    TransitionPlanned: _transition_planned,
    TransferredWithinTrust: MovementCommands._transferred,
    LeftTrust: MovementCommands._left,
    PupilRejoined: _rejoined,
    YearGroupChanged: _year_group_changed,
}
