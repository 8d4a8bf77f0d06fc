"""The graduated response: register moves and sub-flags, as the trust's policy allows.

A move must be listed in the policy (`register.transitions`) and bring what it requires; a
sub-flag must be one the policy uses, on the status it qualifies. The census rule holds
whatever the policy says: K and E need a primary need.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from domain.errors import InvalidEntry, NotAllowedByPolicy, OutOfOrder, TransitionNotAllowed
from domain.events import KeyWorkerAssigned, MonitoringReviewed, RegisterStatusChanged
from domain.policy import Requirement, TrustPolicy
from domain.pupil.checks import check_past, member, members, require_text
from domain.pupil.state import Mutators, PupilState
from domain.values import AgreementKind, Recorder, RegisterStatus, SubFlag

# What parents must have agreed to, for a requirement `parental_consent` in each context.
_STAFF_ID_MAX = 64
_CONSENT_FOR_FLAG = {SubFlag.SPECIALIST_SEND_SUPPORT: AgreementKind.EXTERNAL_PROFESSIONALS}


class RegisterCommands(PupilState):
    def change_register_status(
        self,
        *,
        policy: TrustPolicy,
        status: RegisterStatus,
        sub_flags: tuple[SubFlag, ...],
        reason: str,
        decision_maker: str,
        parents_informed_on: date | None,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        at = self._open_entry(RegisterStatusChanged, happened_on, recorded_at)
        status = member(RegisterStatus, status, "register status")
        flags = members(SubFlag, sub_flags, "sub-flag")
        if status == self.status and flags == self.sub_flags:
            raise TransitionNotAllowed(f"the pupil is already on the register as {status.value}")
        require_text("reason", reason)
        require_text("decision maker", decision_maker)
        if parents_informed_on is not None:
            check_past(
                "the date parents were informed", parents_informed_on, at, self.date_of_birth
            )
        if status != self.status:
            self._check_move(policy, status, happened_on, parents_informed_on)
        self._check_sub_flags(policy, status, flags, happened_on, parents_informed_on)
        self._emit(
            RegisterStatusChanged,
            at,
            recorded_by,
            happened_on,
            status=status,
            sub_flags=flags,
            reason=reason,
            decision_maker=decision_maker,
            parents_informed_on=parents_informed_on,
        )

    def _check_move(
        self, policy: TrustPolicy, to: RegisterStatus, day: date, informed: date | None
    ) -> None:
        rules = policy.send_register
        if to not in rules.statuses:
            raise TransitionNotAllowed(
                f"this trust's register has no {to.value} category "
                f"(its categories: {', '.join(rules.statuses)})"
            )
        move = policy.allows_transition(self.status, to)
        if move is None:
            onward = [t.to for t in rules.transitions if t.from_ == self.status]
            raise TransitionNotAllowed(
                f"this trust's policy does not allow moving from {self.status.value} to "
                f"{to.value}; from {self.status.value} it allows: {', '.join(onward) or 'no move'}"
            )
        if to.census_code in ("K", "E") and self.primary_need is None:
            raise TransitionNotAllowed(
                f"{to.value} (census {to.census_code}) needs a primary need: "
                "record the primary need first"
            )
        what = f"moving from {self.status.value} to {to.value}"
        for requirement in move.requires:
            self._require(requirement, what, day, informed, AgreementKind.SEND_SUPPORT)

    def _check_sub_flags(
        self,
        policy: TrustPolicy,
        status: RegisterStatus,
        flags: tuple[SubFlag, ...],
        day: date,
        informed: date | None,
    ) -> None:
        if len(set(flags)) != len(flags):
            raise TransitionNotAllowed("each sub-flag may be given once")
        if {SubFlag.NSA, SubFlag.SPECIALIST_SEND_SUPPORT} <= set(flags):
            raise TransitionNotAllowed(
                "nsa (no specialist assessment) and specialist_send_support (an outside "
                "professional is involved) contradict each other: choose one"
            )
        for flag in flags:
            rule = policy.sub_flag_rule(flag)
            if rule is None:
                raise NotAllowedByPolicy(
                    f"this trust's policy does not use the {flag.value} sub-flag"
                )
            if rule.status != status:
                raise TransitionNotAllowed(
                    f"the {flag.value} sub-flag qualifies {rule.status}, not {status.value}"
                )
            if flag not in self.sub_flags:
                consent = _CONSENT_FOR_FLAG.get(flag, AgreementKind.SEND_SUPPORT)
                for requirement in rule.requires:
                    self._require(requirement, f"the {flag.value} sub-flag", day, informed, consent)

    def _require(
        self,
        requirement: Requirement,
        what: str,
        day: date,
        informed: date | None,
        consent: AgreementKind,
    ) -> None:
        unmet = self._unmet(requirement, day, informed, consent)
        if unmet:
            raise TransitionNotAllowed(f"under this trust's policy, {what} needs {unmet}")

    def _unmet(
        self, requirement: Requirement, day: date, informed: date | None, consent: AgreementKind
    ) -> str | None:
        # reason and decision_maker are checked for every change: records always say them.
        if requirement == "parents_informed" and informed is None:
            return "the date parents were informed (parents_informed_on)"
        if requirement == "parental_consent" and not self.agreed(consent, day):
            return (
                f"parents' signed agreement in force on {day}: record ParentalAgreementSigned "
                f"({consent.value}) first"
            )
        if requirement == "primary_need" and self.primary_need is None:
            return "a primary need: record the primary need first"
        if requirement == "external_professional" and not self.agency_involved_by(day):
            return f"an outside professional involved by {day}: record ExternalAgencyInvolved first"
        if requirement == "ehc_plan_issued" and not self.ehc_plan_in_force:
            return "an EHC plan issued by the local authority: record EHCPlanIssued first"
        if requirement == "ehc_plan_ceased" and (
            self.ehc_plan_in_force or self.ehc.ceased_on is None
        ):
            return "the EHC plan ceased by the local authority: record EHCPlanCeased first"
        return None

    def review_monitoring(
        self,
        *,
        policy: TrustPolicy,
        findings: str,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        """A review of a pupil on the monitoring register; the next is due by the policy's
        `monitoring_review_interval_days` (none when the policy sets no interval)."""
        at = self._open_entry(MonitoringReviewed, happened_on, recorded_at)
        if self.status != RegisterStatus.MONITORING:
            raise OutOfOrder(
                f"the pupil is not on the monitoring register (status {self.status.value}): "
                "a monitoring review needs RegisterStatusChanged to monitoring first"
            )
        require_text("what the review found", findings)
        interval = policy.deadlines.monitoring_review_interval_days
        self._emit(
            MonitoringReviewed,
            at,
            recorded_by,
            happened_on,
            findings=findings,
            next_review_by=None if interval is None else happened_on + timedelta(days=interval),
        )

    def assign_key_worker(
        self,
        *,
        key_worker: str,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        """Name the pupil's key worker (a staff id) from `happened_on`."""
        at = self._open_entry(KeyWorkerAssigned, happened_on, recorded_at)
        require_text("the key worker's staff id", key_worker)
        staff_id = key_worker.strip()
        if len(staff_id) > _STAFF_ID_MAX or any(c.isspace() for c in staff_id):
            raise InvalidEntry(
                f"the key worker is named by staff id (at most {_STAFF_ID_MAX} characters, no "
                "spaces), never by name"
            )
        if staff_id == self.key_worker:
            raise InvalidEntry(f"{staff_id} is the pupil's key worker already")
        self._emit(KeyWorkerAssigned, at, recorded_by, happened_on, key_worker=staff_id)

    # ----- mutators ---------------------------------------------------------------------

    def _status_changed(self, event: RegisterStatusChanged) -> None:
        self.status = event.status
        self.status_since = event.happened_on
        self.sub_flags = event.sub_flags


def _monitoring_reviewed(state: PupilState, event: MonitoringReviewed) -> None:
    """A review leaves the pupil where they are; a move is RegisterStatusChanged."""


def _key_worker_assigned(state: PupilState, event: KeyWorkerAssigned) -> None:
    state.key_worker = event.key_worker


MUTATORS: Mutators = {
    RegisterStatusChanged: RegisterCommands._status_changed,
    MonitoringReviewed: _monitoring_reviewed,
    KeyWorkerAssigned: _key_worker_assigned,
}
