"""Errors of the encryption layer; every message says what is wrong and what to do."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID


class CryptoError(Exception):
    """Base class: something about keys or ciphertexts is wrong."""


class TamperedEvent(CryptoError):
    """A stored event fails authentication: altered, or moved to another pupil or position."""

    def __init__(self, pupil_id: UUID, seq: int, event_type: str) -> None:
        super().__init__(
            f"entry {seq} ({event_type}) of pupil {pupil_id} failed its integrity check: "
            "the stored ciphertext was altered, or copied from another pupil or position. "
            "Restore the event from a backup and run `chronicle ledger verify`."
        )
        self.pupil_id, self.seq, self.event_type = pupil_id, seq, event_type


class KeyShredded(CryptoError):
    """The pupil's data key was destroyed: the records are gone for good."""

    def __init__(self, pupil_id: UUID, shredded_at: datetime) -> None:
        super().__init__(
            f"records of pupil {pupil_id} were purged on "
            f"{shredded_at.strftime('%Y-%m-%d %H:%M UTC')}; they can no longer be read"
        )
        self.pupil_id, self.shredded_at = pupil_id, shredded_at


class UnknownPupilKey(CryptoError):
    def __init__(self, pupil_id: UUID) -> None:
        super().__init__(f"no data key is stored for pupil {pupil_id}")
        self.pupil_id = pupil_id


class KeyEncryptionKeyError(CryptoError):
    """The key-encryption key (KEK) is missing, unreadable, wrong or not allowed here."""
