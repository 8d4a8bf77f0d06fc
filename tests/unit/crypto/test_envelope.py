from __future__ import annotations

import hashlib
import os
from uuid import uuid4

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.envelope import open_state, seal, seal_clear, stored_commitment
from crypto.errors import CryptoError, TamperedEvent

KEY = AESGCM(os.urandom(32))
PUPIL = uuid4()
PAYLOAD = b'{"description":"reads well below age"}'


def test_round_trip_and_commitment() -> None:
    state = seal(KEY, PUPIL, 3, "ConcernRaised", PAYLOAD)
    opened = open_state(KEY, PUPIL, 3, "ConcernRaised", state)
    assert opened.payload == PAYLOAD and len(opened.salt) == 32
    assert stored_commitment(state) == hashlib.sha256(opened.salt + PAYLOAD).digest()
    assert PAYLOAD not in state and opened.salt not in state


def test_fresh_salt_every_time() -> None:
    assert stored_commitment(seal(KEY, PUPIL, 1, "T", PAYLOAD)) != stored_commitment(
        seal(KEY, PUPIL, 1, "T", PAYLOAD)
    )


@pytest.mark.parametrize(
    ("pupil", "seq", "kind", "key"),
    [
        (uuid4(), 3, "ConcernRaised", KEY),  # moved to another pupil
        (PUPIL, 4, "ConcernRaised", KEY),  # moved to another position
        (PUPIL, 3, "NeedRecorded", KEY),  # relabelled as another type
        (PUPIL, 3, "ConcernRaised", AESGCM(os.urandom(32))),  # wrong key
    ],
)
def test_bound_to_pupil_position_type_and_key(
    pupil: object, seq: int, kind: str, key: bytes
) -> None:
    state = seal(KEY, PUPIL, 3, "ConcernRaised", PAYLOAD)
    with pytest.raises(TamperedEvent, match="failed its integrity check"):
        open_state(key, pupil, seq, kind, state)  # type: ignore[arg-type]


@pytest.mark.parametrize("index", [0, 1, 20, 40, 60, -1])
def test_any_flipped_byte_is_caught(index: int) -> None:
    state = bytearray(seal(KEY, PUPIL, 1, "T", PAYLOAD))
    state[index] ^= 0x01
    with pytest.raises(CryptoError):
        open_state(KEY, PUPIL, 1, "T", bytes(state))


def test_clear_envelope_is_committed_and_checked() -> None:
    state = seal_clear(PAYLOAD)
    assert open_state(None, PUPIL, 9, "RecordsPurged", state).payload == PAYLOAD
    tampered = state[:-1] + bytes([state[-1] ^ 1])
    with pytest.raises(TamperedEvent):
        open_state(None, PUPIL, 9, "RecordsPurged", tampered)
