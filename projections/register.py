"""The SEND register: each pupil's current academy, status, needs and since when.

Three tables, all ids, codes and dates (no names, no free text):

    register_history  one row per register-relevant entry (registration, status change,
                      need recorded or withdrawn, transfer, leaving): the facts, by pupil
                      and sequence number
    register_pupils   the state those facts fold to, one row per pupil
    register_needs    the pupil's current needs (primary flag), for the need filter

The history is the source of truth: a pupil's row is always `fold(history)`, so a batch
re-folds the pupils it touches and writes them back in bulk, and the census can fold the
same history as of any date (projections/census.py). Names and UPNs are read from the
pupil's `PupilRegistered` entry when a page of the register is shown (decrypting only the
rows shown, or every filtered row when sorting by name). `RecordsPurged` removes the
pupil from all three tables.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, NamedTuple
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
    and_,
    case,
    exists,
    func,
    select,
)
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from crypto.errors import KeyShredded
from domain.values import NeedType, year_group_on
from projections.base import ProjectedEvent
from projections.bulk import bulk_write
from projections.ports import BatchEventSource, RegisterSource
from projections.runner import by_pupil, chunks, delete_pupils

metadata = MetaData()
history = Table(
    "register_history",
    metadata,
    Column("pupil_id", Uuid, primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(40), nullable=False),
    Column("happened_on", Date, nullable=False),
    Column("academy", String, nullable=True),
    Column("status", String(16), nullable=True),
    Column("sub_flags", String(64), nullable=True),
    Column("need", String(8), nullable=True),
    Column("is_primary", Boolean, nullable=True),
    Column("staff_id", String, nullable=True),
    Column("year_group", Integer, nullable=True),  # a year group set after registration
    Index("register_history_happened", "happened_on"),
)
pupils = Table(
    "register_pupils",
    metadata,
    Column("pupil_id", Uuid, primary_key=True),
    Column("academy", String, nullable=True),  # NULL once the pupil has left the trust
    Column("status", String(16), nullable=False),
    Column("census_code", String(1), nullable=False),
    Column("sub_flags", String(64), nullable=False),  # comma-separated codes
    Column("primary_need", String(8), nullable=True),
    Column("secondary_needs", String(64), nullable=False),  # comma-separated codes
    Column("since", Date, nullable=False),
    Column("key_worker", String, nullable=True),
    Column("registered_on", Date, nullable=False),
    Column("left_on", Date, nullable=True),
    # The year group set after registration (re-joining, a change of year group) and from
    # when; NULL while the registration's holds (it is read from the registration).
    Column("year_group", Integer, nullable=True),
    Column("year_group_on", Date, nullable=True),
    Index("register_pupils_academy_status", "academy", "status"),
    Index("register_pupils_academy_since", "academy", "since"),
)
needs = Table(
    "register_needs",
    metadata,
    Column("pupil_id", Uuid, primary_key=True),
    Column("need", String(8), primary_key=True),
    Column("is_primary", Boolean, nullable=False),
    Index("register_needs_need", "need", "pupil_id"),
)

KINDS = frozenset(
    {
        "PupilRegistered",
        "RegisterStatusChanged",
        "NeedRecorded",
        "NeedWithdrawn",
        "TransferredWithinTrust",
        "LeftTrust",
        "PupilRejoined",
        "YearGroupChanged",
        "KeyWorkerAssigned",
    }
)
CENSUS_CODES = {"none": "N", "monitoring": "N", "sen_support": "K", "ehcp": "E"}


class Fact(NamedTuple):
    """One register-relevant entry, reduced to its codes and dates."""

    seq: int
    kind: str
    happened_on: date
    academy: str | None = None
    status: str | None = None
    sub_flags: str | None = None
    need: str | None = None
    is_primary: bool | None = None
    staff_id: str | None = None
    year_group: int | None = None


@dataclass
class RegisterState:
    """What a pupil's register facts fold to."""

    academy: str | None
    registered_on: date
    since: date
    key_worker: str | None
    status: str = "none"
    sub_flags: str = ""
    left_on: date | None = None
    needs: dict[str, bool] = field(default_factory=dict)  # need -> primary?
    year_group: int | None = None  # set after registration, from year_group_on
    year_group_on: date | None = None
    key_worker_named: bool = False  # a KeyWorkerAssigned holds over register decisions

    @property
    def census_code(self) -> str:
        return CENSUS_CODES[self.status]

    @property
    def primary_need(self) -> str | None:
        return next((need for need, primary in self.needs.items() if primary), None)


def fact_of(event: ProjectedEvent) -> Fact | None:
    """The register fact of an entry, or None if it is not one (or cannot be read)."""
    p = event.payload
    if p is None or event.type not in KINDS:
        return None
    day = date.fromisoformat(p["happened_on"])
    staff = p["recorded_by"]["staff_id"]
    kind = event.type
    if kind == "PupilRegistered":
        return Fact(event.seq, kind, day, academy=p["academy"], staff_id=staff)
    if kind == "RegisterStatusChanged":
        flags = ",".join(p["sub_flags"])
        return Fact(event.seq, kind, day, status=p["status"], sub_flags=flags, staff_id=staff)
    if kind == "NeedRecorded":
        return Fact(event.seq, kind, day, need=p["need"], is_primary=bool(p["primary"]))
    if kind == "NeedWithdrawn":
        return Fact(event.seq, kind, day, need=p["need"])
    if kind == "TransferredWithinTrust":
        return Fact(event.seq, kind, day, academy=p["to_academy"])
    if kind == "PupilRejoined":
        return Fact(event.seq, kind, day, academy=p["academy"], year_group=p["year_group"])
    if kind == "YearGroupChanged":
        return Fact(event.seq, kind, day, year_group=p["year_group"])
    if kind == "KeyWorkerAssigned":
        return Fact(event.seq, kind, day, staff_id=p["key_worker"])
    return Fact(event.seq, kind, day)  # LeftTrust


def fold(facts: Iterable[Fact]) -> RegisterState | None:
    """A pupil's register state after these facts, in sequence order (None: unregistered).

    Mirrors the aggregate's mutators: a new primary need makes every other need secondary;
    `since` moves only when the status itself changes (not on a sub-flag change); the key
    worker is the one last named (`KeyWorkerAssigned`), else whoever recorded the latest
    status (the registration's recorder before any).
    """
    state: RegisterState | None = None
    for f in facts:
        if f.kind == "PupilRegistered":
            state = RegisterState(f.academy, f.happened_on, f.happened_on, f.staff_id)
        elif state is None:
            continue
        elif f.kind == "RegisterStatusChanged":
            assert f.status is not None
            if f.status != state.status:
                state.since = f.happened_on
            state.status, state.sub_flags = f.status, f.sub_flags or ""
            if not state.key_worker_named:
                state.key_worker = f.staff_id
        elif f.kind == "NeedRecorded":
            assert f.need is not None
            if f.is_primary:
                state.needs = {need: False for need in state.needs}
            state.needs[f.need] = bool(f.is_primary)
        elif f.kind == "NeedWithdrawn":
            state.needs.pop(f.need or "", None)
        elif f.kind == "TransferredWithinTrust":
            state.academy = f.academy
        elif f.kind == "LeftTrust":
            state.academy, state.left_on = None, f.happened_on
        elif f.kind == "PupilRejoined":
            # Back on roll: listed again where the pupil rejoined, on the status they had.
            state.academy, state.left_on = f.academy, None
            state.year_group, state.year_group_on = f.year_group, f.happened_on
        elif f.kind == "YearGroupChanged":
            state.year_group, state.year_group_on = f.year_group, f.happened_on
        elif f.kind == "KeyWorkerAssigned":
            state.key_worker, state.key_worker_named = f.staff_id, True
    return state


class SendRegister:
    """The SEND register projection (see the module's docstring)."""

    name = "send_register"
    tables: tuple[Table, ...] = (history, pupils, needs)
    event_types: frozenset[str] | None = KINDS | {"RecordsPurged"}

    def apply(self, session: Session, event: ProjectedEvent) -> None:
        self.apply_batch(session, [event])

    def apply_batch(self, session: Session, events: Sequence[ProjectedEvent]) -> None:
        groups = by_pupil(events)
        purged = {p for p, evs in groups.items() if any(e.type == "RecordsPurged" for e in evs)}
        new_facts = {
            pupil: [f for f in map(fact_of, evs) if f is not None]
            for pupil, evs in groups.items()
            if pupil not in purged
        }
        # A batch that holds a pupil's first entry holds everything there is of the pupil,
        # so only pupils seen before need their history read back.
        seen_before = [p for p in new_facts if groups[p][0].seq > 1]
        old_facts = load_history(session, seen_before)
        delete_pupils(session, pupils, [*seen_before, *purged])
        delete_pupils(session, needs, [*seen_before, *purged])
        delete_pupils(session, history, purged)
        history_rows, pupil_rows, need_rows = [], [], []
        for pupil, facts in new_facts.items():
            history_rows += [{"pupil_id": pupil, **f._asdict()} for f in facts]
            state = fold([*old_facts.get(pupil, []), *facts])
            if state is None:
                continue
            pupil_rows.append(_pupil_row(pupil, state))
            need_rows += [
                {"pupil_id": pupil, "need": need, "is_primary": primary}
                for need, primary in state.needs.items()
            ]
        bulk_write(session, history, history_rows)
        bulk_write(session, pupils, pupil_rows)
        bulk_write(session, needs, need_rows)


def load_history(session: Session, pupil_ids: Sequence[UUID]) -> dict[UUID, list[Fact]]:
    """The stored facts of these pupils, each list in sequence order."""
    found: dict[UUID, list[Fact]] = {}
    columns = [c for c in history.c if c.name != "pupil_id"]
    for chunk in chunks(list(pupil_ids), 500):
        rows = session.execute(
            select(history.c.pupil_id, *columns)
            .where(history.c.pupil_id.in_(chunk))
            .order_by(history.c.pupil_id, history.c.seq)
        )
        for pupil_id, *values in rows:
            found.setdefault(pupil_id, []).append(Fact(*values))
    return found


def _pupil_row(pupil_id: UUID, state: RegisterState) -> dict[str, Any]:
    return {
        "pupil_id": pupil_id,
        "academy": state.academy,
        "status": state.status,
        "census_code": state.census_code,
        "sub_flags": state.sub_flags,
        "primary_need": state.primary_need,
        "secondary_needs": ",".join(sorted(n for n, primary in state.needs.items() if not primary)),
        "since": state.since,
        "key_worker": state.key_worker,
        "registered_on": state.registered_on,
        "left_on": state.left_on,
        "year_group": state.year_group,
        "year_group_on": state.year_group_on,
    }


# ----- queries ------------------------------------------------------------------------

Sort = Literal["name", "status", "since"]
SORTS: tuple[Sort, ...] = ("name", "status", "since")
STATUSES = ("none", "monitoring", "sen_support", "ehcp")
# Most support first: E, K, then monitoring and none.
_STATUS_ORDER = {"ehcp": 0, "sen_support": 1, "monitoring": 2, "none": 3}


@dataclass(frozen=True)
class RegisterFilter:
    """Which pupils a register query shows; every field optional."""

    academy: str | None = None
    status: str | None = None
    need: str | None = None
    census_code: str | None = None
    include_left: bool = False


@dataclass(frozen=True, slots=True)
class RegisterRow:
    """One pupil on the register, as the projection holds it (codes, dates, staff ids)."""

    pupil_id: UUID
    academy: str | None
    status: str
    census_code: str
    sub_flags: tuple[str, ...]
    primary_need: str | None
    secondary_needs: tuple[str, ...]
    since: date
    key_worker: str | None
    registered_on: date
    left_on: date | None
    # Read from the pupil's registration when shown; None if not read or unreadable (purged).
    name: str | None = None
    upn: str | None = None
    year_group: int | None = None

    def as_json(self) -> dict[str, Any]:
        """The stable `--json` shape of one register row (docs/projections.md)."""
        return {
            "pupil_id": str(self.pupil_id),
            "upn": self.upn,
            "name": self.name,
            "academy": self.academy,
            "year_group": self.year_group,
            "status": self.status,
            "census_code": self.census_code,
            "sub_flags": list(self.sub_flags),
            "primary_need": self.primary_need,
            "secondary_needs": list(self.secondary_needs),
            "since": self.since.isoformat(),
            "key_worker": self.key_worker,
            "left_on": None if self.left_on is None else self.left_on.isoformat(),
        }


@dataclass(frozen=True)
class RegisterPage:
    rows: list[RegisterRow]
    total: int  # how many pupils match the filter, whatever the page


class RegisterQueryError(ValueError):
    """A register query with a filter, sort or page that cannot be; the message says why."""


class NameOrder:
    """Where each pupil comes in the register's order by name, as pupil ids only: no name,
    UPN or sort key is kept, in memory or anywhere else (docs/threat-model.md). With it, a
    page sorted by name decrypts the names of the rows shown, not of every pupil matching.

    A pupil's name is read from their `PupilRegistered` entry, which never changes, so the
    order stays right until a pupil it has not seen is asked for (a new registration): then
    it is built again from the names of every pupil it knew and every pupil asked for. A
    pupil whose name cannot be read (a purge in progress) drops the whole order, and the
    page is sorted the long way. Shared by the threads of one process."""

    def __init__(self) -> None:
        self._ranks: dict[UUID, int] = {}
        self._lock = threading.Lock()

    def ranks(self, pupil_ids: Sequence[UUID]) -> dict[UUID, int] | None:
        """The ranks of these pupils, or None if one of them is not known."""
        ranks = self._ranks
        if all(p in ranks for p in pupil_ids):
            return ranks
        return None

    def learn(self, names: dict[UUID, ShownName | None]) -> None:
        """Rank these pupils, with every pupil already known (whose names the caller read:
        `names` must hold them all, as `known()` says)."""
        order = sorted(names, key=lambda p: _name_order(p, names[p]))
        with self._lock:
            self._ranks = {p: n for n, p in enumerate(order)}

    def known(self) -> list[UUID]:
        return list(self._ranks)

    def forget(self) -> None:
        with self._lock:
            self._ranks = {}


class RegisterReader:
    """Queries over the SEND register, with names read from the events for the rows shown."""

    def __init__(self, records: RegisterSource, order: NameOrder | None = None) -> None:
        self._records = records
        self._order = order

    def page(
        self,
        where: RegisterFilter | None = None,
        sort: str = "name",
        limit: int | None = None,
        offset: int = 0,
    ) -> RegisterPage:
        """Pupils matching `where`, sorted by name (family, then given names), status (E, K,
        monitoring, none, each oldest first) or since (oldest first); `limit` rows from
        `offset`. Only the rows returned are decrypted, except that sorting by name must
        read the name of every matching pupil."""
        where = where or RegisterFilter()
        order = _check(where, sort, limit, offset)
        with self._records.datastore.transaction(False) as session:
            rows, total = select_rows(session, where, order, limit, offset)
            if order == "name" and self._order is not None:
                ranked = self._by_known_order(session, rows, limit, offset)
                if ranked is not None:
                    return RegisterPage(ranked, total)
            names = self.names(session, [r.pupil_id for r in rows])
        if order == "name":
            rows = sorted(rows, key=lambda r: _name_order(r.pupil_id, names.get(r.pupil_id)))
            rows = rows[offset:] if limit is None else rows[offset : offset + limit]
        today = self._records.clock().date()
        return RegisterPage([_row(r, names.get(r.pupil_id), today) for r in rows], total)

    def _by_known_order(
        self, session: Session, rows: list[Row[Any]], limit: int | None, offset: int
    ) -> list[RegisterRow] | None:
        """The page of `rows` by name, decrypting only the names shown (`NameOrder`); None
        when a name cannot be read, for the caller to sort the long way."""
        assert self._order is not None
        ids = [r.pupil_id for r in rows]
        ranks = self._order.ranks(ids)
        if ranks is None:
            every = list(dict.fromkeys([*self._order.known(), *ids]))
            shown: dict[UUID, ShownName | None] = dict.fromkeys(every)
            shown.update(self.names(session, every))
            if any(name is None for name in shown.values()):
                self._order.forget()
                return None
            self._order.learn(shown)
            ranks = self._order.ranks(ids)
            assert ranks is not None
        ordered = sorted(rows, key=lambda r: ranks[r.pupil_id])
        ordered = ordered[offset:] if limit is None else ordered[offset : offset + limit]
        names = self.names(session, [r.pupil_id for r in ordered])
        if len(names) < len(ordered):
            self._order.forget()
            return None
        today = self._records.clock().date()
        return [_row(r, names[r.pupil_id], today) for r in ordered]

    def status_counts(self, where: RegisterFilter) -> dict[str, int]:
        """How many pupils match `where` with each status (its own status ignored), in one
        query; every status is named, with 0 where none match."""
        counts = dict.fromkeys(STATUSES, 0)
        conditions = _conditions(RegisterFilter(
            where.academy, None, where.need, where.census_code, where.include_left
        ))  # fmt: skip
        with self._records.datastore.transaction(False) as session:
            found = session.execute(
                select(pupils.c.status, func.count()).where(*conditions).group_by(pupils.c.status)
            ).all()
        for status, n in found:
            counts[status] = int(n)
        return counts

    def pupil(self, pupil_id: UUID) -> RegisterRow | None:
        """One pupil's register row (with name), or None if the pupil is not on it."""
        with self._records.datastore.transaction(False) as session:
            found = session.execute(select(pupils).where(pupils.c.pupil_id == pupil_id)).first()
            if found is None:
                return None
            today = self._records.clock().date()
            return _row(found, self.names(session, [pupil_id]).get(pupil_id), today)

    def academies(self) -> list[str]:
        with self._records.datastore.transaction(False) as session:
            return academies(session)

    def names(self, session: Session, pupil_ids: Sequence[UUID]) -> dict[UUID, ShownName]:
        """Name, UPN and year group of these pupils, read from their registrations (pupils
        whose key was shredded are left out)."""
        today = self._records.clock().date()
        return {
            pupil_id: _shown(payload, today)
            for pupil_id, payload in registrations(self._records, session, pupil_ids)
            if payload is not None
        }


class ShownName(NamedTuple):
    """What the register shows of a pupil's registration (never stored)."""

    name: str
    family_name: str
    upn: str
    year_group: int


def registrations(
    records: BatchEventSource, session: Session, pupil_ids: Sequence[UUID]
) -> Iterator[tuple[UUID, dict[str, Any] | None]]:
    """Each pupil's `PupilRegistered` payload (None where the key was shredded), decrypted
    on demand: one query per 2,000 pupils, one decryption per pupil. A generator, so the
    caller keeps what it needs of each payload and the rest is freed at once (keeping a
    thousand payloads alive would wake the garbage collector's full collections)."""
    e = records.recorder.events_record_cls.__table__.c  # type: ignore[attr-defined]
    opened = records.sealing_mapper.committed
    for chunk in chunks(list(pupil_ids), 2000):
        records.data_keys.prefetch(chunk)  # the chunk's keys in one query, not one each
        rows = session.execute(
            select(e.originator_id, e.topic, e.state).where(
                e.originator_id.in_(chunk), e.originator_version == 1
            )
        ).all()  # fetchall: iterating the cursor fetches row by row, much slower
        for pupil_id, topic, state in rows:
            try:
                payload = json.loads(opened(StoredEvent(pupil_id, 1, topic, state)).payload)
            except KeyShredded:
                payload = None
            yield pupil_id, payload


def _shown(payload: dict[str, Any], today: date) -> ShownName:
    family = payload["legal_family_name"]
    given = payload["preferred_name"] or payload["legal_given_names"]
    registered_on = date.fromisoformat(payload["happened_on"])
    return ShownName(
        f"{given} {family}", family, payload["upn"],
        year_group_on(payload["year_group"], registered_on, today),
    )  # fmt: skip


def _name_order(pupil_id: UUID, shown: ShownName | None) -> tuple[bool, str, str, str]:
    # Unreadable names (a purge in progress) last; then family name, then the name shown.
    if shown is None:
        return (True, "", "", str(pupil_id))
    return (False, shown.family_name.casefold(), shown.name.casefold(), str(pupil_id))


def _check(where: RegisterFilter, sort: str, limit: int | None, offset: int) -> Sort:
    _one_of("status", where.status, STATUSES)
    _one_of("census code", where.census_code, ("N", "K", "E"))
    _one_of("need", where.need, tuple(n.value for n in NeedType))
    _one_of("sort", sort, SORTS)
    if limit is not None and limit < 1:
        raise RegisterQueryError(f"limit must be at least 1 (got {limit})")
    if offset < 0:
        raise RegisterQueryError(f"offset cannot be negative (got {offset})")
    return next(s for s in SORTS if s == sort)


def _one_of(what: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise RegisterQueryError(f"unknown {what} {value!r}; expected one of: {', '.join(allowed)}")


def select_rows(
    session: Session, where: RegisterFilter, sort: Sort, limit: int | None, offset: int
) -> tuple[list[Row[Any]], int]:
    """The filtered rows in `sort` order and how many match in all. Sorting by name needs
    the names, so for "name" this is every filtered row, for the caller to sort and slice."""
    p = pupils.c
    conditions = _conditions(where)
    statement = select(pupils).where(*conditions)
    if sort == "name":
        rows = session.execute(statement).all()
        return list(rows), len(rows)
    total = session.execute(
        select(func.count()).select_from(pupils).where(*conditions)
    ).scalar_one()
    if sort == "status":
        statement = statement.order_by(case(_STATUS_ORDER, value=p.status), p.since, p.pupil_id)
    else:
        statement = statement.order_by(p.since, p.pupil_id)
    statement = statement.offset(offset)
    if limit is not None:
        statement = statement.limit(limit)
    return list(session.execute(statement).all()), int(total)


def _conditions(where: RegisterFilter) -> list[Any]:
    p = pupils.c
    conditions: list[Any] = []
    if not where.include_left:
        conditions.append(p.academy.is_not(None))
    if where.academy is not None:
        conditions.append(p.academy == where.academy)
    if where.status is not None:
        conditions.append(p.status == where.status)
    if where.census_code is not None:
        conditions.append(p.census_code == where.census_code)
    if where.need is not None:
        conditions.append(
            exists().where(and_(needs.c.pupil_id == p.pupil_id, needs.c.need == where.need))
        )
    return conditions


def _row(r: Any, shown: ShownName | None, today: date) -> RegisterRow:
    # Positional unpacking: a Row's attribute access looks each name up, ten times a row.
    (pupil_id, academy, status, code, flags, primary, secondary, since, worker, on, left,
     year, year_on) = r  # fmt: skip
    if shown is None:
        name = upn = year_now = None
    else:
        name, upn = shown.name, shown.upn
        year_now = shown.year_group if year is None else year_group_on(year, year_on, today)
    return RegisterRow(
        pupil_id, academy, status, code, _codes(flags), primary, _codes(secondary), since,
        worker, on, left, name, upn, year_now,
    )  # fmt: skip


def _codes(joined: str) -> tuple[str, ...]:
    return tuple(joined.split(",")) if joined else ()


def academies(session: Session) -> list[str]:
    """The academies with pupils on the register."""
    rows = session.execute(
        select(pupils.c.academy).where(pupils.c.academy.is_not(None)).distinct()
    ).scalars()
    return sorted(rows)
