"""The trust's Ed25519 checkpoint signing key, kept in `CHRONICLE_HOME/keys/` (0600)."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crypto.errors import KeyEncryptionKeyError
from crypto.kek import key_file_problem, write_key_file

SIGNING_KEY_FILE = "checkpoint-signing.pem"


def create_signing_key(keys_dir: Path) -> Path:
    """Create the signing key if there is none; never overwrites an existing key."""
    path = keys_dir / SIGNING_KEY_FILE
    if path.exists():
        return path
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_key_file(path, pem)
    return path


def load_signing_key(keys_dir: Path) -> Ed25519PrivateKey:
    """Load the signing key, refusing a missing, loose-permission or damaged file."""
    path = keys_dir / SIGNING_KEY_FILE
    if not path.exists():
        raise KeyEncryptionKeyError(
            f"checkpoint signing key {path} is missing: run `chronicle init` or restore it "
            "from your key backup"
        )
    problem = key_file_problem(path)
    if problem is not None:
        raise KeyEncryptionKeyError(problem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyEncryptionKeyError(f"{path} is not an Ed25519 private key")
    return key


def public_key_hex(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw.hex()
