"""The ledger: per-pupil chains and the trust-wide RFC 9162 Merkle log, with signed checkpoints.

It follows the event log by notification id and needs no keys: each stored event's
commitment is in the clear (docs/encryption.md). Progress is the highest notification id
integrated, stored in the same transaction as the leaves it produced, so a crash neither
skips nor double-counts; notification ids may skip numbers (PostgreSQL after a rolled-back
insert) and that is harmless because nothing assumes they are contiguous.

Tables: `ledger_leaves` (one row per event, in log order), `ledger_nodes` (every complete
subtree hash, so roots and proofs cost O(log n) reads), `ledger_checkpoints` (signed).
Checkpoints are also appended to a journal file outside the database, so a later rewrite of
history is caught by a consistency check against them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import ApplicationRecorder
from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Select,
    String,
    Table,
    Text,
    Uuid,
    and_,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    tuple_,
    union_all,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from crypto.chain import GENESIS_PREV, Checkpoint, chain_leaf, log_id, sign_checkpoint
from crypto.envelope import stored_commitment
from crypto.errors import CryptoError
from crypto.manifest import sign_manifest
from crypto.mapper import event_type
from crypto.merkle import (
    Node,
    NodeKey,
    append_leaves,
    consistency_proof,
    inclusion_proof,
    tree_root,
)
from crypto.signing import public_key_hex
from projections.bulk import bulk_write
from projections.journal import HeldJournal, JournalError, locked, read_journal_file

metadata = MetaData()
leaves = Table(
    "ledger_leaves",
    metadata,
    Column("log_index", BigInteger, primary_key=True, autoincrement=False),
    Column("notification_id", BigInteger, nullable=False, unique=True),
    Column("pupil_id", Uuid, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("type", String(80), nullable=False),
    Column("commitment", LargeBinary, nullable=False),
    Column("prev", LargeBinary, nullable=False),
    Column("leaf_hash", LargeBinary, nullable=False),
    Index("ledger_leaves_pupil_seq", "pupil_id", "seq", unique=True),
)
nodes = Table(
    "ledger_nodes",
    metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary, nullable=False),
)
checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", String(64), nullable=False),
    Column("issued_at", String(40), nullable=False),
    Column("log", String(80), nullable=False),
    Column("signature", String(128), nullable=False),
    Column("body", Text, nullable=False),
)

Transaction = Callable[[bool], AbstractContextManager[Session]]
_ADVISORY_LOCK = 0x43485231  # "CHR1": one ledger integrator at a time on PostgreSQL


class LedgerError(Exception):
    """The event log cannot be integrated as it stands; the message says where."""


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    signature: str
    public_key: str

    def as_json(self) -> dict[str, Any]:
        return {
            "checkpoint": dict(self.checkpoint),
            "signature": self.signature,
            "public_key": self.public_key,
        }


@dataclass(frozen=True)
class Head:
    """The latest event of a pupil in the log."""

    seq: int
    log_index: int
    leaf_hash: bytes


class SqlNodeStore:
    """`crypto.merkle.NodeStore` over the ledger tables, inside the caller's session.

    Level 0 (the leaf hashes) is read from `ledger_leaves` by log index, so each leaf hash
    is stored once; `ledger_nodes` holds the complete subtrees above it.
    """

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, level: int, index: int) -> bytes:
        found = self.get_many([(level, index)])
        if (level, index) not in found:
            raise KeyError((level, index))
        return found[(level, index)]

    def get_many(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        """Fetch nodes in one round trip per 400 keys (a proof needs one): leaf hashes
        from `ledger_leaves`, the rest from `ledger_nodes`, joined with UNION ALL."""
        found: dict[NodeKey, bytes] = {}
        for chunk in _chunks(list(keys), 400):
            level0 = [ix for lv, ix in chunk if lv == 0]
            by_level: dict[int, list[int]] = {}
            for lv, ix in chunk:
                if lv > 0:
                    by_level.setdefault(lv, []).append(ix)
            parts: list[Select[Any]] = []
            if level0:
                parts.append(
                    select(literal(0).label("level"), leaves.c.log_index, leaves.c.leaf_hash).where(
                        leaves.c.log_index.in_(level0)
                    )
                )
            if by_level:
                # One IN list per level, OR-ed: SQLite uses the primary key for this shape
                # but scans the table for a row-value IN.
                condition = or_(
                    *(
                        and_(nodes.c.level == lv, nodes.c.idx.in_(ixs))
                        for lv, ixs in by_level.items()
                    )
                )
                parts.append(select(nodes.c.level, nodes.c.idx, nodes.c.hash).where(condition))
            if not parts:
                continue
            query = parts[0] if len(parts) == 1 else union_all(*parts)
            found.update({(lv, ix): bytes(h) for lv, ix, h in self.session.execute(query)})
        return found

    def put_many(self, items: Iterable[Node]) -> None:
        """Store the nodes above level 0 (leaf hashes are written with their leaf rows)."""
        rows = [{"level": lv, "idx": ix, "hash": h} for lv, ix, h in items if lv > 0]
        bulk_write(self.session, nodes, rows)


class Ledger:
    """Integrates stored events into chains and the Merkle log; issues and serves checkpoints."""

    def __init__(
        self,
        *,
        engine: Engine,
        transaction: Transaction,
        recorder: ApplicationRecorder,
        events_table: Table,
        signing_key: Ed25519PrivateKey | None,
        journal: Path | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self.transaction = transaction
        self.recorder = recorder
        self.events = events_table
        self._signing_key = signing_key
        self.journal = journal
        self._clock = clock
        self._lock = threading.Lock()
        self.public_key = public_key_hex(signing_key) if signing_key else None
        self.journal_notices: list[str] = []
        self._journal_behind = False  # a journal append failed: reconcile at the next one
        metadata.create_all(engine, checkfirst=True)

    # ----- integration ------------------------------------------------------------------

    def integrate(self, batch: int = 5000) -> int:
        """Integrate every stored event not yet in the log; return how many were added."""
        added = 0
        while True:
            with self._lock:
                count = self._integrate_batch(batch)
            added += count
            if count < batch:
                return added

    def _integrate_batch(self, batch: int) -> int:
        with self.transaction(True) as session:
            if self._engine.dialect.name == "postgresql":
                session.execute(text(f"SELECT pg_advisory_xact_lock({_ADVISORY_LOCK})"))
            elif self._engine.dialect.name == "sqlite":
                # The write lock before the position is read: the driver begins a
                # transaction only at the first insert, so two processes (a service's
                # follower, `ledger verify`) could both read one position and insert the
                # same leaves (a UNIQUE failure in whichever commits second).
                session.execute(text("BEGIN IMMEDIATE"))
            position, last = session.execute(
                select(
                    func.coalesce(func.max(leaves.c.notification_id), 0),
                    func.coalesce(func.max(leaves.c.log_index), -1),
                )
            ).one()
            size = last + 1
            # Core, not the recorder's ORM query: this is the hot loop of integration.
            e = self.events.c
            notifications = session.execute(
                select(e.id, e.originator_id, e.originator_version, e.topic, e.state)
                .where(e.id > position)
                .order_by(e.id)
                .limit(batch)
            ).all()
            if not notifications:
                return 0
            rows = self._chain(session, notifications, size)
            bulk_write(session, leaves, rows)
            append_leaves(SqlNodeStore(session), size, [r["leaf_hash"] for r in rows])
            return len(rows)

    def _chain(
        self, session: Session, notifications: Sequence[Any], size: int
    ) -> list[dict[str, Any]]:
        firsts: dict[UUID, int] = {}
        for n in notifications:
            firsts.setdefault(n.originator_id, n.originator_version)
        heads = self._leaves_at(session, [(p, s - 1) for p, s in firsts.items() if s > 1])
        rows: list[dict[str, Any]] = []
        for offset, n in enumerate(notifications):
            pupil, seq = _uuid(n.originator_id), n.originator_version
            if seq == 1:
                prev = bytes.fromhex(GENESIS_PREV)
            elif (pupil, seq - 1) in heads:
                prev = heads[(pupil, seq - 1)]
            else:
                raise LedgerError(
                    f"event {seq} of pupil {pupil} (notification {n.id}) follows no event "
                    f"{seq - 1} in the log: an event is missing from the store"
                )
            try:
                commitment = stored_commitment(n.state)
            except CryptoError as e:
                raise LedgerError(f"notification {n.id} of pupil {pupil}: {e}") from None
            kind = event_type(n.topic)
            leaf = chain_leaf(str(pupil), seq, kind, commitment.hex(), prev.hex())
            heads[(pupil, seq)] = leaf
            rows.append(
                {
                    "log_index": size + offset,
                    "notification_id": n.id,
                    "pupil_id": pupil,
                    "seq": seq,
                    "type": kind,
                    "commitment": commitment,
                    "prev": prev,
                    "leaf_hash": leaf,
                }
            )
        return rows

    def _leaves_at(
        self, session: Session, keys: list[tuple[UUID, int]]
    ) -> dict[tuple[UUID, int], bytes]:
        found: dict[tuple[UUID, int], bytes] = {}
        for chunk in _chunks(keys, 500):
            result = session.execute(
                select(leaves.c.pupil_id, leaves.c.seq, leaves.c.leaf_hash).where(
                    tuple_(leaves.c.pupil_id, leaves.c.seq).in_(chunk)
                )
            )
            found.update({(_uuid(p), s): bytes(h) for p, s, h in result})
        return found

    # ----- reading the log --------------------------------------------------------------

    def size(self) -> int:
        with self.transaction(False) as session:
            last = session.execute(select(func.max(leaves.c.log_index))).scalar()
        return 0 if last is None else int(last) + 1

    def position(self) -> int:
        with self.transaction(False) as session:
            value = session.execute(select(func.max(leaves.c.notification_id))).scalar()
        return int(value or 0)

    def root(self, size: int) -> bytes:
        with self.transaction(False) as session:
            return tree_root(SqlNodeStore(session), size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        with self.transaction(False) as session:
            return inclusion_proof(SqlNodeStore(session), index, size)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        with self.transaction(False) as session:
            return consistency_proof(SqlNodeStore(session), old_size, new_size)

    def head(self, pupil_id: UUID) -> Head | None:
        with self.transaction(False) as session:
            row = session.execute(
                select(leaves.c.seq, leaves.c.log_index, leaves.c.leaf_hash)
                .where(leaves.c.pupil_id == pupil_id)
                .order_by(leaves.c.seq.desc())
                .limit(1)
            ).first()
        return None if row is None else Head(row[0], row[1], bytes(row[2]))

    def chain(self, pupil_id: UUID) -> list[bytes]:
        """The pupil's leaf hashes in sequence order."""
        with self.transaction(False) as session:
            rows = session.execute(
                select(leaves.c.leaf_hash)
                .where(leaves.c.pupil_id == pupil_id)
                .order_by(leaves.c.seq)
            )
            return [bytes(h) for (h,) in rows]

    @contextmanager
    def snapshot(self) -> Iterator[Session]:
        """One read transaction that pins a consistent state of the database for every read
        of this ledger (and of its recorder) made inside it: the datastore's transactions
        nest, so they all join this one. On PostgreSQL it is REPEATABLE READ, READ ONLY; on
        SQLite a deferred transaction begun explicitly (the driver begins none for reads, so
        each read would otherwise see the newest commit), whose first read pins the WAL
        snapshot. Nothing is written; a long snapshot on SQLite holds back WAL checkpoints
        until it ends. (`chronicle ledger verify` reads through it.)"""
        with self.transaction(False) as session:
            dialect = self._engine.dialect.name
            if dialect == "postgresql":
                session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
            elif dialect == "sqlite":
                session.execute(text("BEGIN DEFERRED"))
            session.execute(select(func.count()).select_from(checkpoints)).scalar()  # pins it
            yield session

    # ----- checkpoints ------------------------------------------------------------------

    def checkpoint(self) -> SignedCheckpoint:
        """Integrate, then sign a checkpoint of the whole log (reusing it if nothing changed)."""
        if self._signing_key is None or self.public_key is None:
            raise LedgerError("no checkpoint signing key: run `chronicle init`")
        self.integrate()
        with self._lock:
            latest = self.latest_checkpoint()
            size = self.size()
            if latest is not None and latest.checkpoint["size"] == size:
                return latest
            body: Checkpoint = {
                "log": log_id(self.public_key),
                "size": size,
                "root": self.root(size).hex(),
                "issued_at": _rfc3339(self._clock()),
            }
            signed = SignedCheckpoint(
                body, sign_checkpoint(self._signing_key, body), self.public_key
            )
            # The journal is locked from before the commit until its line is written, so
            # a start reconciling the journal never finds this checkpoint half-done.
            try:
                with locked(self.journal) if self.journal else nullcontext() as journal:
                    with self.transaction(True) as session:
                        session.execute(
                            insert(checkpoints).values(
                                size=size,
                                root=body["root"],
                                issued_at=body["issued_at"],
                                log=body["log"],
                                signature=signed.signature,
                                body=json.dumps(signed.as_json()),
                            )
                        )
                    if journal is not None:
                        self._append_journal(signed, journal)
            except JournalError as e:  # the journal could not even be opened
                raise LedgerError(f"{e} (no checkpoint was signed)") from None
            return signed

    def sign_manifest(self, manifest: dict[str, Any]) -> str:
        """The trust's Ed25519 signature (hex) over JCS(manifest) of an export, with the
        checkpoint key (`crypto.manifest.sign_manifest`, which signs nothing but manifests)."""
        if self._signing_key is None:
            raise LedgerError("no checkpoint signing key: run `chronicle init`")
        return sign_manifest(self._signing_key, manifest)

    def latest_checkpoint(self) -> SignedCheckpoint | None:
        with self.transaction(False) as session:
            body = session.execute(
                select(checkpoints.c.body).order_by(checkpoints.c.size.desc()).limit(1)
            ).scalar()
        return None if body is None else _signed_from_json(json.loads(body))

    def checkpoints(self) -> list[SignedCheckpoint]:
        with self.transaction(False) as session:
            bodies = session.execute(
                select(checkpoints.c.body).order_by(checkpoints.c.size)
            ).scalars()
            return [_signed_from_json(json.loads(b)) for b in bodies]

    def journal_checkpoints(self) -> list[SignedCheckpoint]:
        """The checkpoints in the journal, oldest first. Torn lines are set aside and said
        once (`projections.journal`); that line, and any record that is not a checkpoint,
        is kept in `journal_notices` for the caller to show."""
        found = read_journal_file(self.journal)
        if found.notice:
            self.journal_notices.append(found.notice)
        signed = []
        for number, record in enumerate(found.records, start=1):
            try:
                signed.append(_signed_from_json(record))
            except (KeyError, TypeError):
                self.journal_notices.append(
                    f"journal {self.journal}: record {number} is not a signed checkpoint (skipped)"
                )
        return signed

    def reconcile_journal(self) -> list[SignedCheckpoint]:
        """Append to the journal every database checkpoint it lacks (a crash or a full disk
        between the database commit and the journal append), oldest first; return them.
        The database is read under the journal's lock, so a checkpoint being signed by
        another process at that moment is not taken for a missing one."""
        if self.journal is None:
            return []
        with locked(self.journal) as journal:
            return self._rejournal(journal)

    def _rejournal(self, journal: HeldJournal) -> list[SignedCheckpoint]:
        return rejournal_held(journal, self.checkpoints())

    def _append_journal(self, signed: SignedCheckpoint, journal: HeldJournal) -> None:
        """After the database commit, under the journal's lock. A crash before the line is
        written is repaired by `reconcile_journal` at the next start; a failed append (a
        full disk) by the next checkpoint of this process too, which journals what the
        failed one did not."""
        try:
            if self._journal_behind:
                self._rejournal(journal)
            else:
                journal.append([signed.as_json()])
            self._journal_behind = False
        except JournalError as e:
            self._journal_behind = True
            raise LedgerError(
                f"{e} (the checkpoint of size {signed.checkpoint['size']} is stored in the "
                "database; it is journalled at the next checkpoint or start)"
            ) from None


class Stop(Protocol):
    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class LedgerFollower:
    """Keeps the ledger current and signs checkpoints on a schedule.

    Polls the event log (works on SQLite and PostgreSQL alike) every `interval` seconds and
    integrates what is new at once; signs a checkpoint over it at most every `sign_every`
    seconds (reads write access records, so under load there is something new at every
    poll: signing each time would cost a commit and a journal fsync per poll). A commit is
    therefore in a signed checkpoint within about `sign_every + interval` of committing.
    Run it in the foreground (`chronicle ledger follow`, its own process) or as a thread
    with `start()`.
    """

    def __init__(
        self,
        ledger: Ledger,
        interval: float = 0.05,
        on_checkpoint: Callable[[SignedCheckpoint], object] | None = None,
        sign_every: float = 0.2,
    ) -> None:
        self.ledger, self.interval, self.on_checkpoint = ledger, interval, on_checkpoint
        self.sign_every = sign_every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: Exception | None = None

    def run(self, stop: Stop) -> None:
        """Follow until `stop` is set; an error is kept in `error` and following goes on."""
        unsigned, last_signed = False, float("-inf")
        while not stop.is_set():
            try:
                unsigned = self.ledger.integrate() > 0 or unsigned
                if unsigned and time.monotonic() - last_signed >= self.sign_every:
                    signed = self.ledger.checkpoint()
                    unsigned, last_signed = False, time.monotonic()
                    if self.on_checkpoint is not None:
                        self.on_checkpoint(signed)
                self.error = None
            except Exception as e:  # a store hiccup must not end the follower
                self.error = e
            stop.wait(self.interval)
        if unsigned:  # stopping: sign what was integrated since the last checkpoint
            try:
                signed = self.ledger.checkpoint()
                if self.on_checkpoint is not None:
                    self.on_checkpoint(signed)
            except Exception as e:
                self.error = e

    def start(self) -> LedgerFollower:
        self._thread = threading.Thread(
            target=self.run, args=(self._stop,), name="ledger-follower", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def rejournal(journal: Path, stored: Sequence[SignedCheckpoint]) -> list[SignedCheckpoint]:
    """Append to `journal` each of the `stored` (database) checkpoints it lacks, by size
    and root, oldest first, in one locked write; return those appended."""
    with locked(journal) as held:
        return rejournal_held(held, stored)


def rejournal_held(
    journal: HeldJournal, stored: Sequence[SignedCheckpoint]
) -> list[SignedCheckpoint]:
    """`rejournal` on a journal this process already holds locked."""
    records = [c.as_json() for c in sorted(stored, key=lambda c: c.checkpoint["size"])]
    missing = journal.missing(
        records, key=lambda r: (r["checkpoint"]["size"], r["checkpoint"]["root"])
    )
    journal.append(missing)
    return [_signed_from_json(r) for r in missing]


def signed_checkpoint(data: dict[str, Any]) -> SignedCheckpoint:
    """A signed checkpoint from its JSON form (a journal record, a database row's body)."""
    return _signed_from_json(data)


def _signed_from_json(data: dict[str, Any]) -> SignedCheckpoint:
    body = data["checkpoint"]
    checkpoint: Checkpoint = {
        "log": body["log"],
        "size": body["size"],
        "root": body["root"],
        "issued_at": body["issued_at"],
    }
    return SignedCheckpoint(checkpoint, data["signature"], data["public_key"])


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _uuid(value: object) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
