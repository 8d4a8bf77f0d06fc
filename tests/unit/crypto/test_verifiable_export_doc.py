"""docs/verifiable-export.md is complete: a verifier written from it alone accepts the
worked example (a chronicle-export/2 bundle and its signed manifest) and refuses its
forgeries, every value the page quotes is what the example contains, and the documented
commands say what the page says they say."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from crypto.bundle_check import verify_bundle

ROOT = Path(__file__).resolve().parents[3]
DOC = (ROOT / "docs" / "verifiable-export.md").read_text()
EXAMPLE = json.loads((ROOT / "docs" / "examples" / "export-example.json").read_text())
V1_EXAMPLE = Path(__file__).parent / "testdata" / "export-v1.json"
EXAMPLE_KEY = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"


def jcs(value: Any) -> bytes:
    # The page's reduced JCS: sorted ASCII keys, no whitespace, minimal escaping.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


BUNDLE_FIELDS = {
    "format", "pupil", "purpose", "recipient", "legal_basis", "exported_by", "time", "policy",
    "events", "head", "inclusion_proof", "checkpoint", "signature", "public_key",
    "access_log", "subject_access", "manifest", "manifest_signature",
}  # fmt: skip
SHOWN = {"seq", "type", "payload", "salt"}
WITHHELD = {"seq", "type", "redacted", "commitment", "reason"}


def strict(text: str) -> Any:
    """The page's strict JSON: a repeated key is an error."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            raise ValueError("duplicate key")
        return dict(items)

    return json.loads(text, object_pairs_hook=pairs)


def manifest_for(bundle: dict[str, Any]) -> dict[str, Any]:
    """The manifest table of the page, transcribed."""
    log = bundle.get("access_log")
    return {
        "format": "chronicle-export/2",
        **{
            k: bundle.get(k)
            for k in ("pupil", "purpose", "recipient", "legal_basis", "exported_by", "time")
        },
        "policy": bundle.get("policy"),
        "entries": [
            {
                "seq": e["seq"],
                "type": e["type"],
                "withheld": e["reason"] if e.get("redacted") is True else None,
            }
            for e in bundle["events"]
        ],
        "head": bundle["head"],
        "checkpoint": bundle["checkpoint"],
        "access_log": None
        if log is None
        else {
            "stream": log["stream"],
            "entries": len(log["events"]),
            "head": log["head"],
            "digest": sha(jcs(log)).hex(),
        },
        "subject_access": bundle.get("subject_access"),
    }


def independent_verify(bundle: dict[str, Any], public_key: str) -> bool:
    """Steps 1-8, 13 and 14 of the page, with nothing from Chronicle but the page."""
    if bundle["format"] != "chronicle-export/2" or not set(bundle) <= BUNDLE_FIELDS:
        return False
    prev = "0" * 64
    for i, event in enumerate(bundle["events"], start=1):
        assert event["seq"] == i
        if event.get("redacted") is True:
            if set(event) - {"leaf_hash"} != WITHHELD:
                return False
            commitment = event["commitment"]
        else:
            if set(event) - {"leaf_hash"} != SHOWN:
                return False
            commitment = sha(bytes.fromhex(event["salt"]) + jcs(event["payload"])).hex()
        entry = {
            "pupil": bundle["pupil"],
            "seq": i,
            "type": event["type"],
            "commitment": commitment,
            "prev": prev,
        }
        prev = sha(b"\x00" + jcs(entry)).hex()
    if prev != bundle["head"]["leaf_hash"] or public_key != bundle["public_key"]:
        return False
    log = "chronicle:" + sha(bytes.fromhex(public_key)).hex()[:32]
    if bundle["checkpoint"]["log"] != log:
        return False
    trust = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key))
    try:
        trust.verify(bytes.fromhex(bundle["signature"]), jcs(bundle["checkpoint"]))
        trust.verify(bytes.fromhex(bundle["manifest_signature"]), jcs(bundle["manifest"]))
    except InvalidSignature:
        return False
    included = _rfc9162_inclusion(
        bytes.fromhex(prev),
        bundle["head"]["log_index"],
        bundle["checkpoint"]["size"],
        [bytes.fromhex(h) for h in bundle["inclusion_proof"]],
    ) == bytes.fromhex(bundle["checkpoint"]["root"])
    return included and jcs(manifest_for(bundle)) == jcs(bundle["manifest"])


def _rfc9162_inclusion(leaf: bytes, index: int, size: int, path: list[bytes]) -> bytes | None:
    # RFC 9162 section 2.1.3.2, transcribed.
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = sha(b"\x01" + p + r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = sha(b"\x01" + r + p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def test_the_example_verifies_with_chronicle() -> None:
    verdict = verify_bundle(EXAMPLE, EXAMPLE_KEY)
    assert verdict.valid, verdict.failure
    assert verdict.events == 4 and verdict.redacted == 1 and verdict.version == 2


def _withhold_event_2(bundle: dict[str, Any]) -> None:
    event = bundle["events"][1]
    commitment = sha(bytes.fromhex(event["salt"]) + jcs(event["payload"])).hex()
    bundle["events"][1] = {
        "seq": 2,
        "type": event["type"],
        "redacted": True,
        "commitment": commitment,
        "reason": "not relevant",
    }


FORGERIES: list[tuple[Any, str, int | None]] = [
    (lambda b: b["events"][1]["payload"].update(description="edited"), "chain", 2),
    (lambda b: b.update(purpose="copy_to_parents"), "purpose", None),
    (lambda b: b.update(recipient="A newspaper"), "recipient", None),
    (lambda b: b.update(time="2030-01-01T00:00:00Z"), "time", None),
    (lambda b: b["events"][2].update(reason="not relevant"), "withheld reason", 3),
    (lambda b: b["events"][2].update(payload={"description": "FORGED"}), "withheld entry", 3),
    (_withhold_event_2, "withheld", 2),
    (lambda b: b.update(notes="unsigned"), "unsigned field", None),
]


def test_a_verifier_written_from_the_page_agrees() -> None:
    assert independent_verify(EXAMPLE, EXAMPLE_KEY)
    for tamper, check, seq in FORGERIES:
        tampered = json.loads(json.dumps(EXAMPLE))
        tamper(tampered)
        assert not independent_verify(tampered, EXAMPLE_KEY), check
        failure = verify_bundle(tampered, EXAMPLE_KEY).failure
        assert failure is not None and (failure.check, failure.seq) == (check, seq), failure
    text = (ROOT / "docs" / "examples" / "export-example.json").read_text()
    doubled = text.replace('"time": ', '"time": "2030-01-01T00:00:00Z", "time": ', 1)
    with pytest.raises(ValueError, match="duplicate"):
        strict(doubled)
    assert strict(text) == EXAMPLE


def test_every_value_quoted_by_the_page_is_in_the_example() -> None:
    first = EXAMPLE["events"][0]
    payload = jcs(first["payload"])
    commitment = sha(bytes.fromhex(first["salt"]) + payload).hex()
    entry = jcs(
        {
            "pupil": EXAMPLE["pupil"],
            "seq": 1,
            "type": "PupilRegistered",
            "commitment": commitment,
            "prev": "0" * 64,
        }
    )
    for quoted in (
        payload.decode(),
        commitment,
        entry.decode(),
        sha(b"\x00" + entry).hex(),
        EXAMPLE["checkpoint"]["root"],
        jcs(EXAMPLE["checkpoint"]).decode(),
        EXAMPLE_KEY,
        first["salt"],
        EXAMPLE["events"][2]["commitment"],
        EXAMPLE["head"]["leaf_hash"],
        jcs(EXAMPLE["manifest"]).decode(),
        EXAMPLE["manifest_signature"],
        sha(jcs(EXAMPLE)).hex(),
    ):
        assert quoted in DOC, quoted
    key = bytes(range(32))
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    derived = (
        Ed25519PrivateKey.from_private_bytes(key)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    assert derived.hex() == EXAMPLE_KEY  # "private bytes 00 01 02 … 1f", as the page says


def test_the_documented_command_works(tmp_path: Path) -> None:
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "api.cli",
            "verify",
            str(ROOT / "docs/examples/export-example.json"),
            "--public-key",
            EXAMPLE_KEY,
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert ok.returncode == 0 and "VALID (anchored)" in ok.stdout, ok.stderr
    alone = _verify(tmp_path, ROOT / "docs/examples/export-example.json")
    assert alone.returncode == 0 and "VALID (NOT anchored)" in alone.stdout
    assert f"Compare this key with the trust's published key: {EXAMPLE_KEY}" in alone.stdout
    v1 = _verify(tmp_path, V1_EXAMPLE, "--public-key", EXAMPLE_KEY)
    assert v1.returncode == 0, v1.stderr
    version_1 = (
        "format chronicle-export/1: the entries and checkpoint are verified; the purpose, "
        "recipient, time and withheld reasons are not signed in this version."
    )
    assert version_1 in " ".join(v1.stdout.split())  # as the page quotes it
    assert version_1 in DOC
    bad = tmp_path / "bad.json"
    broken = json.loads(json.dumps(EXAMPLE))
    broken["events"][3]["payload"]["reason"] = "changed"
    bad.write_text(json.dumps(broken))
    invalid = subprocess.run(
        [sys.executable, "-m", "api.cli", "verify", str(bad)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert invalid.returncode == 1 and "chain (event 4)" in invalid.stderr
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    unreadable = subprocess.run(
        [sys.executable, "-m", "api.cli", "verify", str(junk)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert unreadable.returncode == 2 and "unreadable" in unreadable.stderr


def _verify(cwd: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "verify", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200"},
    )
