"""The DPO's desk for integration tests: the purge operations of `api.retention.Retention`
and the DPO's entries (holds, subject access, corrections, refused erasure), which are
use cases of the application layer, added as the command line adds them."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel

from api.app import bodies
from api.app.caller import Caller
from api.application import PupilRecords
from api.bootstrap import assemble
from api.retention import Retention
from domain.values import Recorder, Role
from projections.ledger import Ledger
from projections.retention_schedule import RetentionEntry


class Desk:
    """`Retention`'s operations, and the DPO's entries through the application."""

    def __init__(
        self, records: PupilRecords, ledger: Ledger, key: Ed25519PrivateKey, journal: Path
    ) -> None:
        self.records = records
        self.chronicle = assemble(records, ledger, signing_key=key, purge_journal=journal)
        retention = self.chronicle._parts.retention
        assert retention is not None
        self.retention: Retention = retention

    def __getattr__(self, name: str) -> Any:
        return getattr(self.retention, name)

    def retention_entry(self, pupil_id: UUID) -> RetentionEntry:
        """The pupil's place on the retention schedule, as the DPO reads it."""
        return self.chronicle.reads.pupil_retention(Caller.operator("dpo-ada", Role.DPO), pupil_id)

    def _add(self, slug: str, pupil_id: UUID, by: Recorder, body: BaseModel) -> int:
        caller = Caller.operator(by.staff_id, by.role)
        return self.chronicle.entries.add(caller, slug, pupil_id, body, None).seq

    def hold(self, pupil_id: UUID, by: Recorder, reason: str, requested_by: str) -> UUID:
        before = set(self.records.get_pupil(pupil_id).holds)
        body = bodies.PlaceLegalHold.model_construct(reason=reason, requested_by=requested_by)
        self._add("legal-holds", pupil_id, by, body)
        (hold_id,) = set(self.records.get_pupil(pupil_id).holds) - before
        return hold_id

    def release(self, pupil_id: UUID, by: Recorder, reason: str) -> list[UUID]:
        lifted = list(self.records.get_pupil(pupil_id).holds)
        self._add(
            "legal-holds/release",
            pupil_id,
            by,
            bodies.LiftLegalHolds.model_construct(reason=reason),
        )
        return lifted

    def request_subject_access(
        self, pupil_id: UUID, by: Recorder, reference: str, relationship: str, received: date
    ) -> date:
        body = bodies.RequestSubjectAccess.model_construct(
            request_reference=reference, requester_relationship=relationship, received_on=received
        )
        seq = self._add("subject-access-requests", pupil_id, by, body)
        entry = self.records.entries(pupil_id)[seq - 1]
        return date.fromisoformat(entry.payload["respond_by"])

    def correct(
        self,
        pupil_id: UUID,
        by: Recorder,
        entry: int,
        what_was_wrong: str,
        correction: str,
        reason: str,
    ) -> int:
        body = bodies.CorrectEntry.model_construct(
            corrects_seq=entry,
            what_was_wrong=what_was_wrong,
            correction=correction,
            reason=reason,
            happened_on=None,
        )
        return self._add("corrections", pupil_id, by, body)

    def refuse_erasure(
        self,
        pupil_id: UUID,
        by: Recorder,
        entry: int,
        reference: str,
        relationship: str,
        reason: str,
        legal_basis: str,
    ) -> int:
        body = bodies.RefuseErasure.model_construct(
            entry_seq=entry,
            request_reference=reference,
            requester_relationship=relationship,
            reason=reason,
            legal_basis=legal_basis,
        )
        return self._add("erasure-refusals", pupil_id, by, body)
