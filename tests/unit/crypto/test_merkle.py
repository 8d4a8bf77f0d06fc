"""Tests for crypto.merkle: published RFC 6962/9162 vectors, a naive oracle, and read costs."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
from collections.abc import Iterable, Sequence
from functools import cache, partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MAX_TREE_SIZE,
    InMemoryNodeStore,
    MerkleTree,
    Node,
    NodeKey,
    append_leaves,
    consistency_proof,
    consistency_proof_from_leaves,
    frontier_keys,
    inclusion_proof,
    inclusion_proof_from_leaves,
    leaf_hash,
    node_hash,
    nodes_to_append,
    root_from_inclusion_proof,
    root_from_leaves,
    tree_root,
    verify_consistency,
    verify_inclusion,
)

DATA = Path(__file__).parent / "testdata" / "merkle"
UPSTREAM = DATA / "transparency-dev"
REFERENCE: dict[str, Any] = json.loads((DATA / "reference_tree.json").read_text())
MAX_EXHAUSTIVE = 64

# Upstream's generator (transparency-dev/merkle cmd/proofgen) uses these as junk hashes.
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def _hexes(values: Iterable[bytes]) -> list[str]:
    return [value.hex() for value in values]


@cache
def _leaves(n: int) -> tuple[bytes, ...]:
    return tuple(leaf_hash(str(i).encode()) for i in range(n))


@cache
def _reference_leaves() -> tuple[bytes, ...]:
    return tuple(leaf_hash(bytes.fromhex(entry)) for entry in REFERENCE["leaves_hex"])


def _store_with(leaves: Sequence[bytes]) -> InMemoryNodeStore:
    store = InMemoryNodeStore()
    append_leaves(store, 0, leaves)
    return store


@cache
def _exhaustive_store() -> InMemoryNodeStore:
    return _store_with(_leaves(MAX_EXHAUSTIVE))


@cache
def _naive_root(n: int) -> bytes:
    return root_from_leaves(_leaves(MAX_EXHAUSTIVE)[:n])


@cache
def _naive_path(index: int, size: int) -> tuple[bytes, ...]:
    return tuple(inclusion_proof_from_leaves(_leaves(MAX_EXHAUSTIVE)[:size], index))


@cache
def _naive_proof(old: int, new: int) -> tuple[bytes, ...]:
    return tuple(consistency_proof_from_leaves(_leaves(MAX_EXHAUSTIVE)[:new], old))


def _flip(value: bytes, bit: int = 0) -> bytes:
    return bytes([value[0] ^ (1 << bit)]) + value[1:]


class CountingStore(InMemoryNodeStore):
    """Counts reads, and checks no read asks for a node the tree cannot have."""

    def __init__(self) -> None:
        super().__init__()
        self.reset()

    def reset(self) -> None:
        self.get_calls = 0
        self.get_many_calls = 0
        self.keys_read = 0
        self.put_many_calls = 0

    def get(self, level: int, index: int) -> bytes:
        self.get_calls += 1
        return super().get(level, index)

    def get_many(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        self.get_many_calls += 1
        self.keys_read += len(keys)
        assert len(set(keys)) == len(keys), "a read asked for the same node twice"
        return super().get_many(keys)

    def put_many(self, items: Iterable[Node]) -> None:
        self.put_many_calls += 1
        super().put_many(items)


class SyntheticStore:
    """Pretends to hold every complete node of a huge tree, with made-up hashes.

    Lets the read-cost test run at sizes like 2**40 without building anything; the hashes
    are not a real tree, so only the counts (and the keys asked for) mean anything.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.get_many_calls = 0
        self.keys: list[NodeKey] = []

    def get(self, level: int, index: int) -> bytes:
        raise AssertionError("proofs must read through get_many")

    def get_many(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        self.get_many_calls += 1
        self.keys.extend(keys)
        for level, index in keys:
            assert (index + 1) << level <= self.size, f"node {(level, index)} is not complete"
        return {key: hashlib.sha256(repr(key).encode()).digest() for key in keys}

    def put_many(self, items: Iterable[Node]) -> None:
        raise AssertionError("read-only")


def _read_bound(size: int) -> int:
    return 2 * math.ceil(math.log2(size)) + 2


# --- Published vectors ----------------------------------------------------------------------


@pytest.mark.parametrize("case", REFERENCE["hasher"], ids=lambda case: case["desc"])
def test_hashing_matches_rfc6962_reference_vectors(case: dict[str, str]) -> None:
    if case["kind"] == "empty":
        got = EMPTY_ROOT
    elif case["kind"] == "leaf":
        got = leaf_hash(bytes.fromhex(case["input_hex"]))
    else:
        got = node_hash(bytes.fromhex(case["left_hex"]), bytes.fromhex(case["right_hex"]))
    assert got.hex() == case["want"]


def test_reference_tree_roots_for_every_size() -> None:
    leaves = _reference_leaves()
    store = _store_with(leaves)
    for size, want in enumerate(REFERENCE["root_hashes_by_size"]):
        assert root_from_leaves(leaves[:size]).hex() == want
        assert tree_root(store, size).hex() == want


def test_store_holds_exactly_the_reference_complete_subtrees() -> None:
    store = _store_with(_reference_leaves())
    want = {
        (level, index): value
        for level, row in enumerate(REFERENCE["node_hashes_by_level"])
        for index, value in enumerate(row)
    }
    assert {key: value.hex() for key, value in store.nodes().items()} == want


@pytest.mark.parametrize(
    "case", REFERENCE["inclusion_proofs"], ids=lambda c: f"leaf{c['leaf']}-of-{c['size']}"
)
def test_reference_inclusion_proofs(case: dict[str, Any]) -> None:
    leaves, index, size = _reference_leaves(), case["leaf"] - 1, case["size"]
    store = _store_with(leaves)
    assert _hexes(inclusion_proof(store, index, size)) == case["proof"]
    assert _hexes(inclusion_proof_from_leaves(leaves[:size], index)) == case["proof"]
    root = bytes.fromhex(REFERENCE["root_hashes_by_size"][size])
    proof = [bytes.fromhex(p) for p in case["proof"]]
    assert verify_inclusion(leaves[index], index, size, proof, root)


@pytest.mark.parametrize(
    "case", REFERENCE["consistency_proofs"], ids=lambda c: f"{c['size1']}-to-{c['size2']}"
)
def test_reference_consistency_proofs(case: dict[str, Any]) -> None:
    leaves, old, new = _reference_leaves(), case["size1"], case["size2"]
    store = _store_with(leaves)
    assert _hexes(consistency_proof(store, old, new)) == case["proof"]
    assert _hexes(consistency_proof_from_leaves(leaves[:new], old)) == case["proof"]
    roots = REFERENCE["root_hashes_by_size"]
    proof = [bytes.fromhex(p) for p in case["proof"]]
    assert verify_consistency(old, new, bytes.fromhex(roots[old]), bytes.fromhex(roots[new]), proof)


def _probe_files(kind: str) -> list[Path]:
    return sorted((UPSTREAM / kind).rglob("*.json"))


def _probe_id(path: Path) -> str:
    return str(path.relative_to(UPSTREAM))


def _all_hashes_well_formed(*values: bytes, proof: Sequence[bytes]) -> bool:
    return all(len(value) == HASH_SIZE for value in (*values, *proof))


@pytest.mark.parametrize("path", _probe_files("inclusion"), ids=_probe_id)
def test_upstream_inclusion_probes(path: Path) -> None:
    probe = json.loads(path.read_text())
    index = probe["leafIdx"] if "leafIdx" in probe else probe["leafIndex"]
    leaf, root = _b64(probe["leafHash"]), _b64(probe["root"])
    proof = [_b64(p) for p in probe["proof"] or []]
    assert verify_inclusion(leaf, index, probe["treeSize"], proof, root) is not probe["wantErr"]


@pytest.mark.parametrize("path", _probe_files("consistency"), ids=_probe_id)
def test_upstream_consistency_probes(path: Path) -> None:
    probe = json.loads(path.read_text())
    root1, root2 = _b64(probe["root1"]), _b64(probe["root2"])
    proof = [_b64(p) for p in probe["proof"] or []]
    # Chronicle refuses any hash that is not 32 bytes, even where upstream does not look.
    # See testdata/merkle/README.md.
    want = not probe["wantErr"] and _all_hashes_well_formed(root1, root2, proof=proof)
    got = verify_consistency(probe["size1"], probe["size2"], root1, root2, proof)
    assert got is want


def test_the_only_upstream_probes_refused_against_upstream_are_placeholder_roots() -> None:
    refused = []
    for path in _probe_files("consistency"):
        probe = json.loads(path.read_text())
        root1, root2 = _b64(probe["root1"]), _b64(probe["root2"])
        if not probe["wantErr"] and not verify_consistency(
            probe["size1"], probe["size2"], root1, root2, [_b64(p) for p in probe["proof"] or []]
        ):
            refused.append(path.name)
            assert probe["size1"] == probe["size2"] and root1 == root2
            assert len(root1) != HASH_SIZE
            # With a real-sized root the same claim holds.
            real = EMPTY_ROOT if probe["size1"] == 0 else SOME_HASH
            assert verify_consistency(probe["size1"], probe["size2"], real, real, [])
    assert len(refused) == 6


def _happy(kind: str) -> list[dict[str, Any]]:
    return [
        json.loads(path.read_text()) for path in sorted((UPSTREAM / kind).glob("*/happy-path.json"))
    ]


@pytest.mark.parametrize(
    "probe", _happy("inclusion"), ids=lambda p: f"{p['leafIdx']}-of-{p['treeSize']}"
)
def test_upstream_corruptions_of_every_inclusion_happy_path_are_rejected(
    probe: dict[str, Any],
) -> None:
    # The corruptions transparency-dev/merkle's proofgen applies (invalidInclusionProof).
    index, size = probe["leafIdx"], probe["treeSize"]
    leaf, root = _b64(probe["leafHash"]), _b64(probe["root"])
    proof = [_b64(p) for p in probe["proof"] or []]
    assert verify_inclusion(leaf, index, size, proof, root)
    probes = [
        (index - 1, size, root, leaf, proof),
        (index + 1, size, root, leaf, proof),
        (index ^ 2, size, root, leaf, proof),
        (index, size * 2, root, leaf, proof),
        (index, size // 2, root, leaf, proof),
        (index, size, root, b"WrongLeaf", proof),
        (index, size, EMPTY_ROOT, leaf, proof),
        (index, size, SOME_HASH, leaf, proof),
        (index, size, root, leaf, [*proof, b""]),
        (index, size, root, leaf, [*proof, root]),
        (index, size, root, leaf, [b"", *proof]),
        (index, size, root, leaf, [root, *proof]),
    ]
    for i in range(len(proof)):
        probes.append((index, size, root, leaf, [*proof[:i], _flip(proof[i], 3), *proof[i + 1 :]]))
    if proof:
        probes.append((index, size, root, leaf, proof[:-1]))
    if len(proof) > 1:
        probes.append((index, size, root, leaf, [proof[0], SOME_HASH, *proof[1:]]))
    for i, s, r, lh, p in probes:
        assert not verify_inclusion(lh, i, s, p, r), (i, s)


@pytest.mark.parametrize(
    "probe", _happy("consistency"), ids=lambda p: f"{p['size1']}-to-{p['size2']}"
)
def test_upstream_corruptions_of_every_consistency_happy_path_are_rejected(
    probe: dict[str, Any],
) -> None:
    # The corruptions transparency-dev/merkle's proofgen applies (invalidConsistencyProof).
    size1, size2 = probe["size1"], probe["size2"]
    root1, root2 = _b64(probe["root1"]), _b64(probe["root2"])
    proof = [_b64(p) for p in probe["proof"] or []]
    assert verify_consistency(size1, size2, root1, root2, proof)
    if not proof:
        return  # upstream corrupts only non-trivial proofs
    probes = [
        (size1 - 1, size2, root1, root2, proof),
        (size1 + 1, size2, root1, root2, proof),
        (size1 ^ 2, size2, root1, root2, proof),
        (size1, size2 * 2, root1, root2, proof),
        (size1, size2 // 2, root1, root2, proof),
        (size1, size2, b"WrongRoot", root2, proof),
        (size1, size2, root1, b"WrongRoot", proof),
        (size1, size2, root2, root1, proof),
        (size1, size2, root1, root2, []),
        (size1, size2, root1, root2, [*proof, b""]),
        (size1, size2, root1, root2, [*proof, root1]),
        (size1, size2, root1, root2, [*proof, root2]),
        (size1, size2, root1, root2, [b"", *proof]),
        (size1, size2, root1, root2, [root1, *proof]),
        (size1, size2, root1, root2, [root2, *proof]),
        (size1, size2, root1, root2, [proof[0], *proof]),
        (size1, size2, root1, root2, proof[:-1]),
    ]
    for i in range(len(proof)):
        probes.append(
            (size1, size2, root1, root2, [*proof[:i], _flip(proof[i], 4), *proof[i + 1 :]])
        )
    for s1, s2, r1, r2, p in probes:
        assert not verify_consistency(s1, s2, r1, r2, p), (s1, s2)


# --- Exhaustively against the naive RFC definitions, sizes 1..64 ------------------------------


def test_root_matches_naive_for_every_size() -> None:
    store = _exhaustive_store()
    assert tree_root(store, 0) == EMPTY_ROOT == root_from_leaves([])
    for size in range(1, MAX_EXHAUSTIVE + 1):
        assert tree_root(store, size) == _naive_root(size)


def test_inclusion_proofs_match_naive_and_verify_for_every_index_and_size() -> None:
    store, leaves = _exhaustive_store(), _leaves(MAX_EXHAUSTIVE)
    for size in range(1, MAX_EXHAUSTIVE + 1):
        root = _naive_root(size)
        for index in range(size):
            proof = inclusion_proof(store, index, size)
            assert tuple(proof) == _naive_path(index, size), (index, size)
            assert root_from_inclusion_proof(leaves[index], index, size, proof) == root
            assert verify_inclusion(leaves[index], index, size, proof, root)


def test_consistency_proofs_match_naive_and_verify_for_every_pair_of_sizes() -> None:
    store = _exhaustive_store()
    for new in range(1, MAX_EXHAUSTIVE + 1):
        for old in range(1, new + 1):
            proof = consistency_proof(store, old, new)
            assert tuple(proof) == _naive_proof(old, new), (old, new)
            assert verify_consistency(old, new, _naive_root(old), _naive_root(new), proof)


def _proof_variants(proof: Sequence[bytes], extra: bytes) -> list[list[bytes]]:
    """Every proof a byte flip, a dropped, added or swapped element makes of `proof`."""
    variants: list[list[bytes]] = []
    for i in range(len(proof)):
        variants.append([*proof[:i], _flip(proof[i]), *proof[i + 1 :]])
        variants.append([*proof[:i], *proof[i + 1 :]])
        variants.append([*proof[:i], extra, *proof[i:]])
    variants.append([*proof, extra])
    variants.append([*proof, *proof[-1:]])
    if len(proof) > 1:
        variants.append([proof[1], proof[0], *proof[2:]])
        variants.append(list(reversed(proof)))
    return [v for v in variants if v != list(proof)]


def test_tampered_inclusion_proofs_are_rejected_for_every_index_and_size() -> None:
    leaves = _leaves(MAX_EXHAUSTIVE)
    for size in range(1, MAX_EXHAUSTIVE + 1):
        root = _naive_root(size)
        for index in range(size):
            proof = list(_naive_path(index, size))
            leaf = leaves[index]
            for variant in _proof_variants(proof, extra=root):
                assert not verify_inclusion(leaf, index, size, variant, root), (index, size)
            for other in range(size + 2):
                if other != index:
                    assert not verify_inclusion(leaf, other, size, proof, root), (index, size)
            assert not verify_inclusion(_flip(leaf), index, size, proof, root)
            assert not verify_inclusion(leaf, index, size, proof, _flip(root))
            # Against the honest root of another size, only that size's own path may pass.
            for other_size in {size - 1, size + 1, size * 2, size // 2}:
                if index < other_size <= MAX_EXHAUSTIVE:
                    want = tuple(proof) == _naive_path(index, other_size)
                    got = verify_inclusion(leaf, index, other_size, proof, _naive_root(other_size))
                    assert got is want, (index, size, other_size)


def test_tampered_consistency_proofs_are_rejected_for_every_pair_of_sizes() -> None:
    for new in range(1, MAX_EXHAUSTIVE + 1):
        new_root = _naive_root(new)
        for old in range(1, new + 1):
            old_root, proof = _naive_root(old), list(_naive_proof(old, new))
            for variant in _proof_variants(proof, extra=new_root):
                assert not verify_consistency(old, new, old_root, new_root, variant), (old, new)
            assert not verify_consistency(old, new, _flip(old_root), new_root, proof)
            assert not verify_consistency(old, new, old_root, _flip(new_root), proof)
            if old != new:
                assert not verify_consistency(old, new, new_root, old_root, proof)
                assert not verify_consistency(new, old, old_root, new_root, proof)
            # With honest roots for other sizes, only the real proof for those sizes passes.
            neighbours = [(old - 1, new), (old + 1, new), (old, new - 1), (old, new + 1)]
            for other_old, other_new in neighbours:
                if not 1 <= other_old <= other_new <= MAX_EXHAUSTIVE:
                    continue
                want = tuple(proof) == _naive_proof(other_old, other_new)
                got = verify_consistency(
                    other_old, other_new, _naive_root(other_old), _naive_root(other_new), proof
                )
                assert got is want, (old, new, other_old, other_new)


# --- Appending ----------------------------------------------------------------------------


def test_each_leaf_completes_exactly_the_nodes_the_rfc_layout_predicts() -> None:
    store = InMemoryNodeStore()
    for i, leaf in enumerate(_leaves(300)):
        new = append_leaves(store, i, [leaf])
        want = {(level, (i + 1) // 2**level - 1) for level in range(20) if (i + 1) % 2**level == 0}
        assert {(level, index) for level, index, _ in new} == want
    assert len(store) == 2 * 300 - bin(300).count("1")


@pytest.mark.parametrize(
    "batches",
    [
        [200],
        [1] * 200,
        [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 89, 7, 10],
        [64, 64, 64, 8],
        [0, 7, 0, 193],
    ],
    ids=["one-batch", "one-by-one", "irregular", "aligned", "with-empty-batches"],
)
def test_appending_in_batches_stores_the_same_nodes_as_one_by_one(batches: list[int]) -> None:
    leaves = _leaves(sum(batches))
    one_by_one = InMemoryNodeStore()
    for i, leaf in enumerate(leaves):
        append_leaves(one_by_one, i, [leaf])
    batched, size = InMemoryNodeStore(), 0
    for count in batches:
        append_leaves(batched, size, leaves[size : size + count])
        size += count
    assert batched.nodes() == one_by_one.nodes()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=40), max_size=12))
def test_any_split_into_batches_gives_the_same_tree(batches: list[int]) -> None:
    total = sum(batches)
    leaves = _leaves(total)
    store = InMemoryNodeStore()
    tree = MerkleTree(store)
    for count in batches:
        tree.append(leaves[tree.size : tree.size + count])
    assert tree.size == total
    assert tree.root() == root_from_leaves(leaves)
    assert store.nodes() == _store_with(leaves).nodes()


def test_a_batch_append_reads_only_the_frontier_in_one_call_and_writes_once() -> None:
    store = CountingStore()
    append_leaves(store, 0, _leaves(1000))
    for size, count in [(1000, 1), (1001, 23), (1024, 5), (1029, 1000)]:
        store.reset()
        leaves = [leaf_hash(b"batch %d" % i) for i in range(count)]
        new = append_leaves(store, size, leaves)
        assert store.get_many_calls == 1 and store.get_calls == 0
        assert store.keys_read == len(frontier_keys(size)) == bin(size).count("1")
        assert store.put_many_calls == 1
        assert len(new) == 2 * (size + count) - bin(size + count).count("1") - (
            2 * size - bin(size).count("1")
        )


def test_nodes_to_append_is_pure_and_refuses_malformed_leaf_hashes_before_writing() -> None:
    store = _store_with(_leaves(5))
    before = store.nodes()
    frontier = store.get_many(frontier_keys(5))
    for bad in ([b"short"], [_leaves(6)[5], b"x" * 33], [bytearray(32)]):
        with pytest.raises(ValueError):
            nodes_to_append(5, frontier, bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            append_leaves(store, 5, bad)  # type: ignore[arg-type]
    assert store.nodes() == before


def test_the_store_refuses_to_change_a_written_node() -> None:
    store = _store_with(_leaves(4))
    store.put_many([(0, 0, _leaves(4)[0])])  # an identical rewrite is harmless
    with pytest.raises(ValueError):
        store.put_many([(0, 4, SOME_HASH), (0, 0, SOME_HASH)])
    assert (0, 4) not in store.nodes()
    with pytest.raises(KeyError):
        store.get(0, 4)


# --- Read costs -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_tree() -> tuple[CountingStore, int]:
    size = 100_003
    store = CountingStore()
    leaves = [leaf_hash(i.to_bytes(8, "big")) for i in range(size)]
    for start in range(0, size, 8192):
        append_leaves(store, start, leaves[start : start + 8192])
    return store, size


def test_proofs_in_a_large_tree_read_log_n_nodes_in_one_call(
    big_tree: tuple[CountingStore, int],
) -> None:
    store, size = big_tree
    rng = random.Random(9162)
    for _ in range(200):
        new = rng.randint(1, size)
        old = rng.randint(1, new)
        index = rng.randrange(new)
        leaf = leaf_hash(index.to_bytes(8, "big"))

        store.reset()
        new_root = tree_root(store, new)
        assert store.get_many_calls == 1 and store.keys_read <= math.ceil(math.log2(new)) + 1
        old_root = tree_root(store, old)

        store.reset()
        path = inclusion_proof(store, index, new)
        assert (store.get_many_calls, store.get_calls) == (1 if path else 0, 0)
        assert store.keys_read <= _read_bound(new)
        assert verify_inclusion(leaf, index, new, path, new_root)

        store.reset()
        proof = consistency_proof(store, old, new)
        assert (store.get_many_calls, store.get_calls) == (1 if proof else 0, 0)
        assert store.keys_read <= _read_bound(new)
        assert verify_consistency(old, new, old_root, new_root, proof)


@pytest.mark.parametrize(
    "size", [2**20, 2**20 - 1, 2**40 + 12345, 2**63 + 2**31 + 7, MAX_TREE_SIZE]
)
def test_read_counts_stay_logarithmic_at_huge_sizes(size: int) -> None:
    rng = random.Random(size)
    for _ in range(50):
        index = rng.randrange(size)
        old = rng.randint(1, size)
        for read in (
            partial(tree_root, size=size),
            partial(inclusion_proof, index=index, size=size),
            partial(consistency_proof, old_size=old, new_size=size),
        ):
            store = SyntheticStore(size)
            read(store)
            assert store.get_many_calls <= 1
            assert len(store.keys) <= _read_bound(size)


# --- Hostile input and argument errors ------------------------------------------------------

GOOD_LEAF = _leaves(3)[2]


def _good_inclusion() -> tuple[bytes, int, int, list[bytes], bytes]:
    leaves = _leaves(3)
    return leaves[2], 2, 3, inclusion_proof_from_leaves(leaves, 2), root_from_leaves(leaves)


@pytest.mark.parametrize(
    "change",
    [
        {"leaf": b""},
        {"leaf": GOOD_LEAF + b"\x00"},
        {"leaf": bytearray(GOOD_LEAF)},
        {"leaf": GOOD_LEAF.hex()},
        {"leaf": None},
        {"index": 3},
        {"index": -1},
        {"index": True},
        {"index": 2.0},
        {"index": "2"},
        {"size": 0},
        {"size": -3},
        {"size": MAX_TREE_SIZE + 1},
        {"size": None},
        {"proof": None},
        {"proof": b""},
        {"proof": "ab"},
        {"proof": 5},
        {"proof": iter([])},
        {"proof": [None]},
        {"proof": ["x" * 32]},
        {"root": b""},
        {"root": None},
        {"root": "root"},
    ],
    ids=repr,
)
def test_inclusion_verification_answers_false_to_malformed_input(change: dict[str, Any]) -> None:
    good = _good_inclusion()
    assert verify_inclusion(*good)
    args: dict[str, Any] = dict(zip(("leaf", "index", "size", "proof", "root"), good, strict=True))
    args.update(change)
    leaf, index, size, proof, root = args.values()
    assert verify_inclusion(leaf, index, size, proof, root) is False
    if "root" not in change:
        assert root_from_inclusion_proof(leaf, index, size, proof) is None


@pytest.mark.parametrize(
    "change",
    [
        {"old": 0},
        {"old": -1},
        {"old": True},
        {"old": 2.0},
        {"new": 2},
        {"new": MAX_TREE_SIZE + 1},
        {"new": None},
        {"old_root": b""},
        {"old_root": None},
        {"new_root": bytearray(32)},
        {"proof": []},
        {"proof": None},
        {"proof": b"\x00" * 64},
        {"proof": "proof"},
        {"proof": [b""]},
        {"proof": [None, None]},
    ],
    ids=repr,
)
def test_consistency_verification_answers_false_to_malformed_input(change: dict[str, Any]) -> None:
    leaves = _leaves(5)
    args: dict[str, Any] = {
        "old": 3,
        "new": 5,
        "old_root": root_from_leaves(leaves[:3]),
        "new_root": root_from_leaves(leaves),
        "proof": consistency_proof_from_leaves(leaves, 3),
    }
    assert verify_consistency(*args.values())
    args.update(change)
    assert verify_consistency(*args.values()) is False


def test_equal_and_empty_sizes_in_consistency_verification() -> None:
    root = _naive_root(7)
    assert verify_consistency(7, 7, root, root, [])
    assert not verify_consistency(7, 7, root, root, [root])
    assert not verify_consistency(7, 7, root, _naive_root(6), [])
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert not verify_consistency(0, 0, SOME_HASH, SOME_HASH, [])
    # Nothing can be proved from the empty tree, so nothing is accepted.
    assert not verify_consistency(0, 1, EMPTY_ROOT, _naive_root(1), [])
    assert not verify_consistency(0, 1, EMPTY_ROOT, _naive_root(1), [_naive_root(1)])


def test_inclusion_in_a_single_leaf_tree_needs_an_empty_proof() -> None:
    leaf = _leaves(1)[0]
    assert verify_inclusion(leaf, 0, 1, [], leaf)
    assert verify_inclusion(leaf, 0, 1, (), leaf)
    assert not verify_inclusion(leaf, 0, 1, [leaf], leaf)
    assert not verify_inclusion(leaf, 0, 0, [], EMPTY_ROOT)


def test_proof_generation_rejects_impossible_requests() -> None:
    store = _store_with(_leaves(10))
    with pytest.raises(ValueError):
        inclusion_proof(store, 10, 10)
    with pytest.raises(ValueError):
        inclusion_proof(store, -1, 10)
    with pytest.raises(ValueError):
        consistency_proof(store, 6, 5)
    with pytest.raises(ValueError):
        consistency_proof(store, 0, 5)
    with pytest.raises(TypeError):
        tree_root(store, True)
    with pytest.raises(KeyError):
        tree_root(store, 11)  # the store does not hold a tree that large
    with pytest.raises(KeyError):
        inclusion_proof(InMemoryNodeStore(), 0, 2)
    assert consistency_proof(store, 0, 0) == consistency_proof(store, 4, 4) == []


def test_merkle_tree_wraps_a_store_and_its_size() -> None:
    leaves = _leaves(20)
    store = InMemoryNodeStore()
    tree = MerkleTree(store)
    assert tree.size == 0 and tree.root() == EMPTY_ROOT
    assert tree.append(leaves[:7]) == 7
    assert tree.append([]) == 7
    assert tree.append(leaves[7:]) == 20
    assert tree.root() == root_from_leaves(leaves)
    assert tree.root(7) == root_from_leaves(leaves[:7])
    assert tree.inclusion_proof(5) == inclusion_proof_from_leaves(leaves, 5)
    assert tree.inclusion_proof(5, 7) == inclusion_proof_from_leaves(leaves[:7], 5)
    assert tree.consistency_proof(7) == consistency_proof_from_leaves(leaves, 7)
    assert tree.consistency_proof(3, 7) == consistency_proof_from_leaves(leaves[:7], 3)
    with pytest.raises(ValueError):
        tree.root(21)
    # A second handle on the same store resumes where the first left off.
    again = MerkleTree(store, 20)
    again.append([leaf_hash(b"twenty")])
    assert again.root() == root_from_leaves([*leaves, leaf_hash(b"twenty")])
