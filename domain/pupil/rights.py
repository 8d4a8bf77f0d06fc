"""Data-protection rights of the pupil and family: subject access and refused erasure.

Rectification is `EntryCorrected` (domain/pupil/record.py): the wrong entry stays and the
correction sits beside it. A request to erase an entry the trust must keep is answered
with `ErasureRequestRefused`, naming the entry, the reason and the legal basis; the entry
itself is never touched. Both events carry the requester's relationship to the pupil and
the trust's case reference, never the requester's name (docs/operations.md).
"""

from __future__ import annotations

from datetime import date, datetime

from domain.errors import DateOutOfRange, InvalidEntry, OutOfOrder, UnknownEntry
from domain.events import ErasureRequestRefused, SubjectAccessExtended, SubjectAccessRequested
from domain.pupil.checks import require_text
from domain.pupil.state import Mutators, PupilState
from domain.values import Recorder, add_months

# Who may make a request about a pupil's records, by relationship (no names are recorded).
REQUESTER_RELATIONSHIPS = ("pupil", "parent", "carer", "legal_representative", "other")
# UK GDPR art. 12(3): one month from receipt (ICO: the same day next month, or the last
# day of the next month when it has no such day).
SUBJECT_ACCESS_MONTHS = 1
# Art. 12(3): "extended by two further months where necessary, taking into account the
# complexity and number of the requests", the requester told within the first month.
SUBJECT_ACCESS_EXTENSION_MONTHS = 2
_REFERENCE_MAX = 64


def subject_access_due(received_on: date) -> date:
    """When the response to a subject access request received on `received_on` is due."""
    return add_months(received_on, SUBJECT_ACCESS_MONTHS)


class RightsCommands(PupilState):
    def request_subject_access(
        self,
        *,
        request_reference: str,
        requester_relationship: str,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> date:
        """Record a subject access request received on `happened_on`; returns the due date."""
        at = self._open_entry(SubjectAccessRequested, happened_on, recorded_at)
        _check_request(request_reference, requester_relationship)
        due = subject_access_due(happened_on)
        self._emit(
            SubjectAccessRequested,
            at,
            recorded_by,
            happened_on,
            request_reference=request_reference.strip(),
            requester_relationship=requester_relationship,
            respond_by=due,
        )
        return due

    def extend_subject_access(
        self,
        *,
        request_seq: int,
        reason: str,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> date:
        """Extend the response to the request of entry `request_seq` by two further months,
        the requester told on `happened_on` (at the latest the first month's due date);
        returns the new due date."""
        at = self._open_entry(SubjectAccessExtended, happened_on, recorded_at)
        found = self.subject_access.get(request_seq) if type(request_seq) is int else None
        if found is None:
            raise UnknownEntry(
                f"entry {request_seq} is not a subject access request on this record: name "
                "the SubjectAccessRequested entry"
            )
        due, extended = found
        if extended:
            raise OutOfOrder(
                f"the request of entry {request_seq} was extended already (to {due}): the law "
                "allows one extension of two further months"
            )
        if happened_on > due:
            raise DateOutOfRange(
                f"the extension is dated {happened_on}, after the response was due ({due}): "
                "the requester must be told of an extension within the first month"
            )
        require_text("the reason for the extension (why the request is complex)", reason)
        new_due = add_months(due, SUBJECT_ACCESS_EXTENSION_MONTHS)
        self._emit(
            SubjectAccessExtended,
            at,
            recorded_by,
            happened_on,
            request_seq=request_seq,
            reason=reason,
            respond_by=new_due,
        )
        return new_due

    def refuse_erasure(
        self,
        *,
        entry_seq: int,
        request_reference: str,
        requester_relationship: str,
        reason: str,
        legal_basis: str,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        """Record that erasing entry `entry_seq` was asked for and refused (it is kept)."""
        at = self._open_entry(ErasureRequestRefused, happened_on, recorded_at)
        if type(entry_seq) is not int or not 1 <= entry_seq <= len(self.kinds):
            raise UnknownEntry(
                f"there is no entry {entry_seq} on this record (it has entries 1 to "
                f"{len(self.kinds)}): name the entry the requester asked to erase"
            )
        _check_request(request_reference, requester_relationship)
        require_text("the reason the entry must be kept", reason)
        require_text("the legal basis for keeping the entry", legal_basis)
        self._emit(
            ErasureRequestRefused,
            at,
            recorded_by,
            happened_on,
            entry_seq=entry_seq,
            request_reference=request_reference.strip(),
            requester_relationship=requester_relationship,
            reason=reason,
            legal_basis=legal_basis,
        )


def _check_request(reference: str, relationship: str) -> None:
    require_text("the request's reference", reference)
    if len(reference.strip()) > _REFERENCE_MAX:
        raise InvalidEntry(
            f"the request's reference is longer than {_REFERENCE_MAX} characters: use the "
            "trust's case reference (e.g. SAR-2026-014), not a description"
        )
    if relationship not in REQUESTER_RELATIONSHIPS:
        raise InvalidEntry(
            f"requester relationship {relationship!r} is not one of "
            f"{', '.join(REQUESTER_RELATIONSHIPS)}"
        )


def _unchanged(state: PupilState, event: object) -> None:
    """Requests are the record's own audit trail; no later decision depends on them."""


def _requested(state: PupilState, event: SubjectAccessRequested) -> None:
    state.subject_access[event.originator_version] = (event.respond_by, False)


def _extended(state: PupilState, event: SubjectAccessExtended) -> None:
    state.subject_access[event.request_seq] = (event.respond_by, True)


MUTATORS: Mutators = {
    SubjectAccessRequested: _requested,
    SubjectAccessExtended: _extended,
    ErasureRequestRefused: _unchanged,
}
