"""The retention schedule: when each pupil's records fall due for purge, the legal holds in
force, and the pupils already purged.

Two tables, ids and dates only:

    retention_pupils  pupil_id, due_on (NULL once purged), purged_on (NULL until purged)
    retention_holds   pupil_id, hold_id, placed_on: the legal holds in force

The due date is `policy.retention_due_by(date_of_birth)`: the last day of the month in
which retention ends, worked out when the pupil's registration is applied. The date of
birth itself is never stored, and the due date gives away only the month and year of
birth, never the day (an exact "DOB + 25 years" would be the birthday). A purge clears it
too: the purged pupil keeps a row with the purge date only, so the schedule can still say
who was purged and when. A change to the trust's retention rule takes effect
with `chronicle projections rebuild retention_schedule`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy import Column, Date, Index, MetaData, Table, Uuid, and_, exists, not_, select
from sqlalchemy.orm import Session

from domain.policy import TrustPolicy
from projections.base import ProjectedEvent
from projections.bulk import bulk_write
from projections.ports import ReadStore
from projections.runner import by_pupil, chunks, delete_pupils

metadata = MetaData()
schedule = Table(
    "retention_pupils",
    metadata,
    Column("pupil_id", Uuid, primary_key=True),
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
    due_on: date | None = None
    purged_on: date | None = None
    holds: dict[UUID, date] = field(default_factory=dict)


class RetentionSchedule:
    """The retention schedule projection (see the module's docstring)."""

    name = "retention_schedule"
    tables: tuple[Table, ...] = (schedule, holds)
    event_types: frozenset[str] | None = KINDS

    def __init__(self, policy: TrustPolicy) -> None:
        self.policy = policy

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
                {"pupil_id": p, "due_on": s.due_on, "purged_on": s.purged_on}
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
            return _Retention(due_on=due)
        if state is None:
            return None
        if event.type == "LegalHoldPlaced":
            state.holds[UUID(p["hold_id"])] = date.fromisoformat(p["happened_on"])
        elif event.type == "LegalHoldLifted":
            state.holds.pop(UUID(p["hold_id"]), None)
        return state


def _load(session: Session, pupil_ids: list[UUID]) -> dict[UUID, _Retention]:
    found: dict[UUID, _Retention] = {}
    for chunk in chunks(pupil_ids, 500):
        for pupil_id, due_on, purged_on in session.execute(
            select(schedule).where(schedule.c.pupil_id.in_(chunk))
        ):
            found[pupil_id] = _Retention(due_on, purged_on)
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
    """One pupil on the retention schedule."""

    pupil_id: UUID
    due_on: date | None  # None once purged
    holds: tuple[LegalHold, ...]  # in force, oldest first
    purged_on: date | None

    @property
    def held(self) -> bool:
        return bool(self.holds)

    def as_json(self) -> dict[str, Any]:
        return {
            "pupil_id": str(self.pupil_id),
            "due_on": None if self.due_on is None else self.due_on.isoformat(),
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
            RetentionEntry(r.pupil_id, r.due_on, in_force.get(r.pupil_id, ()), r.purged_on)
            for r in rows
        ]


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
