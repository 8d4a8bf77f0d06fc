"""The offline verifier of a `chronicle-export/1` bundle: DESIGN Ledger §7.

Needs nothing but the bundle (and, optionally, the trust's published public key). Every
check either passes or yields one `Failure` that names the check and, where one is to
blame, the event. The algorithm is written out in docs/verifiable-export.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid5

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
# The access stream of pupil P is uuid5(ACCESS_NAMESPACE, str(P)) (domain/access.py; fixed
# for ever, written out in docs/verifiable-export.md so a verifier needs no code of ours).
ACCESS_NAMESPACE = UUID("6f1d3c0e-6c1b-5a7e-9a51-2f0f6a3c9b10")


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
    access_log_entries: int | None = None  # None: the bundle has no access log

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
    access = bundle.get("access_log")
    return Verdict(
        failure=failure,
        pupil=pupil,
        events=len(events),
        redacted=sum(1 for e in events if isinstance(e, dict) and e.get("redacted")),
        checkpoint_size=bundle["checkpoint"].get("size"),
        access_log_entries=len(access["events"]) if isinstance(access, dict) else None,
    )


def _verify(bundle: dict[str, Any], public_key: str | None) -> Failure | None:
    failure = _verify_chain(bundle["pupil"], bundle["events"], bundle["head"], "")
    if failure is not None:
        return failure
    failure = _verify_anchor(bundle, bundle["head"], public_key)
    if failure is not None or "access_log" not in bundle:
        return failure
    return _verify_access_log(bundle, bundle["access_log"])


def _verify_access_log(bundle: dict[str, Any], log: Any) -> Failure | None:
    """The optional access log (subject-access exports): the pupil's access stream, chained
    from its entry 1 and included in the same signed checkpoint."""
    if not isinstance(log, dict) or not isinstance(log.get("events"), list):
        return Failure("access log", "access_log must be an object with an events list")
    if log.get("stream") != str(uuid5(ACCESS_NAMESPACE, bundle["pupil"])):
        return Failure("access log", "stream is not this pupil's access stream")
    if not log["events"]:
        return None if log.get("head") is None else Failure("access log", "head without events")
    if not all(isinstance(e, dict) for e in log["events"]):
        return Failure("access log", "every access-log event must be a JSON object")
    failure = _verify_chain(log["stream"], log["events"], log["head"], "access log ")
    if failure is not None:
        return failure
    head = log["head"]
    included = verify_inclusion(
        bytes.fromhex(head["leaf_hash"]),
        head["log_index"],
        bundle["checkpoint"]["size"],
        [bytes.fromhex(h) for h in log["inclusion_proof"]],
        bytes.fromhex(bundle["checkpoint"]["root"]),
    )
    if not included:
        return Failure("access log inclusion", "head is not in the checkpointed log at log_index")
    return None


def _verify_chain(
    pupil: str, events: list[dict[str, Any]], head: Any, prefix: str
) -> Failure | None:
    """Steps 2 to 5 over one stream's events: sequence, commitments, chain and head."""
    prev = GENESIS_PREV
    for position, event in enumerate(events, start=1):
        seq = event.get("seq")
        if seq != position:
            return Failure(
                f"{prefix}sequence", f"expected event {position}, found {seq!r}", position
            )
        if event.get("redacted") is True:
            commitment = event["commitment"]
            if not _is_hex(commitment, 32):
                return Failure(f"{prefix}commitment", "redacted entry has no valid commitment", seq)
            if not str(event.get("reason", "")).strip():
                return Failure(f"{prefix}redaction", "redacted entry gives no reason", seq)
        else:
            commitment = commitment_hex(bytes.fromhex(event["salt"]), event["payload"])
        leaf = chain_leaf(pupil, seq, event["type"], commitment, prev).hex()
        listed = event.get("leaf_hash")
        if listed is not None and listed != leaf:
            # Informative per-event digests let us name the first entry that differs.
            return Failure(f"{prefix}chain", "entry does not match its recorded digest", seq)
        prev = leaf
    if not events or not isinstance(head, dict) or prev != head.get("leaf_hash"):
        return Failure(f"{prefix}head", "the chain does not end at head.leaf_hash", len(events))
    return None


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
