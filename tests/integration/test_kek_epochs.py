"""KEK epochs: a database backup taken before a purge stops exposing the purged pupil once
every KEK that could unwrap its copy of the pupil's data key is destroyed (rotation, then
`destroy_retired` after the backup retention window); an interrupted rotation resumes.

A "backup" here is what `pg_dump` or a copy of the SQLite file holds of the two tables that
matter: the wrapped data keys and the sealed events, copied row by row on both stores (and,
on SQLite, a real `.backup` copy of the file, opened as Chronicle would after a restore).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from api.application import PupilRecords
from crypto.envelope import open_state
from crypto.errors import KeyEncryptionKeyError
from crypto.kek import FileKekRing
from crypto.mapper import event_type
from domain.errors import PupilPurged
from tests.conftest import OpenRecords, Store
from tests.factories import a_pupil
from tests.sql import raw

VICTIM = "Xanthippe"
WINDOW = timedelta(days=35)  # the backup retention window of these tests


@dataclass(frozen=True)
class Backup:
    """The rows a database backup holds: wrapped data keys and sealed events."""

    keys: dict[UUID, tuple[str, bytes]]  # owner -> (kid, wrapped)
    events: list[tuple[UUID, int, str, bytes]]  # pupil, seq, topic, state


def take_backup(store: Store) -> Backup:
    keys = {
        UUID(str(owner)): (str(kid), bytes(wrapped))
        for owner, kid, wrapped in raw(
            store, "SELECT owner, kid, wrapped FROM chronicle_data_keys WHERE wrapped IS NOT NULL"
        )
    }
    events = [
        (pupil, int(v), str(t), bytes(s))
        for o, v, t, s in raw(
            store,
            "SELECT originator_id, originator_version, topic, state FROM chronicle_events "
            "ORDER BY originator_id, originator_version",
        )
        if (pupil := _uuid(o)) is not None  # pupils' streams
    ]
    return Backup(keys, events)


def key_rows(store: Store) -> dict[UUID, tuple[str, bytes | None]]:
    """owner -> (kid, wrapped or None) of every data key row of the live database."""
    return {
        UUID(str(owner)): (str(kid), None if wrapped is None else bytes(wrapped))
        for owner, kid, wrapped in raw(store, "SELECT owner, kid, wrapped FROM chronicle_data_keys")
    }


def _uuid(value: object) -> UUID | None:
    """A stored originator id as a UUID (SQLite keeps 16 bytes), or None for a stream that
    is not a pupil's (the ledger's own)."""
    try:
        if isinstance(value, bytes | memoryview) and len(value) == 16:
            return UUID(bytes=bytes(value))
        return UUID(str(value))
    except ValueError:
        return None


def read_from_backup(backup: Backup, pupil: UUID, kid: str, kek_path: Path) -> list[bytes]:
    """What someone holding the backup and this KEK file reads of the pupil: the payloads
    (raises if the KEK cannot unwrap the backup's copy of the pupil's data key)."""
    wrapped_kid, wrapped = backup.keys[pupil]
    assert wrapped_kid == kid
    ring = FileKekRing(
        kek_path.parent.parent if kek_path.parent.name == "retired" else kek_path.parent
    )
    aead = AESGCM(ring.get(kid).unwrap(wrapped, pupil))
    return [
        open_state(aead, p, seq, event_type(topic), state).payload
        for p, seq, topic, state in backup.events
        if p == pupil
    ]


def kek_files(keys: Path) -> dict[str, Path]:
    found = [*keys.glob("kek-*.json"), *(keys / "retired").glob("kek-*.json")]
    return {p.name.removeprefix("kek-").removesuffix(".json"): p for p in found}


def every_stored_byte(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_pre_purge_backup_is_unreadable_once_its_kek_epoch_is_destroyed(
    open_records: OpenRecords, store: Store, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    FileKekRing.create(keys, development=True)
    records = open_records(FileKekRing(keys))
    victim, *others = [a_pupil(VICTIM), *(a_pupil(f"Other{n}") for n in range(4))]
    records.save(victim, *others)
    (old_kid,) = kek_files(keys)
    old_key_hex = kek_files(keys)[old_kid].read_text().split('"key": "')[1].split('"')[0]
    sqlite_backup = tmp_path / "backup.db"
    if store.sqlite_path is not None:
        with sqlite3.connect(store.sqlite_path) as live, sqlite3.connect(sqlite_backup) as copy:
            live.backup(copy)
    backup = take_backup(store)  # before the purge

    records.shred(victim.id)  # the purge's key step: the live wrapped key is NULL
    assert key_rows(store)[victim.id][1] is None
    # What the shredding claim must not overstate: the backup and the then-current KEK
    # (which the key backup holds) still show the purged pupil.
    exposed = read_from_backup(backup, victim.id, old_kid, kek_files(keys)[old_kid])
    assert any(VICTIM.encode() in payload for payload in exposed)

    now = datetime.now(UTC)
    rotation = records.data_keys.rotate_epoch(now, batch=2)
    assert rotation.retired == (old_kid,) and rotation.rewrapped == len(others)
    assert set(kek_files(keys)) == {old_kid, rotation.kid}
    assert kek_files(keys)[old_kid].parent.name == "retired"
    # Rotated but not destroyed: the pre-purge backup is still readable with the retired
    # KEK (it must be: a restore within the retention window needs it).
    assert read_from_backup(backup, victim.id, old_kid, kek_files(keys)[old_kid]) == exposed

    # Inside the backup retention window nothing is destroyed.
    assert records.data_keys.destroy_retired(WINDOW, now + WINDOW - timedelta(hours=1)) == []
    assert old_kid in kek_files(keys)

    gone = records.data_keys.destroy_retired(WINDOW, now + WINDOW)
    assert [e.kid for e in gone] == [old_kid]
    # The keys that remain cannot unwrap the backup's copy of the victim's data key.
    remaining = kek_files(keys)
    assert set(remaining) == {rotation.kid}
    wrapped_kid, wrapped = backup.keys[victim.id]
    with pytest.raises(KeyEncryptionKeyError, match="was destroyed on"):
        FileKekRing(keys).get(wrapped_kid)
    for kid, path in remaining.items():
        with pytest.raises(KeyEncryptionKeyError):
            FileKekRing(keys).get(kid).unwrap(wrapped, victim.id)
        with pytest.raises(KeyEncryptionKeyError):
            read_from_backup(
                Backup({victim.id: (kid, wrapped)}, backup.events), victim.id, kid, path
            )
    assert old_key_hex.encode() not in every_stored_byte(keys)  # the file is gone, no copy
    assert records.data_keys.destroy_retired(WINDOW, now + WINDOW) == []  # idempotent

    # The live database is unharmed: a fresh process reads every other pupil.
    fresh = open_records(FileKekRing(keys))
    assert [fresh.get_pupil(p.id).legal_given_names for p in others] == [
        f"Other{n}" for n in range(4)
    ]
    with pytest.raises(PupilPurged):
        fresh.get_pupil(victim.id)
    # Restoring the pre-purge SQLite backup with the keys that remain is refused in one
    # message: its data keys were wrapped under a destroyed KEK.
    if store.sqlite_path is not None:
        with pytest.raises(KeyEncryptionKeyError, match=f"{old_kid} was destroyed"):
            PupilRecords(database_url=f"sqlite:///{sqlite_backup}", ring=FileKekRing(keys))


def test_an_interrupted_rotation_resumes_under_the_same_new_kek(
    open_records: OpenRecords, store: Store, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    FileKekRing.create(keys, development=True)
    records = open_records(FileKekRing(keys))
    pupils = [a_pupil(f"P{n}") for n in range(5)]
    records.save(*pupils)
    (old_kid,) = kek_files(keys)

    class Crash(Exception):
        pass

    def crash(count: int) -> None:
        raise Crash(count)

    with pytest.raises(Crash):
        records.data_keys.rotate_epoch(datetime.now(UTC), batch=2, after_batch=crash)
    new_kid = (set(kek_files(keys)) - {old_kid}).pop()
    by_kid = dict(raw(store, "SELECT kid, count(*) FROM chronicle_data_keys GROUP BY kid"))
    assert by_kid == {new_kid: 2, old_kid: 3}  # one batch committed, then the crash
    # Half-way, a fresh process reads everyone and wraps a new pupil under the new KEK.
    middle = open_records(FileKekRing(keys))
    assert [middle.get_pupil(p.id).legal_given_names for p in pupils] == [f"P{n}" for n in range(5)]
    late = a_pupil("Late")
    middle.save(late)
    assert key_rows(store)[late.id][0] == new_kid

    done = open_records(FileKekRing(keys)).data_keys.rotate_epoch(datetime.now(UTC), batch=2)
    assert done.resumed and done.kid == new_kid and done.rewrapped == 3
    assert done.retired == (old_kid,)
    assert set(kek_files(keys)) == {old_kid, new_kid}  # no third KEK was made
    assert kek_files(keys)[old_kid].parent.name == "retired"
    assert raw(store, "SELECT DISTINCT kid FROM chronicle_data_keys") == [(new_kid,)]
    # The old KEK is not needed any more: destroyed, everyone still reads.
    records.data_keys.destroy_retired(timedelta(0), datetime.now(UTC))
    assert set(kek_files(keys)) == {new_kid}
    after = open_records(FileKekRing(keys))
    assert [after.get_pupil(p.id).legal_given_names for p in [*pupils, late]] == [
        *(f"P{n}" for n in range(5)),
        "Late",
    ]
    # A rotation that is not interrupted starts a new epoch (not a resumed one).
    again = after.data_keys.rotate_epoch(datetime.now(UTC))
    assert not again.resumed and again.kid != new_kid and again.retired == (new_kid,)


def test_a_retired_kek_still_in_use_is_never_destroyed(
    open_records: OpenRecords, store: Store, tmp_path: Path
) -> None:
    """A database restored from before a rotation wraps keys under a KEK the live keys
    folder has retired: destroying it would lose those records, so nothing is destroyed."""
    keys = tmp_path / "keys"
    FileKekRing.create(keys, development=True)
    records = open_records(FileKekRing(keys))
    pupil = a_pupil("Kept")
    records.save(pupil)
    (old_kid,) = kek_files(keys)
    (before,) = raw(store, "SELECT wrapped FROM chronicle_data_keys")
    records.data_keys.rotate_epoch(datetime.now(UTC))
    # Put the pre-rotation wrapped key back, as a restore of that row would.
    raw(store, "UPDATE chronicle_data_keys SET kid = :k, wrapped = :w", k=old_kid, w=before[0])
    with pytest.raises(KeyEncryptionKeyError, match="still wraps 1 data keys"):
        records.data_keys.destroy_retired(timedelta(0), datetime.now(UTC) + WINDOW)
    assert kek_files(keys)[old_kid].is_file()
    assert open_records(FileKekRing(keys)).get_pupil(pupil.id).legal_given_names == "Kept"
