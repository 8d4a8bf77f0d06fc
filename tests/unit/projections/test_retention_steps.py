"""The retention schedule's steps: due dates from the date of birth (the SEN file's, and
the child protection one once a restricted entry is on the record), holds, the tombstone."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.policy import TrustPolicy, load_policy_named
from projections.base import ProjectedEvent
from projections.retention_schedule import RetentionEntry, RetentionSchedule, _Retention
from tests.factories import DEFAULT

PUPIL = uuid4()
HOLD = UUID(int=9)


def event(kind: str, seq: int, payload: dict[str, Any] | None) -> ProjectedEvent:
    return ProjectedEvent(seq, PUPIL, seq, kind, payload)


def play(*events: ProjectedEvent, policy: TrustPolicy = DEFAULT) -> _Retention | None:
    schedule, state = RetentionSchedule(policy), None
    for e in events:
        state = schedule._step(state, e)
    return state


REGISTERED = event("PupilRegistered", 1, {"date_of_birth": "2012-02-29", "happened_on": "x"})


CROSS_REFERENCE = event("SafeguardingCrossReferenced", 2, {"happened_on": "2025-01-10"})
IMPORTED = event("SafeguardingReferenceImported", 2, {"happened_on": "2025-01-10"})


def with_child_protection_years(years: int) -> TrustPolicy:
    retention = DEFAULT.retention.model_copy(update={"child_protection_years": years})
    return DEFAULT.model_copy(update={"retention": retention})


def test_due_date_is_the_policy_birthday_and_the_birth_date_is_not_kept() -> None:
    state = play(REGISTERED)
    assert state == _Retention(sen_file_due_on=DEFAULT.retention_due_by(date(2012, 2, 29)))
    assert state.due_on == date(2043, 2, 28)  # the end of February 2043: DOB + 31
    assert state.child_protection_due_on is None  # no restricted entry on the record


def test_harmony_keeps_records_to_date_of_birth_plus_25() -> None:
    state = play(REGISTERED, CROSS_REFERENCE, policy=load_policy_named("harmony"))
    assert state is not None
    assert (state.sen_file_due_on, state.child_protection_due_on, state.due_on) == (
        date(2037, 2, 28),
        date(2037, 2, 28),
        date(2037, 2, 28),
    )


@pytest.mark.parametrize("restricted", [CROSS_REFERENCE, IMPORTED], ids=lambda e: e.type)
def test_a_restricted_entry_adds_the_child_protection_date(restricted: ProjectedEvent) -> None:
    state = play(REGISTERED, restricted)
    assert state is not None
    assert state.child_protection_due_on == DEFAULT.retention_due_by(
        date(2012, 2, 29), "child_protection"
    )
    assert state.child_protection_due_on == date(2037, 2, 28)  # DOB + 25
    assert state.due_on == date(2043, 2, 28)  # the SEN file's, later, governs


@pytest.mark.parametrize("years", [25, 26, 30, 31, 32, 40, 100])
def test_the_child_protection_date_is_the_policys_without_the_birth_date(years: int) -> None:
    policy = with_child_protection_years(years)
    for born in ("2012-02-29", "2011-12-31", "2010-01-01", "2013-07-15"):
        registered = event("PupilRegistered", 1, {"date_of_birth": born, "happened_on": "x"})
        state = play(registered, CROSS_REFERENCE, policy=policy)
        assert state is not None
        dob = date.fromisoformat(born)
        assert state.child_protection_due_on == policy.retention_due_by(dob, "child_protection")
        assert state.due_on == policy.retention_governs(dob, ["child_protection"])[1]


def test_a_longer_child_protection_period_governs() -> None:
    policy = with_child_protection_years(40)
    state = play(REGISTERED, CROSS_REFERENCE, policy=policy)
    assert state is not None and state.due_on == date(2052, 2, 29)
    entry = RetentionEntry(
        PUPIL, state.due_on, (), None, state.sen_file_due_on, state.child_protection_due_on
    )
    assert entry.governed_by == "child_protection"
    assert entry.as_json() | {"pupil_id": "x"} == {
        "pupil_id": "x",
        "due_on": "2052-02-29",
        "sen_file_due_on": "2043-02-28",
        "child_protection_due_on": "2052-02-29",
        "governed_by": "child_protection",
        "holds": [],
        "purged_on": None,
    }
    # Without a restricted entry the longer period does not apply.
    alone = play(REGISTERED, policy=policy)
    assert alone is not None and alone.due_on == date(2043, 2, 28)


def test_a_kind_the_policy_does_not_restrict_is_the_sen_file() -> None:
    concern = event("ConcernRaised", 2, {"happened_on": "2025-01-10"})
    assert "ConcernRaised" not in RetentionSchedule(DEFAULT).event_types
    visibility = DEFAULT.visibility.model_copy(
        update={"restricted": (*DEFAULT.visibility.restricted, "ConcernRaised")}
    )
    wider = DEFAULT.model_copy(update={"visibility": visibility})
    assert "ConcernRaised" in RetentionSchedule(wider).event_types
    state = play(REGISTERED, concern, policy=wider)
    assert state is not None and state.child_protection_due_on == date(2037, 2, 28)


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
    crossref = event("SafeguardingCrossReferenced", 2, {"happened_on": "2025-01-10"})
    gone = play(REGISTERED, crossref, purged)
    assert gone == _Retention(purged_on=date(2041, 3, 1)) and gone.due_on is None


def test_unreadable_entries_change_nothing() -> None:
    assert play(event("PupilRegistered", 1, None)) is None
    shredded = event("LegalHoldPlaced", 2, None)
    assert play(REGISTERED, shredded) == play(REGISTERED)
