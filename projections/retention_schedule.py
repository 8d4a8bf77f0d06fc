"""The retention schedule: when each pupil's records fall due for purge, the legal holds in
force, and the pupils already purged.

Two tables, ids and dates only:

    retention_pupils  pupil_id, sen_file_due_on, child_protection_due_on (NULL unless the
                      record holds a restricted entry), due_on (the later of the two: when
                      the record is purged), purged_on (NULL until purged; the dates NULL
                      once purged)
    retention_holds   pupil_id, hold_id, placed_on: the legal holds in force

Each kind of record has its own period (`[retention]`, docs/policies.md): every record is a
SEN file (`years`); one that holds an entry of a restricted kind (`[visibility]
restricted`: safeguarding cross-references, imported pointers) is also a child protection
record (`child_protection_years`). The pupil has one data key, so the whole record goes at
once, on the later date: `due_on`, which the due list and the purge use.

Each date is `policy.retention_due_by(date_of_birth, kind)`: the last day of the month in
which that period ends. The SEN file's is worked out when the registration is applied;
the child protection one, when the first restricted entry is, from the SEN file's (the
same month, the difference of the periods later). The date of birth itself is never
stored, and the dates give away only the month and year of birth, never the day (an exact
"DOB + 31 years" would be the birthday). A purge clears them too: the purged pupil keeps
a row with the purge date only, so the schedule can still say who was purged and when. A
change to the trust's retention periods or restricted kinds takes effect with `chronicle
projections rebuild retention_schedule`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Column, Date, Index, MetaData, Table, Uuid, and_, exists, not_, select
from sqlalchemy.orm import Session

from domain.policy import RecordClass, TrustPolicy
from projections.base import ProjectedEvent
from projections.bulk import bulk_write
from projections.ports import ReadStore
from projections.runner import by_pupil, chunks, delete_pupils

metadata = MetaData()
schedule = Table(
    "retention_pupils",
    metadata,
    Column("pupil_id", Uuid, primary_key=True),
    Column("sen_file_due_on", Date, nullable=True),
    Column("child_protection_due_on", Date, nullable=True),
    Column("due_on", Date, nullable=True),
    Column("purged_on", Date, nullable=True),
    Index("retention_pupils_due", "due_on"),
)
holds = Table(
    "retention_holds",
    metadata,
    Column("pupil_id", Uuid, primary_key=True),
    Column("hold_id", Uuid, primary_key=True),
    Column("placed_on", Date, nullable=False),
)

KINDS = frozenset({"PupilRegistered", "LegalHoldPlaced", "LegalHoldLifted", "RecordsPurged"})


@dataclass
class _Retention:
    sen_file_due_on: date | None = None
    child_protection_due_on: date | None = None
    purged_on: date | None = None
    holds: dict[UUID, date] = field(default_factory=dict)

    @property
    def due_on(self) -> date | None:
        """When the record is purged: the later of the periods that apply to it."""
        return _later(self.sen_file_due_on, self.child_protection_due_on)


def _later(sen_file: date | None, child_protection: date | None) -> date | None:
    if sen_file is None or child_protection is None:
        return sen_file
    return max(sen_file, child_protection)


def _month_end(year: int, month: int) -> date:
    return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


class RetentionSchedule:
    """The retention schedule projection (see the module's docstring)."""

    name = "retention_schedule"
    tables: tuple[Table, ...] = (schedule, holds)
    event_types: frozenset[str] | None

    def __init__(self, policy: TrustPolicy) -> None:
        self.policy = policy
        self.restricted = frozenset(policy.visibility.restricted)
        self.event_types = KINDS | self.restricted
        retention = policy.retention
        self._child_protection_later = retention.child_protection_years - retention.years

    def apply(self, session: Session, event: ProjectedEvent) -> None:
        self.apply_batch(session, [event])

    def apply_batch(self, session: Session, events: Sequence[ProjectedEvent]) -> None:
        groups = by_pupil(events)
        seen_before = [p for p, evs in groups.items() if evs[0].seq > 1]
        states = _load(session, seen_before)
        for pupil, evs in groups.items():
            state = states.get(pupil)
            for event in evs:
                state = self._step(state, event)
            if state is not None:
                states[pupil] = state
        delete_pupils(session, schedule, seen_before)
        delete_pupils(session, holds, seen_before)
        bulk_write(
            session,
            schedule,
            [
                {
                    "pupil_id": p,
                    "sen_file_due_on": s.sen_file_due_on,
                    "child_protection_due_on": s.child_protection_due_on,
                    "due_on": s.due_on,
                    "purged_on": s.purged_on,
                }
                for p, s in states.items()
            ],
        )
        bulk_write(
            session,
            holds,
            [
                {"pupil_id": p, "hold_id": hold, "placed_on": placed}
                for p, s in states.items()
                for hold, placed in s.holds.items()
            ],
        )

    def _step(self, state: _Retention | None, event: ProjectedEvent) -> _Retention | None:
        p = event.payload
        if p is None:
            return state  # unreadable (shredded): the RecordsPurged tombstone says it all
        if event.type == "RecordsPurged":
            # The tombstone: no due date (it would give the birthday away), no holds.
            return _Retention(purged_on=date.fromisoformat(p["happened_on"]))
        if event.type == "PupilRegistered":
            due = self.policy.retention_due_by(date.fromisoformat(p["date_of_birth"]))
            return _Retention(sen_file_due_on=due)
        if state is None:
            return None
        if event.type in self.restricted:
            if state.child_protection_due_on is None and state.sen_file_due_on is not None:
                state.child_protection_due_on = self._child_protection_due(state.sen_file_due_on)
        elif event.type == "LegalHoldPlaced":
            state.holds[UUID(p["hold_id"])] = date.fromisoformat(p["happened_on"])
        elif event.type == "LegalHoldLifted":
            state.holds.pop(UUID(p["hold_id"]), None)
        return state

    def _child_protection_due(self, sen_file_due_on: date) -> date:
        """`retention_due_by(date_of_birth, "child_protection")`, from the SEN file's date
        (the end of the birth month, `years` after it), since the birth date is not kept."""
        later = self._child_protection_later
        return _month_end(sen_file_due_on.year + later, sen_file_due_on.month)


def _load(session: Session, pupil_ids: list[UUID]) -> dict[UUID, _Retention]:
    found: dict[UUID, _Retention] = {}
    for chunk in chunks(pupil_ids, 500):
        for row in session.execute(select(schedule).where(schedule.c.pupil_id.in_(chunk))):
            found[row.pupil_id] = _Retention(
                row.sen_file_due_on, row.child_protection_due_on, row.purged_on
            )
        for pupil_id, hold_id, placed_on in session.execute(
            select(holds).where(holds.c.pupil_id.in_(chunk))
        ):
            found[pupil_id].holds[hold_id] = placed_on
    return found


# ----- queries ------------------------------------------------------------------------


@dataclass(frozen=True)
class LegalHold:
    hold_id: UUID
    placed_on: date


@dataclass(frozen=True)
class RetentionEntry:
    """One pupil on the retention schedule: the date each kind of record it holds falls
    due, and `due_on`, the later, when the whole record is purged."""

    pupil_id: UUID
    due_on: date | None  # None once purged
    holds: tuple[LegalHold, ...]  # in force, oldest first
    purged_on: date | None
    sen_file_due_on: date | None = None  # None once purged
    child_protection_due_on: date | None = None  # None unless it holds a restricted entry

    @property
    def held(self) -> bool:
        return bool(self.holds)

    @property
    def governed_by(self) -> RecordClass | None:
        """Which period sets `due_on`: the child protection one only when it ends later
        (the SEN file's wins a tie); None once purged."""
        if self.due_on is None:
            return None
        cp, sen = self.child_protection_due_on, self.sen_file_due_on
        if cp is not None and (sen is None or cp > sen):
            return "child_protection"
        return "sen_file"

    def as_json(self) -> dict[str, Any]:
        return {
            "pupil_id": str(self.pupil_id),
            "due_on": _iso(self.due_on),
            "sen_file_due_on": _iso(self.sen_file_due_on),
            "child_protection_due_on": _iso(self.child_protection_due_on),
            "governed_by": self.governed_by,
            "holds": [
                {"hold_id": str(h.hold_id), "placed_on": h.placed_on.isoformat()}
                for h in self.holds
            ],
            "purged_on": None if self.purged_on is None else self.purged_on.isoformat(),
        }


class RetentionReader:
    """Queries over the retention schedule."""

    def __init__(self, records: ReadStore) -> None:
        self._records = records

    def due(self, as_of: date) -> list[RetentionEntry]:
        """Pupils whose records are due for purge on `as_of` (due on or before it), not yet
        purged and under no legal hold; soonest due first."""
        held = exists().where(holds.c.pupil_id == schedule.c.pupil_id)
        return self._entries(
            and_(schedule.c.due_on <= as_of, schedule.c.purged_on.is_(None), not_(held))
        )

    def held(self) -> list[RetentionEntry]:
        """Pupils with at least one legal hold in force."""
        return self._entries(exists().where(holds.c.pupil_id == schedule.c.pupil_id))

    def purged(self) -> list[RetentionEntry]:
        """Pupils whose records were purged, with the date."""
        return self._entries(schedule.c.purged_on.is_not(None))

    def schedule(self) -> list[RetentionEntry]:
        """Every pupil not yet purged, soonest due first."""
        return self._entries(schedule.c.purged_on.is_(None))

    def entry(self, pupil_id: UUID) -> RetentionEntry | None:
        found = self._entries(schedule.c.pupil_id == pupil_id)
        return found[0] if found else None

    def _entries(self, condition: Any) -> list[RetentionEntry]:
        with self._records.datastore.transaction(False) as session:
            rows = session.execute(
                select(schedule)
                .where(condition)
                .order_by(schedule.c.due_on, schedule.c.purged_on, schedule.c.pupil_id)
            ).all()
            in_force = _holds_of(session, condition) if rows else {}
        return [
            RetentionEntry(
                r.pupil_id,
                r.due_on,
                in_force.get(r.pupil_id, ()),
                r.purged_on,
                r.sen_file_due_on,
                r.child_protection_due_on,
            )
            for r in rows
        ]


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _holds_of(session: Session, condition: Any) -> dict[UUID, tuple[LegalHold, ...]]:
    """The holds in force of the pupils `condition` selects, in one query (a join, not a
    list of ids: the due list may name every pupil of a large trust)."""
    found: dict[UUID, list[LegalHold]] = {}
    chosen = select(schedule.c.pupil_id).where(condition)
    rows = session.execute(
        select(holds)
        .where(holds.c.pupil_id.in_(chosen))
        .order_by(holds.c.pupil_id, holds.c.placed_on, holds.c.hold_id)
    )
    for pupil_id, hold_id, placed_on in rows:
        found.setdefault(pupil_id, []).append(LegalHold(hold_id, placed_on))
    return {pupil: tuple(items) for pupil, items in found.items()}
