"""`PupilRecords`: the application service over the pupils' encrypted event streams."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import sqlalchemy.event
from eventsourcing.application import Application, project_aggregate
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, Mapper, StoredEvent
from eventsourcing.utils import get_topic
from eventsourcing_sqlalchemy.datastore import SQLAlchemyDatastore
from eventsourcing_sqlalchemy.factory import SQLAlchemyFactory
from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder
from sqlalchemy import insert, or_, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from crypto.datakeys import DataKeyStore
from crypto.envelope import stored_commitment
from crypto.errors import KeyShredded
from crypto.kek import KekRing
from crypto.mapper import SealingMapper, event_type
from domain.access import AccessLogOpened, RecordsViewed
from domain.errors import DomainError, PupilPurged, UnknownPupil
from domain.events import PupilRegistered, RecordsPurged
from domain.policy import DEFAULT_POLICY_NAME, TrustPolicy, load_policy_named
from domain.pupil import ACADEMY_EVENTS, Pupil

Clock = Callable[[], datetime]


class ConflictingUpdate(DomainError):
    """Someone else saved the pupil first; re-read and try again."""

    def __init__(self, pupil_id: UUID, based_on: int, current: int | None) -> None:
        super().__init__(
            f"pupil {pupil_id} was changed by someone else (you worked from version "
            f"{based_on}, it is now at {current}): re-read the record and try again; "
            "nothing was saved"
        )
        self.pupil_id, self.based_on, self.current = pupil_id, based_on, current


@dataclass(frozen=True)
class RecordEntry:
    """One entry of a pupil's record as committed: its exact payload and commitment."""

    pupil_id: UUID
    seq: int
    type: str
    payload: dict[str, Any]
    payload_bytes: bytes
    salt: bytes
    commitment: bytes


class PupilRecords(Application[UUID]):
    """Every pupil's SEND record, each an encrypted event stream under the pupil's own key."""

    name = "chronicle"

    def __init__(
        self,
        *,
        database_url: str,
        ring: KekRing,
        clock: Clock | None = None,
        policy: TrustPolicy | None = None,
    ) -> None:
        self._ring = ring
        self.policy = policy or load_policy_named(DEFAULT_POLICY_NAME)
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        # How far a read must see (`Reads` wait for their read models to reach it), with no
        # query to learn it: the log's head when these records were opened (so a process,
        # the CLI's included, shows every write made before it started), then the newest
        # pupil event this process committed; `viewed_to` the same for access records;
        # `unclaimed_to` the same as `written_to` without the writes made for a person
        # inside `claimed` (the application layer keeps those per person).
        self._written_to: int | None = None
        self._viewed_to: int | None = None
        self._unclaimed_to: int | None = None
        super().__init__(
            env={"PERSISTENCE_MODULE": get_topic(_Factory), "SQLALCHEMY_URL": database_url}
        )
        self.data_keys.check_keks()

    # ----- wiring -----------------------------------------------------------------------

    def construct_mapper(self) -> Mapper[UUID]:
        datastore = self.factory.datastore  # type: ignore[attr-defined]
        self.datastore = datastore
        if datastore.engine.dialect.name == "sqlite":
            sqlalchemy.event.listen(datastore.engine, "connect", _sqlite_secure_delete)
        self.data_keys = DataKeyStore(datastore.engine, datastore.transaction, self._ring)
        self.data_keys.create_tables()
        self.sealing_mapper = SealingMapper(self.construct_transcoder(), self.data_keys)
        return self.sealing_mapper

    def construct_recorder(self) -> ApplicationRecorder:
        self.factory.application_recorder_class = _KeyedRecorder  # type: ignore[attr-defined]
        recorder = super().construct_recorder()
        assert isinstance(recorder, _KeyedRecorder)
        recorder.data_keys = self.data_keys
        return recorder

    def close(self) -> None:
        super().close()
        if self.datastore.engine is not None:
            self.datastore.engine.dispose()

    # ----- writing ----------------------------------------------------------------------

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """Save pupils; a new pupil's data key commits in the same transaction as its
        first event, and a lost race surfaces as `ConflictingUpdate` with nothing written.

        A new pupil's key is made (and cached) first, so its events can be sealed; the
        recorder writes the wrapped key right after the events' INSERT, in the same
        transaction and, on PostgreSQL, in the same round trip as the save's NOTIFY."""
        new: list[Pupil] = [o for o in objs if isinstance(o, Pupil) and _is_new(o)]
        keys = [(p.id, self.data_keys.prepare(p.id)) for p in new]
        pending = _NewKeys(self.data_keys, self.clock(), keys)
        token = _NEW_KEYS.set(pending)
        try:
            with self.datastore.transaction(commit=True) as session:
                saved = super().save(*objs, **kwargs)
                # Only if the recorder's hook did not run (nothing else to write): the key
                # still commits with the events, never after them.
                pending.store(session)
            self._committed(saved)
            return saved
        except IntegrityError:
            for new_pupil in new:
                self.data_keys.forget(new_pupil.id)
            # Name the first aggregate saved (a pupil, or a pupil's access log).
            first = next((o for o in objs if isinstance(o, Aggregate)), None)
            if first is None:
                raise
            current = self._head_version(first.id)
            raise ConflictingUpdate(first.id, first.version - 1, current) from None
        except BaseException:
            for pupil in new:
                self.data_keys.forget(pupil.id)
            raise
        finally:
            _NEW_KEYS.reset(token)

    @property
    def written_to(self) -> int:
        """How far a read must see (see `__init__`); the log's head is read on first use
        (not at open: a start reads no more of the store than its checks do)."""
        if self._written_to is None:
            self._written_to = self._log_head()
        return self._written_to

    @property
    def viewed_to(self) -> int:
        if self._viewed_to is None:
            self._viewed_to = self._log_head()
        return self._viewed_to

    @property
    def unclaimed_to(self) -> int:
        """As `written_to`, less the writes made inside `claimed`: the log's head when these
        records were opened, then every other pupil write this process committed (the
        demo, an import, a save made straight on the records): writes made for nobody in
        particular, which every read in this process waits for."""
        if self._unclaimed_to is None:
            self._unclaimed_to = self._log_head()
        return self._unclaimed_to

    @contextmanager
    def claimed(self) -> Iterator[list[int]]:
        """Pupil writes committed inside (in this thread) are made for one person: their
        notification ids are added to the list yielded, for the application layer to keep
        as that person's (api/app/positions.py), and they do not move `unclaimed_to`."""
        found: list[int] = []
        token = _CLAIMED.set((self, found))
        try:
            yield found
        finally:
            _CLAIMED.reset(token)

    def _log_head(self) -> int:
        return self.recorder.max_notification_id() or 0

    def _committed(self, saved: Any) -> None:
        """Move `written_to` / `viewed_to` on past what was just committed."""
        # Not yet known: this commit's position is the log's head as far as it matters
        # (every event committed before it has a lower id), so no query is needed.
        claim = _CLAIMED.get()
        claimed = claim[1] if claim is not None and claim[0] is self else None
        for recording in saved or ():
            position = recording.notification.id
            if isinstance(recording.domain_event, AccessLogOpened | RecordsViewed):
                self._viewed_to = max(self._viewed_to or 0, position)
                continue
            self._written_to = max(self._written_to or 0, position)
            if claimed is not None:
                claimed.append(position)
            else:
                self._unclaimed_to = max(self._unclaimed_to or 0, position)

    # ----- reading ----------------------------------------------------------------------

    def get_pupil(self, pupil_id: UUID) -> Pupil:
        """The pupil's aggregate, rebuilt from its events (one query)."""
        stored = self._readable_events(pupil_id)
        try:
            pupil: Any = project_aggregate(None, map(self.mapper.to_domain_event, stored))
        except KeyShredded as e:
            raise PupilPurged(pupil_id, e.shredded_at.date()) from None
        assert isinstance(pupil, Pupil)
        return pupil

    def academy_of(self, pupil_id: UUID) -> str | None:
        """The academy the pupil is at now (as `get_pupil(...).academy`), read from the newest
        event that set it: one query and one decryption, not a rebuild. `UnknownPupil` for an
        id that is not a pupil's; `PupilPurged` once purged."""
        stored = self._newest_of(pupil_id, [*_ACADEMY_FIELDS, _PURGED_TOPIC])
        topic = stored.topic
        try:
            payload = json.loads(self.sealing_mapper.committed(stored).payload)
        except KeyShredded as e:
            raise PupilPurged(pupil_id, e.shredded_at.date()) from None
        academy = payload[_ACADEMY_FIELDS[topic]]
        assert academy is None or isinstance(academy, str)
        return academy

    def check_pupil(self, pupil_id: UUID) -> None:
        """`UnknownPupil` for an id that is not a pupil's, `PupilPurged` once purged; one
        query, nothing decrypted."""
        self._newest_of(pupil_id, [_PURGED_TOPIC])

    def _newest_of(self, pupil_id: UUID, topics: list[str]) -> StoredEvent:
        """The pupil's newest event of these topics (or its registration), refusing an id
        that is not a pupil's and a purged pupil (the tombstone is the last event, in the
        clear: pass its topic)."""
        c = self.recorder.events_record_cls.__table__.c  # type: ignore[attr-defined]
        with self.datastore.transaction(commit=False) as session:
            rows = session.execute(
                select(c.originator_version, c.topic, c.state)
                .where(
                    c.originator_id == pupil_id,
                    or_(c.originator_version == 1, c.topic.in_(topics)),
                )
                .order_by(c.originator_version)
            ).all()
        if not rows or rows[0][1] != _REGISTERED_TOPIC:
            raise UnknownPupil(pupil_id)
        version, topic, state = rows[-1]
        stored = StoredEvent(pupil_id, version, topic, state)
        if topic == _PURGED_TOPIC:
            self.data_keys.forget(pupil_id)
            raise PupilPurged(pupil_id, self._purged_on(stored))
        return stored

    def stored_events(self, pupil_id: UUID) -> list[StoredEvent]:
        return list(self.recorder.select_events(pupil_id))

    def _readable_events(self, pupil_id: UUID, *, pupils_only: bool = True) -> list[StoredEvent]:
        """The pupil's stored events, refusing a purged pupil before anything is decrypted.

        The tombstone is stored in the clear, so this also holds in a process whose key
        cache still has the key of a pupil purged by another process."""
        stored = self.stored_events(pupil_id)
        if not stored or (pupils_only and stored[0].topic != _REGISTERED_TOPIC):
            # Nothing, or another kind of stream (a pupil's access log): not a pupil.
            raise UnknownPupil(pupil_id)
        if stored[-1].topic == _PURGED_TOPIC:
            self.data_keys.forget(pupil_id)
            raise PupilPurged(pupil_id, self._purged_on(stored[-1]))
        return stored

    def _purged_on(self, tombstone: StoredEvent) -> Any:
        committed = self.sealing_mapper.committed(tombstone)
        return json.loads(committed.payload)["happened_on"]

    def entries(self, pupil_id: UUID) -> list[RecordEntry]:
        """A pupil's entries (or its access stream's) in sequence order, each with its
        committed payload."""
        stored = self._readable_events(pupil_id, pupils_only=False)
        try:
            return [self._entry(s) for s in stored]
        except KeyShredded as e:
            raise PupilPurged(pupil_id, e.shredded_at.date()) from None

    def registrations(self) -> Iterator[RecordEntry]:
        """Every pupil's registration entry, purged pupils skipped."""
        topic = get_topic(PupilRegistered)
        start: int | None = None
        while True:
            batch = self.recorder.select_notifications(
                start, 500, topics=[topic], inclusive_of_start=False
            )
            for n in batch:
                try:
                    yield self._entry(n)
                except KeyShredded:
                    continue
            if len(batch) < 500:
                return
            start = batch[-1].id

    def shred(self, pupil_id: UUID) -> None:
        """Destroy the pupil's data key (the primitive under the purge workflow)."""
        if not self.stored_events(pupil_id):
            raise UnknownPupil(pupil_id)
        self.data_keys.shred(pupil_id, self.clock())

    # ----- internals --------------------------------------------------------------------

    def _entry(self, stored: StoredEvent) -> RecordEntry:
        committed = self.sealing_mapper.committed(stored)
        pupil_id = UUID(str(stored.originator_id))
        return RecordEntry(
            pupil_id=pupil_id,
            seq=stored.originator_version,
            type=event_type(stored.topic),
            payload=json.loads(committed.payload),
            payload_bytes=committed.payload,
            salt=committed.salt,
            commitment=stored_commitment(stored.state),
        )

    def _head_version(self, pupil_id: UUID) -> int | None:
        last = self.recorder.select_events(pupil_id, desc=True, limit=1)
        return last[0].originator_version if last else None


def engine_options(url: str) -> dict[str, Any]:
    """The options of every engine the service makes (docs/api.md, "When the database is
    unavailable"): each connection is checked (`SELECT 1`) as it leaves the pool, so one
    whose server backend was terminated or restarted is replaced instead of failing the
    request; on PostgreSQL a connection attempt gives up after PG_CONNECT_TIMEOUT_S (unless
    the URL says otherwise) so an unreachable server is a quick 503, not a hung request."""
    options: dict[str, Any] = {"pool_pre_ping": True}
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        options["connect_args"] = {"connect_timeout": PG_CONNECT_TIMEOUT_S}
    return options


class _Datastore(SQLAlchemyDatastore):
    """The library's datastore, its engine made with `engine_options`."""

    def __init__(self, *, url: str | None = None, **kwargs: Any) -> None:
        if url:
            kwargs = engine_options(url) | kwargs
        super().__init__(url=url, **kwargs)


class _Factory(SQLAlchemyFactory):
    datastore_class = _Datastore


PG_CONNECT_TIMEOUT_S = 5
_PURGED_TOPIC = get_topic(RecordsPurged)
_ACADEMY_FIELDS = {get_topic(t): name for t, name in ACADEMY_EVENTS.items()}
_REGISTERED_TOPIC = get_topic(PupilRegistered)
SQLITE_BUSY_MS = 30_000


@dataclass
class _NewKeys:
    """Data keys of the pupils a save creates, made before and written with the events."""

    data_keys: DataKeyStore
    now: datetime
    keys: list[tuple[UUID, bytes]] = field(default_factory=list)

    def store(self, session: Session, lead: str = "") -> None:
        for owner, key in self.keys:
            self.data_keys.store(owner, key, session, self.now, lead=lead)
            lead = ""
        self.keys.clear()


_NEW_KEYS: ContextVar[_NewKeys | None] = ContextVar("chronicle_new_keys", default=None)
# The records a person's writes are being made on, and the list their positions go to
# (`PupilRecords.claimed`).
_CLAIMED: ContextVar[tuple[PupilRecords, list[int]] | None] = ContextVar(
    "chronicle_claimed_writes", default=None
)


class _KeyedRecorder(SQLAlchemyApplicationRecorder):
    """The library's recorder, writing a save's new data keys with its events.

    The library sends one NOTIFY per save on PostgreSQL, after the events' INSERT and in the
    same transaction; new keys go in that same round trip (on SQLite, at the same point)."""

    data_keys: DataKeyStore

    def _insert_stored_events(
        self, session: Session, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int]:
        """The library's insert, as one statement instead of an ORM object and flush per
        event (a page of 50 access records spent more in the ORM than in the database): the
        same table lock, the notification ids in the events' order, the same NOTIFY."""
        if not self._has_autoincrementing_ids:
            return super()._insert_stored_events(session, stored_events, **kwargs)
        table = self.events_record_cls.__table__
        self._lock_table(session)
        rows = [
            {
                "originator_id": e.originator_id,
                "originator_version": e.originator_version,
                "topic": e.topic,
                "state": e.state,
            }
            for e in stored_events
        ]
        ids: list[int] = []
        if rows:  # (an empty list of parameters would insert one row of defaults)
            statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
            ids = list(session.execute(statement, rows).scalars())
        self._notify_channel(session)
        return ids

    def _notify_channel(self, session: Session) -> None:
        pending = _NEW_KEYS.get()
        if pending is None or not pending.keys or pending.data_keys is not self.data_keys:
            super()._notify_channel(session)
            return
        assert self.datastore.engine is not None
        postgres = self.datastore.engine.dialect.name == "postgresql"
        pending.store(session, lead=f"NOTIFY {self.channel_name};" if postgres else "")


def _sqlite_secure_delete(dbapi_connection: Any, _record: Any) -> None:
    # Zero freed pages, so a destroyed data key does not linger in the database file.
    dbapi_connection.execute("PRAGMA secure_delete = ON")
    # Another process (the service, a CLI command, a rotation) may hold the write lock for
    # a while under load: wait up to SQLITE_BUSY_MS for it, not the driver's 5 s.
    dbapi_connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}")


def _is_new(pupil: Pupil) -> bool:
    return any(isinstance(e, PupilRegistered) for e in pupil.pending_events)
