"""The signed manifest of a `chronicle-export/2` bundle: DESIGN Ledger §8.

The chain and the checkpoint bind the entries' content; the manifest binds everything else
a reader relies on: to whom and why the records went, on what basis, who exported them,
when, under which policy, which entries are withheld and why, and the access-log and
subject-access parts. The trust signs `JCS(manifest)` with the key that signs checkpoints.

`manifest_of` derives the manifest from a bundle; the exporter signs what it returns and the
verifier compares what it returns with what was signed, so both compute exactly the same
thing (as `crypto.chain` does for chain entries). Field by field in docs/verifiable-export.md.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from crypto.jcs import CanonicalJSONError, canonical_json

FORMAT = "chronicle-export/2"

# The bundle's top-level fields the manifest repeats as they are (`format` is fixed).
COPIED = ("pupil", "purpose", "recipient", "legal_basis", "exported_by", "time", "policy")
FIELDS = ("format", *COPIED, "entries", "head", "checkpoint", "access_log", "subject_access")


def manifest_of(bundle: dict[str, Any]) -> dict[str, Any]:
    """The manifest a bundle's own fields call for (a missing field gives null). A copy: it
    shares nothing with the bundle, so a later change to one never shows in the other."""
    manifest: dict[str, Any] = {"format": FORMAT}
    manifest.update({field: bundle.get(field) for field in COPIED})
    manifest["entries"] = [_entry(event) for event in bundle["events"]]
    manifest["head"] = bundle.get("head")
    manifest["checkpoint"] = bundle.get("checkpoint")
    manifest["access_log"] = access_log_summary(bundle.get("access_log"))
    manifest["subject_access"] = bundle.get("subject_access")
    return copy.deepcopy(manifest)


def _entry(event: dict[str, Any]) -> dict[str, Any]:
    withheld = event.get("reason") if event.get("redacted") is True else None
    return {"seq": event.get("seq"), "type": event.get("type"), "withheld": withheld}


def access_log_summary(log: Any) -> dict[str, Any] | None:
    """`{"stream", "entries", "head", "digest"}` of the bundle's `access_log`, where `digest`
    is SHA-256(JCS(access_log)) over the whole object; null when there is none."""
    if log is None:
        return None
    if not isinstance(log, dict):
        # Not an access log at all: a digest of it still tells a changed one from the signed.
        return {"stream": None, "entries": None, "head": None, "digest": _digest(log)}
    events = log.get("events")
    return {
        "stream": log.get("stream"),
        "entries": len(events) if isinstance(events, list) else None,
        "head": log.get("head"),
        "digest": _digest(log),
    }


def _digest(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


def sign_manifest(key: Ed25519PrivateKey, manifest: dict[str, Any]) -> str:
    """Ed25519 over JCS(manifest), hex. Refuses anything that is not an export manifest, so
    a caller can never obtain, through this function, the trust's signature over a checkpoint
    or any other statement."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"only a {FORMAT} manifest is signed here")
    if set(manifest) != set(FIELDS):
        raise ValueError(f"a manifest has exactly the fields {', '.join(FIELDS)}")
    return key.sign(canonical_json(manifest)).hex()


def manifest_signature_valid(public_key_hex: str, manifest: Any, signature_hex: Any) -> bool:
    """True when `signature_hex` is the Ed25519 signature of `public_key_hex` over
    JCS(manifest)."""
    try:
        public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
        public.verify(bytes.fromhex(signature_hex), canonical_json(manifest))
    except (InvalidSignature, CanonicalJSONError, ValueError, TypeError):
        return False
    return True


def first_difference(signed: Any, claimed: Any, path: str = "") -> str | None:
    """The path (`purpose`, `subject_access.third_party_review`, `entries[2].withheld`) of
    the first place where two JSON values differ, or None when they are the same JSON.
    Leaves compare as JCS, so `1`, `1.0` and `true` are all different."""
    if isinstance(signed, dict) and isinstance(claimed, dict):
        for key in sorted(set(signed) | set(claimed)):
            if key not in signed or key not in claimed:
                return _join(path, key)
            found = first_difference(signed[key], claimed[key], _join(path, key))
            if found is not None:
                return found
        return None
    if isinstance(signed, list) and isinstance(claimed, list):
        for index, (a, b) in enumerate(zip(signed, claimed, strict=False)):
            found = first_difference(a, b, f"{path}[{index}]")
            if found is not None:
                return found
        return None if len(signed) == len(claimed) else path
    return None if _same(signed, claimed) else path


def _same(a: Any, b: Any) -> bool:
    try:
        return canonical_json(a) == canonical_json(b)
    except CanonicalJSONError:
        return False


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
