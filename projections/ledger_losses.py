"""Acknowledged losses of the log: what two DPOs record after restoring an older backup.

A restored database holds less than the checkpoint journal outside it remembers: the
entries committed after the backup are gone, and the journal's checkpoints covering them
are no longer this database's history. `chronicle ledger verify` reports that as a loss
(`Loss`: the journalled checkpoints the database does not hold) and fails. Once two
different DPOs have acknowledged exactly that loss, verify reports it as acknowledged
(who, when, why) and no longer fails on it; any other mismatch still fails.

An acknowledgement is a signed record (`chronicle-loss/1`), signed with the trust's
checkpoint key over JCS(record) as purge records are:

    {"format": "chronicle-loss/1", "log": <log id>, "from_size": N, "to_size": M,
     "checkpoints": [{"size": s, "root": <hex>}, ...],   # exactly the ones excused
     "log_size": <the log's size when acknowledged>, "reason": <text, no personal data>,
     "acknowledged_by": <staff id>, "second": <staff id>, "acknowledged_at": <RFC 3339>}

It excuses only the listed journal checkpoints (size and root), never a range as such: a
later loss, or a different checkpoint of a listed size, is not excused. It is kept in the
database (`ledger_losses`) and appended to `CHRONICLE_HOME/ledger/losses.jsonl`, which
outlives the next restore; verify reads both.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import BigInteger, Column, MetaData, String, Table, Text, insert, select
from sqlalchemy.engine import Engine

from crypto.chain import checkpoint_signature_valid, log_id
from crypto.jcs import canonical_json
from crypto.signing import public_key_hex
from projections.journal import append_record, read_records
from projections.ledger import Ledger, SignedCheckpoint

LOSS_FORMAT = "chronicle-loss/1"
LOSS_JOURNAL = "losses.jsonl"  # beside checkpoints.jsonl in CHRONICLE_HOME/ledger/

metadata = MetaData()
losses = Table(
    "ledger_losses",
    metadata,
    Column("id", String(64), primary_key=True),  # SHA-256 of JCS(record)
    Column("from_size", BigInteger, nullable=False),
    Column("to_size", BigInteger, nullable=False),
    Column("acknowledged_at", String(40), nullable=False),
    Column("record", Text, nullable=False),
)


@dataclass(frozen=True)
class Loss:
    """Journalled checkpoints this database does not hold: its history after the
    checkpoint of size `from_size` (the newest it holds from before them; 0 if none) up to
    size `to_size` (the newest of them) is not the history the journal remembers."""

    from_size: int
    to_size: int
    checkpoints: tuple[tuple[int, str], ...]  # (size, root), by size

    def describe(self) -> str:
        sizes = ", ".join(str(s) for s, _ in self.checkpoints[:6])
        more = f" and {len(self.checkpoints) - 6} more" if len(self.checkpoints) > 6 else ""
        return (
            f"the journal holds {len(self.checkpoints)} checkpoint(s) this database does not "
            f"(sizes {sizes}{more}): the log after size {self.from_size} up to size "
            f"{self.to_size} is not in this database, as after restoring an older backup"
        )


@dataclass(frozen=True)
class LossRecord:
    """A signed acknowledgement of one `Loss`."""

    record: dict[str, Any]
    signature: str
    public_key: str

    @property
    def id(self) -> str:
        return hashlib.sha256(canonical_json(self.record)).hexdigest()

    @property
    def from_size(self) -> int:
        return int(self.record["from_size"])

    @property
    def to_size(self) -> int:
        return int(self.record["to_size"])

    def excuses(self, signed: SignedCheckpoint) -> bool:
        """Whether this acknowledgement lists this checkpoint (its size and root)."""
        body = signed.checkpoint
        return any(
            c.get("size") == body["size"] and c.get("root") == body["root"]
            for c in self.record.get("checkpoints", [])
        ) and (self.from_size < body["size"] <= self.to_size)

    def verifies(self, public_key: str | None) -> bool:
        """Signed by the trust's key (`public_key`), over a well-formed record of its log."""
        if public_key is None or public_key != self.public_key:
            return False
        r = self.record
        if r.get("format") != LOSS_FORMAT or r.get("log") != log_id(public_key):
            return False
        return checkpoint_signature_valid(self.public_key, r, self.signature)

    def as_json(self) -> dict[str, Any]:
        return {"record": self.record, "signature": self.signature, "public_key": self.public_key}

    def describe(self) -> str:
        r = self.record
        return (
            f"log after size {r['from_size']} up to size {r['to_size']} "
            f"({len(r['checkpoints'])} journalled checkpoint(s)) acknowledged as lost by "
            f"{r['acknowledged_by']} and {r['second']} at {r['acknowledged_at']}: "
            f"{r['reason']} (acknowledgement {self.id[:16]})"
        )


def sign_loss(
    key: Ed25519PrivateKey,
    loss: Loss,
    *,
    log_size: int,
    reason: str,
    by: str,
    second: str,
    at: datetime,
) -> LossRecord:
    public = public_key_hex(key)
    body = {
        "format": LOSS_FORMAT,
        "log": log_id(public),
        "from_size": loss.from_size,
        "to_size": loss.to_size,
        "checkpoints": [{"size": s, "root": r} for s, r in loss.checkpoints],
        "log_size": log_size,
        "reason": reason,
        "acknowledged_by": by,
        "second": second,
        "acknowledged_at": at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    return LossRecord(body, key.sign(canonical_json(body)).hex(), public)


class LossBook:
    """The acknowledgements of one installation: its table and its journal file."""

    def __init__(self, engine: Engine, ledger: Ledger, journal: Path | None) -> None:
        self._ledger = ledger
        self.journal = journal
        metadata.create_all(engine, checkfirst=True)

    @classmethod
    def beside(cls, engine: Engine, ledger: Ledger) -> LossBook:
        """The book whose journal sits beside the ledger's checkpoint journal."""
        journal = None if ledger.journal is None else ledger.journal.parent / LOSS_JOURNAL
        return cls(engine, ledger, journal)

    def record(self, acknowledgement: LossRecord) -> None:
        """Journal first (it outlives a restore), then the table; each once."""
        if self.journal is not None and not any(
            r.as_json() == acknowledgement.as_json() for r in self._journalled()
        ):
            append_record(self.journal, acknowledgement.as_json())
        with self._ledger.transaction(True) as session:
            known = session.execute(
                select(losses.c.id).where(losses.c.id == acknowledgement.id)
            ).first()
            if known is None:
                session.execute(
                    insert(losses).values(
                        id=acknowledgement.id,
                        from_size=acknowledgement.from_size,
                        to_size=acknowledgement.to_size,
                        acknowledged_at=acknowledgement.record["acknowledged_at"],
                        record=json.dumps(acknowledgement.as_json()),
                    )
                )

    def acknowledged(self) -> list[LossRecord]:
        """Every acknowledgement in the table or the journal, once each, oldest first
        (signatures are checked by the audit, which reports a bad one)."""
        with self._ledger.transaction(False) as session:
            stored = [
                _record(json.loads(r))
                for r in session.execute(
                    select(losses.c.record).order_by(losses.c.acknowledged_at)
                ).scalars()
            ]
        return _unique([*self._journalled(), *stored])

    def _journalled(self) -> list[LossRecord]:
        return read_loss_journal(self.journal)


def read_loss_journal(journal: Path | None) -> list[LossRecord]:
    """The acknowledgements in a loss journal (for a start-up check that has no ledger)."""
    found = []
    for data in read_records(journal):
        try:
            found.append(_record(data))
        except (KeyError, TypeError):
            continue  # not an acknowledgement: never one that excuses anything
    return _unique(found)


def excused(
    signed: SignedCheckpoint, acknowledgements: Iterable[LossRecord], public_key: str | None
) -> LossRecord | None:
    """The valid acknowledgement (signed by `public_key`) that lists this journalled
    checkpoint as lost, if any."""
    return next((a for a in acknowledgements if a.verifies(public_key) and a.excuses(signed)), None)


def _record(data: dict[str, Any]) -> LossRecord:
    if not isinstance(data["record"], dict):
        raise TypeError("not a loss record")
    return LossRecord(data["record"], str(data["signature"]), str(data["public_key"]))


def _unique(records: Iterable[LossRecord]) -> list[LossRecord]:
    seen: dict[str, LossRecord] = {}
    for r in records:
        seen.setdefault(r.signature, r)
    return sorted(seen.values(), key=lambda r: str(r.record.get("acknowledged_at", "")))
