"""The domain's vocabulary and the policy schema's spell the same words, and date helpers."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

import pytest

from domain import policy as schema
from domain.errors import InvalidEntry
from domain.events import EVENT_TYPES, PupilEvent, PupilRegistered
from domain.values import (
    DisclosurePurpose,
    PlanKind,
    RegisterStatus,
    Role,
    SubFlag,
    TransitionKind,
    add_months,
    add_school_days,
)
from tests.factories import DEFAULT, a_pupil, on, refused


@pytest.mark.parametrize(
    ("enum", "literal"),
    [
        (RegisterStatus, schema.REGISTER_STATUSES),
        (SubFlag, schema.SUB_FLAGS),
        (Role, schema.ROLES),
        (PlanKind, schema.PLAN_KINDS),
    ],
)
def test_enums_match_the_policy_vocabulary(enum: type[StrEnum], literal: tuple[str, ...]) -> None:
    assert [member.value for member in enum] == list(literal)


def test_every_policy_disclosure_purpose_is_a_domain_purpose() -> None:
    assert set(schema.DISCLOSURE_PURPOSES) <= {p.value for p in DisclosurePurpose}


def test_every_event_type_is_an_entry_kind_a_policy_can_grant() -> None:
    assert [cls.__name__ for cls in EVENT_TYPES] == list(schema.ENTRY_KINDS)


def test_every_event_is_a_documented_pupil_event() -> None:
    for cls in EVENT_TYPES:
        assert cls is PupilRegistered or issubclass(cls, PupilEvent), cls
        assert cls.__doc__ and cls.__doc__.strip(), cls


def test_only_the_tombstone_is_stored_in_the_clear() -> None:
    clear = [cls.__name__ for cls in EVENT_TYPES if cls.stored_in_clear]
    assert clear == ["RecordsPurged"]


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2025, 8, 15), 6, date(2026, 2, 15)),
        (date(2025, 3, 3), 12, date(2026, 3, 3)),
    ],
)
def test_add_months_keeps_the_day_or_the_months_last(
    day: date, months: int, expected: date
) -> None:
    assert add_months(day, months) == expected


def test_add_school_days_skips_weekends() -> None:
    assert add_school_days(date(2025, 2, 7), 1) == date(2025, 2, 10)  # Friday to Monday
    assert add_school_days(date(2025, 2, 8), 5) == date(2025, 2, 14)  # from a Saturday


def test_commands_take_values_as_well_as_members() -> None:
    pupil = a_pupil(concerns=0)
    pupil.plan_transition(
        policy=DEFAULT,
        transition="post16",  # type: ignore[arg-type]
        to_setting="Northshire College",
        planned_for=date(2025, 9, 3),
        information_shared="",
        **on(date(2025, 2, 3)),
    )
    (event,) = pupil.collect_events()[1:]
    assert event.transition is TransitionKind.POST16
    assert event.payload()["transition"] == "post16"


def test_an_unknown_value_is_refused_with_the_choices() -> None:
    pupil = a_pupil(concerns=0)
    refused(
        pupil,
        InvalidEntry,
        "transition 'gap_year' is not one of: phase_transfer, post16, new_setting, year_group",
        pupil.plan_transition,
        policy=DEFAULT,
        transition="gap_year",
        to_setting="x",
        planned_for=date(2025, 9, 3),
        information_shared="",
        **on(date(2025, 2, 3)),
    )
