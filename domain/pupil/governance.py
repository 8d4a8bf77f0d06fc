"""Data protection: legal holds, disclosures of records, and the purge at end of retention."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

from domain.errors import InvalidEntry, LegalHoldInForce, NotAllowedByPolicy, UnknownEntry
from domain.events import (
    EHCPlanAmended,
    EHCPlanIssued,
    LegalHoldLifted,
    LegalHoldPlaced,
    RecordsDisclosed,
    RecordsPurged,
)
from domain.policy import TrustPolicy
from domain.pupil.checks import member, require_text
from domain.pupil.state import Mutators, PupilState
from domain.values import AgreementKind, DisclosurePurpose, Recorder

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
# Entries that are (part of) the EHC plan, which some trusts disclose only with consent.
_EHC_PLAN_KINDS = frozenset({EHCPlanIssued.__name__, EHCPlanAmended.__name__})
# Going to the pupil's own family: parents do not need to consent to receiving the plan.
_TO_FAMILY = frozenset({DisclosurePurpose.SUBJECT_ACCESS, DisclosurePurpose.COPY_TO_PARENTS})


class GovernanceCommands(PupilState):
    def place_legal_hold(
        self,
        *,
        reason: str,
        requested_by: str,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
        hold_id: UUID | None = None,
    ) -> UUID:
        """Stop the purge until the hold is lifted. Returns the hold's id."""
        at = self._open_entry(LegalHoldPlaced, happened_on, recorded_at)
        hold_id = hold_id or uuid4()
        if hold_id in self.holds:
            raise InvalidEntry(f"legal hold {hold_id} is already in force")
        require_text("the reason for the hold", reason)
        require_text("who asked for the hold", requested_by)
        self._emit(
            LegalHoldPlaced,
            at,
            recorded_by,
            happened_on,
            hold_id=hold_id,
            reason=reason,
            requested_by=requested_by,
        )
        return hold_id

    def lift_legal_hold(
        self,
        *,
        hold_id: UUID,
        reason: str,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        at = self._open_entry(LegalHoldLifted, happened_on, recorded_at)
        if hold_id not in self.holds:
            raise UnknownEntry(f"there is no legal hold {hold_id} in force on this record")
        require_text("the reason for lifting the hold", reason)
        self._emit(LegalHoldLifted, at, recorded_by, happened_on, hold_id=hold_id, reason=reason)

    def record_disclosure(
        self,
        *,
        policy: TrustPolicy,
        recipient: str,
        purpose: DisclosurePurpose,
        purpose_detail: str,
        legal_basis: str,
        up_to_seq: int,
        redacted_seqs: Sequence[int],
        export_digest: str,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        """Record what was disclosed: entries 1..up_to_seq with `redacted_seqs` withheld,
        identified by the SHA-256 digest of the export."""
        at = self._open_entry(RecordsDisclosed, happened_on, recorded_at)
        purpose = member(DisclosurePurpose, purpose, "purpose")
        require_text("the recipient", recipient)
        require_text("the legal basis", legal_basis)
        if purpose == DisclosurePurpose.OTHER:
            require_text("the purpose (purpose_detail)", purpose_detail)
        if not isinstance(export_digest, str) or not _SHA256_HEX.match(export_digest):
            raise InvalidEntry(
                "the export digest must be a SHA-256 digest in lower-case hex "
                "(64 characters, 0-9 and a-f)"
            )
        redacted = self._check_extent(up_to_seq, tuple(redacted_seqs))
        self._check_ehc_plan_consent(policy, purpose, up_to_seq, redacted, happened_on)
        self._emit(
            RecordsDisclosed,
            at,
            recorded_by,
            happened_on,
            recipient=recipient,
            purpose=purpose,
            purpose_detail=purpose_detail,
            legal_basis=legal_basis,
            up_to_seq=up_to_seq,
            redacted_seqs=redacted,
            export_digest=export_digest,
        )

    def _check_extent(self, up_to: int, redacted: tuple[int, ...]) -> tuple[int, ...]:
        head = len(self.kinds)
        if not 1 <= up_to <= head:
            raise UnknownEntry(
                f"the disclosure covers entries up to {up_to}, but this record has entries "
                f"1 to {head}"
            )
        for seq in redacted:
            if not 1 <= seq <= up_to:
                raise UnknownEntry(f"redacted entry {seq} is not among entries 1 to {up_to}")
        if len(set(redacted)) != len(redacted):
            raise InvalidEntry("list each redacted entry once")
        return tuple(sorted(redacted))

    def _check_ehc_plan_consent(
        self,
        policy: TrustPolicy,
        purpose: DisclosurePurpose,
        up_to: int,
        redacted: tuple[int, ...],
        day: date,
    ) -> None:
        rules = policy.disclosure
        if not rules.ehcp_requires_parental_consent or purpose in _TO_FAMILY:
            return
        shown = (seq for seq in range(1, up_to + 1) if seq not in redacted)
        if not any(self.kinds[seq - 1] in _EHC_PLAN_KINDS for seq in shown):
            return
        if purpose in rules.ehcp_permitted_purposes or self.agreed(
            AgreementKind.EHCP_DISCLOSURE, day
        ):
            return
        raise NotAllowedByPolicy(
            "this trust discloses an EHC plan only with parents' consent or for a purpose its "
            f"policy lists ({', '.join(rules.ehcp_permitted_purposes) or 'none'}): record "
            "ParentalAgreementSigned (ehcp_disclosure) first, or redact the EHC plan entries"
        )

    def record_purge(
        self,
        *,
        proposed_by: str,
        approved_by: str,
        reason: str,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        at = self._open_entry(RecordsPurged, happened_on, recorded_at)
        if proposed_by == approved_by:
            raise InvalidEntry("a purge needs two different people: proposer and approver")
        if self.holds:
            since = min(self.holds.values())
            raise LegalHoldInForce(
                f"{len(self.holds)} legal hold(s) in force since {since}: the records cannot be "
                "purged until every hold is lifted"
            )
        self._emit(
            RecordsPurged,
            at,
            recorded_by,
            happened_on,
            proposed_by=proposed_by,
            approved_by=approved_by,
            reason=reason,
        )

    # ----- mutators ---------------------------------------------------------------------

    def _hold_placed(self, event: LegalHoldPlaced) -> None:
        self.holds[event.hold_id] = event.happened_on

    def _hold_lifted(self, event: LegalHoldLifted) -> None:
        self.holds.pop(event.hold_id, None)

    def _purged(self, event: RecordsPurged) -> None:
        self.purged = True


def purge_tombstone(
    *,
    pupil_id: UUID,
    head_version: int,
    holds_in_force: Mapping[UUID, date],
    proposed_by: str,
    approved_by: str,
    reason: str,
    recorded_by: Recorder,
    happened_on: date,
    recorded_at: datetime,
) -> RecordsPurged:
    """The `RecordsPurged` tombstone for a pupil whose record ends at `head_version`, decided
    on the same rules as `record_purge` from facts read without rebuilding the aggregate
    (the legal holds in force, and the head entry, which must not be a tombstone already:
    the caller checks that). Saved at `head_version + 1`, so an entry recorded since the
    facts were read (a new hold) makes the save conflict and nothing is purged."""
    if head_version < 1:
        raise InvalidEntry("a purge needs a record to purge")
    if proposed_by == approved_by:
        raise InvalidEntry("a purge needs two different people: proposer and approver")
    if holds_in_force:
        since = min(holds_in_force.values())
        raise LegalHoldInForce(
            f"{len(holds_in_force)} legal hold(s) in force since {since}: the records cannot "
            "be purged until every hold is lifted"
        )
    if happened_on > recorded_at.date():
        raise InvalidEntry(f"the purge cannot happen on {happened_on}, after it is recorded")
    # The library makes each event class a dataclass at run time; mypy sees only the base.
    make: Any = RecordsPurged
    tombstone: RecordsPurged = make(
        originator_id=pupil_id,
        originator_version=head_version + 1,
        timestamp=recorded_at,
        recorded_by=recorded_by,
        happened_on=happened_on,
        proposed_by=proposed_by,
        approved_by=approved_by,
        reason=reason,
    )
    return tombstone


def _disclosed(state: PupilState, event: RecordsDisclosed) -> None:
    """Disclosures are the record's own audit trail; no decision depends on them."""


MUTATORS: Mutators = {
    LegalHoldPlaced: GovernanceCommands._hold_placed,
    LegalHoldLifted: GovernanceCommands._hold_lifted,
    RecordsDisclosed: _disclosed,
    RecordsPurged: GovernanceCommands._purged,
}
