"""The projection runner: keeps every read model current by following the event log.

One mechanism for both stores. The runner polls the event log by notification id (as the
ledger does): SQLite has no LISTEN/NOTIFY, so the library's own `ProjectionRunner` cannot
run there, and a poll that finds nothing new is a few small indexed queries. Notification ids
are never assumed contiguous (PostgreSQL skips numbers after a rolled-back insert); both
stores commit ids in order, so "every id above my position" is exactly "what I have not
seen".

Each batch is one transaction: the projections' rows and every projection's position (a
row of the library's tracking table, `Tracking(application_name=<projection name>, ...)`)
commit together, so a crash neither skips nor double-applies an event. Positions are
written with a compare-and-set, so two runners (two processes, or a CLI rebuild beside a
server) can never both apply the same events: the loser's batch rolls back and it re-reads
where things stand. On PostgreSQL runners also queue on an advisory lock.

Each stored event is decrypted at most once per batch and handed to every projection that
consumes its type; events no projection wants are not even fetched with their state. A
pupil whose key was shredded gives `payload=None` (docs/projections.md).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

import sqlalchemy.exc
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from sqlalchemy import (
    LargeBinary,
    Table,
    Text,
    cast,
    delete,
    func,
    insert,
    inspect,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.orm import Session

from crypto.envelope import is_sealed
from crypto.errors import CryptoError, KeyShredded
from crypto.mapper import event_type
from projections.base import ProjectedEvent, Projection
from projections.ports import EventLogSource

Progress = Callable[[int, int], None]
# One stored event as read: notification id, pupil id, sequence number, topic, state.
_Stored = tuple[int, UUID, int, str, bytes]

DEFAULT_BATCH = 2000
# The access log's projection (projections/access_log.py), which only access-log queries wait
# for (`wait_for` with its name).
ACCESS_LOG = "access_log"
REBUILD_BATCH = 5000  # a rebuild is a long run of appends: larger batches, fewer commits
_NAME_MAX = 32  # the library's tracking table holds application names of 32 characters
_ADVISORY_LOCK = 0x43485232  # "CHR2": one projection runner at a time on PostgreSQL
_MAX_CONFLICTS = 20
_IN_CHUNK = 500  # ids per IN list: well inside SQLite's and PostgreSQL's parameter limits
_SHREDDED_MAX = 100_000  # shredded pupils remembered at once (see `_payload`)


class ProjectionError(Exception):
    """The read models cannot be brought up to date as asked; the message says why."""


@dataclass(frozen=True)
class ProjectionStatus:
    """Where one projection stands: `position` is the last notification id it applied,
    `head` the highest notification id in the store, `lag` how many stored events it has
    not applied yet (a count of events, not a difference of ids: ids may skip)."""

    name: str
    position: int
    head: int
    lag: int


@runtime_checkable
class BatchProjection(Projection, Protocol):
    """A projection that can take a whole batch at once (optional; `apply` is the contract).

    The runner prefers `apply_batch` when a projection has it, so the projection can read
    the rows a batch touches with one query and write them back in bulk (COPY on
    PostgreSQL) instead of a round trip per event. The effect must equal calling `apply`
    for each event in order.
    """

    def apply_batch(self, session: Session, events: Sequence[ProjectedEvent]) -> None: ...


class _Conflict(Exception):
    """Another runner moved a projection on while this batch was being prepared."""


class ProjectionRunner:
    """Feeds the event log to read models, incrementally (`catch_up`) or from scratch
    (`rebuild`), and reports where each stands (`status`)."""

    def __init__(self, records: EventLogSource, projections: Sequence[Projection]) -> None:
        self._check_names(projections)
        self._records = records
        self._projections = list(projections)
        self._transaction = records.datastore.transaction
        engine = records.datastore.engine
        self._postgres = engine.dialect.name == "postgresql"
        self._events: Table = records.recorder.events_record_cls.__table__  # type: ignore[attr-defined]
        recorder: Any = records.factory.tracking_recorder()  # creates its table (checkfirst)
        self._tracking: Table = recorder.tracking_table
        self._stale = _stale(engine, self._projections)
        for projection in self._projections:
            for table in projection.tables:
                table.create(engine, checkfirst=True)
        self._lock = threading.Lock()
        self._waiting = threading.Lock()  # readers in `wait_for`
        self._topics: dict[str, str] = {}
        self._kinds: dict[str, str] = {}
        self._shredded: set[UUID] = set()  # pupils (and access streams) found shredded
        # Each projection is known to have applied every event up to this notification id
        # (positions only move on, except in `rebuild`). Lets readers skip the runner, with
        # no query, once a catch-up (theirs, another reader's, the follower's) has gone past
        # the position they wait for in the projections they read.
        self._known: dict[str, int] = {p.name: 0 for p in self._projections}
        self._targets: dict[frozenset[str] | None, list[Projection]] = {}  # `wait_for`'s

    @property
    def projections(self) -> list[Projection]:
        return list(self._projections)

    # ----- public API -------------------------------------------------------------------

    def catch_up(self, batch: int = DEFAULT_BATCH) -> int:
        """Apply every new event to every projection; return how many events were applied
        (each stored event counted once, however many projections consumed it)."""
        self._refuse_stale()
        if batch < 1:
            raise ProjectionError(f"batch must be at least 1 event (got {batch})")
        head = self._head()
        if head <= self.caught_up_to:
            return 0  # someone caught up past every event this caller could have seen
        done = self._follow(self._projections, batch, None, 0)
        # `_follow` returned after a step that found the rest of the log: every event
        # committed before `head` was read (ids commit in order) is applied.
        self._reached(self._projections, head)
        return done

    def wait_for(self, position: int, names: Collection[str] | None = None) -> None:
        """Return once the projections named (None: every one) have applied every event up
        to `position` (a position a write reported, see `PupilRecords.written_to`): at
        once, with no query, when this process knows they have; otherwise by catching
        those projections up here. A read that follows no write it waits for therefore
        never touches the runner.

        Projections not named are not waited for: they follow in the background
        (`ProjectionFollower`), and the events only they consume (under load, most of the
        log is access records, which only the access log reads) are not even fetched. One
        reader catches up for all: readers arriving meanwhile wait for it, then find the
        position reached and return without a query. A projection named whose tables were
        made by another version is refused (`ProjectionError`), as `catch_up` refuses."""
        key = None if names is None else frozenset(names)
        targets = self._targets.get(key)
        if targets is None:
            chosen = {p.name for p in self._select(None if key is None else sorted(key))}
            targets = [p for p in self._projections if p.name in chosen]  # the feed's order
            self._targets[key] = targets
        if self._known_past(targets, position):
            return
        with self._waiting:
            if self._known_past(targets, position):
                return
            self._refuse_stale({p.name for p in targets})
            head = self._head()
            self._follow(targets, DEFAULT_BATCH, None, 0)
            self._reached(targets, head)

    def _known_past(self, projections: Sequence[Projection], position: int) -> bool:
        known = self._known
        return all(known[p.name] >= position for p in projections)

    def _reached(self, projections: Sequence[Projection], head: int) -> None:
        with self._lock:
            for projection in projections:
                self._known[projection.name] = max(self._known[projection.name], head)

    def _refuse_stale(self, names: Collection[str] | None = None) -> None:
        stale = self._stale if names is None else self._stale & set(names)
        if stale:
            raise ProjectionError(
                f"the tables of {', '.join(sorted(stale))} were made by another version "
                "of Chronicle: run `chronicle projections rebuild` (or rebuild those by name)"
            )

    @property
    def caught_up_to(self) -> int:
        """Every projection has applied every event up to this position (a lower bound)."""
        return min(self._known.values(), default=0)

    def _head(self) -> int:
        with self._transaction(False) as session:
            return int(session.execute(select(func.max(self._events.c.id))).scalar() or 0)

    def rebuild(self, names: Sequence[str] | None = None, progress: Progress | None = None) -> int:
        """Drop and recreate the named projections' tables (all when `names` is None), reset
        their positions and replay the whole log into them; `progress(done, total)` is
        called after each batch. Returns how many events were replayed. Other projections
        are left where they are."""
        targets = self._select(names)
        with self._lock:
            self._known = dict.fromkeys(self._known, 0)
        with self._lock, self._transaction(True) as session:
            self._prepare(session)
            # The tracking reset comes first: on SQLite it opens the transaction, so the
            # DDL that follows is part of it and an interrupted rebuild restarts cleanly.
            session.execute(
                delete(self._tracking).where(
                    self._tracking.c.application_name.in_([p.name for p in targets])
                )
            )
            connection = session.connection()
            for projection in targets:
                for table in reversed(projection.tables):
                    table.drop(connection, checkfirst=True)
                for table in projection.tables:
                    table.create(connection)
        self._stale -= {p.name for p in targets}
        total = self._count_after(0)
        if progress is not None:
            progress(0, total)
        return self._follow(targets, REBUILD_BATCH, progress, total)

    def status(self) -> list[ProjectionStatus]:
        """Each projection's position, the store's head and how far behind it is."""
        with self._transaction(False) as session:
            positions = self._positions(session, self._projections)
            head = session.execute(select(func.max(self._events.c.id))).scalar() or 0
            statuses = []
            for projection in self._projections:
                position = positions[projection.name]
                lag = session.execute(
                    select(func.count())
                    .select_from(self._events)
                    .where(self._events.c.id > position)
                ).scalar_one()
                statuses.append(ProjectionStatus(projection.name, position, int(head), lag))
        return statuses

    # ----- the loop ---------------------------------------------------------------------

    def _follow(
        self, projections: list[Projection], batch: int, progress: Progress | None, total: int
    ) -> int:
        if batch < 1:
            raise ProjectionError(f"batch must be at least 1 event (got {batch})")
        done, conflicts, seen = 0, 0, None
        while True:
            try:
                with self._lock:
                    count = self._step(projections, batch)
            except _Conflict:
                # Another runner applied the batch first. While it is moving on, follow it;
                # only conflicts without any progress (which no working runner causes) stop.
                with self._transaction(False) as session:
                    now = self._positions(session, projections)
                conflicts = 0 if now != seen else conflicts + 1
                seen = now
                if conflicts > _MAX_CONFLICTS:
                    raise ProjectionError(
                        "the projections' positions keep changing under this runner without "
                        "moving on: check for another `chronicle projections` process"
                    ) from None
                time.sleep(random.uniform(0.001, 0.01))  # let the other runner pull ahead
                continue
            conflicts = 0
            done += count
            if progress is not None and count:
                progress(done, max(total, done))
            if count < batch:
                return done

    def _step(self, projections: list[Projection], batch: int) -> int:
        """One batch: read, decrypt, apply and track, in one transaction. Returns how many
        stored events it covered."""
        with self._transaction(True) as session:
            self._prepare(session)
            positions = self._positions(session, projections)
            low = min(positions.values())
            span = self._span(session, low, batch)
            if span is None:
                return 0
            last, covered = span
            rows = self._read(session, projections, low, last)
            # The batch's keys in one query per 500 pupils, not a round trip each (a rebuild
            # in a new process has none cached); shredded pupils are skipped.
            self._records.data_keys.prefetch(
                list({row[1]: None for row in rows if row[1] not in self._shredded})
            )
            feeds = self._feeds(projections, positions, rows)
            # Positions first: the compare-and-set is also what takes SQLite's write
            # lock, so everything written below is written by the only runner.
            for projection in projections:
                if positions[projection.name] < last:
                    self._advance(session, projection.name, positions[projection.name], last)
            for projection in projections:
                if feeds[projection.name]:
                    _apply(projection, session, feeds[projection.name])
            return covered

    def _span(self, session: Session, after: int, batch: int) -> tuple[int, int] | None:
        """The next batch's last notification id and how many events it covers (None when
        there is nothing after `after`). Ids are read from the primary key alone."""
        e = self._events.c
        last = session.execute(
            select(e.id).where(e.id > after).order_by(e.id).offset(batch - 1).limit(1)
        ).scalar()
        if last is not None:
            return int(last), batch
        # Fewer than `batch` events left: all of them.
        last, covered = session.execute(
            select(func.max(e.id), func.count()).select_from(self._events).where(e.id > after)
        ).one()
        return None if not covered else (int(last), int(covered))

    def _read(
        self, session: Session, projections: list[Projection], after: int, last: int
    ) -> list[_Stored]:
        """The events in (after, last] that some projection consumes, as plain tuples
        (notification id, pupil id, sequence number, topic, state)."""
        e = self._events.c
        # The pupil id as the driver's raw value (16 bytes on SQLite, text on PostgreSQL)
        # made a UUID once per pupil and batch: converting it per row through the column
        # type cost more than a tenth of a rebuild.
        raw_id = (
            cast(e.originator_id, Text)
            if self._postgres
            else type_coerce(e.originator_id, LargeBinary)
        )
        statement = (
            select(e.id, raw_id, e.originator_version, e.topic, e.state)
            .where(e.id > after, e.id <= last)
            .order_by(e.id)
        )
        unwanted = self._unwanted_topics(projections)
        if unwanted:
            # Events no projection consumes are neither transferred nor decrypted. Listing
            # the unwanted topics (not the wanted ones) keeps an event whose topic this code
            # does not know (an old, renamed class) on the safe side: read, judged by type.
            statement = statement.where(e.topic.not_in(unwanted))
        ids: dict[Any, UUID] = {}
        found: list[_Stored] = []
        for notification_id, raw, seq, topic, state in session.execute(statement).tuples():
            pupil_id = ids.get(raw)
            if pupil_id is None:
                pupil_id = ids[raw] = _raw_uuid(raw)
            found.append((int(notification_id), pupil_id, int(seq), topic, bytes(state)))
        return found

    def _feeds(
        self,
        projections: list[Projection],
        positions: dict[str, int],
        rows: list[_Stored],
    ) -> dict[str, list[ProjectedEvent]]:
        feeds: dict[str, list[ProjectedEvent]] = {p.name: [] for p in projections}
        takers_of: dict[str, list[list[ProjectedEvent]]] = {}
        behind = len(set(positions.values())) > 1  # after a partial rebuild, or a new model
        for row in rows:
            notification_id, pupil_id, seq, topic, _ = row
            kind = self._kind(topic)
            takers = takers_of.get(kind)
            if takers is None or behind:
                takers = [
                    feeds[p.name]
                    for p in projections
                    if (p.event_types is None or kind in p.event_types)
                    and positions[p.name] < notification_id
                ]
                if not behind:
                    takers_of[kind] = takers
            if not takers:
                continue
            event = ProjectedEvent(notification_id, pupil_id, seq, kind, self._payload(row))
            for feed in takers:
                feed.append(event)
        return feeds

    def _kind(self, topic: str) -> str:
        kind = self._kinds.get(topic)
        if kind is None:
            kind = self._kinds[topic] = event_type(topic)
        return kind

    def _payload(self, row: _Stored) -> dict[str, Any] | None:
        notification_id, pupil_id, seq, topic, state = row
        if pupil_id in self._shredded and is_sealed(state):
            return None  # a shredded key never comes back: no need to ask the store again
        stored = StoredEvent(
            originator_id=pupil_id, originator_version=seq, topic=topic, state=state
        )
        try:
            payload: dict[str, Any] = json.loads(
                self._records.sealing_mapper.committed(stored).payload.decode()
            )
        except KeyShredded:
            if len(self._shredded) >= _SHREDDED_MAX:
                self._shredded.clear()  # bounded: a pupil's events are mostly close together
            self._shredded.add(pupil_id)
            return None  # purged pupil: its RecordsPurged tombstone does the clean-up
        except CryptoError as e:
            raise ProjectionError(
                f"notification {notification_id} (entry {seq} of pupil {pupil_id}) cannot "
                f"be read: {e}; run `chronicle ledger verify`"
            ) from None
        return payload

    # ----- positions --------------------------------------------------------------------

    def _positions(self, session: Session, projections: Sequence[Projection]) -> dict[str, int]:
        t = self._tracking.c
        rows = session.execute(
            select(t.application_name, t.notification_id).where(
                t.application_name.in_([p.name for p in projections])
            )
        ).tuples()
        found: dict[str, int | None] = {name: position for name, position in rows}
        return {p.name: int(found.get(p.name) or 0) for p in projections}

    def _advance(self, session: Session, name: str, old: int, new: int) -> None:
        """Move `name`'s position from `old` to `new`, or raise _Conflict if it is no longer
        at `old` (another runner got there first)."""
        t = self._tracking.c
        if old == 0:
            # No row yet (new projection, or just reset): a concurrent insert of the same
            # name fails on the primary key: a conflict like any other.
            try:
                session.execute(
                    insert(self._tracking).values(application_name=name, notification_id=new)
                )
            except sqlalchemy.exc.IntegrityError:
                raise _Conflict from None
            return
        moved: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(self._tracking)
            .where(t.application_name == name, t.notification_id == old)
            .values(notification_id=new)
        )
        if moved.rowcount != 1:
            raise _Conflict

    def _prepare(self, session: Session) -> None:
        if self._postgres:
            session.execute(text(f"SELECT pg_advisory_xact_lock({_ADVISORY_LOCK})"))
            # Read models are derived data: a crash may lose the last batches' commits, and
            # the positions committed with them, so they are simply applied again. Not
            # waiting for each commit's WAL flush makes a rebuild markedly faster.
            session.execute(text("SET LOCAL synchronous_commit = off"))

    # ----- helpers ----------------------------------------------------------------------

    def _count_after(self, position: int) -> int:
        with self._transaction(False) as session:
            return int(
                session.execute(
                    select(func.count())
                    .select_from(self._events)
                    .where(self._events.c.id > position)
                ).scalar_one()
            )

    def _unwanted_topics(self, projections: Sequence[Projection]) -> list[str]:
        """Topics of the catalogue's event classes that none of `projections` consumes."""
        wanted = _wanted_types(projections)
        if wanted is None:
            return []
        if not self._topics:
            from domain.access import ACCESS_EVENT_TYPES
            from domain.events import EVENT_TYPES

            every = (*EVENT_TYPES, *ACCESS_EVENT_TYPES)
            self._topics = {get_topic(cls): cls.__name__ for cls in every}
        return [topic for topic, kind in self._topics.items() if kind not in wanted]

    def _select(self, names: Sequence[str] | None) -> list[Projection]:
        if names is None:
            return list(self._projections)
        known = {p.name: p for p in self._projections}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ProjectionError(
                f"unknown projection {', '.join(map(repr, unknown))}; known: "
                f"{', '.join(known) or 'none'}"
            )
        return [known[n] for n in dict.fromkeys(names)]

    @staticmethod
    def _check_names(projections: Sequence[Projection]) -> None:
        seen: set[str] = set()
        for projection in projections:
            name = projection.name
            if not name or len(name) > _NAME_MAX:
                raise ProjectionError(
                    f"projection name {name!r} must have 1 to {_NAME_MAX} characters "
                    "(the tracking table's limit)"
                )
            if name in seen:
                raise ProjectionError(f"two projections are named {name!r}: names must differ")
            seen.add(name)


def _stale(engine: Engine, projections: Sequence[Projection]) -> set[str]:
    """Projections whose existing tables do not have the columns this code defines (made
    by another version): they must be rebuilt before they are fed again."""
    inspector = inspect(engine)
    stale = set()
    for projection in projections:
        for table in projection.tables:
            if inspector.has_table(table.name):
                found = {c["name"] for c in inspector.get_columns(table.name)}
                if found != {c.name for c in table.columns}:
                    stale.add(projection.name)
    return stale


def _apply(projection: Projection, session: Session, events: list[ProjectedEvent]) -> None:
    if isinstance(projection, BatchProjection):
        projection.apply_batch(session, events)
        return
    for event in events:
        projection.apply(session, event)


def _wanted_types(projections: Sequence[Projection]) -> frozenset[str] | None:
    wanted: set[str] = set()
    for projection in projections:
        if projection.event_types is None:
            return None
        wanted |= projection.event_types
    return frozenset(wanted)


# ----- helpers for projections that write in bulk ---------------------------------------


def by_pupil(events: Sequence[ProjectedEvent]) -> dict[UUID, list[ProjectedEvent]]:
    """A batch's events grouped by pupil, each group in commit order."""
    groups: dict[UUID, list[ProjectedEvent]] = {}
    for event in events:
        groups.setdefault(event.pupil_id, []).append(event)
    return groups


def resumed_pupils(events: Sequence[ProjectedEvent]) -> list[UUID]:
    """The pupils whose first event in `events` is not their first entry (sequence number
    above 1): those that may have rows already. The others start here."""
    seen: set[int] = set()
    resumed = []
    for event in events:
        key = event.pupil_id.int  # an int hashes in C; a UUID's hash is Python code
        if key not in seen:
            seen.add(key)
            if event.seq > 1:
                resumed.append(event.pupil_id)
    return resumed


def delete_pupils(session: Session, table: Table, pupil_ids: Iterable[UUID]) -> None:
    """Delete `table`'s rows of these pupils (the table has a `pupil_id` column)."""
    for chunk in chunks(list(pupil_ids), _IN_CHUNK):
        session.execute(delete(table).where(table.c.pupil_id.in_(chunk)))


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _uuid(value: object) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def _raw_uuid(value: object) -> UUID:
    """A pupil id from the events table's raw column value (16 bytes on SQLite, text on
    PostgreSQL; anything else the column type's own conversion would accept)."""
    if isinstance(value, bytes | memoryview) and len(value) == 16:
        return UUID(bytes=bytes(value))
    return _uuid(value)


class ProjectionFollower:
    """Keeps the read models following the event log in the background (a thread of the
    server), so reads find them current and only a read right after its own write catches
    up itself (`ProjectionRunner.wait_for`). Polls every `interval` seconds; an error is
    kept in `error` and following goes on."""

    def __init__(self, runner: ProjectionRunner, interval: float = 0.05) -> None:
        self.runner, self.interval = runner, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: Exception | None = None

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.runner.catch_up()
                self.error = None
            except Exception as e:  # a store hiccup must not end the follower
                self.error = e
            self._stop.wait(self.interval)

    def start(self) -> ProjectionFollower:
        self._thread = threading.Thread(target=self.run, name="projection-follower", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
