"""Rules about text and dates that every kind of entry obeys."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from enum import Enum
from typing import TypeVar

from domain.errors import DateOutOfRange, InvalidEntry

E = TypeVar("E", bound=Enum)

# Entries may be dated up to a day ahead of the recording clock (time zones, late evenings).
FUTURE_TOLERANCE = timedelta(days=1)


def require_text(what: str, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidEntry(f"{what} is required")


def require_texts(what: str, values: Iterable[str]) -> tuple[str, ...]:
    """A non-empty list of non-empty texts, each once."""
    items = tuple(values)
    if not items:
        raise InvalidEntry(f"{what}: name at least one")
    for i, item in enumerate(items):
        require_text(f"{what} (item {i + 1})", item)
        if item in items[:i]:
            raise InvalidEntry(f"{what}: {item!r} is listed twice")
    return items


def check_happened_on(happened_on: date, recorded_at: datetime, birth: date) -> None:
    if happened_on > (recorded_at + FUTURE_TOLERANCE).date():
        raise DateOutOfRange(
            f"the entry is dated {happened_on}, after the day it is recorded "
            f"({recorded_at.date()}): entries cannot describe the future"
        )
    if happened_on < birth:
        raise DateOutOfRange(
            f"the entry is dated {happened_on}, before the pupil's date of birth ({birth})"
        )


def check_past(what: str, day: date, recorded_at: datetime, birth: date) -> None:
    """A date of something that has already happened (parents informed, notice given)."""
    if day > (recorded_at + FUTURE_TOLERANCE).date():
        raise DateOutOfRange(
            f"{what} is {day}, after the day it is recorded ({recorded_at.date()}): "
            "record it once it has happened"
        )
    if day < birth:
        raise DateOutOfRange(f"{what} is {day}, before the pupil's date of birth ({birth})")


def check_not_before(what: str, day: date, earlier: str, earlier_day: date) -> None:
    if day < earlier_day:
        raise DateOutOfRange(f"{what} is {day}, before {earlier} ({earlier_day})")


def check_after(what: str, day: date, earlier: str, earlier_day: date) -> None:
    if day <= earlier_day:
        raise DateOutOfRange(f"{what} is {day}: it must be after {earlier} ({earlier_day})")


def member(enum: type[E], value: object, what: str) -> E:
    """`value` as a member of `enum`: callers may pass the enum or its value (from JSON)."""
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in enum)
        raise InvalidEntry(f"{what} {value!r} is not one of: {allowed}") from None


def members(enum: type[E], values: Iterable[object], what: str) -> tuple[E, ...]:
    return tuple(member(enum, value, what) for value in values)
