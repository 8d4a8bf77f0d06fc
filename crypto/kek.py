"""Key-encryption keys (KEKs): the envelope around every pupil's data key.

A KEK never enters the database. The port is `KeyEncryptionKey` (wrap and unwrap one data
key) and `KekRing` (the current KEK for new wraps, older ones by key id for unwrapping). The
file ring keeps each KEK in `CHRONICLE_HOME/keys/kek-<kid>.json`, mode 0600; a KMS or Vault
adapter implements the same two protocols with remote wrap/unwrap calls.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.errors import KeyEncryptionKeyError

_NONCE = 12


class KeyEncryptionKey(Protocol):
    """Wraps and unwraps data keys; `kid` names it so data keys record which KEK wrapped them."""

    @property
    def kid(self) -> str: ...

    @property
    def development(self) -> bool: ...

    def wrap(self, data_key: bytes, owner: UUID) -> bytes: ...

    def unwrap(self, wrapped: bytes, owner: UUID) -> bytes: ...


class KekRing(Protocol):
    """The set of KEKs an installation holds: one current, older ones kept for unwrapping."""

    def current(self) -> KeyEncryptionKey: ...

    def get(self, kid: str) -> KeyEncryptionKey: ...

    def add_new(self) -> KeyEncryptionKey:
        """Create a new KEK and make it current (the first step of a rotation)."""
        ...

    def retire(self, kid: str) -> None:
        """Stop offering `kid`: no data key is wrapped under it any more."""
        ...

    def destroy(self, kid: str, *, retired_at: datetime, now: datetime) -> None:
        """Destroy the retired KEK `kid` for good: nothing can unwrap under it any more
        (the end of its epoch; docs/encryption.md, "KEK epochs")."""
        ...


class LocalKek:
    """An AES-256-GCM KEK held in this process; the wrap is bound to the owner and the kid."""

    def __init__(self, kid: str, key: bytes, development: bool) -> None:
        if len(key) != 32:
            raise KeyEncryptionKeyError(f"KEK {kid} must be 32 bytes, not {len(key)}")
        self._kid, self._aead, self._development = kid, AESGCM(key), development

    @property
    def kid(self) -> str:
        return self._kid

    @property
    def development(self) -> bool:
        return self._development

    def wrap(self, data_key: bytes, owner: UUID) -> bytes:
        """Encrypt a data key under this KEK, bound to its owner (the pupil id)."""
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, data_key, self._aad(owner))

    def unwrap(self, wrapped: bytes, owner: UUID) -> bytes:
        """Recover a data key; a wrong KEK or a key moved to another owner is refused."""
        try:
            return self._aead.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], self._aad(owner))
        except InvalidTag:
            raise KeyEncryptionKeyError(
                f"key-encryption key {self._kid} cannot unwrap the data key of {owner}: "
                "the key file is not the one these keys were wrapped with"
            ) from None

    def _aad(self, owner: UUID) -> bytes:
        return b"chronicle-data-key|" + self._kid.encode() + b"|" + owner.bytes


class InMemoryKekRing:
    """A KEK ring for tests: nothing touches the disk."""

    def __init__(self, development: bool = True) -> None:
        self._development = development
        self._keks: dict[str, LocalKek] = {}
        self._current = self.add_new()

    def current(self) -> KeyEncryptionKey:
        return self._current

    def get(self, kid: str) -> KeyEncryptionKey:
        try:
            return self._keks[kid]
        except KeyError:
            raise KeyEncryptionKeyError(f"key-encryption key {kid} is not available") from None

    def add_new(self) -> KeyEncryptionKey:
        kek = LocalKek(_new_kid(), secrets.token_bytes(32), self._development)
        self._keks[kek.kid] = self._current = kek
        return kek

    def retire(self, kid: str) -> None:
        if kid == self._current.kid:
            raise KeyEncryptionKeyError("the current key-encryption key cannot be retired")
        self._keks.pop(kid, None)

    def destroy(self, kid: str, *, retired_at: datetime, now: datetime) -> None:
        if kid == self._current.kid:
            raise KeyEncryptionKeyError("the current key-encryption key cannot be destroyed")
        self._keks.pop(kid, None)  # a retired KEK is already gone from this ring


class FileKekRing:
    """KEKs in files under `keys_dir`; retired ones move to `keys_dir/retired/`.

    Keep retired files as long as any backup older than the rotation exists: restoring such
    a backup needs them (see docs/operations.md).
    """

    def __init__(self, keys_dir: Path, *, allow_development: bool = True) -> None:
        self.keys_dir = keys_dir
        self.allow_development = allow_development
        self._cache: dict[str, LocalKek] = {}
        self._current: tuple[int, LocalKek] | None = None  # (folder mtime, KEK)
        if not self._active_files():
            # Never advise `chronicle init` here: on a database that already holds pupils'
            # keys a new KEK is useless and, once the real one is back, would be current
            # without ever having been backed up.
            raise KeyEncryptionKeyError(
                f"no key-encryption key in {keys_dir}: restore the keys folder (kek-*.json "
                'and retired/) from your key backup; see docs/operations.md, "Missing or '
                'wrong key-encryption key". Nothing was written'
            )

    @classmethod
    def create(cls, keys_dir: Path, *, development: bool) -> FileKekRing:
        """Create the keys folder and a first KEK; never overwrites an existing KEK."""
        keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not cls._active_files_in(keys_dir):
            _write_kek_file(keys_dir, development)
        return cls(keys_dir, allow_development=development)

    def current(self) -> KeyEncryptionKey:
        # Re-read only when the folder changed, so a rotation by another process is seen
        # by the next wrap without a directory scan per pupil.
        mtime = self.keys_dir.stat().st_mtime_ns
        if self._current is not None and self._current[0] == mtime:
            return self._current[1]
        files = self._active_files()
        if not files:
            raise KeyEncryptionKeyError(
                f"no key-encryption key in {self.keys_dir}: restore the keys folder from "
                "your key backup"
            )
        newest = self._load(max(files, key=lambda p: (_created_at(p), p.name)))
        self._current = (mtime, newest)
        return newest

    def get(self, kid: str) -> KeyEncryptionKey:
        if kid in self._cache:
            return self._cache[kid]
        for path in (self._path(kid), self._retired_path(kid)):
            if path.exists():
                return self._load(path)
        destroyed = self.destroyed(kid)
        if destroyed is not None:
            raise KeyEncryptionKeyError(
                f"key-encryption key {kid} was destroyed on {destroyed} (its epoch ended: "
                "`chronicle keys destroy-retired`): data keys wrapped under it, such as "
                "those in a database backup older than the backup retention window, can "
                "no longer be unwrapped"
            )
        raise KeyEncryptionKeyError(
            f"key-encryption key {kid} is missing: expected {self._path(kid)} (or in "
            f"{self.keys_dir / 'retired'}). Restore it from your key backup; without it "
            "the pupils' data keys cannot be unwrapped. Nothing was written"
        )

    def add_new(self) -> KeyEncryptionKey:
        previous = {p.name for p in self._active_files()}
        path = _write_kek_file(self.keys_dir, development=self._is_development(previous))
        return self._load(path)

    def retire(self, kid: str) -> None:
        """Move `kid`'s file to `retired/`; a KEK already retired is left as it is (a
        rotation that stopped between the registry and the file finishes this way)."""
        if kid == self.current().kid:
            raise KeyEncryptionKeyError("the current key-encryption key cannot be retired")
        if not self._path(kid).exists():
            return
        retired = self.keys_dir / "retired"
        retired.mkdir(exist_ok=True, mode=0o700)
        self._path(kid).rename(self._retired_path(kid))
        _fsync_dir(retired)
        _fsync_dir(self.keys_dir)

    def destroy(self, kid: str, *, retired_at: datetime, now: datetime) -> None:
        """Delete the retired KEK's file and leave a note without key material
        (`retired/destroyed-<kid>.json`), so a later look-up says "destroyed on …" rather
        than "missing". Copies of the file in key backups must be destroyed as well
        (docs/operations.md, "KEK epochs")."""
        if self._path(kid).exists():
            if kid == self.current().kid:
                raise KeyEncryptionKeyError("the current key-encryption key cannot be destroyed")
            self.retire(kid)
        retired = self.keys_dir / "retired"
        retired.mkdir(exist_ok=True, mode=0o700)
        note = self._destroyed_path(kid)
        if not note.exists():
            body = {
                "kid": kid,
                "retired_at": retired_at.isoformat(),
                "destroyed_at": now.isoformat(),
                "purpose": "Chronicle: this key-encryption key was destroyed; no key here.",
            }
            write_key_file(note, json.dumps(body).encode())
        path = self._retired_path(kid)
        if path.exists():
            # Overwrite before unlinking: a copy-on-write or journalling file system may
            # still keep the old blocks, so the real guarantee is that no copy is kept.
            with open(path, "r+b") as f:
                f.write(bytes(path.stat().st_size))
                f.flush()
                os.fsync(f.fileno())
            path.unlink()
        _fsync_dir(retired)
        self._cache.pop(kid, None)

    def destroyed(self, kid: str) -> str | None:
        """When `kid` was destroyed (its note's date), or None."""
        note = self._destroyed_path(kid)
        if not note.is_file():
            return None
        try:
            return str(_read(note).get("destroyed_at", "an unrecorded date"))[:10]
        except KeyEncryptionKeyError:
            return "an unrecorded date"

    def _is_development(self, names: set[str]) -> bool:
        return any(_read(self.keys_dir / n).get("development", False) for n in names)

    def _path(self, kid: str) -> Path:
        return self.keys_dir / f"kek-{kid}.json"

    def _retired_path(self, kid: str) -> Path:
        return self.keys_dir / "retired" / f"kek-{kid}.json"

    def _destroyed_path(self, kid: str) -> Path:
        return self.keys_dir / "retired" / f"destroyed-{kid}.json"

    def _active_files(self) -> list[Path]:
        return self._active_files_in(self.keys_dir)

    @staticmethod
    def _active_files_in(keys_dir: Path) -> list[Path]:
        return sorted(keys_dir.glob("kek-*.json")) if keys_dir.is_dir() else []

    def _load(self, path: Path) -> LocalKek:
        problem = key_file_problem(path)
        if problem is not None:
            raise KeyEncryptionKeyError(problem)
        data = _read(path)
        try:
            kek = LocalKek(
                str(data["kid"]),
                bytes.fromhex(str(data["key"])),
                bool(data.get("development", False)),
            )
        except KeyError as e:
            raise _damaged(path, f"no {e} field") from None
        except (ValueError, KeyEncryptionKeyError) as e:
            raise _damaged(path, str(e)) from None
        if path.name != f"kek-{kek.kid}.json":
            raise _damaged(path, f"it holds key id {kek.kid!r}, not the one in its name")
        if kek.development and not self.allow_development:
            raise KeyEncryptionKeyError(
                f"key file {path} holds a development key and CHRONICLE_ENV is production: "
                "create production keys with `CHRONICLE_ENV=production chronicle init` "
                "in a new CHRONICLE_HOME"
            )
        self._cache[kek.kid] = kek
        return kek


def _new_kid() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(4)


def _read(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_bytes())
    except OSError as e:
        raise KeyEncryptionKeyError(
            f"key file {path} cannot be read ({e.strerror or type(e).__name__}): check its "
            "owner and mode (0600, Chronicle's user), or restore it from your key backup"
        ) from None
    except ValueError:
        raise _damaged(path, "not valid JSON (empty or cut short?)") from None
    if not isinstance(data, dict):
        raise _damaged(path, "not a JSON object")
    return data


def _damaged(path: Path, why: str) -> KeyEncryptionKeyError:
    return KeyEncryptionKeyError(
        f"key file {path} is damaged ({why}): restore it from your key backup; see "
        'docs/operations.md, "Missing or wrong key-encryption key". Nothing was written'
    )


def _created_at(path: Path) -> str:
    created = _read(path).get("created_at")
    if not isinstance(created, str):
        raise _damaged(path, "no created_at field")
    return created


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_kek_file(keys_dir: Path, development: bool) -> Path:
    kid = _new_kid()
    path = keys_dir / f"kek-{kid}.json"
    body = json.dumps(
        {
            "kid": kid,
            "key": secrets.token_hex(32),
            "created_at": datetime.now(UTC).isoformat(),
            "development": development,
            "purpose": "Chronicle key-encryption key: wraps every pupil's data key. Back it up.",
        }
    )
    write_key_file(path, body.encode())
    return path


def key_file_problem(path: Path) -> str | None:
    """Why the key file at `path` may not be used as it is (its group or other users may
    read or change it: it must be 0600), or None."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & 0o077:
        return None
    who = "readable by other users" if mode & 0o044 else "writable by other users"
    return (
        f"key file {path} has mode {mode:04o} ({who}); key files must be 0600: "
        f"run `chmod 600 {path}`"
    )


def key_files(keys_dir: Path) -> list[Path]:
    """Every key file in the keys folder and its `retired/` folder."""
    found = sorted(keys_dir.glob("kek-*.json"))
    found += sorted((keys_dir / "retired").glob("kek-*.json"))
    found += sorted(keys_dir.glob("*.pem"))
    return [p for p in found if p.is_file()]


def write_key_file(path: Path, content: bytes) -> None:
    """Create a 0600 key file atomically: other processes see no file or the whole file,
    never a half-written one; an existing file is never overwritten."""
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.link(partial, path)  # fails if `path` exists: no overwrite
    finally:
        partial.unlink(missing_ok=True)
    _fsync_dir(path.parent)
