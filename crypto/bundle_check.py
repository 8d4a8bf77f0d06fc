"""The offline verifier of a `chronicle-export/1` bundle: DESIGN Ledger §7.

Needs nothing but the bundle (and, optionally, the trust's published public key). Every
check either passes or yields one `Failure` that names the check and, where one is to
blame, the event. The algorithm is written out in docs/verifiable-export.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crypto.chain import (
    GENESIS_PREV,
    chain_leaf,
    checkpoint_signature_valid,
    commitment_hex,
    log_id,
)
from crypto.jcs import CanonicalJSONError
from crypto.merkle import verify_inclusion

FORMAT = "chronicle-export/1"


@dataclass(frozen=True)
class Failure:
    check: str
    message: str
    seq: int | None = None

    def __str__(self) -> str:
        where = f" (event {self.seq})" if self.seq is not None else ""
        return f"{self.check}{where}: {self.message}"


@dataclass(frozen=True)
class Verdict:
    """The outcome: valid, or the first failing check."""

    failure: Failure | None
    pupil: str | None = None
    events: int = 0
    redacted: int = 0
    checkpoint_size: int | None = None

    @property
    def valid(self) -> bool:
        return self.failure is None


class Unreadable(ValueError):
    """The input is not a bundle at all (not JSON, wrong shape): exit code 2."""


def verify_bundle(bundle: Any, public_key: str | None = None) -> Verdict:
    """Check a parsed bundle; raise `Unreadable` when it is not a bundle at all."""
    _shape(bundle)
    pupil = bundle["pupil"]
    try:
        failure = _verify(bundle, public_key)
    except (CanonicalJSONError, ValueError, TypeError, KeyError) as e:
        failure = Failure("format", f"malformed field: {e}")
    events = bundle["events"]
    return Verdict(
        failure=failure,
        pupil=pupil,
        events=len(events),
        redacted=sum(1 for e in events if isinstance(e, dict) and e.get("redacted")),
        checkpoint_size=bundle["checkpoint"].get("size"),
    )


def _verify(bundle: dict[str, Any], public_key: str | None) -> Failure | None:
    pupil: str = bundle["pupil"]
    prev = GENESIS_PREV
    for position, event in enumerate(bundle["events"], start=1):
        seq = event.get("seq")
        if seq != position:
            return Failure("sequence", f"expected event {position}, found {seq!r}", position)
        if event.get("redacted") is True:
            commitment = event["commitment"]
            if not _is_hex(commitment, 32):
                return Failure("commitment", "redacted entry has no valid commitment", seq)
            if not str(event.get("reason", "")).strip():
                return Failure("redaction", "redacted entry gives no reason", seq)
        else:
            commitment = commitment_hex(bytes.fromhex(event["salt"]), event["payload"])
        leaf = chain_leaf(pupil, seq, event["type"], commitment, prev).hex()
        listed = event.get("leaf_hash")
        if listed is not None and listed != leaf:
            # Informative per-event digests let us name the first entry that differs.
            return Failure("chain", "entry does not match its recorded digest", seq)
        prev = leaf
    head = bundle["head"]
    if not bundle["events"] or prev != head["leaf_hash"]:
        return Failure("head", "the chain does not end at head.leaf_hash", len(bundle["events"]))
    return _verify_anchor(bundle, head, public_key)


def _verify_anchor(
    bundle: dict[str, Any], head: dict[str, Any], public_key: str | None
) -> Failure | None:
    checkpoint = bundle["checkpoint"]
    key = bundle["public_key"]
    if public_key is not None and public_key.lower() != key:
        return Failure("public key", "the bundle is signed with a different key than given")
    if checkpoint.get("log") != log_id(key):
        return Failure("checkpoint", "log id does not belong to this public key")
    if not checkpoint_signature_valid(key, checkpoint, bundle["signature"]):
        return Failure("signature", "checkpoint signature does not verify")
    proof = [bytes.fromhex(h) for h in bundle["inclusion_proof"]]
    included = verify_inclusion(
        bytes.fromhex(head["leaf_hash"]),
        head["log_index"],
        checkpoint["size"],
        proof,
        bytes.fromhex(checkpoint["root"]),
    )
    if not included:
        return Failure("inclusion", "head is not in the checkpointed log at log_index")
    return None


def _shape(bundle: Any) -> None:
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise Unreadable(f"not a {FORMAT} bundle")
    needed = {
        "pupil": str,
        "events": list,
        "head": dict,
        "inclusion_proof": list,
        "checkpoint": dict,
        "signature": str,
        "public_key": str,
    }
    for field, kind in needed.items():
        if not isinstance(bundle.get(field), kind):
            raise Unreadable(f"bundle field {field!r} is missing or not a {kind.__name__}")
    if not all(isinstance(e, dict) for e in bundle["events"]):
        raise Unreadable("every event must be a JSON object")


def _is_hex(value: Any, size: int) -> bool:
    if not isinstance(value, str) or len(value) != 2 * size:
        return False
    try:
        bytes.fromhex(value)
    except ValueError:
        return False
    return value == value.lower()
