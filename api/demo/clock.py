"""Time in a story: school days walked forward, never past DEMO_TODAY."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import TypedDict

from api.demo.world import DEMO_TODAY
from domain.values import Recorder


class When(TypedDict):
    """Who recorded an entry, when it happened and when it was recorded."""

    recorded_by: Recorder
    happened_on: date
    recorded_at: datetime


class StoryEnds(Exception):
    """The next step would fall after DEMO_TODAY, or the pupil has left the trust."""


class Clock:
    """Walks forward through school days, never past DEMO_TODAY."""

    def __init__(self, rng: random.Random, start: date) -> None:
        self.rng, self.day = rng, start
        self.last = datetime.combine(start, time(0), tzinfo=UTC)

    def next(self, low: int, high: int) -> date:
        return self.to(self.day + timedelta(days=self.rng.randint(low, high)))

    def to(self, day: date) -> date:
        """Move to `day` (the first school day on or after it), at least one day on."""
        day = school_day(max(day, self.day + timedelta(days=1)))
        if day >= DEMO_TODAY:
            raise StoryEnds
        self.day = day
        return day

    def recorded(self, day: date) -> datetime:
        lag = timedelta(days=self.rng.choice([0, 0, 0, 1, 2, 7]))
        moment = datetime.combine(min(day + lag, DEMO_TODAY), time(8), tzinfo=UTC)
        moment += timedelta(minutes=self.rng.randint(0, 9 * 60))
        # Entries are recorded in order: a later entry is never recorded before an earlier one.
        self.last = max(moment, self.last + timedelta(minutes=1))
        return self.last


def weekday(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def school_day(day: date) -> date:
    """The first weekday on or after `day` outside the Christmas and summer holidays (the
    demo ignores half terms and Easter, which move from year to year)."""
    if day.month == 8:
        day = date(day.year, 9, 1)
    elif (day.month, day.day) >= (12, 22):
        day = date(day.year + 1, 1, 3)
    elif (day.month, day.day) <= (1, 2):
        day = date(day.year, 1, 3)
    return weekday(day)
