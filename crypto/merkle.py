"""RFC 9162 section 2.1 Merkle tree: hashing, proof verification and a store-backed log.

The trust-wide log of the ledger is one append-only Merkle tree hashed exactly as RFC 9162
section 2.1. This module is pure (standard library only) so that an offline verifier can use
it unchanged; persistence is a small port, `NodeStore`.

Storage layout. The store holds the hash of every *complete* subtree: node `(level, index)`
covers leaves `[index * 2**level, (index + 1) * 2**level)`, level 0 being the leaf hashes.
A tree of size n stores 2n - popcount(n) nodes and they never change once written, so the
store is append-only too. Every range the RFC's recursion visits starts at a multiple of the
power of two at or above its length, so its hash folds from at most log2(n) complete
subtrees: a root, an inclusion proof or a consistency proof each need O(log n) nodes, planned
up front and fetched with a single `NodeStore.get_many` call.

Verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2 literally, never raises on
hostile input, and is deliberately strict: every hash (leaf, root, proof element) must be a
32-byte `bytes` value, and proofs are only defined for sizes below 2**64.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Final, Protocol

HASH_SIZE: Final = 32
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()
MAX_TREE_SIZE: Final = (1 << 64) - 1
"""Sizes and indices are uint64 on the wire (RFC 9162); anything larger is hostile."""

NodeKey = tuple[int, int]
"""`(level, index)` of a complete subtree."""
Node = tuple[int, int, bytes]
"""`(level, index, hash)` of a complete subtree."""
_Range = tuple[int, int]

_LEAF_PREFIX: Final = b"\x00"
_NODE_PREFIX: Final = b"\x01"


def leaf_hash(entry: bytes) -> bytes:
    """SHA-256(0x00 || entry): the RFC 9162 hash of one log entry."""
    return hashlib.sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the RFC 9162 hash of an interior node."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """k, the largest power of two strictly smaller than n (n >= 2), as in RFC 9162 MTH."""
    return 1 << ((n - 1).bit_length() - 1)


# --- Naive reference definitions (RFC 9162 2.1.1, 2.1.3.1, 2.1.4.1), O(n) per call -------


def root_from_leaves(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over a full list of leaf hashes, computed by the RFC's recursive definition."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return node_hash(root_from_leaves(leaf_hashes[:k]), root_from_leaves(leaf_hashes[k:]))


def inclusion_proof_from_leaves(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[n]) over a full list of leaf hashes; ValueError unless 0 <= index < n."""
    n = len(leaf_hashes)
    if not 0 <= index < n:
        raise ValueError(f"index {index} is outside a tree of size {n}")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [
            *inclusion_proof_from_leaves(leaf_hashes[:k], index),
            root_from_leaves(leaf_hashes[k:]),
        ]
    return [
        *inclusion_proof_from_leaves(leaf_hashes[k:], index - k),
        root_from_leaves(leaf_hashes[:k]),
    ]


def consistency_proof_from_leaves(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(old_size, D[n]) over a full list of leaf hashes.

    Empty when old_size == n. ValueError unless 0 < old_size <= n, except that 0 == n is
    allowed (and gives an empty proof): RFC 9162 defines no proof from the empty tree.
    """
    n = len(leaf_hashes)
    if old_size == n:
        return []
    if not 0 < old_size < n:
        raise ValueError(f"no consistency proof from size {old_size} to size {n}")
    return _subproof(old_size, leaf_hashes, complete=True)


def _subproof(m: int, leaf_hashes: Sequence[bytes], *, complete: bool) -> list[bytes]:
    n = len(leaf_hashes)
    if m == n:
        return [] if complete else [root_from_leaves(leaf_hashes)]
    k = _split(n)
    if m <= k:
        return [
            *_subproof(m, leaf_hashes[:k], complete=complete),
            root_from_leaves(leaf_hashes[k:]),
        ]
    return [
        *_subproof(m - k, leaf_hashes[k:], complete=False),
        root_from_leaves(leaf_hashes[:k]),
    ]


# --- Verification (RFC 9162 2.1.3.2 and 2.1.4.2) -----------------------------------------
# These take data straight from an export bundle, so they check types themselves and
# answer False (or None) instead of raising on anything malformed.


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_size(value: object) -> bool:
    # bool is an int subclass; True as a leaf index is a caller bug, not index 1.
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TREE_SIZE


def _is_path(value: object) -> bool:
    # bytes and str are Sequences too, but of ints and characters, never of hashes.
    return isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray, str))


def root_from_inclusion_proof(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes | None:
    """The root an inclusion proof leads to, or None when the proof cannot be valid.

    Runs RFC 9162 2.1.3.2 steps 1-4 and the `sn == 0` part of step 5; comparing the result
    with a trusted root is the caller's job (or use `verify_inclusion`). Never raises.
    """
    if not (_is_hash(leaf_hash) and _is_size(index) and _is_size(size) and _is_path(proof)):
        return None
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0 or not _is_hash(p):
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn & 1 == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """True iff `proof` shows the leaf hash at `index` in the tree of `size` with `root`.

    RFC 9162 2.1.3.2. False, never an exception, for any malformed argument: a hash that is
    not 32 bytes of `bytes`, index >= size, sizes outside uint64, extra or missing elements.
    """
    computed = root_from_inclusion_proof(leaf_hash, index, size, proof)
    return computed is not None and _is_hash(root) and computed == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """True iff `proof` shows the tree (`new_size`, `new_root`) extends (`old_size`, `old_root`).

    RFC 9162 2.1.4.2 for 0 < old_size < new_size. The RFC leaves two cases open; as in
    transparency-dev/merkle, equal sizes need an empty proof and equal roots (for size 0
    both must also be `EMPTY_ROOT`), and a proof from the empty tree is refused, since it
    would prove nothing. False, never an exception, for any malformed argument.
    """
    if not (
        _is_size(old_size)
        and _is_size(new_size)
        and _is_hash(old_root)
        and _is_hash(new_root)
        and _is_path(proof)
    ):
        return False
    if old_size > new_size:
        return False
    if old_size == new_size:
        return len(proof) == 0 and old_root == new_root and (old_size > 0 or old_root == EMPTY_ROOT)
    if old_size == 0 or len(proof) == 0:
        return False
    path = iter(proof)
    # Step 2: a power-of-two old tree is itself a node of the new one, so the proof omits it.
    first = old_root if old_size & (old_size - 1) == 0 else next(path)
    if not _is_hash(first):
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = first
    for c in path:
        if sn == 0 or not _is_hash(c):
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while fn & 1 == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


# --- Store-backed log ----------------------------------------------------------------------


class NodeStore(Protocol):
    """Where the hashes of complete subtrees live (see the module docstring for the layout).

    A node, once written, never changes: adapters must refuse (raise) a write that would
    replace a stored hash with a different one, and may accept an identical rewrite.
    """

    def get(self, level: int, index: int) -> bytes:
        """The hash of node (level, index); KeyError if it is not stored."""
        ...

    def get_many(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        """The stored hashes among `keys`, in one round trip; absent keys are left out."""
        ...

    def put_many(self, items: Iterable[Node]) -> None:
        """Store `(level, index, hash)` nodes, all or none."""
        ...


class InMemoryNodeStore:
    """A `NodeStore` in a dict, for unit tests and offline tools."""

    def __init__(self) -> None:
        self._nodes: dict[NodeKey, bytes] = {}

    def get(self, level: int, index: int) -> bytes:
        """The hash of node (level, index); KeyError if absent."""
        return self._nodes[(level, index)]

    def get_many(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        """The stored hashes among `keys`; absent keys are left out."""
        return {key: self._nodes[key] for key in keys if key in self._nodes}

    def put_many(self, items: Iterable[Node]) -> None:
        """Store nodes; ValueError (and nothing stored) if one would change a stored hash."""
        batch = {(level, index): value for level, index, value in items}
        for key, value in batch.items():
            if self._nodes.get(key, value) != value:
                raise ValueError(f"node {key} is already stored with a different hash")
        self._nodes.update(batch)

    def nodes(self) -> dict[NodeKey, bytes]:
        """A copy of everything stored."""
        return dict(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)


def _require_size(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value <= MAX_TREE_SIZE:
        raise ValueError(f"{name} {value} is outside 0..2**64-1")


def _complete_cover(start: int, end: int) -> list[NodeKey]:
    """The complete subtrees, largest first, whose fold is MTH(D[start:end]).

    Only valid for the ranges RFC 9162's recursion produces, whose start is a multiple of
    the power of two at or above their length; then each piece is aligned to its own size.
    """
    keys: list[NodeKey] = []
    while start < end:
        level = (end - start).bit_length() - 1
        keys.append((level, start >> level))
        start += 1 << level
    return keys


def _inclusion_ranges(index: int, size: int) -> list[_Range]:
    """The leaf ranges whose MTHs make up PATH(index, D[size]), in proof order."""
    ranges: list[_Range] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def _consistency_ranges(old_size: int, new_size: int) -> list[_Range]:
    """The leaf ranges whose MTHs make up PROOF(old_size, D[new_size]), in proof order."""
    ranges: list[_Range] = []
    start, end, complete = 0, new_size, True
    while old_size != end:
        k = _split(end - start)
        if old_size <= start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            complete = False
    if not complete:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def _fetch(store: NodeStore, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
    if not keys:
        return {}
    found = store.get_many(keys)
    missing = [key for key in keys if key not in found]
    if missing:
        raise KeyError(f"the node store lacks {len(missing)} node(s), first {missing[0]}")
    return found


def _range_hashes(store: NodeStore, ranges: Sequence[_Range]) -> list[bytes]:
    covers = [_complete_cover(start, end) for start, end in ranges]
    nodes = _fetch(store, [key for cover in covers for key in cover])
    hashes: list[bytes] = []
    for cover in covers:
        # MTH of an RFC range is node(first piece, MTH(rest)): fold from the right.
        acc = nodes[cover[-1]]
        for key in reversed(cover[:-1]):
            acc = node_hash(nodes[key], acc)
        hashes.append(acc)
    return hashes


def tree_root(store: NodeStore, size: int) -> bytes:
    """MTH of the first `size` leaves, from at most log2(size) stored nodes.

    KeyError if the store lacks a node the tree of that size must have.
    """
    _require_size("size", size)
    if size == 0:
        return EMPTY_ROOT
    return _range_hashes(store, [(0, size)])[0]


def inclusion_proof(store: NodeStore, index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 2.1.3.1, from O(log size) nodes in one read.

    ValueError unless 0 <= index < size; KeyError if the store lacks a needed node.
    """
    _require_size("index", index)
    _require_size("size", size)
    if index >= size:
        raise ValueError(f"index {index} is outside a tree of size {size}")
    return _range_hashes(store, _inclusion_ranges(index, size))


def consistency_proof(store: NodeStore, old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[new_size]) of RFC 9162 2.1.4.1, from O(log size) nodes in one read.

    Empty when the sizes are equal. ValueError if old_size > new_size, or if old_size is 0
    and new_size is not (RFC 9162 defines no proof from the empty tree); KeyError if the
    store lacks a needed node.
    """
    _require_size("old_size", old_size)
    _require_size("new_size", new_size)
    if old_size > new_size:
        raise ValueError(f"old size {old_size} is larger than new size {new_size}")
    if old_size == new_size:
        return []
    if old_size == 0:
        raise ValueError("there is no consistency proof from the empty tree")
    return _range_hashes(store, _consistency_ranges(old_size, new_size))


def frontier_keys(size: int) -> list[NodeKey]:
    """The nodes an append to a tree of `size` leaves builds on: its maximal complete subtrees.

    There are popcount(size) of them, largest first.
    """
    _require_size("size", size)
    return _complete_cover(0, size)


def nodes_to_append(
    size: int, frontier: Mapping[NodeKey, bytes], leaf_hashes: Sequence[bytes]
) -> list[Node]:
    """The nodes that become complete when `leaf_hashes` are appended to a tree of `size`.

    `frontier` must hold the hashes of `frontier_keys(size)`. Appending the leaf at index i
    completes node (l, (i + 1) // 2**l - 1) for every l with 2**l dividing i + 1, so a
    batch of m leaves yields fewer than 2m nodes. Pure: nothing is read or written.
    ValueError if a leaf hash is not 32 bytes or the tree would outgrow 2**64-1 leaves.
    """
    _require_size("size", size)
    if size + len(leaf_hashes) > MAX_TREE_SIZE:
        raise ValueError("the tree would outgrow 2**64-1 leaves")
    for position, value in enumerate(leaf_hashes, start=size):
        if not _is_hash(value):
            raise ValueError(f"leaf hash at index {position} is not {HASH_SIZE} bytes")
    # The right edge as a stack of (level, hash), largest subtree at the bottom: appending
    # a leaf is binary increment, each carry merging two equal-sized subtrees.
    edge = [(level, frontier[(level, index)]) for level, index in frontier_keys(size)]
    new: list[Node] = []
    for count, value in enumerate(leaf_hashes, start=size + 1):
        edge.append((0, value))
        new.append((0, count - 1, value))
        while len(edge) >= 2 and edge[-1][0] == edge[-2][0]:
            level, right = edge.pop()
            _, left = edge.pop()
            parent = node_hash(left, right)
            level += 1
            edge.append((level, parent))
            new.append((level, (count >> level) - 1, parent))
    return new


def append_leaves(store: NodeStore, size: int, leaf_hashes: Sequence[bytes]) -> list[Node]:
    """Append `leaf_hashes` to the tree of `size` leaves kept in `store`; returns the new nodes.

    One `get_many` for the popcount(size) frontier nodes and one `put_many` for the new
    ones. The caller owns the size and must serialise appends: two appends from the same
    size would each write the same node keys.
    """
    if not leaf_hashes:
        return []
    frontier = _fetch(store, frontier_keys(size))
    new = nodes_to_append(size, frontier, leaf_hashes)
    store.put_many(new)
    return new


class MerkleTree:
    """An append-only log of known size over a `NodeStore`; sizes default to the current one."""

    def __init__(self, store: NodeStore, size: int = 0) -> None:
        _require_size("size", size)
        self._store = store
        self._size = size

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    def append(self, leaf_hashes: Sequence[bytes]) -> int:
        """Append leaf hashes (see `append_leaves`) and return the new size."""
        append_leaves(self._store, self._size, leaf_hashes)
        self._size += len(leaf_hashes)
        return self._size

    def root(self, size: int | None = None) -> bytes:
        """The root of the tree at `size` (default: now)."""
        return tree_root(self._store, self._at(size))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The inclusion proof of leaf `index` in the tree at `size` (default: now)."""
        return inclusion_proof(self._store, index, self._at(size))

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """The consistency proof from `old_size` to `new_size` (default: now)."""
        return consistency_proof(self._store, old_size, self._at(new_size))

    def _at(self, size: int | None) -> int:
        if size is None:
            return self._size
        _require_size("size", size)
        if size > self._size:
            raise ValueError(f"size {size} is beyond the log's {self._size} leaves")
        return size
