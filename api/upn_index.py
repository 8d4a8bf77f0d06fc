"""A UPN is unique within the trust: a keyed hash of each registered pupil's UPN.

The UPN is pupil data, so the table holds HMAC-SHA256(trust secret, UPN), never the UPN.
The secret is a random 32-byte key kept like a pupil's data key (in `chronicle_data_keys`
under a fixed owner, wrapped by the KEK and re-wrapped by every KEK rotation); it is made
on first use, when the pupils already on the records are indexed in the same transaction.

A registration inserts its pupil's row in the same transaction as the pupil's first event
(`claim`), so two registrations of one UPN cannot both commit, on SQLite (one writer at a
time) or on PostgreSQL (the second insert waits on the primary key and fails once the first
commits). A purge deletes the pupil's row with its purge record (api/retention.py).

Pupils written straight to the store without the application (the demo generator, tests
that save aggregates) are indexed only if they were there when the secret was made.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import weakref
from collections.abc import Iterable
from datetime import UTC, datetime
from uuid import UUID, uuid5

from eventsourcing.persistence import PersistenceError
from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    Uuid,
    delete,
    insert,
    inspect,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from api.application import PupilRecords
from crypto.datakeys import data_keys

_log = logging.getLogger("chronicle.upn_index")

# The owner under which the trust's UPN secret is kept with the data keys: no pupil's id.
SECRET_OWNER = uuid5(UUID(int=0), "chronicle:upn-index/1")

metadata = MetaData()
pupil_upns = Table(
    "chronicle_pupil_upns",
    metadata,
    Column("upn_hmac", String(64), primary_key=True),
    Column("pupil_id", Uuid, nullable=False, index=True),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
)

_opened: weakref.WeakKeyDictionary[PupilRecords, UpnIndex] = weakref.WeakKeyDictionary()


class UpnIndex:
    """The trust's registered UPNs, by keyed hash."""

    def __init__(self, records: PupilRecords) -> None:
        self._records = records
        self._secret: bytes | None = None
        create_table(records.datastore.engine)

    @classmethod
    def of(cls, records: PupilRecords) -> UpnIndex:
        """The index of these records (one per opened store: the secret is unwrapped once)."""
        found = _opened.get(records)
        if found is None:
            found = _opened[records] = cls(records)
        return found

    def digest(self, upn: str) -> str:
        message = b"chronicle-upn/1:" + upn.strip().upper().encode()
        return hmac.new(self._key(), message, hashlib.sha256).hexdigest()

    def holders(self, upns: Iterable[str]) -> dict[str, UUID]:
        """UPN -> the pupil registered with it, for those of `upns` that are taken."""
        by_digest = {self.digest(upn): upn for upn in upns}
        found: dict[str, UUID] = {}
        c = pupil_upns.c
        digests = list(by_digest)
        with self._records.datastore.engine.connect() as conn:
            for start in range(0, len(digests), 500):
                chunk = digests[start : start + 500]
                for digest, pupil_id in conn.execute(
                    select(c.upn_hmac, c.pupil_id).where(c.upn_hmac.in_(chunk))
                ).all():
                    found[by_digest[digest]] = pupil_id
        return found

    def live_holders(self, upns: Iterable[str]) -> dict[str, UUID]:
        """As `holders`, leaving out purged pupils: a purge restored from a backup (or one
        applied before the index existed) may have left a row, which is deleted here, so
        their UPN is free again and `claim` can insert it."""
        found = self.holders(upns)
        if not found:
            return {}
        live = self._records.data_keys.live(list(set(found.values())))
        purged = set(found.values()) - live
        if purged:
            with self._records.datastore.transaction(True) as session:
                for pupil_id in purged:
                    forget(session, pupil_id)
        return {upn: pupil_id for upn, pupil_id in found.items() if pupil_id in live}

    def holder(self, upn: str) -> UUID | None:
        return self.live_holders([upn]).get(upn)

    def claim(self, session: Session, claims: Iterable[tuple[str, UUID]]) -> None:
        """Insert each (UPN, pupil) inside the caller's transaction (after `live_holders`
        found them free): a UPN taken meanwhile fails the insert and the transaction."""
        now = self._records.clock()
        rows = [
            {"upn_hmac": self.digest(upn), "pupil_id": pupil_id, "claimed_at": now}
            for upn, pupil_id in claims
        ]
        if rows:
            session.execute(insert(pupil_upns), rows)

    # ----- the secret -------------------------------------------------------------------

    def _key(self) -> bytes:
        if self._secret is None:
            self._secret = self._unwrap() or self._create()
        return self._secret

    def _unwrap(self) -> bytes | None:
        keys = self._records.data_keys
        c = data_keys.c
        with self._records.datastore.engine.connect() as conn:
            row = conn.execute(select(c.kid, c.wrapped).where(c.owner == SECRET_OWNER)).first()
        if row is None or row.wrapped is None:
            return None
        return keys.ring.get(row.kid).unwrap(bytes(row.wrapped), SECRET_OWNER)

    def _create(self) -> bytes:
        """Make the secret and index every pupil already registered, in one transaction;
        a concurrent process that made it first wins, and its secret is used."""
        secret = secrets.token_bytes(32)
        rows: dict[str, UUID] = {}
        duplicates = 0
        for entry in self._records.registrations():
            message = b"chronicle-upn/1:" + str(entry.payload["upn"]).strip().upper().encode()
            digest = hmac.new(secret, message, hashlib.sha256).hexdigest()
            if digest in rows:
                duplicates += 1
                continue
            rows[digest] = entry.pupil_id
        now = datetime.now(UTC)
        records = self._records
        try:
            with records.datastore.transaction(True) as session:
                records.data_keys.store(SECRET_OWNER, secret, session, now)
                for start in range(0, len(rows), 1000):
                    session.execute(
                        insert(pupil_upns),
                        [
                            {"upn_hmac": d, "pupil_id": p, "claimed_at": now}
                            for d, p in list(rows.items())[start : start + 1000]
                        ],
                    )
        except (IntegrityError, PersistenceError):  # the datastore wraps what the driver raised
            made = self._unwrap()
            if made is None:
                raise
            return made
        if duplicates:
            _log.warning(
                "%d pupils share a UPN with a pupil registered before them: only the first "
                "of each is in the UPN index (find them with the register's UPN search)",
                duplicates,
            )
        return secret


def create_table(engine: Engine) -> None:
    """Create the index's table if it is missing; another process creating it at the same
    moment is no error."""
    for attempt in range(3):
        try:
            metadata.create_all(engine, checkfirst=True)
            return
        except DBAPIError:
            if attempt == 2:
                raise


def forget(session: Session, pupil_id: UUID) -> None:
    """Delete the pupil's row (a purge, inside its transaction); nothing if there is none."""
    if not inspect(session.connection()).has_table(pupil_upns.name):
        return
    session.execute(delete(pupil_upns).where(pupil_upns.c.pupil_id == pupil_id))
