"""Chronology read benchmark (issue: "Projections rebuilt on demand").

A pupil with 1,000 entries of mixed kinds sits in a store with other pupils; the read
models are caught up by the runner; then the pupil's chronology is read repeatedly:
the whole record (an operator's read), a teacher's view (restricted and other hidden
kinds masked, so not decrypted) and one kind only. The store is then grown tenfold with
other pupils and the same reads are timed again: the index is keyed by pupil, so the
time should not grow with the store. Both stores, one run. `records.entries` (decrypt
everything, no index) is timed for comparison.
"""

from __future__ import annotations

import gc
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import create_engine, text

from api.application import PupilRecords
from crypto.kek import InMemoryKekRing
from domain.pupil import Pupil
from domain.values import (
    AreaOfNeed,
    ConcernSource,
    DslDecision,
    NeedType,
    Participant,
    PlanKind,
    Recorder,
    Role,
    SmartOutcome,
    TargetOutcome,
    TargetReview,
)
from projections.catalogue import build_projections
from projections.chronology import chronology
from projections.runner import ProjectionRunner
from tests.factories import DEFAULT, a_pupil

RING = InMemoryKekRing()
PG_ADMIN = os.environ.get(
    "CHRONICLE_BENCH_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
ENTRIES = 1000
SENDCO = Recorder("OAK-sendco-1", Role.SENDCO)
TEACHER = Recorder("OAK-teacher-1", Role.TEACHER)
AREAS = tuple(AreaOfNeed)
GC_MODES = ("default", "frozen")  # the collector as Python starts it; after gc.freeze()
READS: dict[str, dict[str, Any]] = {
    "whole record": {},
    "teacher's view": {"viewer_role": "teacher"},
    "plan reviews only": {"kinds": ["PlanReviewed"]},
}


@contextmanager
def _stores() -> Iterator[dict[str, tuple[str, str]]]:
    """For each kind of store, two empty ones: the store and the one ten times larger."""
    with tempfile.TemporaryDirectory() as tmp:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        names = [f"chronicle_bench_{secrets.token_hex(4)}" for _ in range(2)]
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        base = PG_ADMIN.rsplit("/", 1)[0]
        try:
            yield {
                "sqlite": (f"sqlite:///{tmp}/small.db", f"sqlite:///{tmp}/large.db"),
                "postgresql": (f"{base}/{names[0]}", f"{base}/{names[1]}"),
            }
        finally:
            with admin.connect() as conn:
                for name in names:
                    conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            admin.dispose()


def a_long_record(entries: int = 1000) -> Pupil:
    """One pupil, `entries` entries: concerns, needs, plans with termly reviews, and
    safeguarding cross-references, every third day from September 2016."""
    pupil = a_pupil("Long", "Record", concerns=0)
    day = date(2016, 9, 1)
    n = 0
    while pupil.version < entries:
        day += timedelta(days=3)
        at = {"happened_on": day, "recorded_at": datetime.combine(day, clock_time(16), UTC)}
        step = n % 10
        n += 1
        if step < 3:
            pupil.raise_concern(
                source=ConcernSource.TEACHER,
                area_of_need=AREAS[n % 4],
                description="Finds transitions between lessons hard",
                evidence="Observation over two weeks",
                recorded_by=TEACHER,
                **at,
            )
        elif step == 3 and n % 20 < 10:
            pupil.record_need(need=NeedType.SLCN, primary=False, notes="Screen", **_by(at))
        elif step == 3:
            pupil.withdraw_need(need=NeedType.SLCN, reason="Screen clear", **_by(at))
        elif step == 4:
            plan = pupil.agree_plan(
                policy=DEFAULT,
                kind=PlanKind.INDIVIDUAL_PLAN,
                outcomes=[SmartOutcome("Blends CVC words", "Weekly probe", day + timedelta(60))],
                provision="Daily phonics group",
                review_on=day + timedelta(days=30),
                agreed_by=(Participant.PARENT, Participant.SENDCO),
                la_informed_on=None,
                **_by(at),
            )
        elif step in (5, 6, 7):
            pupil.review_plan(
                plan_id=plan,
                outcomes=[TargetReview("Blends CVC words", TargetOutcome.PARTLY)],
                pupil_voice="I like the group",
                parent_voice="Reading more at home",
                next_steps="Keep the group",
                next_review_on=None if step == 7 else day + timedelta(days=30),
                closes_plan=step == 7,
                **_by(at),
            )
        else:
            pupil.cross_reference_safeguarding(
                policy=DEFAULT,
                cpoms_log_id=f"CP-{day.year}-{n:05d}",
                note="A CPOMS log exists; ask the DSL.",
                dsl_decision=DslDecision.MONITOR_IN_SCHOOL,
                decided_by="OAK-dsl-1",
                **_by(at),
            )
    return pupil


def _by(at: dict[str, Any]) -> dict[str, Any]:
    return {"recorded_by": SENDCO, **at}


def _fill(records: PupilRecords, events: int, per_pupil: int = 10) -> None:
    for _ in range(events // per_pupil):
        records.save(a_pupil("Bench", "Pupil", pupil_id=uuid4(), concerns=per_pupil - 1))


def _interleaved(
    small: Callable[[], object], large: Callable[[], object], runs: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Time two reads alternately, so that whatever else the machine is doing weighs on
    both alike; wall-clock p50/p95 and the process's own CPU time (p50) per read."""
    for _ in range(3):
        small(), large()  # warm caches: the pupil's data key, statement compilation
    samples: tuple[list[tuple[float, float]], list[tuple[float, float]]] = ([], [])
    for _ in range(runs):
        for read, kept in ((small, samples[0]), (large, samples[1])):
            wall, cpu = time.perf_counter(), time.process_time()
            read()
            kept.append((time.perf_counter() - wall, time.process_time() - cpu))
    return _summary(samples[0]), _summary(samples[1])


def _summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    wall = sorted(w * 1000 for w, _ in samples)
    cpu = sorted(c * 1000 for _, c in samples)
    return {
        "p50_ms": round(statistics.median(wall), 1),
        "p95_ms": round(wall[int(0.95 * (len(wall) - 1))], 1),
        "cpu_p50_ms": round(statistics.median(cpu), 1),
    }


@dataclass
class _Store:
    records: PupilRecords
    pupil_id: UUID
    events: int
    catch_up_per_s: float


def _store(url: str, background: int) -> _Store:
    records = PupilRecords(database_url=url, ring=RING)
    pupil = a_long_record(ENTRIES)
    records.save(pupil)
    _fill(records, background)
    runner = ProjectionRunner(records, build_projections(records.policy))
    start = time.perf_counter()
    applied = runner.catch_up()
    return _Store(records, pupil.id, applied, applied / (time.perf_counter() - start))


def one_kind(urls: tuple[str, str], background: int, runs: int) -> dict[str, Any]:
    small = _store(urls[0], background)
    # Ten times the events of the smaller store, the same long record in each.
    large = _store(urls[1], 10 * (ENTRIES + background) - ENTRIES)
    pairs: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
        label: (
            lambda kw=kw: chronology(small.records, small.pupil_id, **kw),
            lambda kw=kw: chronology(large.records, large.pupil_id, **kw),
        )
        for label, kw in READS.items()
    }
    pairs["records.entries (no index)"] = (
        lambda: small.records.entries(small.pupil_id),
        lambda: large.records.entries(large.pupil_id),
    )
    result: dict[str, Any] = {
        "pupil_entries": ENTRIES,
        "store_events": [small.events, large.events],
        "catch_up_events_per_s": round(large.catch_up_per_s),
    }
    try:
        for mode in GC_MODES:
            gc.collect()
            if mode == "frozen":
                # What a long-running service does once it has started (docs/read-models.md):
                # the start-up heap leaves the collector's full passes, which otherwise
                # scan it every few reads and set the p95.
                gc.freeze()
            results = {label: _interleaved(*pair, runs) for label, pair in pairs.items()}
            gc.unfreeze()
            result[mode] = {
                "small": {label: r[0] for label, r in results.items()},
                "large": {label: r[1] for label, r in results.items()},
                "ratio_p50": {k: _ratio(r, "p50_ms") for k, r in results.items()},
                "ratio_p95": {k: _ratio(r, "p95_ms") for k, r in results.items()},
            }
    finally:
        small.records.close()
        large.records.close()
    return result


def _ratio(pair: tuple[dict[str, float], dict[str, float]], key: str) -> float:
    return round(pair[1][key] / pair[0][key], 2)


def run(quick: bool) -> dict[str, Any]:
    background, runs = (2_000, 40) if quick else (20_000, 200)
    with _stores() as urls:
        return {kind: one_kind(pair, background, runs) for kind, pair in urls.items()}


def render(result: dict[str, Any]) -> str:
    machine = result["machine"]
    lines = [
        f"Chronology reads — {machine['date']}, {machine['cpus']} CPUs, "
        f"Python {machine['python']}{' (quick)' if result['quick'] else ''}",
        "wall-clock p50/p95 and the process's CPU time (p50) per read, in ms; reads of the "
        "store and of the one ten times larger alternate",
    ]
    for kind in ("sqlite", "postgresql"):
        r = result[kind]
        small, large = r["store_events"]
        lines += [
            "",
            f"{kind}: a {r['pupil_entries']}-entry pupil; stores of {small:,} and {large:,} "
            f"events (catch-up {r['catch_up_events_per_s']:,} events/s)",
        ]
        for mode in GC_MODES:
            m = r[mode]
            lines += [
                f"  collector: {mode}",
                f"    {'read':<28} {'p50':>6} {'p95':>6} {'cpu':>6}   {'10x p50':>7} "
                f"{'10x p95':>7} {'cpu':>6}   ratio p50 / p95",
            ]
            for label in m["small"]:
                s, g = m["small"][label], m["large"][label]
                lines.append(
                    f"    {label:<28} {s['p50_ms']:>6} {s['p95_ms']:>6} {s['cpu_p50_ms']:>6}   "
                    f"{g['p50_ms']:>7} {g['p95_ms']:>7} {g['cpu_p50_ms']:>6}   "
                    f"{m['ratio_p50'][label]:.2f} / {m['ratio_p95'][label]:.2f}"
                )
    return "\n".join(lines)
