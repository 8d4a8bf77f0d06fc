"""Ledger benchmarks (issue: "Ledger and verifiable exports").

1. integration: leaves per second integrated from an already-written event log;
2. latency: time from a commit to a signed checkpoint that includes it, under a steady
   write load (a follower thread polls every 50 ms, as the service runs it);
3. proofs: inclusion and consistency proof generation at 1M and 10M leaves (the node table
   is built directly, with real hashes, as integration would leave it);
4. verify: offline verification of a 10,000-event export.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import uuid4

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, text

from api.application import PupilRecords
from api.bootstrap import build_ledger
from api.export import Disclosure, export_pupil
from bench.stores import RING, temporary_stores
from crypto.bundle_check import verify_bundle
from crypto.merkle import nodes_to_append
from domain.values import Recorder, Role
from projections.bulk import bulk_write
from projections.ledger import LedgerFollower, leaves, metadata, nodes
from tests.factories import a_pupil, add_concern


def _fill(records: PupilRecords, events: int, per_pupil: int = 10) -> None:
    for _ in range(events // per_pupil):
        pupil = a_pupil("Bench", "Pupil", pupil_id=uuid4(), concerns=per_pupil - 1)
        records.save(pupil)


def integration(url: str, events: int) -> dict[str, Any]:
    records = PupilRecords(database_url=url, ring=RING)
    try:
        _fill(records, events)
        ledger = build_ledger(records, Ed25519PrivateKey.generate(), None)
        start = time.perf_counter()
        added = ledger.integrate(batch=5000)
        elapsed = time.perf_counter() - start
        return {
            "leaves": added,
            "seconds": round(elapsed, 2),
            "leaves_per_s": round(added / elapsed),
        }
    finally:
        records.close()


def latency(url: str, rate: int, seconds: float, per_commit: int = 4) -> dict[str, Any]:
    """A writer committing `per_commit` entries at a time, `rate` entries per second, while a
    follower in another process (as `chronicle ledger follow` runs) integrates and signs."""
    records = PupilRecords(database_url=url, ring=RING)
    context = multiprocessing.get_context("spawn")
    reports: Any = context.Queue()
    stop = context.Event()
    follower = context.Process(target=_follow, args=(url, reports, stop), daemon=True)
    try:
        pupils = [a_pupil(f"L{n}", concerns=0) for n in range(50)]
        records.save(*pupils)
        follower.start()
        base = len(pupils)
        time.sleep(1.0)  # let the follower catch up with the set-up
        loaded = {p.id: records.get_pupil(p.id) for p in pupils}
        commits: list[tuple[float, int]] = []
        start, n = time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            pupil = loaded[pupils[n % len(pupils)].id]
            for _ in range(per_commit):
                add_concern(pupil, "steady load")
            records.save(pupil)
            n += 1
            commits.append((time.perf_counter(), base + n * per_commit))
            pause = start + n * per_commit / rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        achieved = n * per_commit / (time.perf_counter() - start)
        time.sleep(1.0)
    finally:
        stop.set()
        follower.join(10)
        records.close()
    issued: list[tuple[float, int]] = []
    while not reports.empty():
        issued.append(reports.get())
    delays = []
    for committed_at, size in commits:
        signed_at = next((t for t, s in issued if s >= size and t >= committed_at), None)
        if signed_at is not None:
            delays.append(signed_at - committed_at)
    delays.sort()
    return {
        "target_rate": rate,
        "achieved_rate": round(achieved),
        "entries_per_commit": per_commit,
        "commits": len(commits),
        "checkpoints": len(issued),
        "p50_ms": round(1000 * statistics.median(delays), 1),
        "p99_ms": round(1000 * delays[int(0.99 * (len(delays) - 1))], 1),
        "max_ms": round(1000 * delays[-1], 1),
        "unsigned": len(commits) - len(delays),
    }


def _follow(url: str, reports: Any, stop: Any) -> None:
    """The follower process: integrate, sign, report (time, size) of each checkpoint."""
    from sqlalchemy import BigInteger, Column, LargeBinary, MetaData, Table, Text
    from sqlalchemy.orm import Session
    from sqlalchemy_utils.types.uuid import UUIDType

    from projections.ledger import Ledger

    engine = create_engine(url)

    @contextmanager
    def transaction(commit: bool) -> Iterator[Session]:
        with Session(engine) as session, session.begin():
            yield session
            if not commit:
                session.rollback()

    # The library's own column types, so ids and states read back exactly as it wrote them.
    events = Table(
        "chronicle_events",
        MetaData(),
        Column("id", BigInteger, primary_key=True),
        Column("originator_id", UUIDType()),
        Column("originator_version", BigInteger),
        Column("topic", Text),
        Column("state", LargeBinary),
    )
    ledger = Ledger(
        engine=engine,
        transaction=transaction,
        recorder=None,  # type: ignore[arg-type]
        events_table=events,
        signing_key=Ed25519PrivateKey.generate(),
        journal=None,
    )

    def report(signed: Any) -> None:
        reports.put((time.perf_counter(), signed.checkpoint["size"]))

    LedgerFollower(ledger, interval=0.05, on_checkpoint=report).run(stop)


def proofs(url: str, sizes: list[int]) -> dict[str, Any]:
    """Build the node table for the largest size once, then time proofs at each size."""
    engine = create_engine(url)
    metadata.create_all(engine)
    with engine.begin() as conn:  # start from an empty tree
        conn.execute(text("DELETE FROM ledger_nodes"))
        conn.execute(text("DELETE FROM ledger_leaves"))
    largest = max(sizes)
    _build_nodes(engine, largest)
    ledger = _bare_ledger(engine)
    out: dict[str, Any] = {}
    for size in sizes:
        inclusion = _time_many(lambda s=size: ledger.inclusion_proof(secrets.randbelow(s), s))
        consistency = _time_many(
            lambda s=size: ledger.consistency_proof(1 + secrets.randbelow(s - 1), s)
        )
        out[str(size)] = {
            "inclusion_p50_ms": inclusion[0],
            "inclusion_p99_ms": inclusion[1],
            "consistency_p50_ms": consistency[0],
            "consistency_p99_ms": consistency[1],
        }
    engine.dispose()
    return out


def _bare_ledger(engine: Any) -> Any:
    from sqlalchemy.orm import Session

    from projections.ledger import Ledger

    @contextmanager
    def transaction(_commit: bool) -> Iterator[Session]:
        with Session(engine) as session:
            yield session

    return Ledger(
        engine=engine,
        transaction=transaction,
        recorder=None,  # type: ignore[arg-type]
        events_table=leaves,  # proofs never read events
        signing_key=None,
        journal=None,
    )


def _build_nodes(engine: Any, size: int, chunk: int = 200_000) -> None:
    """Leaves (random hashes, as integration would store them) and every complete subtree."""
    from sqlalchemy.orm import Session

    from crypto.merkle import frontier_keys

    frontier: dict[tuple[int, int], bytes] = {}
    done = 0
    while done < size:
        hashes = [os.urandom(32) for _ in range(min(chunk, size - done))]
        new = nodes_to_append(done, frontier, hashes)
        zero = bytes(32)
        with Session(engine) as session, session.begin():
            bulk_write(
                session,
                leaves,
                [
                    {
                        "log_index": i,
                        "notification_id": i + 1,
                        "pupil_id": uuid4(),
                        "seq": 1,
                        "type": "Bench",
                        "commitment": zero,
                        "prev": zero,
                        "leaf_hash": h,
                    }
                    for i, h in enumerate(hashes, start=done)
                ],
            )
            bulk_write(
                session, nodes, [{"level": lv, "idx": ix, "hash": h} for lv, ix, h in new if lv > 0]
            )
        known = frontier | {(lv, ix): h for lv, ix, h in new}
        done += len(hashes)
        frontier = {k: known[k] for k in frontier_keys(done)}


def _time_many(fn: Any, n: int = 300) -> tuple[float, float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return round(1000 * statistics.median(times), 3), round(1000 * times[int(0.99 * (n - 1))], 3)


def verification(url: str, events: int) -> dict[str, Any]:
    records = PupilRecords(database_url=url, ring=RING)
    try:
        ledger = build_ledger(records, Ed25519PrivateKey.generate(), None)
        pupil = a_pupil("Long", "History", concerns=0)
        records.save(pupil)
        for start in range(1, events, 500):
            loaded = records.get_pupil(pupil.id)
            for _ in range(min(500, events - start)):
                add_concern(loaded, "an entry in a long history")
            records.save(loaded)
        clerk = Recorder("bench", Role.TRIBUNAL)
        bundle = export_pupil(
            records, ledger, pupil.id, Disclosure("bench", "other", "bench", clerk)
        ).bundle
        timings = []
        for _ in range(5):
            start = time.perf_counter()
            verdict = verify_bundle(bundle)
            timings.append(time.perf_counter() - start)
            assert verdict.valid
        return {
            "events": len(bundle["events"]),
            "best_s": round(min(timings), 3),
            "median_s": round(statistics.median(timings), 3),
        }
    finally:
        records.close()


def run(quick: bool) -> dict[str, Any]:
    events, proof_sizes, verify_events = (
        (20_000, [10_000, 100_000], 2_000) if quick else (100_000, [1_000_000, 10_000_000], 10_000)
    )
    result: dict[str, Any] = {}
    with temporary_stores("ledger.db") as (sqlite_url, pg_url):
        for label, url in (("sqlite", sqlite_url), ("postgresql", pg_url)):
            result[label] = {
                "integration": integration(url, events),
                "latency": latency(url, rate=1000, seconds=5 if quick else 20),
            }
        for label, url in (
            ("sqlite", sqlite_url.replace("ledger.db", "proofs.db")),
            ("postgresql", pg_url),
        ):
            result[label]["proofs"] = proofs(url, proof_sizes)
        result["verify"] = verification(sqlite_url.replace("ledger.db", "verify.db"), verify_events)
    return result


def render(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"ledger benchmark — {m['date']}, {m['cpus']} CPUs, {m['platform']}, Python {m['python']}",
        "",
    ]
    for store in ("sqlite", "postgresql"):
        r = result[store]
        i, lat = r["integration"], r["latency"]
        lines.append(
            f"{store}: integration {i['leaves_per_s']:,} leaves/s ({i['leaves']:,} leaves "
            f"in {i['seconds']} s)"
        )
        lines.append(
            f"{store}: commit→checkpoint at {lat['achieved_rate']} commits/s: "
            f"p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms, max {lat['max_ms']} ms "
            f"({lat['commits']} commits, {lat['checkpoints']} checkpoints, "
            f"{lat['unsigned']} never signed)"
        )
        for size, p in r["proofs"].items():
            lines.append(
                f"{store}: proofs at {int(size):,} leaves: inclusion p50 "
                f"{p['inclusion_p50_ms']} ms / p99 {p['inclusion_p99_ms']} ms; consistency "
                f"p50 {p['consistency_p50_ms']} ms / p99 {p['consistency_p99_ms']} ms"
            )
    v = result["verify"]
    lines.append(
        f"offline verification of a {v['events']:,}-event export: best {v['best_s']} s, "
        f"median {v['median_s']} s"
    )
    return "\n".join(lines)
