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
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
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

    @property
    def ok(self) -> bool:
        return not self.problems


def audit(ledger: Ledger, opener: Opener | None = None, batch: int = 1000) -> AuditReport:
    """Run every check; `opener` decrypts one stored event (raising if it fails)."""
    problems: list[Problem] = []
    events, decrypted = _check_events_against_leaves(ledger, opener, batch, problems)
    size = _check_chains_and_tree(ledger, batch, problems)
    count = _check_checkpoints(ledger, size, problems)
    return AuditReport(events, size, count, decrypted, problems)


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


def _check_checkpoints(ledger: Ledger, size: int, problems: list[Problem]) -> int:
    in_db = {c.checkpoint["size"]: c for c in ledger.checkpoints()}
    in_journal = {c.checkpoint["size"]: c for c in ledger.journal_checkpoints()}
    for s in sorted(set(in_journal) - set(in_db)):
        problems.append(
            Problem(
                "checkpoint",
                f"checkpoint of size {s} is in the journal but missing from the database",
            )
        )
    for s in sorted(set(in_db) - set(in_journal)):
        if ledger.journal is not None:
            problems.append(
                Problem(
                    "checkpoint",
                    f"checkpoint of size {s} is in the database but not in the journal",
                )
            )
    everything = sorted([*in_journal.values(), *in_db.values()], key=lambda c: c.checkpoint["size"])
    previous: SignedCheckpoint | None = None
    for signed in everything:
        body = signed.checkpoint
        label = f"checkpoint of size {body['size']} issued {body['issued_at']}"
        if ledger.public_key and signed.public_key != ledger.public_key:
            problems.append(Problem("checkpoint", f"{label} names another public key"))
        if body["log"] != log_id(signed.public_key) or not checkpoint_signature_valid(
            signed.public_key, dict(body), signed.signature
        ):
            problems.append(Problem("checkpoint", f"{label}: the signature does not verify"))
        if body["size"] > size:
            problems.append(
                Problem("checkpoint", f"{label} covers more entries than the log holds")
            )
            continue
        if ledger.root(body["size"]).hex() != body["root"]:
            problems.append(
                Problem(
                    "checkpoint",
                    f"{label}: its root differs from the log's "
                    "(history rewritten since it was signed)",
                )
            )
        if (
            previous is not None
            and previous.checkpoint["size"] == body["size"]
            and previous.checkpoint["root"] != body["root"]
        ):
            problems.append(
                Problem(
                    "consistency",
                    f"{label} disagrees with another checkpoint "
                    "of the same size (a forked or rewritten history)",
                )
            )
        if previous is not None and previous.checkpoint["size"] < body["size"]:
            old = previous.checkpoint
            proof = ledger.consistency_proof(old["size"], body["size"])
            if not verify_consistency(
                old["size"],
                body["size"],
                bytes.fromhex(old["root"]),
                bytes.fromhex(body["root"]),
                proof,
            ):
                problems.append(
                    Problem(
                        "consistency",
                        f"{label} is not consistent with the checkpoint of size {old['size']}",
                    )
                )
        previous = signed
    return len(everything)


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
