"""Retention: legal holds, the two-person purge, signed purge records, and restore safety.

A purge is proposed by a data-protection officer and approved by a *different* person
(a DPO or trust admin). Refusals — a legal hold, not yet due without a recorded override,
already purged, the same person twice, a role that may not — change nothing but leave an
audit entry. Approval executes the purge as a recoverable state machine, each step
idempotent, so a crash (or a full disk) at any point is finished by the next start:

0. write the purge's intent (`retention_purging`: pupil, proposer, approver) and commit;
1. record the `RecordsPurged` tombstone (in the clear; no personal data);
2. bring the ledger up to the tombstone, and sign a purge record naming the pupil, the head
   sequence number, its log index and leaf hash, the time, proposer and approver (the same
   record every time: the time is the tombstone's, Ed25519 signatures are deterministic);
3. append the record to the purge journal outside the database (fsync; not twice), and
   to the table;
4. destroy the pupil's data key everywhere (database row, page and WAL scrubbed, caches);
5. let the read models drop the pupil's rows;
6. delete the intent.

`resume()` (run by every start of the service and every `chronicle retention` verb, and by
`reapply-purges`) finishes each purge whose intent is still there: if its tombstone was
recorded it does steps 2-6, otherwise nothing of the purge happened and the intent is
dropped. So a pupil that reads as purged always has its key destroyed once the
installation has started again. `reapply` re-applies every journalled purge after a
database is restored from a backup taken before it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, NoReturn
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    delete,
    insert,
    select,
)
from sqlalchemy.orm import Session

from api import upn_index
from api.application import ConflictingUpdate, PupilRecords
from crypto.chain import checkpoint_signature_valid
from crypto.errors import KeyShredded
from crypto.jcs import canonical_json
from crypto.mapper import event_type
from crypto.signing import public_key_hex
from domain.errors import DomainError, PupilPurged, UnknownPupil
from domain.events import RecordsPurged
from domain.policy import RecordClass
from domain.pupil.governance import purge_tombstone
from domain.values import Recorder, Role
from projections.journal import append_record, read_records
from projections.ledger import Ledger
from projections.retention_schedule import RetentionReader, RetentionSchedule
from projections.runner import ProjectionRunner

PROPOSERS = frozenset({Role.DPO})
APPROVERS = frozenset({Role.DPO, Role.TRUST_ADMIN})
PURGE_FORMAT = "chronicle-purge/1"
_PURGED_TOPIC = get_topic(RecordsPurged)
# The period a refusal names: which kind of record holds the purge back.
_PERIODS: dict[RecordClass, str] = {
    "sen_file": "the SEN file's retention period",
    "child_protection": "the child protection retention period, which ends later",
}

metadata = MetaData()
proposals = Table(
    "retention_proposals",
    metadata,
    Column("pupil_id", Uuid, primary_key=True),
    Column("proposed_by", String(80), nullable=False),
    Column("proposed_at", DateTime(timezone=True), nullable=False),
    # Why an early purge was allowed; documented as "no personal data" (it stays in the clear).
    Column("override_reason", Text, nullable=True),
)
audit_log = Table(
    "retention_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("action", String(40), nullable=False),
    Column("pupil_id", Uuid, nullable=False),
    Column("actor", String(80), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("detail", Text, nullable=False),
)
# Purges under way (step 0 above): what `resume()` finishes after a crash.
purging = Table(
    "retention_purging",
    metadata,
    Column("pupil_id", Uuid, primary_key=True),
    Column("proposed_by", String(80), nullable=False),
    Column("approved_by", String(80), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
)
purges = Table(
    "retention_purges",
    metadata,
    Column("pupil_id", Uuid, primary_key=True),
    Column("purged_at", String(40), nullable=False),
    Column("record", Text, nullable=False),
)


# The purge journal's file name, beside the checkpoint journal (CHRONICLE_HOME/ledger/).
PURGE_JOURNAL = "purges.jsonl"


class RetentionRefused(DomainError):
    """A retention step was refused; only an audit entry was written."""


@dataclass(frozen=True)
class PurgeRecord:
    """The signed statement that a pupil's records were destroyed."""

    record: dict[str, Any]
    signature: str
    public_key: str

    @property
    def pupil_id(self) -> UUID:
        return UUID(self.record["pupil"])

    def as_json(self) -> dict[str, Any]:
        return {"record": self.record, "signature": self.signature, "public_key": self.public_key}

    def verifies(self, public_key: str | None = None) -> bool:
        """True when the trust's key signed this record (and it is the expected key)."""
        if public_key is not None and public_key != self.public_key:
            return False
        return checkpoint_signature_valid(self.public_key, self.record, self.signature)


@dataclass(frozen=True)
class _Facts:
    """What a purge is decided on (see `Retention._facts`)."""

    pupil_id: UUID
    head_version: int
    holds: dict[UUID, date]
    due: date
    governed_by: RecordClass


class Retention:
    """The DPO's operations on one installation."""

    def __init__(
        self,
        records: PupilRecords,
        ledger: Ledger,
        signing_key: Ed25519PrivateKey,
        journal: Path,
        after_purge: Callable[[], object] | None = None,
        on_step: Callable[[str], None] | None = None,
    ) -> None:
        self.records, self.ledger, self.journal = records, ledger, journal
        self._key = signing_key
        self._after_purge = after_purge
        # Called after each step of a purge with its name (tests crash the purge there).
        self._on_step = on_step or (lambda step: None)
        metadata.create_all(records.datastore.engine, checkfirst=True)
        # Holds come from the retention schedule, brought up to date before each check.
        self._schedule = ProjectionRunner(records, [RetentionSchedule(records.policy)])

    # ----- the two-person purge ---------------------------------------------------------

    def propose(self, pupil_id: UUID, by: Recorder, override: str | None = None) -> date:
        """Propose a purge; returns the retention due date. Refusals are audited."""
        self._refuse_unless(
            by.role in PROPOSERS,
            "propose",
            pupil_id,
            by,
            f"only a data-protection officer may propose a purge, not {by.role}",
        )
        due = self._check_purgeable("propose", self._facts("propose", pupil_id, by), by, override)
        with self.records.datastore.transaction(True) as session:
            session.execute(delete(proposals).where(proposals.c.pupil_id == pupil_id))
            session.execute(
                insert(proposals).values(
                    pupil_id=pupil_id,
                    proposed_by=by.staff_id,
                    proposed_at=self.records.clock(),
                    override_reason=override,
                )
            )
        self._audit(
            "propose",
            pupil_id,
            by,
            "done",
            "due for purge" if not override else f"before the due date; override: {override}",
        )
        return due

    def approve(self, pupil_id: UUID, by: Recorder) -> PurgeRecord:
        """Approve a proposed purge and carry it out (see the module's steps)."""
        self._refuse_unless(
            by.role in APPROVERS,
            "approve",
            pupil_id,
            by,
            f"a purge is approved by a DPO or trust admin, not {by.role}",
        )
        proposal = self._proposal(pupil_id)
        self._refuse_unless(
            proposal is not None,
            "approve",
            pupil_id,
            by,
            "there is no purge proposal for this pupil: a DPO must propose it first",
        )
        assert proposal is not None
        proposer, override = proposal
        self._refuse_unless(
            proposer != by.staff_id,
            "approve",
            pupil_id,
            by,
            "the person who proposed a purge cannot approve it: a second person must",
        )
        facts = self._facts("approve", pupil_id, by)
        self._check_purgeable("approve", facts, by, override)
        # The signed purge record is the account of the approval: no audit line outlives it.
        return self._execute(facts, proposer, by, override)

    def _execute(
        self, facts: _Facts, proposer: str, by: Recorder, override: str | None
    ) -> PurgeRecord:
        now = self.records.clock()
        tombstone = purge_tombstone(
            pupil_id=facts.pupil_id,
            head_version=facts.head_version,
            holds_in_force=facts.holds,
            proposed_by=proposer,
            approved_by=by.staff_id,
            reason="early purge (override recorded)" if override else "end of retention",
            recorded_by=by,
            happened_on=now.date(),
            recorded_at=now,
        )
        self._intend(facts.pupil_id, proposer, by.staff_id, now)
        try:
            self.records.save(tombstone)
        except (IntegrityError, ConflictingUpdate):
            self._forget_intent(facts.pupil_id)
            self._refuse(
                "approve",
                facts.pupil_id,
                by,
                "the record changed while the purge was being approved (an entry was added): "
                "nothing was purged; check the record and approve again",
            )
        self._on_step("tombstone")
        return self._seal(facts.pupil_id, proposer, by.staff_id, now)

    def seal_recorded_purge(self, pupil_id: UUID) -> PurgeRecord:
        """Finish a purge whose tombstone is already recorded (one imported from a former
        system, or the demo's former pupils): sign, journal, destroy the key."""
        stored = self.records.stored_events(pupil_id)
        if not stored or event_type(stored[-1].topic) != "RecordsPurged":
            raise RetentionRefused(f"pupil {pupil_id} has no recorded purge to seal")
        tombstone = json.loads(self.records.sealing_mapper.committed(stored[-1]).payload)
        recorded_at = datetime.fromisoformat(tombstone["recorded_at"])
        return self._seal(pupil_id, tombstone["proposed_by"], tombstone["approved_by"], recorded_at)

    def _seal(self, pupil_id: UUID, proposer: str, approver: str, at: datetime) -> PurgeRecord:
        """Sign the purge record for the pupil's head (its tombstone), journal it, apply it."""
        self.ledger.integrate()
        head = self.ledger.head(pupil_id)
        assert head is not None
        body = {
            "format": PURGE_FORMAT,
            "pupil": str(pupil_id),
            "head_seq": head.seq,
            "log_index": head.log_index,
            "head_leaf_hash": head.leaf_hash.hex(),
            "purged_at": at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "proposed_by": proposer,
            "approved_by": approver,
        }
        record = PurgeRecord(
            body, self._key.sign(canonical_json(body)).hex(), public_key_hex(self._key)
        )
        self._journal(record)
        self._on_step("journal")
        self._apply(record)
        self._forget_intent(pupil_id)
        return record

    # ----- finishing what a crash left --------------------------------------------------

    def _intend(self, pupil_id: UUID, proposer: str, approver: str, at: datetime) -> None:
        with self.records.datastore.transaction(True) as session:
            session.execute(delete(purging).where(purging.c.pupil_id == pupil_id))
            session.execute(
                insert(purging).values(
                    pupil_id=pupil_id, proposed_by=proposer, approved_by=approver, started_at=at
                )
            )
        self._on_step("intent")

    def _forget_intent(self, pupil_id: UUID) -> None:
        with self.records.datastore.transaction(True) as session:
            session.execute(delete(purging).where(purging.c.pupil_id == pupil_id))

    def interrupted(self) -> list[UUID]:
        """Pupils whose purge was started and not finished (a crash, a full disk)."""
        with self.records.datastore.transaction(False) as session:
            return list(session.execute(select(purging.c.pupil_id)).scalars())

    def resume(self) -> list[tuple[UUID, str]]:
        """Finish every purge a crash interrupted; (pupil, what was done) for each: "purged"
        when its tombstone was recorded (the key is destroyed now), "not started" when it
        was not (nothing of the purge had happened; the proposal stands)."""
        done = []
        for pupil_id in self.interrupted():
            head = self.records.recorder.select_events(pupil_id, desc=True, limit=1)
            if head and head[0].topic == _PURGED_TOPIC:
                self.seal_recorded_purge(pupil_id)
                done.append((pupil_id, "purged"))
            else:
                self._forget_intent(pupil_id)
                done.append((pupil_id, "not started"))
        return done

    def _apply(self, record: PurgeRecord) -> None:
        with self.records.datastore.transaction(True) as session:
            session.execute(delete(purges).where(purges.c.pupil_id == record.pupil_id))
            session.execute(
                insert(purges).values(
                    pupil_id=record.pupil_id,
                    purged_at=record.record["purged_at"],
                    record=json.dumps(record.as_json()),
                )
            )
            session.execute(delete(proposals).where(proposals.c.pupil_id == record.pupil_id))
            # Nothing pupil-specific stays but the signed purge record (which names the
            # proposer and approver): the pupil's audit lines go with the purge.
            session.execute(delete(audit_log).where(audit_log.c.pupil_id == record.pupil_id))
            upn_index.forget(session, record.pupil_id)  # the keyed hash of the pupil's UPN
        self._on_step("record")
        if self.records.data_keys.shredded_at(record.pupil_id) is None:
            self.records.data_keys.shred(record.pupil_id, self.records.clock())
        self._on_step("key")
        if self._after_purge is not None:
            self._after_purge()
        self._on_step("read_models")

    # ----- restore safety ---------------------------------------------------------------

    def journalled(self) -> list[PurgeRecord]:
        return read_journal(self.journal)

    def unapplied(self) -> list[PurgeRecord]:
        """Journalled purges whose pupil still has a live data key in this database."""
        return unapplied_purges(self.records, self.journal)

    def reapply(self) -> list[PurgeRecord]:
        """Finish every journalled purge this database does not reflect (after a crash or a
        restore from an older backup). Records that fail their signature are refused."""
        done = []
        for record in self.unapplied():
            if not record.verifies(public_key_hex(self._key)):
                raise RetentionRefused(
                    f"the purge journal's record for pupil {record.pupil_id} is not signed by "
                    "this trust's key: the journal was altered; nothing was re-applied"
                )
            self._apply(record)
            done.append(record)
        return done

    def purge_records(self) -> list[PurgeRecord]:
        with self.records.datastore.transaction(False) as session:
            rows = session.execute(select(purges.c.record).order_by(purges.c.purged_at)).scalars()
            return [_record(json.loads(r)) for r in rows]

    def audit_entries(self, pupil_id: UUID | None = None) -> list[dict[str, Any]]:
        query = select(audit_log).order_by(audit_log.c.id)
        if pupil_id is not None:
            query = query.where(audit_log.c.pupil_id == pupil_id)
        with self.records.datastore.transaction(False) as session:
            return [dict(row._mapping) for row in session.execute(query)]

    # ----- internals --------------------------------------------------------------------

    def _facts(self, action: str, pupil_id: UUID, by: Recorder) -> _Facts:
        """What the purge rules need, read in time independent of the record's length: the
        head entry (clear metadata, one indexed row), the legal holds in force (the retention
        schedule, caught up first, so it has applied every entry up to that head) and the
        date of birth (entry 1, the only entry decrypted). The due date is the later of the
        periods of the kinds of record it holds (the schedule says whether it holds a
        restricted entry, which makes it a child protection record too)."""
        head = self.records.recorder.select_events(pupil_id, desc=True, limit=1)
        if not head:
            raise UnknownPupil(pupil_id)
        if head[0].topic == _PURGED_TOPIC:
            tombstone = json.loads(self.records.sealing_mapper.committed(head[0]).payload)
            self._refuse(action, pupil_id, by, str(PupilPurged(pupil_id, tombstone["happened_on"])))
        self._schedule.catch_up()
        entry = RetentionReader(self.records).entry(pupil_id)
        holds = {} if entry is None else {h.hold_id: h.placed_on for h in entry.holds}
        (first,) = self.records.recorder.select_events(pupil_id, lte=1)
        try:
            registered = json.loads(self.records.sealing_mapper.committed(first).payload)
        except KeyShredded as e:
            self._refuse(action, pupil_id, by, str(PupilPurged(pupil_id, e.shredded_at.date())))
        classes: tuple[RecordClass, ...] = ()
        if entry is not None and entry.child_protection_due_on is not None:
            classes = ("child_protection",)
        born = date.fromisoformat(registered["date_of_birth"])
        governed_by, due = self.records.policy.retention_governs(born, classes)
        return _Facts(pupil_id, head[0].originator_version, holds, due, governed_by)

    def _check_purgeable(
        self, action: str, facts: _Facts, by: Recorder, override: str | None
    ) -> date:
        if facts.holds:
            placed = min(facts.holds.values())
            self._refuse(
                action,
                facts.pupil_id,
                by,
                f"a legal hold has been in force since {placed}: lift it before purging",
            )
        today = self.records.clock().date()
        if facts.due > today and not (override and override.strip()):
            self._refuse(
                action,
                facts.pupil_id,
                by,
                f"the records are not due for purging until the end of {facts.due:%B %Y} "
                f"({_PERIODS[facts.governed_by]}); to purge earlier, give --override with the "
                "reason (it is recorded)",
                audited="not yet due for purging, and no override",
            )
        return facts.due

    def _proposal(self, pupil_id: UUID) -> tuple[str, str | None] | None:
        with self.records.datastore.transaction(False) as session:
            row = session.execute(
                select(proposals.c.proposed_by, proposals.c.override_reason).where(
                    proposals.c.pupil_id == pupil_id
                )
            ).first()
        return None if row is None else (row[0], row[1])

    def _refuse_unless(
        self, ok: bool, action: str, pupil_id: UUID, by: Recorder, message: str
    ) -> None:
        if not ok:
            self._refuse(action, pupil_id, by, message)

    def _refuse(
        self,
        action: str,
        pupil_id: UUID,
        by: Recorder,
        message: str,
        *,
        audited: str | None = None,
    ) -> NoReturn:
        """Refuse, with an audit line: `audited` when the message quotes something the
        audit must not keep (the due date, which would give the birthday's month away)."""
        self._audit(action, pupil_id, by, "refused", audited or message)
        raise RetentionRefused(message)

    def _audit(self, action: str, pupil_id: UUID, by: Recorder, outcome: str, detail: str) -> None:
        with self.records.datastore.transaction(True) as session:
            audit_row(session, self.records.clock(), action, pupil_id, by, outcome, detail)

    def _journal(self, record: PurgeRecord) -> None:
        """Append the record to the purge journal, unless a resumed purge already did."""
        if any(r.as_json() == record.as_json() for r in self.journalled()):
            return
        append_record(self.journal, record.as_json())


def create_tables(engine: Any) -> None:
    """The retention tables (proposals, audit, purge records), if missing."""
    metadata.create_all(engine, checkfirst=True)


def audit_row(
    session: Session,
    at: datetime,
    action: str,
    pupil_id: UUID,
    by: Recorder,
    outcome: str,
    detail: str,
) -> None:
    """One line in `retention_audit`, in the caller's transaction (no personal data in
    `detail`, and never a due date: it would give away the date of birth)."""
    session.execute(
        insert(audit_log).values(
            at=at,
            action=action,
            pupil_id=pupil_id,
            actor=f"{by.staff_id} ({by.role})",
            outcome=outcome,
            detail=detail,
        )
    )


def _record(data: dict[str, Any]) -> PurgeRecord:
    return PurgeRecord(data["record"], data["signature"], data["public_key"])


def read_journal(journal: Path) -> list[PurgeRecord]:
    return [_record(data) for data in read_records(journal)]


def unapplied_purges(records: PupilRecords, journal: Path) -> list[PurgeRecord]:
    """Journalled purges whose pupil still has a live data key in `records`' database, and
    that no interrupted purge accounts for (`Retention.resume` finishes those)."""
    journalled = read_journal(journal)
    live = records.data_keys.live([r.pupil_id for r in journalled])
    if live:
        create_tables(records.datastore.engine)
        with records.datastore.transaction(False) as session:
            live -= set(session.execute(select(purging.c.pupil_id)).scalars())
    return [r for r in journalled if r.pupil_id in live]


def unapplied_purges_message(records: list[PurgeRecord]) -> str:
    pupils = ", ".join(str(r.pupil_id) for r in records[:5])
    more = f" and {len(records) - 5} more" if len(records) > 5 else ""
    return (
        f"{len(records)} journalled purge(s) are not applied in this database (pupils {pupils}"
        f"{more}), as after restoring an older backup: run `chronicle retention "
        "reapply-purges` before starting Chronicle"
    )
