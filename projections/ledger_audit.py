"""`chronicle ledger verify`: recompute the ledger from the event store and say what is wrong.

Checks, in order, each reported with the pupil, entry and log index it concerns:
1. every stored event is in the log, once, in commit order, with the commitment it was
   stored with (catches deleted, inserted, reordered, altered and swapped events);
2. every chain link and leaf hash recomputes (catches edited ledger rows);
3. every stored Merkle node recomputes from the leaves;
4. every checkpoint, from the database and from the journal outside it, is signed by the
   trust's key, matches the recomputed root at its size, and each is consistent with the
   next (catches a history rewritten and re-signed after an earlier checkpoint);
5. optionally, with the keys, every stored event of a pupil not purged decrypts and matches
   its commitment (catches flipped ciphertext bytes and ciphertexts moved between pupils).

**One snapshot.** Everything read from the database is read in one read transaction
(`Ledger.snapshot`), so a service writing meanwhile cannot make the events, the leaves, the
nodes and the checkpoints disagree. The journal is a file, read once the snapshot is
pinned, so it may hold checkpoints signed after the snapshot; and a checkpoint in the
snapshot may not be journalled yet (the journal append follows the commit). Neither is a
problem until it has settled: a database checkpoint missing from the journal is looked for
in the journal again, and a journal checkpoint missing from the snapshot in the database
again (fresh reads), for up to `settle` seconds. One found in the database then was signed
after the snapshot: it is not compared (the next run compares it) and is only counted
(`AuditReport.after_snapshot`). One still missing is a problem, checked against a second
snapshot, and the journal checkpoints missing from the database form the report's `loss`
(as after restoring an older backup) — unless two DPOs acknowledged exactly those
checkpoints (`projections.ledger_losses`), which are then reported as acknowledged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any
from uuid import UUID

from sqlalchemy import select

from crypto.chain import GENESIS_PREV, chain_leaf, checkpoint_signature_valid, log_id
from crypto.envelope import stored_commitment
from crypto.errors import CryptoError, KeyShredded
from crypto.mapper import event_type
from crypto.merkle import NodeKey, frontier_keys, nodes_to_append, verify_consistency
from projections.ledger import Ledger, SignedCheckpoint, SqlNodeStore, leaves
from projections.ledger_losses import Loss, LossRecord

Opener = Callable[[Any], object]


@dataclass(frozen=True)
class Problem:
    check: str
    message: str

    def __str__(self) -> str:
        return f"{self.check}: {self.message}"


@dataclass(frozen=True)
class AuditReport:
    events: int
    leaves: int
    checkpoints: int
    decrypted: int
    problems: list[Problem]
    # Journal checkpoints signed after the snapshot was taken: not compared this time.
    after_snapshot: int = 0
    # Journalled checkpoints the database does not hold, not acknowledged (a problem).
    loss: Loss | None = None
    # Acknowledged losses that excused journalled checkpoints in this run, with how many.
    acknowledged: list[tuple[LossRecord, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def audit(
    ledger: Ledger,
    opener: Opener | None = None,
    batch: int = 1000,
    *,
    acknowledged: Sequence[LossRecord] = (),
    settle: float = 2.0,
) -> AuditReport:
    """Run every check on one snapshot of the database (see the module); `opener` decrypts
    one stored event (raising if it fails); `acknowledged` are the recorded acknowledgements
    of losses; `settle` bounds the wait for a journal and a database that are a moment
    apart."""
    problems: list[Problem] = []
    valid = [a for a in acknowledged if a.verifies(ledger.public_key)]
    for a in acknowledged:
        if a not in valid:
            problems.append(
                Problem(
                    "loss",
                    f"the acknowledgement of a loss {a.id[:16]} is not signed by this trust's "
                    "key (or is not a loss record): it excuses nothing",
                )
            )
    with ledger.snapshot():
        in_db = ledger.checkpoints()  # the first read: the snapshot is pinned from here
        events, decrypted = _check_events_against_leaves(ledger, opener, batch, problems)
        size = _check_chains_and_tree(ledger, batch, problems)
        count = _check_sequence(ledger, size, in_db, problems)
        journal = ledger.journal_checkpoints() if ledger.journal is not None else []
    held = {_key(c) for c in in_db}
    excused: dict[str, int] = {}
    pending: list[SignedCheckpoint] = []
    for signed in _unique(journal):
        if _key(signed) in held:
            continue
        by = next((a for a in valid if a.excuses(signed)), None)
        if by is None:
            pending.append(signed)
        else:
            excused[by.signature] = excused.get(by.signature, 0) + 1
    unjournalled = [c for c in in_db if _key(c) not in {_key(j) for j in journal}]
    if ledger.journal is None:
        unjournalled = []
    unjournalled, missing, later = _settle(ledger, unjournalled, pending, settle)
    for signed in unjournalled:
        problems.append(
            Problem(
                "checkpoint",
                f"checkpoint of size {signed.checkpoint['size']} is in the database but not in "
                "the journal",
            )
        )
    loss = None
    if missing:
        with ledger.snapshot():
            loss = _check_missing(ledger, missing, problems)
    used = [(a, excused[a.signature]) for a in valid if a.signature in excused]
    return AuditReport(
        events, size, count + len(missing), decrypted, problems, len(later), loss, used
    )


def _key(signed: SignedCheckpoint) -> tuple[int, str, str]:
    return signed.checkpoint["size"], signed.checkpoint["root"], signed.signature


def _unique(found: Sequence[SignedCheckpoint]) -> list[SignedCheckpoint]:
    return list({_key(c): c for c in found}.values())


def _settle(
    ledger: Ledger,
    unjournalled: list[SignedCheckpoint],
    pending: list[SignedCheckpoint],
    settle: float,
) -> tuple[list[SignedCheckpoint], list[SignedCheckpoint], list[SignedCheckpoint]]:
    """Look again, outside the snapshot, for what the journal and the snapshot did not both
    hold: (still not journalled, journalled but still not in the database, journalled and
    now in the database, that is signed after the snapshot)."""
    later: list[SignedCheckpoint] = []
    deadline = time.monotonic() + settle
    while True:
        if pending:
            now_held = {_key(c) for c in ledger.checkpoints()}
            later += [c for c in pending if _key(c) in now_held]
            pending = [c for c in pending if _key(c) not in now_held]
        if unjournalled:
            journalled = {_key(c) for c in ledger.journal_checkpoints()}
            unjournalled = [c for c in unjournalled if _key(c) not in journalled]
        if not (pending or unjournalled) or time.monotonic() >= deadline:
            return unjournalled, pending, later
        time.sleep(0.02)


def _where(pupil: object, seq: int, index: int | None = None) -> str:
    at = f", log index {index}" if index is not None else ""
    return f"entry {seq} of pupil {pupil}{at}"


def _check_events_against_leaves(
    ledger: Ledger, opener: Opener | None, batch: int, problems: list[Problem]
) -> tuple[int, int]:
    """Walk the stored events and the log's leaves side by side, both in commit order, so
    memory stays flat however large the store."""
    position = ledger.position()
    events = _notifications(ledger, batch)
    pending = next(events, None)
    counted = decrypted = 0
    purged: set[UUID] = set()

    def unlogged(n: Any) -> None:
        if n.id <= position:
            problems.append(
                Problem(
                    "store",
                    f"{_where(n.originator_id, n.originator_version)} (notification {n.id}) "
                    "is not in the log: it was inserted after the log moved past it (forged)",
                )
            )

    for row in _leaf_rows(ledger, batch):
        while pending is not None and pending.id < row.notification_id:
            unlogged(pending)
            counted += 1
            pending = next(events, None)
        where = _where(row.pupil_id, row.seq, row.log_index)
        if pending is None or pending.id != row.notification_id:
            problems.append(
                Problem("store", f"{where} is in the log but missing from the store (deleted)")
            )
            continue
        n, pending = pending, next(events, None)
        counted += 1
        problem = _compare(n, row, where)
        if problem is not None:
            problems.append(problem)
        elif opener is not None and _uuid(row.pupil_id) not in purged:
            try:
                opener(n)
                decrypted += 1
            except KeyShredded:
                purged.add(_uuid(row.pupil_id))
            except CryptoError as e:
                problems.append(Problem("ciphertext", f"{where}: {e}"))
    while pending is not None:
        unlogged(pending)
        counted += 1
        pending = next(events, None)
    return counted, decrypted


def _compare(n: Any, row: Any, where: str) -> Problem | None:
    """Does the stored event at this leaf's notification id match what the log holds?"""
    if (_uuid(n.originator_id), n.originator_version) != (_uuid(row.pupil_id), row.seq):
        return Problem(
            "store",
            f"{where}: the stored event at notification {n.id} is entry "
            f"{n.originator_version} of pupil {n.originator_id} (events reordered or moved)",
        )
    try:
        commitment = stored_commitment(n.state)
    except CryptoError:
        commitment = b""
    if commitment != bytes(row.commitment) or event_type(n.topic) != row.type:
        return Problem(
            "store",
            f"{where}: the stored event's commitment or type differs from the log "
            "(altered, or swapped between pupils)",
        )
    return None


def _check_chains_and_tree(ledger: Ledger, batch: int, problems: list[Problem]) -> int:
    """Recompute every chain link and leaf, and from those every complete-subtree node,
    a batch at a time: memory holds the pupils' heads and the O(log n) right edge only.
    Returns the number of leaves."""
    heads: dict[UUID, tuple[int, bytes]] = {}
    frontier: dict[NodeKey, bytes] = {}
    size = 0
    tree_ok = True
    rows = _leaf_rows(ledger, batch)
    while chunk := list(islice(rows, batch)):
        recomputed = [_check_link(row, heads, problems) for row in chunk]
        if tree_ok:
            tree_ok, frontier = _check_nodes(ledger, size, frontier, recomputed, problems)
        size += len(chunk)
    return size


def _check_link(row: Any, heads: dict[UUID, tuple[int, bytes]], problems: list[Problem]) -> bytes:
    pupil = _uuid(row.pupil_id)
    where = _where(pupil, row.seq, row.log_index)
    last_seq, last_leaf = heads.get(pupil, (0, bytes.fromhex(GENESIS_PREV)))
    if row.seq != last_seq + 1:
        problems.append(Problem("chain", f"{where} follows entry {last_seq}: a gap in the chain"))
    if bytes(row.prev) != last_leaf:
        problems.append(Problem("chain", f"{where}: the link to the previous entry is broken"))
    leaf = chain_leaf(str(pupil), row.seq, row.type, bytes(row.commitment).hex(), last_leaf.hex())
    if leaf != bytes(row.leaf_hash):
        problems.append(Problem("chain", f"{where}: the leaf hash does not recompute"))
    heads[pupil] = (row.seq, leaf)
    return leaf


def _check_nodes(
    ledger: Ledger,
    size: int,
    frontier: dict[NodeKey, bytes],
    leaf_hashes: list[bytes],
    problems: list[Problem],
) -> tuple[bool, dict[NodeKey, bytes]]:
    """Compare the nodes these leaves complete with the stored ones; the new right edge."""
    expected = nodes_to_append(size, frontier, leaf_hashes)
    with ledger.transaction(False) as session:
        stored = SqlNodeStore(session).get_many([(lv, ix) for lv, ix, _ in expected])
    for lv, ix, h in expected:
        if stored.get((lv, ix)) != h:
            problems.append(
                Problem(
                    "tree",
                    f"Merkle node (level {lv}, index {ix}) does not recompute from the leaves",
                )
            )
            return False, frontier
    known = frontier | {(lv, ix): h for lv, ix, h in expected}
    return True, {key: known[key] for key in frontier_keys(size + len(leaf_hashes))}


def _check_sequence(
    ledger: Ledger, size: int, in_db: list[SignedCheckpoint], problems: list[Problem]
) -> int:
    """The database's checkpoints, in the snapshot: each signed, each matching the log's root
    at its size, each consistent with the next. (The journal's copies of them are the same
    signed checkpoints; the others are compared in `_check_missing`.)"""
    previous: SignedCheckpoint | None = None
    for signed in sorted(in_db, key=lambda c: c.checkpoint["size"]):
        if not _check_one(ledger, signed, size, problems):
            continue
        if previous is not None:
            _check_pair(ledger, previous, signed, problems)
        previous = signed
    return len(in_db)


def _label(signed: SignedCheckpoint) -> str:
    body = signed.checkpoint
    return f"checkpoint of size {body['size']} issued {body['issued_at']}"


def _check_one(
    ledger: Ledger, signed: SignedCheckpoint, size: int, problems: list[Problem]
) -> bool:
    """Key, signature and root of one checkpoint; False when it covers more than the log."""
    body, label = signed.checkpoint, _label(signed)
    if ledger.public_key and signed.public_key != ledger.public_key:
        problems.append(Problem("checkpoint", f"{label} names another public key"))
    if body["log"] != log_id(signed.public_key) or not checkpoint_signature_valid(
        signed.public_key, dict(body), signed.signature
    ):
        problems.append(Problem("checkpoint", f"{label}: the signature does not verify"))
    if body["size"] > size:
        problems.append(Problem("checkpoint", f"{label} covers more entries than the log holds"))
        return False
    if ledger.root(body["size"]).hex() != body["root"]:
        problems.append(
            Problem(
                "checkpoint",
                f"{label}: its root differs from the log's (history rewritten since it was signed)",
            )
        )
    return True


def _check_pair(
    ledger: Ledger, old: SignedCheckpoint, new: SignedCheckpoint, problems: list[Problem]
) -> None:
    """Two checkpoints of one log: equal roots at one size, a consistency proof between
    sizes (both within the log)."""
    a, b, label = old.checkpoint, new.checkpoint, _label(new)
    if a["size"] == b["size"]:
        if a["root"] != b["root"]:
            problems.append(
                Problem(
                    "consistency",
                    f"{label} disagrees with another checkpoint "
                    "of the same size (a forked or rewritten history)",
                )
            )
        return
    proof = ledger.consistency_proof(a["size"], b["size"])
    if not verify_consistency(
        a["size"], b["size"], bytes.fromhex(a["root"]), bytes.fromhex(b["root"]), proof
    ):
        problems.append(
            Problem(
                "consistency",
                f"{label} is not consistent with the checkpoint of size {a['size']}",
            )
        )


def _check_missing(
    ledger: Ledger, missing: list[SignedCheckpoint], problems: list[Problem]
) -> Loss:
    """Journal checkpoints the database does not hold, against a second snapshot: each one's
    key, signature and root, and its consistency with the database's checkpoints on either
    side of it; together they are the loss the report names."""
    size = ledger.size()
    in_db = sorted(ledger.checkpoints(), key=lambda c: c.checkpoint["size"])
    for signed in sorted(missing, key=lambda c: c.checkpoint["size"]):
        s = signed.checkpoint["size"]
        problems.append(
            Problem(
                "checkpoint",
                f"checkpoint of size {s} is in the journal but missing from the database",
            )
        )
        if not _check_one(ledger, signed, size, problems):
            continue
        before = [c for c in in_db if c.checkpoint["size"] <= s]
        after = [c for c in in_db if c.checkpoint["size"] > s and c.checkpoint["size"] <= size]
        if before:  # the same size (a fork) or the one before it
            _check_pair(ledger, before[-1], signed, problems)
        if after:
            _check_pair(ledger, signed, after[0], problems)
    first = min(missing, key=lambda c: c.checkpoint["issued_at"]).checkpoint["issued_at"]
    earlier = [c.checkpoint["size"] for c in in_db if c.checkpoint["issued_at"] < first]
    return Loss(
        from_size=max(earlier, default=0),
        to_size=max(c.checkpoint["size"] for c in missing),
        checkpoints=tuple(sorted((c.checkpoint["size"], c.checkpoint["root"]) for c in missing)),
    )


def _notifications(ledger: Ledger, batch: int) -> Iterator[Any]:
    start: int | None = None  # no lower bound: a forged row may carry any id
    while True:
        chunk = ledger.recorder.select_notifications(start, batch, inclusive_of_start=False)
        yield from chunk
        if len(chunk) < batch:
            return
        start = chunk[-1].id


def _leaf_rows(ledger: Ledger, batch: int) -> Iterator[Any]:
    start = -1
    while True:
        with ledger.transaction(False) as session:
            rows = session.execute(
                select(leaves)
                .where(leaves.c.log_index > start)
                .order_by(leaves.c.log_index)
                .limit(batch)
            ).all()
        yield from rows
        if len(rows) < batch:
            return
        start = rows[-1].log_index


def _uuid(value: object) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))
