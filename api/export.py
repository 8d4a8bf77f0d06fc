"""Verifiable exports (`chronicle-export/2`) of one pupil's history, and their disclosure record.

The bundle format is normative (DESIGN, Ledger §6-8; docs/verifiable-export.md). Every export
is itself recorded on the pupil as `RecordsDisclosed` with the bundle's digest; the bundle
covers entries 1 to the head at the moment of export, so it never contains its own
disclosure record (the next export will). The last step seals the bundle: the trust's key
signs its manifest (`crypto.manifest`), which binds every top-level field — recipient,
purpose, legal basis, who exported it, time, policy, which entries are withheld and why, the
access log and the subject-access part — to the checkpoint the entries are anchored in.
(Version 1 called the recipient `requester`; version 2 calls it `recipient`.)

A **subject-access export** (`export_subject_access`) is the same bundle with two more
parts (docs/verifiable-export.md, "Subject-access exports"): `access_log`, the pupil's
access-log entries chained and anchored in the same signed checkpoint, and
`subject_access`, which names the request it answers and lists the entries and fields
holding third-party information for the DPO's redaction review (the catalogue's
`ENTRY_KINDS`).
Its `RecordsDisclosed` (purpose `subject_access`, the request's reference as detail) closes
the request's deadline.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select

from api.app.catalogue import ENTRY_KINDS
from api.app.visibility import Entry, third_party_fields
from api.application import PupilRecords, RecordEntry
from crypto.chain import GENESIS_PREV, chain_leaf
from crypto.jcs import canonical_json
from crypto.manifest import FORMAT, manifest_of
from domain.access import access_stream_id
from domain.errors import InvalidEntry, UnknownEntry
from domain.values import DisclosurePurpose, Recorder
from projections.ledger import Ledger, LedgerError, leaves

SUBJECT_ACCESS_BASIS = "UK GDPR art. 15 (right of access by the data subject)"


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


# Why an entry is withheld from this export (None: it is shown), given the entry.
Withhold = Callable[[RecordEntry], str | None]


def export_pupil(
    records: PupilRecords,
    ledger: Ledger,
    pupil_id: UUID,
    disclosure: Disclosure,
    redactions: dict[int, str] | None = None,
    withhold: Withhold | None = None,
) -> Export:
    """Build the pupil's bundle up to its head, anchored in a signed checkpoint, and record
    the disclosure. `redactions` are the exporter's own (seq -> reason); `withhold` is the
    visibility rule for the recipient. Refused (nothing recorded) if the domain refuses."""
    entries = records.entries(pupil_id)
    withheld = _withheld(entries, redactions or {}, withhold)
    bundle, up_to = _bundle(records, ledger, pupil_id, entries, disclosure, withheld)
    _seal(ledger, bundle)
    digest = bundle_digest(bundle)
    _record_disclosure(
        records, pupil_id, disclosure, up_to, sorted(withheld), digest, records.clock()
    )
    return Export(bundle, digest)


def _withheld(
    entries: list[RecordEntry], redactions: dict[int, str], withhold: Withhold | None
) -> dict[int, str]:
    _check_redactions(redactions, len(entries))
    found = dict(redactions)
    if withhold is not None:
        for entry in entries:
            if entry.seq not in found and (reason := withhold(entry)) is not None:
                found[entry.seq] = reason
    return found


def export_subject_access(
    records: PupilRecords,
    ledger: Ledger,
    pupil_id: UUID,
    made_by: Recorder,
    *,
    request_seq: int | None = None,
    recipient: str | None = None,
    redactions: dict[int, str] | None = None,
    withhold: Withhold | None = None,
) -> Export:
    """The pupil's bundle for a subject access request (the latest one unless `request_seq`
    names it), with the access log and the third-party review; recorded as a disclosure
    for purpose `subject_access`, which closes the request's deadline."""
    entries = records.entries(pupil_id)
    redactions = _withheld(entries, redactions or {}, withhold)
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
    _seal(ledger, bundle)
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
    """The shown entries with third-party information in a non-empty field, and why
    (the fields are the command catalogue's, `ENTRY_KINDS`)."""
    marks = []
    for event in events:
        if "payload" not in event:
            continue
        present = third_party_fields(Entry(event["type"], event["seq"], payload=event["payload"]))
        if present:
            why = ENTRY_KINDS[event["type"]].why
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
        "recipient": disclosure.recipient,
        "legal_basis": disclosure.legal_basis,
        "exported_by": {
            "staff_id": disclosure.made_by.staff_id,
            "role": str(disclosure.made_by.role),
        },
        "time": now.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "policy": records.policy.trust,
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


def _seal(ledger: Ledger, bundle: dict[str, Any]) -> None:
    """Add the manifest of the finished bundle and the trust's signature over it. The key
    that signs it must be the one that signed the bundle's checkpoint."""
    if ledger.public_key != bundle["public_key"]:
        raise LedgerError(
            "the latest checkpoint is signed by another key than the ledger's: run "
            "`chronicle ledger checkpoint` after the key change, then export again"
        )
    manifest = manifest_of(bundle)
    bundle["manifest"] = manifest
    bundle["manifest_signature"] = ledger.sign_manifest(manifest)


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
