"""Per-pupil hash chains and signed checkpoints: DESIGN "Ledger and verifiable export" §2-5.

Pure functions over bytes and JSON, shared by the ledger (which writes) and the offline
verifier (which checks), so both compute exactly the same thing.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, TypedDict

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from crypto.jcs import canonical_json
from crypto.merkle import leaf_hash

GENESIS_PREV = "0" * 64


class Checkpoint(TypedDict):
    """A signed statement of the log's size and root at a moment."""

    log: str
    size: int
    root: str
    issued_at: str


def chain_entry(pupil: str, seq: int, event_type: str, commitment: str, prev: str) -> bytes:
    """JCS({"pupil", "seq", "type", "commitment", "prev"}): the bytes a leaf hashes.

    Written out (keys in JCS order) because it runs once per event in the ledger and in
    every verification; it equals `canonical_json` of the same object, which the tests check.
    The values are JSON-encoded, so a hostile bundle cannot inject structure through them.
    """
    if type(seq) is not int:
        raise TypeError("seq must be an integer")
    return (
        f'{{"commitment":{_string(commitment)},"prev":{_string(prev)},"pupil":{_string(pupil)},'
        f'"seq":{seq},"type":{_string(event_type)}}}'
    ).encode()


def _string(value: str) -> str:
    if type(value) is not str:
        raise TypeError("chain entry fields must be strings")
    if _PLAIN.fullmatch(value):  # hex, UUIDs and type names need no escaping
        return f'"{value}"'
    return json.dumps(value, ensure_ascii=False)


_PLAIN = re.compile(r"[0-9A-Za-z_.:-]*")


def chain_leaf(pupil: str, seq: int, event_type: str, commitment: str, prev: str) -> bytes:
    """leaf_hash = SHA-256(0x00 || entry): both the chain link and the Merkle leaf."""
    return leaf_hash(chain_entry(pupil, seq, event_type, commitment, prev))


def commitment_hex(salt: bytes, payload: Any) -> str:
    """SHA-256(salt || JCS(payload)) in hex, for a payload given as a JSON value."""
    return hashlib.sha256(salt + canonical_json(payload)).hexdigest()


def log_id(public_key_hex: str) -> str:
    """The log's identity: derived from the trust's public key, so it cannot be swapped."""
    return "chronicle:" + hashlib.sha256(bytes.fromhex(public_key_hex)).hexdigest()[:32]


def sign_checkpoint(key: Ed25519PrivateKey, checkpoint: Checkpoint) -> str:
    """Ed25519 over JCS(checkpoint), hex."""
    return key.sign(canonical_json(dict(checkpoint))).hex()


def checkpoint_signature_valid(public_key_hex: str, checkpoint: Any, signature_hex: str) -> bool:
    """True when `signature_hex` is the trust's Ed25519 signature over JCS(checkpoint)."""
    try:
        public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
        public.verify(bytes.fromhex(signature_hex), canonical_json(checkpoint))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
