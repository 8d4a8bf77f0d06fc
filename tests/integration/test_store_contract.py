"""Contract tests of the encrypted per-pupil store: one class, run on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.application import ConflictingUpdate, PupilRecords
from crypto.errors import KeyEncryptionKeyError, TamperedEvent
from crypto.kek import InMemoryKekRing
from domain.errors import PupilPurged, UnknownPupil
from tests.conftest import STORES, STORES_AND_MEMORY, OpenRecords, Store, make_store
from tests.factories import a_pupil, add_concern
from tests.sql import event_count, event_rows, raw, set_state

DISTINCTIVE = "Xanthippe"
DISTINCTIVE_FAMILY = "Wolstenholme-Quibble"


class TestPupilStore:
    def test_round_trip(self, records: PupilRecords) -> None:
        pupil = a_pupil(concerns=2)
        records.save(pupil)
        loaded = records.get_pupil(pupil.id)
        assert loaded.legal_given_names == "Zebedee"
        assert loaded.version == 3
        entries = records.entries(pupil.id)
        assert [e.seq for e in entries] == [1, 2, 3]
        assert [e.type for e in entries] == ["PupilRegistered", "ConcernRaised", "ConcernRaised"]

    def test_unknown_pupil(self, records: PupilRecords) -> None:
        from uuid import uuid4

        with pytest.raises(UnknownPupil, match="no pupil with id"):
            records.get_pupil(uuid4())

    def test_ciphertext_moved_to_another_pupil_fails_clearly(
        self, records: PupilRecords, store: Store
    ) -> None:
        a, b = a_pupil("Ann"), a_pupil("Bea")
        records.save(a)
        records.save(b)
        rows = event_rows(store)  # a: notification ids 1, 2; b: 3, 4
        set_state(store, rows[3][0], rows[1][1])
        with pytest.raises(TamperedEvent, match=r"entry 2 \(ConcernRaised\) of pupil .* altered"):
            records.entries(b.id)
        assert records.get_pupil(a.id).legal_given_names == "Ann"

    def test_ciphertext_moved_to_another_position_fails_clearly(
        self, records: PupilRecords, store: Store
    ) -> None:
        pupil = a_pupil(concerns=2)
        records.save(pupil)
        rows = event_rows(store)
        set_state(store, rows[2][0], rows[1][1])
        with pytest.raises(TamperedEvent, match="entry 3"):
            records.entries(pupil.id)

    def test_flipped_byte_fails_clearly(self, records: PupilRecords, store: Store) -> None:
        pupil = a_pupil()
        records.save(pupil)
        notification_id, state = event_rows(store)[1]
        flipped = bytearray(state)
        flipped[-5] ^= 0x01
        set_state(store, notification_id, bytes(flipped))
        with pytest.raises(TamperedEvent, match="entry 2"):
            records.entries(pupil.id)

    def test_wrong_kek_is_refused_before_anything_is_written(
        self, open_records: OpenRecords, store: Store
    ) -> None:
        first = open_records()
        first.save(a_pupil())
        before = event_count(store)
        with pytest.raises(KeyEncryptionKeyError, match=r"not available|does not match"):
            open_records(InMemoryKekRing())
        assert event_count(store) == before

    def test_kek_rotation_keeps_every_pupil_readable_without_the_old_kek(
        self, open_records: OpenRecords
    ) -> None:
        ring = InMemoryKekRing()
        records = open_records(ring)
        pupils = [a_pupil(f"P{n}") for n in range(5)]
        records.save(*pupils)
        old_kid = ring.current().kid
        new_kid, count = records.data_keys.rotate(records.clock())
        assert count == 5 and new_kid != old_kid
        with pytest.raises(KeyEncryptionKeyError):
            ring.get(old_kid)  # retired: gone from the ring
        reopened = open_records(ring)
        assert [reopened.get_pupil(p.id).legal_given_names for p in pupils] == [
            f"P{n}" for n in range(5)
        ]

    def test_no_plaintext_at_rest(self, records: PupilRecords, store: Store) -> None:
        pupil = a_pupil(DISTINCTIVE, DISTINCTIVE_FAMILY)
        add_concern(pupil, f"{DISTINCTIVE} hides under the table during phonics")
        records.save(pupil)
        records.save(*(a_pupil(f"Other{n}") for n in range(3)))
        for needle in (DISTINCTIVE, DISTINCTIVE_FAMILY, "phonics", pupil.upn):
            assert needle.encode() not in _all_stored_bytes(store), needle

    def test_shred_one_pupil_of_many(self, records: PupilRecords) -> None:
        pupils = [a_pupil(f"P{n}", concerns=3) for n in range(6)]
        records.save(*pupils)
        victim = pupils[2]
        records.shred(victim.id)
        with pytest.raises(PupilPurged, match=f"records of pupil {victim.id} were purged on"):
            records.get_pupil(victim.id)
        with pytest.raises(PupilPurged):
            records.entries(victim.id)
        for other in pupils[:2] + pupils[3:]:
            assert records.get_pupil(other.id).version == 4
        assert victim.id not in {e.pupil_id for e in records.registrations()}

    def test_shred_is_seen_by_a_second_process(self, open_records: OpenRecords) -> None:
        ring = InMemoryKekRing()
        one, two = open_records(ring), open_records(ring)
        pupil = a_pupil()
        one.save(pupil)
        assert two.get_pupil(pupil.id).version == 2
        one.shred(pupil.id)
        two.data_keys.forget(pupil.id)  # a second process reads the key afresh
        with pytest.raises(PupilPurged):
            two.get_pupil(pupil.id)

    def test_concurrent_saves_one_wins_other_conflicts(self, open_records: OpenRecords) -> None:
        ring = InMemoryKekRing()
        one, two = open_records(ring), open_records(ring)
        pupil = a_pupil()
        one.save(pupil)
        mine, theirs = one.get_pupil(pupil.id), two.get_pupil(pupil.id)
        add_concern(mine, "first writer")
        add_concern(theirs, "second writer")
        one.save(mine)
        with pytest.raises(ConflictingUpdate, match="worked from version 2, it is now at 3"):
            two.save(theirs)
        descriptions = [e.payload.get("description") for e in one.entries(pupil.id)]
        assert descriptions[-1] == "first writer" and "second writer" not in descriptions

    # Between processes: the real stores' contract (the in-memory twin serves one process,
    # and SQLite's shared cache answers a lock with "table is locked", never waiting).
    @pytest.mark.parametrize("store", STORES, indirect=True)
    def test_racing_threads_never_half_write(self, open_records: OpenRecords) -> None:
        ring = InMemoryKekRing()
        apps = [open_records(ring) for _ in range(4)]
        pupil = a_pupil(concerns=0)
        apps[0].save(pupil)
        outcomes: list[str] = []
        barrier = threading.Barrier(len(apps))

        def writer(app: PupilRecords, n: int) -> None:
            p = app.get_pupil(pupil.id)
            for k in range(3):
                add_concern(p, f"writer {n} entry {k}")
            barrier.wait()
            try:
                app.save(p)
                outcomes.append("saved")
            except ConflictingUpdate:
                outcomes.append("conflict")

        threads = [threading.Thread(target=writer, args=(a, n)) for n, a in enumerate(apps)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert outcomes.count("saved") == 1 and outcomes.count("conflict") == 3
        entries = apps[0].entries(pupil.id)
        assert [e.seq for e in entries] == [1, 2, 3, 4]
        writers = {e.payload["description"].split()[1] for e in entries[1:]}
        assert len(writers) == 1  # all three entries came from the one winner

    def test_registering_the_same_pupil_twice_leaves_the_first_intact(
        self, records: PupilRecords, store: Store
    ) -> None:
        pupil = a_pupil("First")
        records.save(pupil)
        clash = a_pupil("Second", pupil_id=pupil.id)
        with pytest.raises(ConflictingUpdate):
            records.save(clash)
        records.data_keys.forget(pupil.id)
        assert records.get_pupil(pupil.id).legal_given_names == "First"
        assert event_count(store) == 2


@pytest.fixture(params=STORES_AND_MEMORY)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The contract holds on every store: SQLite, PostgreSQL and the in-memory twin."""
    yield from make_store(request, tmp_path)


def _all_stored_bytes(store: Store) -> bytes:
    """Every byte the store holds: the SQLite files (with -wal/-shm), the in-memory
    database's image, or a pg_dump."""
    if store.kind == "memory":
        import sqlite3

        uri = store.url.removeprefix("sqlite:///").replace("&uri=true", "")
        with sqlite3.connect(uri, uri=True) as conn:
            image = conn.serialize()
        assert b"chronicle_events" in image  # the image really holds the tables
        return image
    if store.sqlite_path is not None:
        files = [Path(f"{store.sqlite_path}{suffix}") for suffix in ("", "-wal", "-shm")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    assert store.database and store.schema
    url = store.database.replace("postgresql+psycopg2://", "postgresql://")
    dump = subprocess.run(
        ["pg_dump", "--schema", store.schema, "--dbname", url],
        capture_output=True,
        check=True,
    )
    assert b"chronicle_events" in dump.stdout  # the dump really holds the tables
    return dump.stdout


def test_shredded_key_leaves_no_trace_in_sqlite_files(tmp_path: Path) -> None:
    records = PupilRecords(database_url=f"sqlite:///{tmp_path}/c.db", ring=InMemoryKekRing())
    try:
        pupils = [a_pupil(f"P{n}") for n in range(3)]
        records.save(*pupils)
        store = Store("sqlite", records.datastore.engine.url.render_as_string(), tmp_path / "c.db")
        wrapped = raw(store, "SELECT wrapped FROM chronicle_data_keys")
        victim_wrapped = {bytes(w[0]) for w in wrapped}  # type: ignore[arg-type]
        records.shred(pupils[1].id)
        remaining = {
            bytes(w[0])
            for w in raw(store, "SELECT wrapped FROM chronicle_data_keys")
            if w[0] is not None
        }  # type: ignore[arg-type]
        (gone,) = victim_wrapped - remaining
        assert gone not in _all_stored_bytes(store)
        assert all(w in _all_stored_bytes(store) for w in remaining)  # the scan can see keys
    finally:
        records.close()


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_kek_rotation_under_load_fails_no_read_or_write(
    open_records: OpenRecords, tmp_path: Path
) -> None:
    """Two "processes" (separate apps, separate key caches, one key folder) keep reading and
    writing while a third rotates the KEK: nothing fails, and the old KEK is not needed."""
    import threading

    from crypto.kek import FileKekRing

    keys = tmp_path / "keys"
    FileKekRing.create(keys, development=True)
    writer_app, reader_app, rotator = (open_records(FileKekRing(keys)) for _ in range(3))
    pupils = [a_pupil(f"R{n}") for n in range(40)]
    writer_app.save(*pupils)
    errors: list[BaseException] = []
    stop = threading.Event()

    def keep_working(app: PupilRecords, write: bool) -> None:
        n = 0
        while not stop.is_set():
            try:
                app.data_keys.forget(pupils[n % 40].id)  # force an unwrap every time
                if write:
                    app.save(a_pupil(f"New{n}"))
                    # A writer that never lets go starves SQLite's other writers (its busy
                    # handler polls); real saves come from requests, with gaps between them.
                    time.sleep(0.002)
                else:
                    app.get_pupil(pupils[n % 40].id)
            except BaseException as e:
                errors.append(e)
            n += 1

    workers = [
        threading.Thread(target=keep_working, args=(a, w))
        for a, w in ((writer_app, True), (reader_app, False))
    ]
    for w in workers:
        w.start()
    try:
        for _ in range(2):
            rotator.data_keys.rotate(rotator.clock(), batch=7)
    finally:
        stop.set()
        for w in workers:
            w.join()
    assert errors == []
    for retired in (keys / "retired").glob("*.json"):
        retired.unlink()
    fresh = open_records(FileKekRing(keys))
    assert all(fresh.get_pupil(p.id).version == 2 for p in pupils)
    assert len(list(fresh.registrations())) >= 40


def test_sqlite_waits_for_another_writer_and_zeroes_freed_pages(records: PupilRecords) -> None:
    """Every SQLite connection waits up to SQLITE_BUSY_MS for another process's write lock
    (a rotation or a CLI command beside the service) and zeroes freed pages (shredding)."""
    from api.application import SQLITE_BUSY_MS

    engine = records.datastore.engine
    if engine.dialect.name != "sqlite":
        return  # PostgreSQL waits for locks without a timeout of ours
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_MS
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
