"""The offline verifier of `chronicle-export/2` (and `/1`) bundles: DESIGN Ledger §7-8.

Needs nothing but the bundle (and, optionally, the trust's published public key). Every
check either passes or yields one `Failure` that names the check or the field and, where one
is to blame, the event. The algorithm is written out in docs/verifiable-export.md.

Version 2 binds every top-level field with the signed manifest (`crypto.manifest`); a
version 1 bundle verifies as before, and the verdict says that its purpose, recipient, time
and withheld reasons are not signed. Either way the verdict says whether the signatures were
checked against a key the caller supplied (anchored) or only against the key the bundle
carries, which anyone can replace together with every signature.
"""

from __future__ import annotations

import json
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
from crypto.manifest import FORMAT, first_difference, manifest_of, manifest_signature_valid
from crypto.merkle import verify_inclusion
from crypto.strict_json import DuplicateKey, NotStrictJSON, loads_strict

FORMAT_V1 = "chronicle-export/1"
FORMATS = (FORMAT_V1, FORMAT)
# The access stream of pupil P is uuid5(ACCESS_NAMESPACE, str(P)) (domain/access.py; fixed
# for ever, written out in docs/verifiable-export.md so a verifier needs no code of ours).
ACCESS_NAMESPACE = UUID("6f1d3c0e-6c1b-5a7e-9a51-2f0f6a3c9b10")

_STRUCTURE = {
    "pupil": str,
    "events": list,
    "head": dict,
    "inclusion_proof": list,
    "checkpoint": dict,
    "signature": str,
    "public_key": str,
}
# Every top-level field of a version 2 bundle: the manifest signs the first group, the
# checks themselves bind `inclusion_proof`, `signature` and `public_key`.
V2_FIELDS = {
    "format",
    "pupil",
    "purpose",
    "recipient",
    "legal_basis",
    "exported_by",
    "time",
    "policy",
    "events",
    "head",
    "checkpoint",
    "access_log",
    "subject_access",
    "inclusion_proof",
    "signature",
    "public_key",
    "manifest",
    "manifest_signature",
}
_SHOWN = {"seq", "type", "payload", "salt"}
_WITHHELD = {"seq", "type", "redacted", "commitment", "reason"}
_CHECKPOINT = {"log", "size", "root", "issued_at"}


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
    format: str | None = None
    pupil: str | None = None
    events: int = 0
    redacted: int = 0
    checkpoint_size: int | None = None
    access_log_entries: int | None = None  # None: the bundle has no access log
    public_key: str | None = None  # the key the signatures were checked against
    anchored: bool = False  # that key was given by the caller, not only read from the bundle

    @property
    def valid(self) -> bool:
        return self.failure is None

    @property
    def version(self) -> int | None:
        """1 or 2: what the signatures cover depends on it (version 1 signs no manifest)."""
        return None if self.format is None else FORMATS.index(self.format) + 1


class Unreadable(ValueError):
    """The input is not a bundle at all (not JSON, wrong shape): exit code 2."""


def verify_bundle(bundle: Any, public_key: str | None = None) -> Verdict:
    """Check a bundle given as its JSON text (bytes or str, parsed strictly: a duplicate key
    anywhere fails the check `duplicate key`) or as an already parsed value (parse it with
    `crypto.strict_json.loads_strict`). Raise `Unreadable` when it is not a bundle at all.
    `public_key` is the trust's published key (hex); without it the verdict is not anchored.
    """
    if isinstance(bundle, bytes | str):
        try:
            bundle = loads_strict(bundle)
        except DuplicateKey as e:
            return Verdict(failure=Failure("duplicate key", str(e)))
        except (json.JSONDecodeError, UnicodeDecodeError, NotStrictJSON) as e:
            raise Unreadable(f"not JSON: {e}") from None
    _shape(bundle)
    try:
        failure = _verify(bundle, public_key)
    except (CanonicalJSONError, ValueError, TypeError, KeyError, AttributeError) as e:
        failure = Failure("format", f"malformed field: {e}")
    events = bundle["events"]
    access = bundle.get("access_log")
    return Verdict(
        failure=failure,
        format=bundle["format"],
        pupil=bundle["pupil"],
        events=len(events),
        redacted=sum(1 for e in events if e.get("redacted")),
        checkpoint_size=bundle["checkpoint"].get("size"),
        access_log_entries=_count(access),
        public_key=bundle["public_key"],
        anchored=public_key is not None and public_key.lower() == bundle["public_key"],
    )


def _count(access: Any) -> int | None:
    if isinstance(access, dict) and isinstance(access.get("events"), list):
        return len(access["events"])
    return None


def _verify(bundle: dict[str, Any], public_key: str | None) -> Failure | None:
    v2 = bundle["format"] == FORMAT
    if v2 and (extra := sorted(set(bundle) - V2_FIELDS)):
        return Failure("unsigned field", f"{extra[0]!r} is not a {FORMAT} field: nothing signs it")
    failure = _verify_chain(bundle["pupil"], bundle["events"], bundle["head"], "")
    if failure is None:
        failure = _verify_anchor(bundle, bundle["head"], public_key)
    if failure is None and "access_log" in bundle:
        failure = _verify_access_log(bundle, bundle["access_log"])
    if failure is None and v2:
        failure = _verify_manifest(bundle)
    return failure


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
        if seq != position or type(seq) is not int:
            return Failure(
                f"{prefix}sequence", f"expected event {position}, found {seq!r}", position
            )
        failure = _entry_shape(event, prefix)
        if failure is not None:
            return failure
        if "redacted" in event:
            commitment = event["commitment"]
            if not _is_hex(commitment, 32):
                return Failure(f"{prefix}commitment", "redacted entry has no valid commitment", seq)
            if not isinstance(event["reason"], str) or not event["reason"].strip():
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


def _entry_shape(event: dict[str, Any], prefix: str) -> Failure | None:
    """An entry is exactly shown ({seq, type, payload, salt}) or exactly withheld ({seq, type,
    redacted: true, commitment, reason}), each with an optional leaf_hash: a withheld entry
    that also carries a payload would show what nobody can check."""
    seq = event["seq"]
    withheld = "redacted" in event
    if withheld and prefix:
        return Failure(f"{prefix}entry", "access-log entries are never withheld", seq)
    if withheld and event["redacted"] is not True:
        return Failure(f"{prefix}redaction", "redacted must be true when present", seq)
    expected = _WITHHELD if withheld else _SHOWN
    fields = set(event) - {"leaf_hash"}
    if extra := sorted(fields - expected):
        kind = "withheld entry" if withheld else "entry"
        shows = ", ".join(sorted(expected))
        return Failure(f"{prefix}{kind}", f"carries {extra[0]!r}: a {kind} has only {shows}", seq)
    if missing := sorted(expected - fields):
        return Failure(f"{prefix}entry", f"has no {missing[0]!r}", seq)
    return None


def _verify_anchor(
    bundle: dict[str, Any], head: dict[str, Any], public_key: str | None
) -> Failure | None:
    checkpoint = bundle["checkpoint"]
    key = bundle["public_key"]
    if public_key is not None and public_key.lower() != key:
        return Failure("public key", "the bundle is signed with a different key than given")
    if set(checkpoint) != _CHECKPOINT:
        return Failure("checkpoint", f"a checkpoint has exactly {', '.join(sorted(_CHECKPOINT))}")
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


def _verify_manifest(bundle: dict[str, Any]) -> Failure | None:
    """Version 2: the manifest verifies with the bundle's key (the one that signed the
    checkpoint) and says exactly what the bundle's own fields say."""
    manifest, signature = bundle.get("manifest"), bundle.get("manifest_signature")
    if not isinstance(manifest, dict):
        return Failure("manifest", f"missing: a {FORMAT} bundle carries its signed manifest")
    if not _is_hex(signature, 64):
        return Failure("manifest signature", "missing or not 64 bytes of lower-case hex")
    if not manifest_signature_valid(bundle["public_key"], manifest, signature):
        return Failure("manifest signature", "does not verify with the bundle's public key")
    path = first_difference(manifest, manifest_of(bundle))
    return None if path is None else _named(path, manifest, manifest_of(bundle))


def _named(path: str, signed: dict[str, Any], claimed: dict[str, Any]) -> Failure:
    """Name what differs between the signed manifest and the bundle at `path`."""
    if path.startswith("entries["):
        return _entry_differs(path, signed["entries"], claimed["entries"])
    if path == "entries":
        return Failure(
            "entries",
            f"the bundle has {len(claimed['entries'])} entries, the signed manifest "
            f"{len(signed['entries'])}",
        )
    top = path.split(".")[0].split("[")[0]
    check = top if top == "access_log" else path.split("[")[0]
    said, shows = _lookup(signed, check), _lookup(claimed, check)
    if shows is None:
        message = f"is in the signed manifest ({_show(said)}) but missing from the bundle"
    elif said is None:
        message = "is in the bundle but not in the signed manifest"
    else:
        message = f"differs from the signed manifest, which says {_show(said)}"
    if path != check:
        message += f" (at {path})"
    return Failure(check, message)


def _entry_differs(path: str, signed: list[Any], claimed: list[Any]) -> Failure:
    index = int(path[len("entries[") : path.index("]")])
    seq = index + 1
    if not path.endswith("].withheld") or index >= min(len(signed), len(claimed)):
        return Failure("entries", f"the entry differs from the signed list (at {path})", seq)
    said, shows = signed[index]["withheld"], claimed[index]["withheld"]
    if said is None:
        return Failure("withheld", "shown in the signed manifest but withheld in the bundle", seq)
    if shows is None:
        return Failure(
            "withheld", f"withheld in the signed manifest ({said!r}) but shown in the bundle", seq
        )
    return Failure("withheld reason", f"the signed reason is {said!r}, not {shows!r}", seq)


def _lookup(value: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def _shape(bundle: Any) -> None:
    if not isinstance(bundle, dict) or bundle.get("format") not in FORMATS:
        raise Unreadable(f"not a {FORMAT} (or {FORMAT_V1}) bundle")
    for field, kind in _STRUCTURE.items():
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
