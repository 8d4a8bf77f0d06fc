"""Retention benchmarks: one pupil's purge with 10 and with 10,000 entries (it must not grow
with the history), and the due list over a large retention schedule."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from uuid import uuid4

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.application import PupilRecords
from api.bootstrap import build_ledger
from api.retention import Retention
from bench.stores import RING, temporary_stores
from domain.values import Recorder, Role
from projections.catalogue import build_projections
from projections.retention_schedule import RetentionReader, RetentionSchedule
from projections.runner import ProjectionRunner
from tests.factories import a_pupil, add_concern

LATER = datetime(2045, 6, 1, tzinfo=UTC)  # factory pupils (born 2015) are due in 2040


def _purge_time(url: str, journal: Path, entries: int) -> float:
    records = PupilRecords(database_url=url, ring=RING, clock=lambda: LATER)
    try:
        runner = ProjectionRunner(records, build_projections(records.policy))
        key = Ed25519PrivateKey.generate()
        dpo = Retention(
            records, build_ledger(records, key, None), key, journal, after_purge=runner.catch_up
        )
        pupil = a_pupil("Purge", "Bench", pupil_id=uuid4(), concerns=0)
        records.save(pupil)
        for start in range(1, entries, 500):
            loaded = records.get_pupil(pupil.id)
            for _ in range(min(500, entries - start)):
                add_concern(loaded, "an entry")
            records.save(loaded)
        dpo.ledger.integrate()
        runner.catch_up()
        dpo.propose(pupil.id, Recorder("dpo-1", Role.DPO))
        begin = time.perf_counter()
        dpo.approve(pupil.id, Recorder("dpo-2", Role.DPO))
        return time.perf_counter() - begin
    finally:
        records.close()


def _due_list(url: str, pupils: int) -> dict[str, Any]:
    records = PupilRecords(database_url=url, ring=RING, clock=lambda: LATER)
    try:
        batch = []
        begin = time.perf_counter()
        for _ in range(pupils):
            batch.append(a_pupil("Due", "Bench", pupil_id=uuid4(), concerns=0))
            if len(batch) == 500:
                records.save(*batch)
                batch = []
        if batch:
            records.save(*batch)
        written = time.perf_counter() - begin
        # Only the read model the due list reads: the retention schedule, built by its own
        # projection from the stored (encrypted) registrations, as in production.
        begin = time.perf_counter()
        ProjectionRunner(records, [RetentionSchedule(records.policy)]).catch_up()
        projected = time.perf_counter() - begin
        reader = RetentionReader(records)
        timings = []
        for _ in range(5):
            start = time.perf_counter()
            due = reader.due(date(2045, 6, 1))
            timings.append(time.perf_counter() - start)
        return {
            "pupils": pupils,
            "due": len(due),
            "best_s": round(min(timings), 3),
            "write_s": round(written, 1),
            "project_s": round(projected, 1),
        }
    finally:
        records.close()


def run(quick: bool) -> dict[str, Any]:
    sizes, pupils = ([10, 2_000], 10_000) if quick else ([10, 10_000], 100_000)
    result: dict[str, Any] = {}
    with temporary_stores() as (sqlite_url, pg_url), TemporaryDirectory() as tmp:
        for label, url in (("sqlite", sqlite_url), ("postgresql", pg_url)):
            result[label] = {
                "purge_s": {
                    str(n): round(_purge_time(url, Path(tmp) / f"{label}.jsonl", n), 3)
                    for n in sizes
                },
                "due_list": _due_list(url, pupils),
            }
    return result


def render(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [f"retention benchmark — {m['date']}, {m['cpus']} CPUs, {m['platform']}", ""]
    for store in ("sqlite", "postgresql"):
        r = result[store]
        purges = ", ".join(f"{n} entries: {s} s" for n, s in r["purge_s"].items())
        d = r["due_list"]
        lines.append(f"{store}: purge of one pupil — {purges}")
        lines.append(
            f"{store}: due list over {d['pupils']:,} pupils ({d['due']:,} due): {d['best_s']} s "
            f"(registrations written in {d['write_s']} s, schedule projected in "
            f"{d['project_s']} s)"
        )
    return "\n".join(lines)
