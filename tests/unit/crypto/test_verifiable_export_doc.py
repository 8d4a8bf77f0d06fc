"""docs/verifiable-export.md is complete: a verifier written from it alone accepts the
worked example, and every value the page quotes is what the example contains."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from crypto.bundle_check import verify_bundle

ROOT = Path(__file__).resolve().parents[3]
DOC = (ROOT / "docs" / "verifiable-export.md").read_text()
EXAMPLE = json.loads((ROOT / "docs" / "examples" / "export-example.json").read_text())
EXAMPLE_KEY = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"


def jcs(value: Any) -> bytes:
    # The page's reduced JCS: sorted ASCII keys, no whitespace, minimal escaping.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def independent_verify(bundle: dict[str, Any], public_key: str) -> bool:
    """Steps 2-8 of the page, with nothing from Chronicle but the page."""
    prev = "0" * 64
    for i, event in enumerate(bundle["events"], start=1):
        assert event["seq"] == i
        if event.get("redacted") is True:
            commitment = event["commitment"]
        else:
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
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key)).verify(
        bytes.fromhex(bundle["signature"]), jcs(bundle["checkpoint"])
    )
    return _rfc9162_inclusion(
        bytes.fromhex(prev),
        bundle["head"]["log_index"],
        bundle["checkpoint"]["size"],
        [bytes.fromhex(h) for h in bundle["inclusion_proof"]],
    ) == bytes.fromhex(bundle["checkpoint"]["root"])


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
    assert verdict.events == 4 and verdict.redacted == 1


def test_a_verifier_written_from_the_page_agrees() -> None:
    assert independent_verify(EXAMPLE, EXAMPLE_KEY)
    tampered = json.loads(json.dumps(EXAMPLE))
    tampered["events"][1]["payload"]["description"] = "edited"
    assert not independent_verify(tampered, EXAMPLE_KEY)


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
    assert ok.returncode == 0 and "VALID" in ok.stdout, ok.stderr
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
