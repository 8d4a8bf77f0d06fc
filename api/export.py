"""Verifiable exports (`chronicle-export/1`) of one pupil's history, and their disclosure record.

The bundle format is normative (DESIGN, Ledger §6; docs/verifiable-export.md). Every export
is itself recorded on the pupil as `RecordsDisclosed` with the bundle's digest; the bundle
covers entries 1 to the head at the moment of export, so it never contains its own
disclosure record (the next export will).

A **subject-access export** (`export_subject_access`) is the same bundle with two optional
parts that older verifiers ignore (docs/verifiable-export.md, "Subject-access exports"):
`access_log`, the pupil's access-log entries chained and anchored in the same signed
checkpoint, and `subject_access`, which names the request it answers and lists the entries
and fields holding third-party information for the DPO's redaction review (`THIRD_PARTY`).
Its `RecordsDisclosed` (purpose `subject_access`, the request's reference as detail) closes
the request's deadline.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select

from api.application import PupilRecords, RecordEntry
from crypto.bundle_check import FORMAT
from crypto.chain import GENESIS_PREV, chain_leaf
from crypto.jcs import canonical_json
from domain.access import access_stream_id
from domain.errors import InvalidEntry, UnknownEntry
from domain.values import DisclosurePurpose, Recorder
from projections.ledger import Ledger, LedgerError, leaves

SUBJECT_ACCESS_BASIS = "UK GDPR art. 15 (right of access by the data subject)"

# Entry kinds whose fields carry information about, or from, someone other than the pupil
# (and the family member asking): each is marked for the DPO's review before the export is
# sent, never withheld automatically. Staff ids acting in their professional role are not
# marked (the ICO's guidance: usually disclosed). docs/operations.md explains the choice.
THIRD_PARTY: dict[str, tuple[tuple[str, ...], str]] = {
    "ConcernRaised": (
        ("description", "evidence"),
        "free text: may name or describe other pupils or adults",
    ),
    "ExternalAgencyInvolved": (
        ("professional", "reason"),
        "names an outside professional; their reasons are their information too",
    ),
    "AdviceReceived": (
        ("professional", "summary", "recommendations"),
        "advice from an outside professional (their name, opinion and report): ask them "
        "or consider the DPA 2018 Sch. 2 Part 3 test",
    ),
    "SafeguardingCrossReferenced": (
        ("cpoms_log_id", "note", "decided_by"),
        "safeguarding: may identify others or risk serious harm (DPA 2018 Sch. 3)",
    ),
    "ParentalAgreementSigned": (
        ("signed_by", "relationship", "notes"),
        "names the parent or carer who signed",
    ),
    "PlanReviewed": (("parent_voice",), "a parent's or carer's own words"),
    "AnnualReviewScheduled": (("invitees",), "names the people invited"),
    "AnnualReviewHeld": (
        ("attendees", "parent_voice"),
        "names the attendees; a parent's or carer's own words",
    ),
    "AnnualReviewReportSent": (("sent_to",), "names the recipients"),
    "LeftTrust": (("receipt_acknowledged_by",), "names a person at the next setting"),
    "LegalHoldPlaced": (("requested_by", "reason"), "may name a claimant or legal adviser"),
    "RecordsDisclosed": (("recipient",), "names who received the records"),
}


@dataclass(frozen=True)
class Disclosure:
    """Who the records go to, why, on what basis, and who made the export."""

    recipient: str
    purpose: str
    legal_basis: str
    made_by: Recorder

    @property
    def purpose_code(self) -> DisclosurePurpose:
        try:
            return DisclosurePurpose(self.purpose)
        except ValueError:
            return DisclosurePurpose.OTHER


@dataclass(frozen=True)
class Export:
    bundle: dict[str, Any]
    digest: str


def bundle_digest(bundle: dict[str, Any]) -> str:
    """SHA-256 of the bundle's canonical JSON: the digest recorded in `RecordsDisclosed`."""
    return hashlib.sha256(canonical_json(bundle)).hexdigest()


def export_pupil(
    records: PupilRecords,
    ledger: Ledger,
    pupil_id: UUID,
    disclosure: Disclosure,
    redactions: dict[int, str] | None = None,
) -> Export:
    """Build the pupil's bundle up to its head, anchored in a signed checkpoint, and record
    the disclosure. Refused (nothing recorded) if the domain refuses the disclosure."""
    redactions = redactions or {}
    entries = records.entries(pupil_id)
    _check_redactions(redactions, len(entries))
    bundle, up_to = _bundle(records, ledger, pupil_id, entries, disclosure, redactions)
    digest = bundle_digest(bundle)
    _record_disclosure(
        records, pupil_id, disclosure, up_to, sorted(redactions), digest, records.clock()
    )
    return Export(bundle, digest)


def export_subject_access(
    records: PupilRecords,
    ledger: Ledger,
    pupil_id: UUID,
    made_by: Recorder,
    *,
    request_seq: int | None = None,
    recipient: str | None = None,
    redactions: dict[int, str] | None = None,
) -> Export:
    """The pupil's bundle for a subject access request (the latest one unless `request_seq`
    names it), with the access log and the third-party review; recorded as a disclosure
    for purpose `subject_access`, which closes the request's deadline."""
    redactions = redactions or {}
    entries = records.entries(pupil_id)
    _check_redactions(redactions, len(entries))
    request = _request(entries, request_seq)
    relationship = request.payload["requester_relationship"]
    disclosure = Disclosure(
        recipient or f"the requester ({relationship})",
        DisclosurePurpose.SUBJECT_ACCESS.value,
        SUBJECT_ACCESS_BASIS,
        made_by,
    )
    # The access log is read first: the checkpoint signed below then covers all of it.
    access = (
        records.entries(access_stream_id(pupil_id)) if _has_access_log(records, pupil_id) else []
    )
    bundle, up_to = _bundle(records, ledger, pupil_id, entries, disclosure, redactions)
    bundle["access_log"] = _access_log(ledger, pupil_id, access, bundle["checkpoint"]["size"])
    bundle["subject_access"] = {
        "request_seq": request.seq,
        "request_reference": request.payload["request_reference"],
        "received_on": request.payload["happened_on"],
        "respond_by": request.payload["respond_by"],
        "third_party_review": third_party_review(bundle["events"]),
    }
    digest = bundle_digest(bundle)
    _record_disclosure(
        records,
        pupil_id,
        disclosure,
        up_to,
        sorted(redactions),
        digest,
        records.clock(),
        detail=request.payload["request_reference"],
    )
    return Export(bundle, digest)


def third_party_review(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The shown entries with third-party information in a non-empty field, and why."""
    marks = []
    for event in events:
        rule = THIRD_PARTY.get(event["type"])
        if rule is None or "payload" not in event:
            continue
        fields, why = rule
        present = [f for f in fields if event["payload"].get(f) not in (None, "", [])]
        if present:
            marks.append(
                {"seq": event["seq"], "type": event["type"], "fields": present, "why": why}
            )
    return marks


def _request(entries: list[RecordEntry], seq: int | None) -> RecordEntry:
    requests = [e for e in entries if e.type == "SubjectAccessRequested"]
    if seq is not None:
        chosen = [e for e in requests if e.seq == seq]
        if not chosen:
            raise UnknownEntry(
                f"entry {seq} is not a subject access request of this pupil (requests: "
                f"{', '.join(str(e.seq) for e in requests) or 'none'})"
            )
        return chosen[0]
    if not requests:
        raise InvalidEntry(
            "there is no subject access request on this record: record it first "
            "(`chronicle retention sar-request`), so its one-month deadline is tracked"
        )
    return requests[-1]


def _has_access_log(records: PupilRecords, pupil_id: UUID) -> bool:
    stream = access_stream_id(pupil_id)
    return bool(records.recorder.select_events(stream, desc=True, limit=1))


def _access_log(
    ledger: Ledger, pupil_id: UUID, entries: list[RecordEntry], size: int
) -> dict[str, Any]:
    """The access stream's entries 1..n as bundle events, with the leaf of entry n and its
    inclusion proof in the checkpoint of `size` leaves (reads after n are not included)."""
    stream = access_stream_id(pupil_id)
    found: dict[str, Any] = {"stream": str(stream), "events": [], "head": None}
    if not entries:
        found["inclusion_proof"] = []
        return found
    chain = ledger.chain(stream)[: len(entries)]
    events, prev = [], GENESIS_PREV
    for entry, logged in zip(entries, chain, strict=True):
        leaf = chain_leaf(str(stream), entry.seq, entry.type, entry.commitment.hex(), prev)
        if leaf != logged:
            raise LedgerError(
                f"access-log entry {entry.seq} of pupil {pupil_id} differs from the log: run "
                "`chronicle ledger verify` before exporting"
            )
        prev = leaf.hex()
        events.append(_event(entry, leaf.hex(), None))
    with ledger.transaction(False) as session:
        log_index = session.execute(
            select(leaves.c.log_index).where(
                leaves.c.pupil_id == stream, leaves.c.seq == entries[-1].seq
            )
        ).scalar_one()
    found["events"] = events
    found["head"] = {"log_index": int(log_index), "leaf_hash": prev}
    found["inclusion_proof"] = [h.hex() for h in ledger.inclusion_proof(int(log_index), size)]
    return found


def _bundle(
    records: PupilRecords,
    ledger: Ledger,
    pupil_id: UUID,
    entries: list[RecordEntry],
    disclosure: Disclosure,
    redactions: dict[int, str],
) -> tuple[dict[str, Any], int]:
    """The bundle of `entries` (the pupil's whole record), and the head entry's seq."""
    signed = ledger.checkpoint()
    head = ledger.head(pupil_id)
    if head is None or head.seq != entries[-1].seq:
        raise LedgerError(
            f"the log does not yet hold pupil {pupil_id}'s latest entry: run "
            "`chronicle ledger verify`"
        )
    events, prev = [], GENESIS_PREV
    for entry, logged in zip(entries, ledger.chain(pupil_id), strict=True):
        leaf = chain_leaf(str(pupil_id), entry.seq, entry.type, entry.commitment.hex(), prev)
        if leaf != logged:
            raise LedgerError(
                f"entry {entry.seq} of pupil {pupil_id} differs from the log: run "
                "`chronicle ledger verify` before exporting"
            )
        prev = leaf.hex()
        events.append(_event(entry, leaf.hex(), redactions.get(entry.seq)))
    now = records.clock()
    bundle: dict[str, Any] = {
        "format": FORMAT,
        "pupil": str(pupil_id),
        "purpose": disclosure.purpose,
        "requester": disclosure.recipient,
        "time": now.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "events": events,
        "head": {"log_index": head.log_index, "leaf_hash": head.leaf_hash.hex()},
        "inclusion_proof": [
            h.hex() for h in ledger.inclusion_proof(head.log_index, signed.checkpoint["size"])
        ],
        "checkpoint": dict(signed.checkpoint),
        "signature": signed.signature,
        "public_key": signed.public_key,
    }
    return bundle, head.seq


def _event(entry: Any, leaf_hash: str, reason: str | None) -> dict[str, Any]:
    if reason is not None:
        return {
            "seq": entry.seq,
            "type": entry.type,
            "redacted": True,
            "commitment": entry.commitment.hex(),
            "reason": reason,
            "leaf_hash": leaf_hash,
        }
    return {
        "seq": entry.seq,
        "type": entry.type,
        "payload": entry.payload,
        "salt": entry.salt.hex(),
        "leaf_hash": leaf_hash,
    }


def _check_redactions(redactions: dict[int, str], head: int) -> None:
    for seq, reason in redactions.items():
        if not 1 <= seq <= head:
            raise InvalidEntry(f"cannot redact entry {seq}: the record has entries 1 to {head}")
        if not reason.strip():
            raise InvalidEntry(f"redacting entry {seq} needs a reason")


def _record_disclosure(
    records: PupilRecords,
    pupil_id: UUID,
    disclosure: Disclosure,
    up_to: int,
    redacted: list[int],
    digest: str,
    now: datetime,
    *,
    detail: str = "",
) -> None:
    pupil = records.get_pupil(pupil_id)
    code = disclosure.purpose_code
    pupil.record_disclosure(
        policy=records.policy,
        recipient=disclosure.recipient,
        purpose=code,
        purpose_detail=disclosure.purpose if code is DisclosurePurpose.OTHER else detail,
        legal_basis=disclosure.legal_basis,
        up_to_seq=up_to,
        redacted_seqs=redacted,
        export_digest=digest,
        recorded_by=disclosure.made_by,
        happened_on=now.date(),
        recorded_at=now,
    )
    records.save(pupil)
