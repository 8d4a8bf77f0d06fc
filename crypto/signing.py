"""The trust's Ed25519 checkpoint signing key, kept in `CHRONICLE_HOME/keys/` (0600)."""

from __future__ import annotations

from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
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
    """Load the signing key, refusing a missing, loose-permission or damaged file with one
    message that names the file and what to do (never a traceback: a supervisor restarting
    the service would loop on it)."""
    path = keys_dir / SIGNING_KEY_FILE
    if not path.exists():
        raise KeyEncryptionKeyError(
            f"checkpoint signing key {path} is missing: restore it from your key backup "
            '(docs/operations.md, "Damaged signing key")'
        )
    problem = key_file_problem(path)
    if problem is not None:
        raise KeyEncryptionKeyError(problem)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as e:
        raise _unusable(path, f"cannot be read: {e.strerror or type(e).__name__}") from None
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # The library's message may quote the file's bytes: never repeat it.
        raise _unusable(path, "is damaged: not a PEM private key without a password") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise _unusable(path, "is not an Ed25519 private key")
    return key


def _unusable(path: Path, why: str) -> KeyEncryptionKeyError:
    return KeyEncryptionKeyError(
        f"checkpoint signing key {path} {why}: restore it from your key backup (the trust's "
        'published public key must match it); see docs/operations.md, "Damaged signing '
        'key". Nothing was written'
    )


def public_key_hex(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw.hex()
