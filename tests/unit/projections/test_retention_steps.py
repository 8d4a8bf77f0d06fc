"""The retention schedule's steps: due date from the date of birth, holds, the tombstone."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4

from projections.base import ProjectedEvent
from projections.retention_schedule import RetentionSchedule, _Retention
from tests.factories import DEFAULT

PUPIL = uuid4()
HOLD = UUID(int=9)


def event(kind: str, seq: int, payload: dict[str, Any] | None) -> ProjectedEvent:
    return ProjectedEvent(seq, PUPIL, seq, kind, payload)


def play(*events: ProjectedEvent) -> _Retention | None:
    schedule, state = RetentionSchedule(DEFAULT), None
    for e in events:
        state = schedule._step(state, e)
    return state


REGISTERED = event("PupilRegistered", 1, {"date_of_birth": "2012-02-29", "happened_on": "x"})


def test_due_date_is_the_policy_birthday_and_the_birth_date_is_not_kept() -> None:
    state = play(REGISTERED)
    assert state == _Retention(due_on=DEFAULT.retention_due_by(date(2012, 2, 29)))
    assert state.due_on == date(2037, 2, 28)  # the end of February 2037


def test_holds_in_force_are_tracked_by_id() -> None:
    placed = event("LegalHoldPlaced", 2, {"hold_id": str(HOLD), "happened_on": "2025-01-13"})
    state = play(REGISTERED, placed)
    assert state is not None and state.holds == {HOLD: date(2025, 1, 13)}
    lifted = event("LegalHoldLifted", 3, {"hold_id": str(HOLD), "happened_on": "2025-02-01"})
    state = play(REGISTERED, placed, lifted)
    assert state is not None and state.holds == {}


def test_the_purge_leaves_only_its_date() -> None:
    placed = event("LegalHoldPlaced", 2, {"hold_id": str(HOLD), "happened_on": "2025-01-13"})
    purged = event("RecordsPurged", 3, {"happened_on": "2041-03-01"})
    assert play(REGISTERED, placed, purged) == _Retention(purged_on=date(2041, 3, 1))


def test_unreadable_entries_change_nothing() -> None:
    assert play(event("PupilRegistered", 1, None)) is None
    shredded = event("LegalHoldPlaced", 2, None)
    assert play(REGISTERED, shredded) == play(REGISTERED)
