"""Exports: a pupil's verifiable history for a recipient, withheld where the rule says.

An export is a disclosure. It is authorised like any use case (role, the pupil's current
academy), the recipient and purpose decide what is withheld (api/app/visibility.py: a
withheld entry keeps its commitment, so the bundle still verifies), it is recorded on the
pupil as `RecordsDisclosed` with the bundle's digest, and in the pupil's access log. The
bundle holds pupil content, so it is never stored here.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from api.app.bodies import ExportRequest, Redaction, SubjectAccessExport
from api.app.caller import Caller
from api.app.core import UseCases
from api.app.errors import busy, forbidden, invalid
from api.app.visibility import Entry, Recipient, decide
from api.application import RecordEntry
from api.export import Disclosure, Export, Withhold, export_pupil, export_subject_access
from domain.values import DisclosurePurpose, Role
from projections.ledger import LedgerError

_LEDGER_BEHIND = (
    "the trust-wide log was catching up with a write made just now; nothing was exported "
    "or recorded: try again"
)


class Exports(UseCases):
    """Disclosing a pupil's records."""

    def export(self, caller: Caller, pupil_id: UUID, request: ExportRequest) -> Export:
        """The pupil's bundle up to now for the request's recipient and purpose."""
        allowed = self.allow(caller, "export")
        self.pupil_in_scope(caller, pupil_id, allowed)
        disclosure = Disclosure(
            request.recipient, request.purpose, request.legal_basis, caller.recorder
        )
        recipient = self._recipient(
            caller, disclosure.purpose_code, request.redactions, request.released
        )
        try:
            with self.writing_for(caller):  # the disclosure entry is the caller's write
                made = export_pupil(
                    self._parts.records,
                    self._parts.ledger,
                    pupil_id,
                    disclosure,
                    dict(recipient.redactions),
                    self._withhold(recipient),
                )
        except LedgerError as e:
            raise busy("ledger_behind", _LEDGER_BEHIND) from e
        self.record_views(caller, [pupil_id], f"export {made.digest}", request.purpose)
        return made

    def subject_access(
        self, caller: Caller, pupil_id: UUID, request: SubjectAccessExport
    ) -> Export:
        """The subject-access export: the record, the pupil's access log and the entries
        holding third-party information marked for review; restricted entries withheld
        unless a DSL releases them. Closes the request's one-month deadline."""
        allowed = self.allow(caller, "subject_access_export")
        self.check_scope(caller, pupil_id, allowed)
        recipient = self._recipient(
            caller, DisclosurePurpose.SUBJECT_ACCESS, request.redactions, request.released
        )
        try:
            with self.writing_for(caller):  # the disclosure entry is the caller's write
                made = export_subject_access(
                    self._parts.records,
                    self._parts.ledger,
                    pupil_id,
                    caller.recorder,
                    request_seq=request.request_seq,
                    recipient=request.recipient,
                    redactions=dict(recipient.redactions),
                    withhold=self._withhold(recipient),
                )
        except LedgerError as e:
            raise busy("ledger_behind", _LEDGER_BEHIND) from e
        self.record_views(caller, [pupil_id], f"subject-access export {made.digest}", None)
        return made

    def _recipient(
        self,
        caller: Caller,
        purpose: DisclosurePurpose,
        redactions: Sequence[Redaction],
        released: Sequence[int],
    ) -> Recipient:
        chosen: dict[int, str] = {}
        for r in redactions:
            if r.seq in chosen:
                raise invalid(f"entry {r.seq} is redacted twice: list it once")
            chosen[r.seq] = r.reason
        if released and caller.role is not Role.DSL:
            raise forbidden(
                "only a DSL may release restricted or third-party entries into an export: "
                "ask the DSL to make this export, or leave `released` empty"
            )
        both = sorted(set(chosen) & set(released))
        if both:
            raise invalid(f"entry {both[0]} is both redacted and released: choose one")
        return Recipient(purpose, chosen, frozenset(released))

    def _withhold(self, recipient: Recipient) -> Withhold:
        policy = self.policy

        def withhold(entry: RecordEntry) -> str | None:
            seen = Entry(entry.type, entry.seq, None, entry.payload)
            return decide(policy, recipient, seen).reason

        return withhold
