"""Per-pupil data keys, stored only wrapped by a KEK, cached unwrapped in memory.

Tables (same database as the events, so a pupil's key commits with its first event):
    chronicle_data_keys    owner, kid, wrapped, created_at, shredded_at
    chronicle_kek_registry kid, check, created_at, retired_at

Shredding sets `wrapped` to NULL and records when; the row stays as the tombstone that lets
a read say "purged on …". The registry's `check` value lets start-up prove that the KEK
files on disk are the ones the database was written with, before anything is written.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any
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
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from crypto.errors import KeyEncryptionKeyError, KeyShredded, UnknownPupilKey
from crypto.kek import KekRing

# Wrapping a known key for this fixed owner proves a KEK file is the right one.
_CHECK_OWNER = UUID(int=0)
_CHECK_KEY = bytes(32)

metadata = MetaData()
data_keys = Table(
    "chronicle_data_keys",
    metadata,
    Column("owner", Uuid, primary_key=True),
    Column("kid", String(64), nullable=False, index=True),
    Column("wrapped", LargeBinary, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("shredded_at", DateTime(timezone=True), nullable=True),
)
kek_registry = Table(
    "chronicle_kek_registry",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("check_value", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("retired_at", DateTime(timezone=True), nullable=True),
)

_INSERT_KEY = insert(data_keys)
_SELECT_KEY = select(data_keys.c.kid, data_keys.c.wrapped, data_keys.c.shredded_at).where(
    data_keys.c.owner == bindparam("owner")
)

Transaction = Callable[[bool], AbstractContextManager[Session]]


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

        Also registers the current KEK, so new data keys never need a registry write.
        """
        with self._transaction(True) as session:
            self._register(self.ring.current().kid, session, datetime.now(UTC))
        with self._transaction(False) as session:
            rows = session.execute(
                select(kek_registry.c.kid, kek_registry.c.check_value).where(
                    kek_registry.c.retired_at.is_(None)
                )
            ).all()
        for kid, check in rows:
            kek = self.ring.get(kid)
            try:
                ok = kek.unwrap(check, _CHECK_OWNER) == _CHECK_KEY
            except KeyEncryptionKeyError:
                ok = False
            if not ok:
                raise KeyEncryptionKeyError(
                    f"the key file for key-encryption key {kid} does not match this database "
                    "(wrong or replaced key file): restore the right keys folder; nothing "
                    "was written"
                )

    # ----- data keys --------------------------------------------------------------------

    def new_key(self, owner: UUID, session: Session, now: datetime) -> None:
        """Create, wrap and insert a data key inside the caller's transaction."""
        kek = self.ring.current()
        key = secrets.token_bytes(32)
        # A prebuilt statement on the session's connection: this runs once per new pupil,
        # inside the save, so it skips the ORM layer and statement re-construction.
        session.connection().execute(
            _INSERT_KEY,
            {"owner": owner, "kid": kek.kid, "wrapped": kek.wrap(key, owner), "created_at": now},
        )
        self._remember(owner, key)

    def cipher(self, owner: UUID) -> AESGCM:
        """AES-256-GCM under `owner`'s data key; raises if it was shredded or never existed."""
        aead = self._cache.get(owner)  # a dict read is atomic; the lock guards writes
        if aead is not None:
            return aead
        # A plain connection and a prebuilt statement: a cache miss costs one round trip.
        with self._engine.connect() as conn:
            row = conn.execute(_SELECT_KEY, {"owner": owner}).first()
        if row is None:
            raise UnknownPupilKey(owner)
        kid, wrapped, shredded_at = row
        if wrapped is None:
            raise KeyShredded(owner, _utc(shredded_at))
        return self._remember(owner, self.ring.get(kid).unwrap(bytes(wrapped), owner))

    def forget(self, owner: UUID) -> None:
        """Drop a cached key (after a rolled-back first save, or a shred)."""
        with self._lock:
            self._cache.pop(owner, None)

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
        """Re-wrap every live data key under a new KEK and retire the old ones.

        Events are not touched. Each batch commits on its own; a row is re-wrapped in one
        update, so readers always find a kid that the ring can unwrap.
        """
        new = self.ring.add_new()
        with self._transaction(True) as session:
            self._register(new.kid, session, now)
        count = 0
        for rows in self._batches_not_under(new.kid, batch):
            with self._transaction(True) as session:
                for owner, kid, wrapped in rows:
                    key = self.ring.get(kid).unwrap(bytes(wrapped), owner)
                    session.execute(
                        update(data_keys)
                        .where(data_keys.c.owner == owner, data_keys.c.kid == kid)
                        .values(kid=new.kid, wrapped=new.wrap(key, owner))
                    )
                    count += 1
        self._retire_unused(new.kid, now)
        return new.kid, count

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

    def _retire_unused(self, current: str, now: datetime) -> None:
        with self._transaction(True) as session:
            in_use = set(
                session.execute(
                    select(data_keys.c.kid).where(data_keys.c.wrapped.is_not(None)).distinct()
                ).scalars()
            )
            old = (
                session.execute(
                    select(kek_registry.c.kid).where(
                        kek_registry.c.retired_at.is_(None), kek_registry.c.kid != current
                    )
                )
                .scalars()
                .all()
            )
            for kid in old:
                if kid not in in_use:
                    session.execute(
                        update(kek_registry).where(kek_registry.c.kid == kid).values(retired_at=now)
                    )
        for kid in old:
            if kid not in in_use:
                self.ring.retire(kid)

    def count(self) -> int:
        with self._transaction(False) as session:
            return int(session.execute(select(func.count()).select_from(data_keys)).scalar_one())

    # ----- internals --------------------------------------------------------------------

    def _register(self, kid: str, session: Session, now: datetime) -> None:
        known = session.execute(select(kek_registry.c.kid).where(kek_registry.c.kid == kid)).first()
        if known is None:
            check = self.ring.get(kid).wrap(_CHECK_KEY, _CHECK_OWNER)
            session.execute(insert(kek_registry).values(kid=kid, check_value=check, created_at=now))

    def _remember(self, owner: UUID, key: bytes) -> AESGCM:
        # Only the cipher object is cached; it holds the key schedule, not a bytes copy.
        aead = AESGCM(key)
        with self._lock:
            self._cache[owner] = aead
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)  # the longest-cached goes first
        return aead


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
