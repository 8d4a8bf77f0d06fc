"""Batched application equals one event at a time, for each read model that applies whole
batches (chronology, deadlines, safeguarding, access log), on SQLite and PostgreSQL.

Random histories (the same steps as the core property test, with transfers, EHC steps,
corrections and purges) and random reads of the pupils' records are written in rounds and
followed incrementally in random batch sizes; then each projection is rebuilt once through
a wrapper that has only `apply` (so the runner feeds it one event at a time) and once with
its own `apply_batch` (batches of 5,000). All three must hold the same rows, before and
after the purged pupils' keys are shredded.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from api.app.access import record_views
from api.application import PupilRecords
from domain.values import Recorder, Role
from projections.base import ProjectedEvent, Projection
from projections.catalogue import build_projections
from projections.runner import BatchProjection, ProjectionRunner
from tests.factories import DEFAULT, REGISTERED, a_full_history, a_pupil, play
from tests.integration.test_projections_core import pupil_plan, purged

BATCHED = ("chronology", "deadlines", "safeguarding", "access_log")
READERS = (
    Recorder("OAK-sendco-1", Role.SENDCO),
    Recorder("OAK-teacher-2", Role.TEACHER),
    Recorder("RIV-dsl-1", Role.DSL),
)


class OneAtATime:
    """A projection seen through `apply` only: the runner calls it once per event."""

    def __init__(self, inner: Projection) -> None:
        self.inner = inner
        self.name, self.tables, self.event_types = inner.name, inner.tables, inner.event_types

    def apply(self, session: Session, event: ProjectedEvent) -> None:
        self.inner.apply(session, event)


def targets(records: PupilRecords) -> list[Projection]:
    chosen = [p for p in build_projections(records.policy) if p.name in BATCHED]
    assert [p.name for p in chosen] == list(BATCHED)
    assert all(isinstance(p, BatchProjection) for p in chosen)
    return chosen


def snapshot(records: PupilRecords) -> dict[str, list[tuple[str, ...]]]:
    tables: list[Table] = [t for p in targets(records) for t in p.tables]
    with records.datastore.transaction(commit=False) as session:
        return {
            t.name: sorted(tuple(str(v) for v in row) for row in session.execute(select(t)))
            for t in tables
        }


def compare_rebuilds(records: PupilRecords, expected: dict[str, Any]) -> None:
    single = ProjectionRunner(records, [OneAtATime(p) for p in targets(records)])
    assert not any(isinstance(p, BatchProjection) for p in single.projections)
    single.rebuild()
    assert snapshot(records) == expected
    ProjectionRunner(records, targets(records)).rebuild()
    assert snapshot(records) == expected


# (reader, which pupil, days after registration)
reading = st.tuples(st.integers(0, 2), st.integers(0, 3), st.integers(0, 400))


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    plans=st.lists(pupil_plan, min_size=1, max_size=4),
    reads=st.lists(reading, max_size=10),
    batch=st.integers(1, 60),
)
def test_batched_equals_one_event_at_a_time(
    records: PupilRecords,
    plans: list[tuple[list[Any], int, bool]],
    reads: list[tuple[int, int, int]],
    batch: int,
) -> None:
    following = ProjectionRunner(records, targets(records))
    following.catch_up(batch)  # earlier examples' events
    pupils = [a_pupil(f"P{n}", concerns=1) for n in range(len(plans))]
    records.save(*pupils)
    for round_ in range(3):
        for p, (history, rounds, _) in zip(pupils, plans, strict=True):
            if round_ >= rounds or purged(records, p.id):
                continue
            part = history[round_ * len(history) // rounds : (round_ + 1) * len(history) // rounds]
            loaded = records.get_pupil(p.id)
            play(loaded, DEFAULT, part)
            records.save(loaded)
        for reader, which, days in reads[round_::3]:
            pupil = pupils[which % len(pupils)]
            at = datetime.combine(REGISTERED + timedelta(days=days), time(9), tzinfo=UTC)
            records.clock = lambda at=at: at  # type: ignore[misc]
            record_views(records, [pupil.id], READERS[reader], "record", f"reason {days}")
        following.catch_up(batch)
    incremental = snapshot(records)
    compare_rebuilds(records, incremental)
    for p, (_, _, shred) in zip(pupils, plans, strict=True):
        if shred and purged(records, p.id):
            records.shred(p.id)
    following.catch_up(batch)
    assert snapshot(records) == incremental  # shredding changes no row
    compare_rebuilds(records, incremental)


def test_a_shredded_pupil_is_looked_up_once_per_run(
    records: PupilRecords, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each sealed event of a shredded pupil would cost a key-store round trip; the runner
    remembers the shred (irreversible) and asks once. The tombstone is still read."""
    victim = a_full_history()  # ends with RecordsPurged
    records.save(victim)
    records.shred(victim.id)
    asked: list[UUID] = []
    cipher = records.data_keys.cipher

    def counting(stream: UUID) -> Any:
        asked.append(stream)
        return cipher(stream)

    monkeypatch.setattr(records.data_keys, "cipher", counting)
    runner = ProjectionRunner(records, targets(records))
    assert runner.catch_up(batch=7) == victim.version  # several batches
    assert asked.count(victim.id) == 1
    with records.datastore.transaction(commit=False) as session:
        tables = [t for p in targets(records) for t in p.tables]
        assert all(
            session.execute(select(t).where(t.c.pupil_id == victim.id)).all() == []
            for t in tables
            if t.name != "access_log_pupils"
        )
