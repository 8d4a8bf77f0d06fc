"""Projection benchmarks (issue: "Projections rebuilt on demand").

A large trust is written through the domain (10,000 pupils x 100 entries = 1M events; 500
pupils with --quick), one academy holding 1,500 of them (150 with --quick). Then, on SQLite
and PostgreSQL:

1. decrypt: reading and decrypting every event, no projection (the floor under a rebuild
   that consumes every event);
2. rebuild: `ProjectionRunner.rebuild()` of the core read models (register, retention),
   then of the whole catalogue (with the chronology, deadlines, safeguarding and access-log
   read models; the chronology consumes every event), events per second;
3. catch-up: applying 10,000 new events to up-to-date read models (the core ones, then
   the whole catalogue);
4. queries: the register of the 1,500-pupil academy sorted by name (every name decrypted)
   and by status (one page of 50 names decrypted), census counts today and as of a date,
   the retention schedule's due list: p50/p95 over 40 runs, the first (cold key cache) run
   reported apart.

Each measurement opens a fresh application, as a new process would: no key is cached.
Rates are wall-clock; `cpu_seconds` is this process's CPU time (decryption, the read
models' code, SQLite itself; not the PostgreSQL server's), the steadier figure on a machine
shared with other work.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from uuid import uuid4

from eventsourcing.persistence import StoredEvent
from sqlalchemy import select

from api.application import PupilRecords
from bench.stores import RING, temporary_stores
from domain.pupil import Pupil
from domain.values import NeedType, RegisterStatus, SubFlag
from projections.catalogue import build_projections
from projections.census import CensusReader
from projections.core_models import core_projections
from projections.register import RegisterFilter, RegisterReader
from projections.retention_schedule import RetentionReader
from projections.runner import ProjectionRunner
from tests.factories import DPO, a_pupil, add_concern, agree, move, on, primary_need, review

BIG = "BIG"  # the academy whose register is queried
OTHERS = ("OAK", "RIV", "HTH", "MDW", "ASH", "ELM")
NEEDS = (NeedType.SLCN, NeedType.ASD, NeedType.SEMH, NeedType.MLD, NeedType.SPLD, NeedType.HI)
START = date(2024, 9, 10)


def history(n: int, academy: str, entries: int) -> Pupil:
    """A pupil with `entries` entries: the graduated response to SEN support, a plan and its
    reviews, concerns, a secondary need recorded and withdrawn, sub-flag changes, and for
    one pupil in twenty a legal hold."""
    pupil = a_pupil("Bench", "Pupil", pupil_id=uuid4(), academy=academy, concerns=0)
    add_concern(pupil, "Finds transitions between lessons hard")
    move(pupil, START, RegisterStatus.MONITORING)
    primary_need(pupil, START + timedelta(days=1), NEEDS[n % len(NEEDS)])
    move(pupil, START + timedelta(days=2), RegisterStatus.SEN_SUPPORT)
    plan = agree(pupil, START + timedelta(days=3))
    if n % 20 == 0:
        pupil.place_legal_hold(reason="Claim", requested_by="Trust solicitor", **on(START, DPO))
    day = START + timedelta(days=4)
    step = 0
    while pupil.version < entries:
        step, day = step + 1, day + timedelta(days=1)
        if step % 20 == 5:
            pupil.record_need(need=NeedType.OTH, primary=False, notes="", **on(day))
        elif step % 20 == 15:
            pupil.withdraw_need(need=NeedType.OTH, reason="No longer a barrier", **on(day))
        elif step % 30 == 10:
            flags = () if pupil.sub_flags else (SubFlag.NSA,)
            move(pupil, day, RegisterStatus.SEN_SUPPORT, flags=flags)
        elif step % 2:
            review(pupil, day, plan)
        else:
            add_concern(pupil, "Still finds the afternoon hard")
    return pupil


def fill(records: PupilRecords, pupils: int, big: int, entries: int) -> dict[str, Any]:
    """Write the trust, many pupils per save (one transaction each)."""
    started, written, pending = time.perf_counter(), 0, []
    for n in range(pupils):
        academy = BIG if n < big else OTHERS[n % len(OTHERS)]
        pending.append(history(n, academy, entries))
        if len(pending) == 50:
            written += sum(len(p.pending_events) for p in pending)
            records.save(*pending)
            pending = []
    if pending:
        written += sum(len(p.pending_events) for p in pending)
        records.save(*pending)
    return _rate(written, time.perf_counter() - started)


def decrypt_floor(url: str) -> dict[str, Any]:
    """Read and decrypt every event in notification order, projecting nothing, in a fresh
    application (cold key cache, as a rebuild in a new process has)."""
    records = PupilRecords(database_url=url, ring=RING)
    try:
        e = records.recorder.events_record_cls.__table__.c  # type: ignore[attr-defined]
        opened = records.sealing_mapper.committed
        started, count, position = time.perf_counter(), 0, 0
        while True:
            with records.datastore.transaction(False) as session:
                rows = session.execute(
                    select(e.id, e.originator_id, e.originator_version, e.topic, e.state)
                    .where(e.id > position)
                    .order_by(e.id)
                    .limit(5000)
                ).all()
            for row in rows:
                stored = StoredEvent(
                    row.originator_id, row.originator_version, row.topic, row.state
                )
                json.loads(opened(stored).payload)
            count += len(rows)
            if len(rows) < 5000:
                break
            position = rows[-1].id
        return _rate(count, time.perf_counter() - started)
    finally:
        records.close()


def rebuild(url: str, full: bool) -> dict[str, Any]:
    """`ProjectionRunner.rebuild()` in a fresh application, as `chronicle projections
    rebuild` runs it."""
    records = PupilRecords(database_url=url, ring=RING)
    try:
        projections = (build_projections if full else core_projections)(records.policy)
        runner = ProjectionRunner(records, projections)
        started, cpu = time.perf_counter(), time.process_time()
        count = runner.rebuild()
        return {"projections": [p.name for p in projections]} | _rate(
            count, time.perf_counter() - started, time.process_time() - cpu
        )
    finally:
        records.close()


def catch_up(url: str, events: int, entries: int, full: bool = False) -> dict[str, Any]:
    """Write `events` new events, then apply them to up-to-date read models (the core ones,
    or with `full` the whole catalogue)."""
    records = PupilRecords(database_url=url, ring=RING)
    try:
        projections = (build_projections if full else core_projections)(records.policy)
        runner = ProjectionRunner(records, projections)
        runner.catch_up()
        fill(records, events // entries, 0, entries)
        started, cpu = time.perf_counter(), time.process_time()
        count = runner.catch_up()
        return _rate(count, time.perf_counter() - started, time.process_time() - cpu)
    finally:
        records.close()


def queries(url: str) -> dict[str, Any]:
    """Query times in a fresh application: the first run (cold key cache) apart, then
    p50/p95 of 40 runs; the register sorted by name once more after `gc.freeze()`."""
    records = PupilRecords(database_url=url, ring=RING)
    try:
        register, census = RegisterReader(records), CensusReader(records)
        retention = RetentionReader(records)
        big = RegisterFilter(academy=BIG)
        cases: dict[str, Callable[[], object]] = {
            "register_by_name": lambda: register.page(big, sort="name"),
            "register_by_name_page50": lambda: register.page(big, sort="name", limit=50),
            "register_by_status_page50": lambda: register.page(big, sort="status", limit=50),
            "census_today": census.counts,
            "census_as_of": lambda: census.counts(START + timedelta(days=60)),
            "retention_due": lambda: retention.due(date(2041, 1, 1)),
        }
        out: dict[str, Any] = {"academy_pupils": register.page(big, sort="status", limit=1).total}
        for name, query in cases.items():
            out[name] = _timed(query)
        # A long-running server freezes its start-up heap, so full collections stay cheap;
        # without it, an occasional full collection lands inside a query (the p95 above).
        gc.freeze()
        out["register_by_name_gc_frozen"] = _timed(cases["register_by_name"])
        return out
    finally:
        records.close()


def _timed(query: Callable[[], object], runs: int = 40) -> dict[str, float]:
    started = time.perf_counter()
    query()
    cold = time.perf_counter() - started
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        query()
        times.append(time.perf_counter() - started)
    times.sort()
    return {
        "cold_ms": round(1000 * cold, 1),
        "p50_ms": round(1000 * statistics.median(times), 1),
        "p95_ms": round(1000 * times[int(0.95 * (runs - 1))], 1),
    }


def _rate(events: int, seconds: float, cpu: float | None = None) -> dict[str, Any]:
    rate = {"events": events, "seconds": round(seconds, 2), "events_per_s": round(events / seconds)}
    if cpu is not None:
        rate |= {"cpu_seconds": round(cpu, 2), "events_per_cpu_s": round(events / max(cpu, 1e-9))}
    return rate


def one_store(url: str, pupils: int, big: int, entries: int, quick: bool) -> dict[str, Any]:
    records = PupilRecords(database_url=url, ring=RING)
    try:
        result: dict[str, Any] = {"write": fill(records, pupils, big, entries)}
    finally:
        records.close()
    result["decrypt"] = decrypt_floor(url)
    result["rebuild_core"] = rebuild(url, full=False)
    # The whole catalogue, with the read models that take every event (the chronology).
    result["rebuild_all"] = rebuild(url, full=True)
    result["catch_up"] = catch_up(url, 10_000, entries)
    result["catch_up_all"] = catch_up(url, 10_000, entries, full=True)
    result["queries"] = queries(url)
    return result


def run(quick: bool) -> dict[str, Any]:
    pupils, big = (500, 150) if quick else (10_000, 1_500)
    result: dict[str, Any] = {"pupils": pupils, "entries_per_pupil": 100}
    with temporary_stores("projections.db") as (sqlite_url, pg_url):
        for label, url in (("sqlite", sqlite_url), ("postgresql", pg_url)):
            result[label] = one_store(url, pupils, big, 100, quick)
    return result


def render(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"projections benchmark — {m['date']}, {m['cpus']} CPUs, {m['platform']}, "
        f"Python {m['python']}",
        f"{result['pupils']:,} pupils x {result['entries_per_pupil']} entries",
        "",
    ]
    for store in ("sqlite", "postgresql"):
        r = result[store]
        for key, label in (
            ("write", "write (domain + save)"),
            ("decrypt", "read + decrypt only"),
            ("rebuild_core", "rebuild register + retention"),
            ("rebuild_all", "rebuild whole catalogue"),
            ("catch_up", "catch-up of new events (core)"),
            ("catch_up_all", "catch-up of new events (whole catalogue)"),
        ):
            if key not in r:
                continue
            x = r[key]
            cpu = (
                f"; CPU {x['cpu_seconds']} s, {x['events_per_cpu_s']:,} events per CPU-second"
                if "cpu_seconds" in x
                else ""
            )
            lines.append(
                f"{store}: {label}: {x['events_per_s']:,} events/s "
                f"({x['events']:,} events in {x['seconds']} s{cpu})"
            )
        q = r["queries"]
        lines.append(f"{store}: queries on a {q['academy_pupils']:,}-pupil academy:")
        for name, t in q.items():
            if isinstance(t, dict):
                lines.append(
                    f"    {name}: p50 {t['p50_ms']} ms, p95 {t['p95_ms']} ms "
                    f"(first, cold key cache: {t['cold_ms']} ms)"
                )
    return "\n".join(lines)
