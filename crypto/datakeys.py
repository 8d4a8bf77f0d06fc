"""Per-pupil data keys, stored only wrapped by a KEK, cached unwrapped in memory.

Tables (same database as the events, so a pupil's key commits with its first event):
    chronicle_data_keys       owner, kid, wrapped, created_at, shredded_at
    chronicle_kek_registry    kid, check, created_at, retired_at
    chronicle_kek_rotations   kid (the new KEK), started_at, finished_at
    chronicle_kek_destroyed   kid, retired_at, destroyed_at

KEK epochs (docs/encryption.md): a rotation re-wraps every live data key under a new KEK
and retires the old one; `destroy_retired` destroys KEKs retired longer ago than the backup
retention window, which ends the readability of every backup that still needed them.

Shredding sets `wrapped` to NULL and records when; the row stays as the tombstone that lets
a read say "purged on …". The registry's `check` value lets start-up prove that the KEK
files on disk are the ones the database was written with, before anything is written.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, TypeVar
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    Column,
    DateTime,
    LargeBinary,
    MetaData,
    String,
    Table,
    Uuid,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause

from crypto.errors import KeyEncryptionKeyError, KeyShredded, UnknownPupilKey
from crypto.kek import KekRing

_T = TypeVar("_T")
_log = logging.getLogger("chronicle.keys")
_LOCKED_ATTEMPTS = 10

# Wrapping a known key for this fixed owner proves a KEK file is the right one.
_CHECK_OWNER = UUID(int=0)
_CHECK_KEY = bytes(32)

metadata = MetaData()
data_keys = Table(
    "chronicle_data_keys",
    metadata,
    Column("owner", Uuid, primary_key=True),
    # No index on kid: only a rotation reads by it (a rare scan), and an index costs every
    # new pupil an extra page write on the hot path.
    Column("kid", String(64), nullable=False),
    Column("wrapped", LargeBinary, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("shredded_at", DateTime(timezone=True), nullable=True),
)
# Other streams sealed under a pupil's key (the pupil's access log): stream -> owner.
key_aliases = Table(
    "chronicle_key_aliases",
    metadata,
    Column("stream", Uuid, primary_key=True),
    Column("owner", Uuid, nullable=False, index=True),
)
kek_registry = Table(
    "chronicle_kek_registry",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("check_value", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("retired_at", DateTime(timezone=True), nullable=True),
)
# One row per rotation, named by the KEK it rotates to; finished_at NULL while it is under
# way, so an interrupted rotation is resumed (same new KEK) instead of starting another.
kek_rotations = Table(
    "chronicle_kek_rotations",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
)
# KEKs destroyed at the end of their epoch (no key material: when, and when retired).
kek_destroyed = Table(
    "chronicle_kek_destroyed",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("retired_at", DateTime(timezone=True), nullable=False),
    Column("destroyed_at", DateTime(timezone=True), nullable=False),
)

_INSERT_GUARDED = (
    "INSERT INTO chronicle_data_keys (owner, kid, wrapped, created_at) "
    "SELECT :owner, :kid, :wrapped, :at WHERE EXISTS (SELECT 1 FROM chronicle_kek_registry "
    "WHERE kid = :kid AND retired_at IS NULL{lock})"
)


def _make_guarded_insert(lock: str) -> TextClause:
    return text(_INSERT_GUARDED.format(lock=lock)).bindparams(
        bindparam("owner", type_=Uuid()),
        bindparam("wrapped", type_=LargeBinary()),
        bindparam("at", type_=DateTime(timezone=True)),
    )


# Built once: the statement runs for every new pupil, inside the save.
_GUARDED_INSERTS = {"postgresql": _make_guarded_insert(" FOR SHARE")}
_GUARDED_INSERT_DEFAULT = _make_guarded_insert("")


def _guarded_insert(dialect: str) -> TextClause:
    return _GUARDED_INSERTS.get(dialect, _GUARDED_INSERT_DEFAULT)


class _RawInsert:
    """The guarded insert compiled once for a dialect, with the column types' own bind
    conversions, so each new pupil skips SQLAlchemy's per-statement work (and may share a
    round trip with other SQL)."""

    def __init__(self, dialect: Dialect) -> None:
        compiled = _guarded_insert(dialect.name).compile(dialect=dialect)
        self.sql = compiled.string
        self._order = tuple(compiled.positiontup or ()) if compiled.positional else None
        self._convert = {
            name: type_.dialect_impl(dialect).bind_processor(dialect)
            for name, type_ in (
                ("owner", Uuid()),
                ("wrapped", LargeBinary()),
                ("at", DateTime(timezone=True)),
            )
        }

    def params(self, owner: UUID, kid: str, wrapped: bytes, at: datetime) -> Any:
        values: dict[str, Any] = {"owner": owner, "kid": kid, "wrapped": wrapped, "at": at}
        for name, convert in self._convert.items():
            if convert is not None:
                values[name] = convert(values[name])
        return values if self._order is None else tuple(values[n] for n in self._order)


_RAW_INSERTS: dict[str, _RawInsert] = {}


def _raw_guarded_insert(dialect: Dialect) -> _RawInsert:
    raw = _RAW_INSERTS.get(f"{dialect.name}+{dialect.driver}")
    if raw is None:
        raw = _RAW_INSERTS[f"{dialect.name}+{dialect.driver}"] = _RawInsert(dialect)
    return raw


_OWNER_OF_STREAM = func.coalesce(
    select(key_aliases.c.owner)
    .where(key_aliases.c.stream == bindparam("stream"))
    .scalar_subquery(),
    bindparam("stream"),
)
_SELECT_KEY = select(
    data_keys.c.owner, data_keys.c.kid, data_keys.c.wrapped, data_keys.c.shredded_at
).where(data_keys.c.owner == _OWNER_OF_STREAM)

Transaction = Callable[[bool], AbstractContextManager[Session]]


class Rotation(NamedTuple):
    """What one `rotate_epoch` did: the new KEK, how many data keys it re-wrapped in this
    run, whether it finished an interrupted rotation, and the KEKs it retired."""

    kid: str
    rewrapped: int
    resumed: bool
    retired: tuple[str, ...]


class Epoch(NamedTuple):
    """One KEK as the database knows it: when it was made current, retired, destroyed, and
    how many live data keys are wrapped under it."""

    kid: str
    created_at: datetime
    retired_at: datetime | None
    destroyed_at: datetime | None
    live_keys: int


class KeysInUse(NamedTuple):
    """What a database already relies on: KEK ids in force and live wrapped data keys."""

    kids: tuple[str, ...]
    wrapped_keys: int


def keys_in_use(engine: Engine) -> KeysInUse:
    """The KEKs this database relies on (in force in the registry, or wrapping a live data
    key) and how many live wrapped keys it holds; empty for a database without the tables.
    Reads only: `chronicle init` asks before it would create a KEK."""
    from sqlalchemy import inspect

    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        kids: set[str] = set()
        wrapped = 0
        if kek_registry.name in tables:
            kids.update(
                conn.execute(
                    select(kek_registry.c.kid).where(kek_registry.c.retired_at.is_(None))
                ).scalars()
            )
        if data_keys.name in tables:
            for kid, n in conn.execute(
                select(data_keys.c.kid, func.count())
                .where(data_keys.c.wrapped.is_not(None))
                .group_by(data_keys.c.kid)
            ).all():
                kids.add(str(kid))
                wrapped += int(n)
    return KeysInUse(tuple(sorted(kids)), wrapped)


class DataKeyStore:
    """Creates, unwraps, caches, re-wraps and destroys pupils' data keys."""

    def __init__(
        self, engine: Engine, transaction: Transaction, ring: KekRing, cache_size: int = 10_000
    ) -> None:
        self._engine = engine
        self._transaction = transaction
        self.ring = ring
        self._cache: OrderedDict[UUID, AESGCM] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    # ----- start-up ---------------------------------------------------------------------

    def create_tables(self) -> None:
        metadata.create_all(self._engine, checkfirst=True)

    def check_keks(self) -> None:
        """Fail closed unless every KEK the database still relies on is present and right.

        Then registers the current KEK, so new data keys never need a registry write. The
        check comes first: a wrong or stray key file is refused before it is registered
        (registered, it would be a KEK the database relies on from then on). A current
        KEK file the database has never seen while it has KEKs in force (a database
        restored from before a rotation, or a key made by hand, never backed up) is
        registered as retired: it wraps nothing, new data keys go under the newest KEK
        the database relies on, and `destroy_retired` ends it with the others.
        """
        current = self.ring.current()
        with self._transaction(False) as session:
            rows = session.execute(
                select(kek_registry.c.kid, kek_registry.c.check_value, kek_registry.c.retired_at)
            ).all()
        in_force = [(kid, check) for kid, check, retired in rows if retired is None]
        for kid, check in in_force:
            kek = self.ring.get(kid)
            try:
                ok = kek.unwrap(check, _CHECK_OWNER) == _CHECK_KEY
            except KeyEncryptionKeyError:
                ok = False
            if not ok:
                raise KeyEncryptionKeyError(
                    f"the key file for key-encryption key {kid} does not match this database "
                    "(wrong or replaced key file): restore the right keys folder from your "
                    'key backup (docs/operations.md, "Missing or wrong key-encryption key"); '
                    "nothing was written"
                )
        if current.kid in {kid for kid, _, _ in rows}:
            return
        now = datetime.now(UTC)
        with self._transaction(True) as session:
            self._register(current.kid, session, now, retired=bool(in_force))
        if in_force:
            _log.warning(
                "key-encryption key %s (the newest key file) is unknown to this database, "
                "which relies on %s: it is registered as retired and wraps nothing; new "
                "data keys are wrapped under the newest of those until the next "
                "`chronicle keys rotate-kek`",
                current.kid,
                ", ".join(kid for kid, _ in in_force),
            )

    # ----- data keys --------------------------------------------------------------------

    def new_key(self, owner: UUID, session: Session, now: datetime) -> None:
        """Create, wrap and insert a data key inside the caller's transaction."""
        key = secrets.token_bytes(32)
        self.store(owner, key, session, now)
        self._remember(owner, key)

    def prepare(self, owner: UUID) -> bytes:
        """A fresh data key for a new owner, cached so that events can be sealed before
        `store` writes it; the caller must `store` it in the same transaction as those
        events, or `forget` it."""
        key = secrets.token_bytes(32)
        self._remember(owner, key)
        return key

    def store(
        self, owner: UUID, key: bytes, session: Session, now: datetime, *, lead: str = ""
    ) -> None:
        """Wrap and insert a prepared data key inside the caller's transaction.

        `lead` is SQL sent in the same round trip just before the insert (PostgreSQL only:
        the save sends its NOTIFY that way, so a new pupil costs no extra round trip)."""
        connection = session.connection()
        raw = _raw_guarded_insert(connection.dialect)
        kek = self.ring.current()
        for _ in range(3):
            # The insert only happens under a KEK the registry has not retired, and on
            # PostgreSQL it share-locks that registry row until commit, so a concurrent
            # rotation either sees this key (and keeps the KEK) or retired it first (and this
            # insert takes the newest KEK instead). SQLite serialises writers outright.
            params = raw.params(owner, kek.kid, kek.wrap(key, owner), now)
            if connection.exec_driver_sql(lead + raw.sql, params).rowcount == 1:
                return
            lead = ""
            kek = self.ring.get(self._newest_kid(session))
        raise KeyEncryptionKeyError(
            "no key-encryption key in force could wrap a new data key: a rotation is stuck; "
            "run `chronicle keys rotate` again"
        )

    def _newest_kid(self, session: Session) -> str:
        return str(
            session.execute(
                select(kek_registry.c.kid)
                .where(kek_registry.c.retired_at.is_(None))
                .order_by(kek_registry.c.created_at.desc())
                .limit(1)
            ).scalar_one()
        )

    def cipher(self, stream: UUID) -> AESGCM:
        """AES-256-GCM under the data key of `stream`'s owner (the pupil, or the pupil whose
        access log it is); raises if the key was shredded or never existed."""
        aead = self._cache.get(stream)  # a dict read is atomic; the lock guards writes
        if aead is not None:
            return aead
        # A plain connection and a prebuilt statement: a cache miss costs one round trip.
        with self._engine.connect() as conn:
            row = conn.execute(_SELECT_KEY, {"stream": stream}).first()
        if row is None:
            raise UnknownPupilKey(stream)
        owner, kid, wrapped, shredded_at = row
        if wrapped is None:
            raise KeyShredded(owner, _utc(shredded_at))
        return self._remember(stream, self.ring.get(kid).unwrap(bytes(wrapped), owner))

    def add_alias(self, stream: UUID, owner: UUID, session: Session) -> None:
        """Seal `stream` under `owner`'s key from now on (inside the caller's transaction,
        with the stream's first event); shredding the owner makes it unreadable too."""
        session.connection().execute(insert(key_aliases).values(stream=stream, owner=owner))
        # Prime the cache: the stream's first event is sealed before this transaction
        # commits, when a fresh look-up could not yet see the alias.
        aead = self.cipher(owner)
        with self._lock:
            self._cache[stream] = aead

    def prefetch(self, streams: list[UUID]) -> None:
        """Unwrap and cache the keys of those of `streams` (pupils, or access streams) not
        cached yet, with one query per 500 streams instead of a round trip each (a
        projection batch, a page of pupils). Shredded and unknown keys are left alone:
        `cipher` reports them as before."""
        missing = [s for s in dict.fromkeys(streams) if s not in self._cache]
        if not missing:
            return
        missing = missing[: self._cache_size]  # no point unwrapping what would be evicted
        a, k = key_aliases.c, data_keys.c
        with self._engine.connect() as conn:
            for start in range(0, len(missing), 500):
                chunk = missing[start : start + 500]
                aliased: dict[UUID, UUID] = {
                    stream: owner
                    for stream, owner in conn.execute(
                        select(a.stream, a.owner).where(a.stream.in_(chunk))
                    ).all()
                }
                owner_of = {stream: aliased.get(stream, stream) for stream in chunk}
                found = conn.execute(
                    select(k.owner, k.kid, k.wrapped).where(
                        k.owner.in_(set(owner_of.values())), k.wrapped.is_not(None)
                    )
                ).all()
                ciphers: dict[UUID, AESGCM] = {}
                for owner, kid, wrapped in found:
                    try:
                        ciphers[owner] = AESGCM(self.ring.get(kid).unwrap(bytes(wrapped), owner))
                    except KeyEncryptionKeyError:
                        continue  # a missing or wrong KEK: `cipher` reports it when asked
                with self._lock:
                    for stream, owner in owner_of.items():
                        if owner in ciphers:
                            self._cache[stream] = ciphers[owner]
                    while len(self._cache) > self._cache_size:
                        self._cache.popitem(last=False)

    def has_alias(self, stream: UUID) -> bool:
        with self._engine.connect() as conn:
            found = conn.execute(
                select(key_aliases.c.owner).where(key_aliases.c.stream == stream)
            ).first()
        return found is not None

    def forget(self, owner: UUID) -> None:
        """Drop cached keys of `owner` and of its aliased streams (rolled-back save, shred)."""
        with self._engine.connect() as conn:
            streams = list(
                conn.execute(
                    select(key_aliases.c.stream).where(key_aliases.c.owner == owner)
                ).scalars()
            )
        with self._lock:
            for stream in (owner, *streams):
                self._cache.pop(stream, None)

    def live(self, owners: list[UUID]) -> set[UUID]:
        """Which of `owners` still have a data key (not shredded, present in this database)."""
        found: set[UUID] = set()
        with self._transaction(False) as session:
            for start in range(0, len(owners), 500):
                found.update(
                    session.execute(
                        select(data_keys.c.owner).where(
                            data_keys.c.owner.in_(owners[start : start + 500]),
                            data_keys.c.wrapped.is_not(None),
                        )
                    ).scalars()
                )
        return found

    def shredded_at(self, owner: UUID) -> datetime | None:
        with self._transaction(False) as session:
            value = session.execute(
                select(data_keys.c.shredded_at).where(data_keys.c.owner == owner)
            ).scalar()
        return None if value is None else _utc(value)

    def shred(self, owner: UUID, now: datetime, session: Session | None = None) -> None:
        """Destroy `owner`'s data key: every event sealed under it is unreadable for good."""
        statement = (
            update(data_keys)
            .where(data_keys.c.owner == owner, data_keys.c.wrapped.is_not(None))
            .values(wrapped=None, shredded_at=now)
        )
        if session is not None:
            result: Any = session.execute(statement)
        else:
            with self._transaction(True) as own:
                result = own.execute(statement)
        self.forget(owner)
        if result.rowcount != 1 and self.shredded_at(owner) is None:
            raise UnknownPupilKey(owner)
        if session is None:
            self.scrub()

    def scrub(self) -> None:
        """Push destroyed keys out of the files: old row versions and journal pages.

        SQLite runs with secure_delete (freed pages are zeroed); the WAL still holds the
        old page until a checkpoint, so truncate it. PostgreSQL keeps dead row versions
        until VACUUM.
        """
        if self._engine.dialect.name == "sqlite":
            with self._engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        elif self._engine.dialect.name == "postgresql":
            with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql(f"VACUUM {data_keys.name}")

    # ----- rotation ---------------------------------------------------------------------

    def rotate(self, now: datetime, batch: int = 500) -> tuple[str, int]:
        """Re-wrap every live data key under a new KEK and retire the old ones (or finish
        an interrupted rotation); the new KEK id and how many keys this run re-wrapped."""
        done = self.rotate_epoch(now, batch)
        return done.kid, done.rewrapped

    def rotate_epoch(
        self,
        now: datetime,
        batch: int = 500,
        *,
        after_batch: Callable[[int], None] | None = None,
    ) -> Rotation:
        """Start a new KEK epoch: re-wrap every live data key under a new KEK, retire the
        KEKs no key uses any more, and move their files to `retired/`.

        Events are not touched. Each batch commits on its own; a row is re-wrapped in one
        update, so readers always find a kid that the ring can unwrap. The rotation is
        recorded before the first batch: if it is interrupted, the next call finishes it
        under the same new KEK (no second KEK is made). `after_batch(count)` runs after
        each committed batch (tests inject a crash there).
        """
        pending = self._unfinished_rotation()
        resumed = pending is not None
        if pending is None:
            new = self.ring.add_new()

            def begin(session: Session) -> None:
                self._register(new.kid, session, now)
                session.execute(insert(kek_rotations).values(kid=new.kid, started_at=now))

            self._write_retrying(begin)
        else:
            new = self.ring.get(pending)
        count = 0
        for rows in self._batches_not_under(new.kid, batch):

            def rewrap(session: Session, rows: list[Any] = rows) -> None:
                for owner, kid, wrapped in rows:
                    key = self.ring.get(kid).unwrap(bytes(wrapped), owner)
                    session.execute(
                        update(data_keys)
                        .where(data_keys.c.owner == owner, data_keys.c.kid == kid)
                        .values(kid=new.kid, wrapped=new.wrap(key, owner))
                    )

            self._write_retrying(rewrap)
            count += len(rows)
            if after_batch is not None:
                after_batch(count)
        retired = self._retire_unused(new.kid, now)
        self._write_retrying(
            lambda session: session.execute(
                update(kek_rotations)
                .where(kek_rotations.c.kid == new.kid, kek_rotations.c.finished_at.is_(None))
                .values(finished_at=now)
            )
        )
        self.scrub()  # the old wrapped copies leave the files (SQLite pages, PG dead rows)
        return Rotation(new.kid, count, resumed, tuple(retired))

    def _unfinished_rotation(self) -> str | None:
        with self._transaction(False) as session:
            kid = session.execute(
                select(kek_rotations.c.kid)
                .where(kek_rotations.c.finished_at.is_(None))
                .order_by(kek_rotations.c.started_at.desc())
                .limit(1)
            ).scalar()
        return None if kid is None else str(kid)

    def epochs(self) -> list[Epoch]:
        """Every KEK the registry knows, oldest first, with its live data keys."""
        with self._transaction(False) as session:
            live: dict[str, int] = {
                str(kid): int(n)
                for kid, n in session.execute(
                    select(data_keys.c.kid, func.count())
                    .where(data_keys.c.wrapped.is_not(None))
                    .group_by(data_keys.c.kid)
                ).all()
            }
            destroyed: dict[str, datetime] = {
                str(kid): at
                for kid, at in session.execute(
                    select(kek_destroyed.c.kid, kek_destroyed.c.destroyed_at)
                ).all()
            }
            rows = session.execute(
                select(
                    kek_registry.c.kid, kek_registry.c.created_at, kek_registry.c.retired_at
                ).order_by(kek_registry.c.created_at, kek_registry.c.kid)
            ).all()
        return [
            Epoch(
                str(kid),
                _utc(created),
                None if retired is None else _utc(retired),
                None if kid not in destroyed else _utc(destroyed[kid]),
                int(live.get(kid, 0)),
            )
            for kid, created, retired in rows
        ]

    def destroy_retired(self, older_than: timedelta, now: datetime) -> list[Epoch]:
        """Destroy every KEK retired at least `older_than` ago (the backup retention
        window) that no live data key uses: its file goes, the ring leaves a note, and the
        destruction is recorded. A database backup that still needed it can no longer be
        read. KEKs in force, or retired more recently, are left alone."""
        if older_than < timedelta(0):
            raise KeyEncryptionKeyError("--older-than must not be negative")
        cutoff = now - older_than
        epochs = self.epochs()
        for epoch in epochs:
            if epoch.destroyed_at is not None and epoch.retired_at is not None:
                # Recorded earlier: make sure the file is gone (a run interrupted between
                # the record and the deletion); destroying twice is harmless.
                self.ring.destroy(epoch.kid, retired_at=epoch.retired_at, now=now)
        due = _due(epochs, cutoff)
        in_use = [e for e in due if e.live_keys]
        if in_use:
            raise KeyEncryptionKeyError(
                f"key-encryption key {in_use[0].kid} is marked retired but still wraps "
                f"{in_use[0].live_keys} data keys (a restored backup?): run `chronicle keys "
                "rotate-kek` first; nothing was destroyed"
            )
        destroyed: list[Epoch] = []
        for epoch in due:
            retired_at = epoch.retired_at
            assert retired_at is not None

            def record(session: Session, kid: str = epoch.kid, at: datetime = retired_at) -> None:
                session.execute(
                    _upsert(session)(kek_destroyed)
                    .values(kid=kid, retired_at=at, destroyed_at=now)
                    .on_conflict_do_nothing(index_elements=[kek_destroyed.c.kid])
                )

            # Recorded first: if the file's deletion is interrupted, the next run finds
            # the record and deletes the file again.
            self._write_retrying(record)
            self.ring.destroy(epoch.kid, retired_at=retired_at, now=now)
            destroyed.append(epoch._replace(destroyed_at=now))
        return destroyed

    def due_for_destruction(self, older_than: timedelta, now: datetime) -> list[Epoch]:
        """The KEKs `destroy_retired(older_than, now)` would destroy (a dry run)."""
        return _due(self.epochs(), now - older_than)

    def _batches_not_under(self, kid: str, batch: int) -> Iterator[list[Any]]:
        while True:
            with self._transaction(False) as session:
                rows = session.execute(
                    select(data_keys.c.owner, data_keys.c.kid, data_keys.c.wrapped)
                    .where(data_keys.c.kid != kid, data_keys.c.wrapped.is_not(None))
                    .limit(batch)
                ).all()
            if not rows:
                return
            yield list(rows)

    def _retire_unused(self, current: str, now: datetime) -> list[str]:
        """Retire every KEK but `current` that no live data key uses, and move the files of
        all retired, undestroyed KEKs to `retired/` (again, for a rotation interrupted
        between the registry and the file)."""
        with self._transaction(False) as session:
            old = list(
                session.execute(
                    select(kek_registry.c.kid).where(
                        kek_registry.c.retired_at.is_(None), kek_registry.c.kid != current
                    )
                ).scalars()
            )
        in_ring = self.ring.current().kid
        retired = [kid for kid in old if kid != in_ring and self._retire(kid, now)]
        with self._transaction(False) as session:
            files = list(
                session.execute(
                    select(kek_registry.c.kid).where(
                        kek_registry.c.retired_at.is_not(None),
                        kek_registry.c.kid.not_in(select(kek_destroyed.c.kid)),
                    )
                ).scalars()
            )
        for kid in files:
            if kid != in_ring:
                self.ring.retire(kid)
        return retired

    def _write_retrying(self, write: Callable[[Session], _T]) -> _T:
        """`write` in a write transaction, tried again after a pause when SQLite stayed
        locked beyond its busy timeout (busy writers in other processes can starve a
        rotation's lock requests; every rotation step is safe to repeat)."""
        for attempt in range(_LOCKED_ATTEMPTS):
            try:
                with self._transaction(True) as session:
                    return write(session)
            except Exception as e:
                if "database is locked" not in str(e) or attempt == _LOCKED_ATTEMPTS - 1:
                    raise
                time.sleep(min(2.0, 0.05 * 2**attempt))
        raise AssertionError("unreachable")  # the last attempt returned or raised

    def _retire(self, kid: str, now: datetime) -> bool:
        return self._write_retrying(lambda session: self._retire_in(session, kid, now))

    def _retire_in(self, session: Session, kid: str, now: datetime) -> bool:
        """Mark `kid` retired unless a data key still uses it. The registry row is updated
        first, which waits for (PostgreSQL) or excludes (SQLite) any insert still using
        it, so the check that follows cannot miss one."""
        session.execute(
            update(kek_registry).where(kek_registry.c.kid == kid).values(retired_at=now)
        )
        used = session.execute(
            select(data_keys.c.owner)
            .where(data_keys.c.kid == kid, data_keys.c.wrapped.is_not(None))
            .limit(1)
        ).first()
        if used is not None:
            session.rollback()
            return False
        return True

    def count(self) -> int:
        with self._transaction(False) as session:
            return int(session.execute(select(func.count()).select_from(data_keys)).scalar_one())

    # ----- internals --------------------------------------------------------------------

    def _register(
        self, kid: str, session: Session, now: datetime, *, retired: bool = False
    ) -> None:
        # Write first (insert, or nothing if known), never read-then-write: on SQLite a
        # transaction that has read cannot take the write lock once another connection has
        # written ("database is locked" at once, without waiting for the busy timeout).
        check = self.ring.get(kid).wrap(_CHECK_KEY, _CHECK_OWNER)
        session.execute(
            _upsert(session)(kek_registry)
            .values(kid=kid, check_value=check, created_at=now, retired_at=now if retired else None)
            .on_conflict_do_nothing(index_elements=[kek_registry.c.kid])
        )

    def _remember(self, owner: UUID, key: bytes) -> AESGCM:
        # Only the cipher object is cached; it holds the key schedule, not a bytes copy.
        aead = AESGCM(key)
        with self._lock:
            self._cache[owner] = aead
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)  # the longest-cached goes first
        return aead


def _due(epochs: list[Epoch], cutoff: datetime) -> list[Epoch]:
    """Retired at or before `cutoff` and not destroyed yet."""
    return [
        e
        for e in epochs
        if e.destroyed_at is None and e.retired_at is not None and e.retired_at <= cutoff
    ]


def _upsert(session: Session) -> Any:
    """The dialect's INSERT with `on_conflict_do_nothing`."""
    dialect = session.connection().dialect.name
    return postgresql_insert if dialect == "postgresql" else sqlite_insert


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
