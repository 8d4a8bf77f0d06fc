"""The stored form of one event: a commitment in the clear beside an authenticated ciphertext.

    state  = kind (1 byte) || commitment (32 bytes) || body
    sealed (kind 0x01): body = nonce (12) || AES-256-GCM(data key, salt || payload, aad)
    clear  (kind 0x02): body = salt || payload      (tombstones: no personal data)

    commitment = SHA-256(salt || payload), salt = 32 fresh random bytes,
    payload    = JCS bytes of the event's export payload (kept verbatim, never re-serialised),
    aad        = JCS({"pupil": <uuid>, "seq": <int>, "type": <event type>})

The associated data binds a ciphertext to its pupil, position and type, so a ciphertext
copied elsewhere fails to decrypt. The commitment is readable without keys, so the ledger
works from it alone; the salt sits inside the ciphertext, so after a purge the commitment
reveals nothing about the destroyed payload.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import NamedTuple
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.errors import CryptoError, TamperedEvent

SEALED = 0x01
CLEAR = 0x02
SALT_BYTES = 32
NONCE_BYTES = 12
_HEADER = 1 + 32


class Committed(NamedTuple):
    """What was committed for one event: the salt and the exact payload bytes."""

    salt: bytes
    payload: bytes
    commitment: bytes


def commitment_of(salt: bytes, payload: bytes) -> bytes:
    """SHA-256(salt || payload): DESIGN Ledger §1."""
    return hashlib.sha256(salt + payload).digest()


def associated_data(pupil_id: UUID, seq: int, event_type: str) -> bytes:
    """The AES-GCM associated data binding a ciphertext to its pupil, position and type.

    Equal to canonical_json({"pupil": ..., "seq": ..., "type": ...}) (keys already in
    order; a UUID and an int need no escaping), written out because it runs per event: the
    pupil part and the type part are each encoded once and reused.
    """
    prefix = _AAD_PREFIXES.get(pupil_id)
    if prefix is None:
        if len(_AAD_PREFIXES) >= _AAD_PREFIXES_MAX:
            _AAD_PREFIXES.clear()
        prefix = _AAD_PREFIXES[pupil_id] = f'{{"pupil":"{pupil_id}","seq":'.encode()
    suffix = _AAD_SUFFIXES.get(event_type)
    if suffix is None:
        suffix = _AAD_SUFFIXES[event_type] = f',"type":{json.dumps(event_type)}}}'.encode()
    return b"%s%d%s" % (prefix, seq, suffix)


def seal(aead: AESGCM, pupil_id: UUID, seq: int, event_type: str, payload: bytes) -> bytes:
    """Encrypt a payload under the pupil's data key (as an AESGCM), with fresh salt and nonce."""
    fresh = os.urandom(SALT_BYTES + NONCE_BYTES)
    nonce = fresh[SALT_BYTES:]
    committed = fresh[:SALT_BYTES] + payload  # salt || payload: both committed and sealed
    ciphertext = aead.encrypt(nonce, committed, associated_data(pupil_id, seq, event_type))
    return b"".join((_SEALED_BYTE, hashlib.sha256(committed).digest(), nonce, ciphertext))


def seal_clear(payload: bytes) -> bytes:
    """Store a payload that holds no personal data in the clear, still committed to."""
    salt = os.urandom(SALT_BYTES)
    return bytes([CLEAR]) + commitment_of(salt, payload) + salt + payload


def is_sealed(state: bytes) -> bool:
    return _kind(state) == SEALED


def stored_commitment(state: bytes) -> bytes:
    """The commitment stored in the clear: all the ledger needs, no key required."""
    _kind(state)
    return bytes(state[1:_HEADER])


def open_state(
    aead: AESGCM | None, pupil_id: UUID, seq: int, event_type: str, state: bytes
) -> Committed:
    """Decrypt (or read) a stored event and check it against its commitment."""
    kind = _kind(state)
    view = memoryview(state)
    commitment = bytes(view[1:_HEADER])
    if kind == CLEAR:
        body = bytes(view[_HEADER:])
    else:
        if aead is None:
            raise CryptoError("a data key is needed to open a sealed event")
        nonce = view[_HEADER : _HEADER + NONCE_BYTES]
        aad = associated_data(pupil_id, seq, event_type)
        try:
            body = aead.decrypt(nonce, view[_HEADER + NONCE_BYTES :], aad)
        except InvalidTag:
            raise TamperedEvent(pupil_id, seq, event_type) from None
    salt, payload = body[:SALT_BYTES], body[SALT_BYTES:]
    if len(salt) != SALT_BYTES or commitment_of(salt, payload) != commitment:
        raise TamperedEvent(pupil_id, seq, event_type)
    return Committed(salt=salt, payload=payload, commitment=commitment)


_SEALED_BYTE = bytes([SEALED])
# Associated-data parts: pupil ids (public, stored in the clear beside every event) and
# event type names repeat endlessly. Bounded: emptied when full.
_AAD_PREFIXES: dict[UUID, bytes] = {}
_AAD_PREFIXES_MAX = 20_000
_AAD_SUFFIXES: dict[str, bytes] = {}


def _kind(state: bytes) -> int:
    if len(state) < _HEADER + SALT_BYTES or state[0] not in (SEALED, CLEAR):
        raise CryptoError("stored event is not in Chronicle's envelope format")
    return state[0]
