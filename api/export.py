"""Verifiable exports (`chronicle-export/1`) of one pupil's history, and their disclosure record.

The bundle format is normative (DESIGN, Ledger §6; docs/verifiable-export.md). Every export
is itself recorded on the pupil as `RecordsDisclosed` with the bundle's digest; the bundle
covers entries 1 to the head at the moment of export, so it never contains its own
disclosure record (the next export will).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from api.application import PupilRecords
from crypto.bundle_check import FORMAT
from crypto.chain import GENESIS_PREV, chain_leaf
from crypto.jcs import canonical_json
from domain.errors import InvalidEntry
from domain.values import DisclosurePurpose, Recorder
from projections.ledger import Ledger, LedgerError


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
    digest = bundle_digest(bundle)
    _record_disclosure(records, pupil_id, disclosure, head.seq, sorted(redactions), digest, now)
    return Export(bundle, digest)


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
) -> None:
    pupil = records.get_pupil(pupil_id)
    code = disclosure.purpose_code
    pupil.record_disclosure(
        policy=records.policy,
        recipient=disclosure.recipient,
        purpose=code,
        purpose_detail=disclosure.purpose if code is DisclosurePurpose.OTHER else "",
        legal_basis=disclosure.legal_basis,
        up_to_seq=up_to,
        redacted_seqs=redacted,
        export_digest=digest,
        recorded_by=disclosure.made_by,
        happened_on=now.date(),
        recorded_at=now,
    )
    records.save(pupil)
