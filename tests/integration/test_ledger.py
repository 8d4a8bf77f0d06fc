"""The ledger on SQLite and PostgreSQL: integration, proofs, checkpoints, and every tamper
`chronicle ledger verify` must pinpoint."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.application import ConflictingUpdate, PupilRecords
from api.bootstrap import build_ledger
from crypto.chain import (
    GENESIS_PREV,
    Checkpoint,
    chain_leaf,
    checkpoint_signature_valid,
    sign_checkpoint,
)
from crypto.merkle import (
    InMemoryNodeStore,
    append_leaves,
    inclusion_proof_from_leaves,
    root_from_leaves,
    verify_consistency,
    verify_inclusion,
)
from projections.ledger import Ledger, LedgerError, SqlNodeStore
from projections.ledger_audit import audit
from tests.conftest import Store
from tests.factories import a_pupil, add_concern
from tests.sql import event_rows, raw, set_state


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def ledger(records: PupilRecords, key: Ed25519PrivateKey, tmp_path: Path) -> Ledger:
    return build_ledger(records, key, tmp_path / "journal.jsonl")


def _history(records: PupilRecords, pupils: int = 4, concerns: int = 3) -> list[object]:
    made = [a_pupil(f"P{n}", concerns=concerns) for n in range(pupils)]
    for p in made:
        records.save(p)
    # interleave later entries so chains and commit order differ
    for p in made[::-1]:
        loaded = records.get_pupil(p.id)
        add_concern(loaded, "later entry")
        records.save(loaded)
    return made


def _verify(records: PupilRecords, ledger: Ledger) -> list[str]:
    report = audit(ledger, opener=records.sealing_mapper.committed)
    return [str(p) for p in report.problems]


class TestLedger:
    def test_integrates_every_event_once_in_commit_order(
        self, records: PupilRecords, ledger: Ledger
    ) -> None:
        pupils = _history(records)
        assert ledger.integrate() == 20
        assert ledger.integrate() == 0  # nothing twice
        assert ledger.size() == 20
        for p in pupils:
            entries = records.entries(p.id)
            prev, expected = GENESIS_PREV, []
            for e in entries:
                leaf = chain_leaf(str(p.id), e.seq, e.type, e.commitment.hex(), prev)
                expected.append(leaf)
                prev = leaf.hex()
            assert ledger.chain(p.id) == expected
            head = ledger.head(p.id)
            assert head is not None and head.seq == 5 and head.leaf_hash == expected[-1]

    def test_tree_proofs_match_the_naive_definitions(
        self, records: PupilRecords, ledger: Ledger
    ) -> None:
        _history(records, pupils=5)
        ledger.integrate()
        leaves = [bytes(h) for (h,) in raw_leaves(ledger)]
        for size in range(1, len(leaves) + 1):
            root = ledger.root(size)
            assert root == root_from_leaves(leaves[:size])
            for index in (0, size // 2, size - 1):
                proof = ledger.inclusion_proof(index, size)
                assert proof == inclusion_proof_from_leaves(leaves[:size], index)
                assert verify_inclusion(leaves[index], index, size, proof, root)
        for old in range(1, len(leaves)):
            proof = ledger.consistency_proof(old, len(leaves))
            assert verify_consistency(
                old, len(leaves), ledger.root(old), ledger.root(len(leaves)), proof
            )

    def test_tolerates_notification_id_gaps(
        self, open_records: object, records: PupilRecords, ledger: Ledger, store: Store
    ) -> None:
        pupil = a_pupil()
        records.save(pupil)
        stale = records.get_pupil(pupil.id)
        fresh = records.get_pupil(pupil.id)
        add_concern(fresh)
        records.save(fresh)
        add_concern(stale)
        with pytest.raises(ConflictingUpdate):
            records.save(stale)  # on PostgreSQL this burns notification ids
        records.save(a_pupil("After"))
        assert ledger.integrate() == len(event_rows(store))
        assert _verify(records, ledger) == []

    def test_integration_is_incremental_and_survives_restart(
        self, records: PupilRecords, key: Ed25519PrivateKey, tmp_path: Path
    ) -> None:
        first = build_ledger(records, key, tmp_path / "j")
        records.save(a_pupil(concerns=2))
        assert first.integrate(batch=2) == 3
        records.save(a_pupil(concerns=1))
        again = build_ledger(records, key, tmp_path / "j")  # a new process
        assert again.integrate(batch=1) == 2
        assert again.size() == 5

    def test_checkpoints_are_signed_kept_and_journalled(
        self, records: PupilRecords, ledger: Ledger, key: Ed25519PrivateKey
    ) -> None:
        records.save(a_pupil())
        one = ledger.checkpoint()
        assert one.checkpoint["size"] == 2
        assert ledger.checkpoint() == one  # nothing new, same checkpoint
        records.save(a_pupil())
        two = ledger.checkpoint()
        assert two.checkpoint["size"] == 4
        for signed in (one, two):
            assert checkpoint_signature_valid(
                signed.public_key, dict(signed.checkpoint), signed.signature
            )
        assert ledger.checkpoints() == [one, two] == ledger.journal_checkpoints()
        assert _verify(records, ledger) == []

    def test_a_gap_in_a_pupils_chain_stops_integration(
        self, records: PupilRecords, ledger: Ledger, store: Store
    ) -> None:
        records.save(a_pupil(concerns=2))
        raw(store, "DELETE FROM chronicle_events WHERE originator_version = 2")
        with pytest.raises(LedgerError, match="follows no event 2"):
            ledger.integrate()
        assert ledger.size() == 0  # nothing half-integrated


def raw_leaves(ledger: Ledger) -> list[tuple[bytes]]:
    from sqlalchemy import select

    from projections.ledger import leaves

    with ledger.transaction(False) as session:
        return [
            tuple(r)
            for r in session.execute(select(leaves.c.leaf_hash).order_by(leaves.c.log_index))
        ]


class TestTamperDetection:
    """Each tamper is named by `ledger verify` with the entry it concerns."""

    @pytest.fixture(autouse=True)
    def _history(self, records: PupilRecords, ledger: Ledger) -> None:
        self.pupils = _history(records, pupils=3, concerns=2)
        ledger.checkpoint()
        assert _verify(records, ledger) == []

    def test_flipped_ciphertext_byte(
        self, records: PupilRecords, ledger: Ledger, store: Store
    ) -> None:
        nid, state = event_rows(store)[4]
        set_state(store, nid, state[:-3] + bytes([state[-3] ^ 1]) + state[-2:])
        records.data_keys.forget(self.pupils[1].id)  # type: ignore[attr-defined]
        problems = _verify(records, ledger)
        assert len(problems) == 1 and problems[0].startswith("ciphertext: entry 2 of pupil")

    def test_flipped_commitment_byte(
        self, records: PupilRecords, ledger: Ledger, store: Store
    ) -> None:
        nid, state = event_rows(store)[0]
        set_state(store, nid, state[:5] + bytes([state[5] ^ 1]) + state[6:])
        problems = _verify(records, ledger)
        assert any("entry 1 of pupil" in p and "commitment" in p for p in problems), problems

    def test_flipped_chain_link(self, records: PupilRecords, ledger: Ledger, store: Store) -> None:
        raw(store, "UPDATE ledger_leaves SET prev = :p WHERE log_index = 4", p=b"\x00" * 32)
        problems = _verify(records, ledger)
        assert any("chain" in p and "log index 4" in p and "link" in p for p in problems), problems

    def test_deleted_event(self, records: PupilRecords, ledger: Ledger, store: Store) -> None:
        nid, _ = event_rows(store)[5]
        raw(store, "DELETE FROM chronicle_events WHERE id = :i", i=nid)
        problems = _verify(records, ledger)
        assert any("missing from the store (deleted)" in p and "log index 5" in p for p in problems)

    def test_two_events_reordered(
        self, records: PupilRecords, ledger: Ledger, store: Store
    ) -> None:
        rows = event_rows(store)
        (a, sa), (b, sb) = rows[1], rows[2]
        set_state(store, a, sb)
        set_state(store, b, sa)
        problems = _verify(records, ledger)
        assert any("log index 1" in p for p in problems) and any(
            "log index 2" in p for p in problems
        )

    def test_forged_event_inserted(
        self, records: PupilRecords, ledger: Ledger, store: Store
    ) -> None:
        nid, state = event_rows(store)[0]
        pupil = raw(store, "SELECT originator_id FROM chronicle_events WHERE id = :i", i=nid)[0][0]
        topic = raw(store, "SELECT topic FROM chronicle_events WHERE id = :i", i=nid)[0][0]
        raw(
            store,
            "INSERT INTO chronicle_events (id, originator_id, originator_version, topic, state) "
            "VALUES (:i, :p, 99, :t, :s)",
            i=-5,
            p=pupil,
            t=topic,
            s=state,
        )
        problems = _verify(records, ledger)
        assert any("not in the log" in p and "forged" in p and "entry 99" in p for p in problems)

    def test_ciphertext_swapped_between_pupils(
        self, records: PupilRecords, ledger: Ledger, store: Store
    ) -> None:
        rows = event_rows(store)  # pupil 0: rows 0-2, pupil 1: rows 3-5
        set_state(store, rows[4][0], rows[1][1])
        problems = _verify(records, ledger)
        assert any("log index 4" in p and "swapped" in p for p in problems), problems

    @pytest.mark.parametrize("later_entries", [0, 2])
    def test_checkpoint_resigned_over_rewritten_history(
        self,
        records: PupilRecords,
        ledger: Ledger,
        store: Store,
        key: Ed25519PrivateKey,
        later_entries: int,
    ) -> None:
        # The attacker holds the database and the signing key: they rewrite the first entry's
        # commitment, rebuild every chain and Merkle node consistently, and sign a fresh
        # checkpoint. Only the journal outside the database remembers the old root.
        old = ledger.checkpoints()[-1]
        raw(store, "DELETE FROM ledger_checkpoints")
        raw(store, "DELETE FROM ledger_nodes")
        raw(store, "UPDATE ledger_leaves SET commitment = :c WHERE log_index = 0", c=b"\x01" * 32)
        forged = _rechain(store)
        memory = InMemoryNodeStore()
        append_leaves(memory, 0, forged)
        with ledger.transaction(True) as session:
            SqlNodeStore(session).put_many((lv, ix, h) for (lv, ix), h in memory.nodes().items())
        if later_entries:  # the log carries on growing over the forged history
            records.save(a_pupil("Later", concerns=later_entries - 1))
            ledger.integrate()
        size = ledger.size()
        body: Checkpoint = {
            "log": old.checkpoint["log"],
            "size": size,
            "root": ledger.root(size).hex(),
            "issued_at": "2099-01-01T00:00:00.000000Z",
        }
        signature = sign_checkpoint(key, body)
        document = {"checkpoint": body, "signature": signature, "public_key": old.public_key}
        raw(
            store,
            "INSERT INTO ledger_checkpoints (size, root, issued_at, log, signature, body) "
            "VALUES (:s, :r, :i, :l, :g, :b)",
            s=body["size"],
            r=body["root"],
            i=body["issued_at"],
            l=body["log"],
            g=signature,
            b=json.dumps(document),
        )
        problems = _verify(records, ledger)
        assert not any(p.startswith(("chain", "tree")) for p in problems), problems
        assert any("history rewritten" in p for p in problems), problems
        assert any(p.startswith("consistency") for p in problems), problems


def _rechain(store: Store) -> list[bytes]:
    """Recompute every leaf of the log over whatever commitments it now holds."""
    rows = raw(store, "SELECT log_index, pupil_id, seq, type, commitment FROM ledger_leaves")
    heads: dict[UUID, bytes] = {}
    forged = []
    for index, pupil, seq, kind, commitment in sorted(rows):
        pid = UUID(str(pupil))
        prev = heads.get(pid, bytes.fromhex(GENESIS_PREV))
        leaf = chain_leaf(str(pid), seq, kind, bytes(commitment).hex(), prev.hex())
        heads[pid] = leaf
        forged.append(leaf)
        raw(
            store,
            "UPDATE ledger_leaves SET leaf_hash = :h, prev = :p WHERE log_index = :i",
            h=leaf,
            p=prev,
            i=index,
        )
    return forged


def test_the_follower_signs_a_checkpoint_soon_after_each_write(
    records: PupilRecords, ledger: Ledger
) -> None:
    import time

    from projections.ledger import LedgerFollower

    signed: list[int] = []
    follower = LedgerFollower(
        ledger, 0.02, on_checkpoint=lambda c: signed.append(c.checkpoint["size"])
    )
    follower.start()
    try:
        records.save(a_pupil(concerns=2))
        deadline = time.monotonic() + 5
        while 3 not in signed and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        follower.stop()
    assert 3 in signed and follower.error is None
    assert ledger.latest_checkpoint() is not None


@pytest.mark.parametrize("batch", [1, 2, 7])
def test_the_audit_reads_in_batches_and_still_names_every_tamper(
    records: PupilRecords, ledger: Ledger, store: Store, batch: int
) -> None:
    _history(records, pupils=3, concerns=2)
    ledger.checkpoint()
    assert audit(ledger, records.sealing_mapper.committed, batch=batch).problems == []
    rows = event_rows(store)
    raw(store, "DELETE FROM chronicle_events WHERE id = :i", i=rows[5][0])
    raw(store, "UPDATE ledger_nodes SET hash = :h WHERE level = 1 AND idx = 4", h=b"\x02" * 32)
    problems = [
        str(p) for p in audit(ledger, records.sealing_mapper.committed, batch=batch).problems
    ]
    assert any("log index 5" in p and "deleted" in p for p in problems), problems
    assert any(p.startswith("tree: Merkle node (level 1, index 4)") for p in problems), problems
