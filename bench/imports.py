"""The MIS import: 10,000 pupils from a CSV export and from a CTF, on SQLite and PostgreSQL.

Each import is timed end to end through the use case (read the file, validate every row,
decide the entries, save in batches of 500 with the UPN claims), then the same file again
(nothing to write). "Plain append" is the store benchmark's plain eventsourcing-sqlalchemy
application (no encryption) saving the same number of pupils with the same number of
events, 500 pupils per save, in the same run on the same database: the ratio says what the
import costs over the library's own append. Then 100,000 SEN history rows (ten for each
pupil, one in five a CPOMS pointer) through the history import, and the same file again,
against a plain append of ten events per pupil.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.academies import Academies
from api.app.caller import Caller
from api.application import PupilRecords
from api.bootstrap import assemble, build_ledger
from api.imports.ctf import CTF, ctf_rows
from api.imports.history import HISTORY_FIELDS, HISTORY_TEMPLATE
from api.imports.mappings import CHRONICLE
from api.imports.sources import csv_rows
from bench.store import PlainRecords
from bench.stores import RING, temporary_stores
from domain.values import NeedType, Role
from tests.factories import a_pupil
from tests.imports.fixtures import (
    FakePupil,
    csv_bytes,
    ctf_bytes,
    history_bytes,
    history_rows,
    pupils,
)

ADMIN = Caller("bench-admin", Role.TRUST_ADMIN)
HISTORY_PER_PUPIL = 10
NEEDS = [n.value for n in NeedType if n is not NeedType.NSA]


def _made(n: int, start: int) -> list[FakePupil]:
    """n pupils, one in five on SEN support with two needs (three events instead of one)."""
    made = pupils(n, start=start)
    for i in range(0, n, 5):
        made[i] = replace(
            made[i], provision="K", needs=(NEEDS[i % 11], NEEDS[(i + 1) % 11]),
            sen_start=date(2024, 9, 4),
        )  # fmt: skip
    return made


def _events(made: list[FakePupil]) -> int:
    return sum(1 + (3 if p.provision == "K" else 0) for p in made)


def _plain_append(url: str, n: int, events_per_pupil: float) -> tuple[float, int]:
    """Seconds for the library alone to append n pupils (about as many events each), 500
    per save, and the events appended."""
    plain = PlainRecords(
        env={"PERSISTENCE_MODULE": "eventsourcing_sqlalchemy", "SQLALCHEMY_URL": url}
    )
    try:
        extra = round(events_per_pupil) - 1
        batch: list[Any] = []
        start = time.perf_counter()
        for _ in range(n):
            p = a_pupil("Bench", "Pupil", pupil_id=uuid4(), concerns=extra)
            batch.append(p)
            if len(batch) == 500:
                plain.save(*batch)
                batch = []
        if batch:
            plain.save(*batch)
        return time.perf_counter() - start, n * (1 + extra)
    finally:
        plain.close()


def _one_store(url: str, n: int) -> dict[str, Any]:
    records = PupilRecords(database_url=url, ring=RING)
    try:
        Academies(records.datastore.engine).add(
            "OAK", "Oakfield", datetime.now(UTC), dfe_number="873/2041"
        )
        app = assemble(records, build_ledger(records, Ed25519PrivateKey.generate(), None))
        found: dict[str, Any] = {}
        for kind, start in (("csv", 0), ("ctf", 50_000)):
            made = [replace(p, academy="OAK") for p in _made(n, start)]
            data = csv_bytes(made, CHRONICLE) if kind == "csv" else ctf_bytes(made)
            events = _events(made)
            for attempt in ("first", "again"):
                begin = time.perf_counter()
                if kind == "csv":
                    rows, encoding = csv_rows(data, CHRONICLE)
                    mapping = CHRONICLE
                else:
                    rows, encoding = ctf_rows(data)
                    mapping = CTF
                report = app.imports.pupils(ADMIN, rows, mapping, encoding=encoding)
                seconds = time.perf_counter() - begin
                assert not report.refused, report.refused[:3]
                written = sum(report.entries.values())
                assert written == (events if attempt == "first" else 0), (written, events)
                found[f"{kind}_{attempt}_s"] = round(seconds, 2)
                if attempt == "first":
                    found[f"{kind}_events"] = events
                    found[f"{kind}_events_per_s"] = round(events / seconds)
        found |= _history(app, [p.upn for p in _made(n, 0)])
        plain_s, plain_events = _plain_append(url, n, HISTORY_PER_PUPIL)
        found["history_plain_events_per_s"] = round(plain_events / plain_s)
        found["history_ratio_to_plain"] = round(
            found["history_events_per_s"] / found["history_plain_events_per_s"], 2
        )
        plain_s, plain_events = _plain_append(url, n, _events(_made(n, 0)) / n)
        found["plain_append_s"] = round(plain_s, 2)
        found["plain_events_per_s"] = round(plain_events / plain_s)
        found["csv_ratio_to_plain"] = round(
            found["csv_events_per_s"] / found["plain_events_per_s"], 2
        )
        found["ctf_ratio_to_plain"] = round(
            found["ctf_events_per_s"] / found["plain_events_per_s"], 2
        )
        return found
    finally:
        records.close()


def _history(app: Any, upns: list[str]) -> dict[str, Any]:
    """The history import of HISTORY_PER_PUPIL rows per pupil, then the same file again."""
    data = history_bytes(history_rows(upns, HISTORY_PER_PUPIL))
    found: dict[str, Any] = {"history_rows": len(upns) * HISTORY_PER_PUPIL}
    for attempt in ("first", "again"):
        begin = time.perf_counter()
        f = HISTORY_FIELDS
        rows, encoding = csv_rows(data, HISTORY_TEMPLATE, f.names, f.required)
        report = app.history.history(
            ADMIN, rows, HISTORY_TEMPLATE, source="Provision Map", encoding=encoding
        )
        seconds = time.perf_counter() - begin
        assert not report.refused, report.refused[:3]
        written = sum(report.entries.values())
        assert written == (found["history_rows"] if attempt == "first" else 0), written
        found[f"history_{attempt}_s"] = round(seconds, 2)
    found["history_events_per_s"] = round(found["history_rows"] / found["history_first_s"])
    return found


def run(quick: bool) -> dict[str, Any]:
    n = 500 if quick else 10_000
    with temporary_stores("imports.db") as (sqlite_url, pg_url):
        return {
            "pupils": n,
            "stores": {"sqlite": _one_store(sqlite_url, n), "postgresql": _one_store(pg_url, n)},
        }


def render(result: dict[str, Any]) -> str:
    lines = [
        f"Import of {result['pupils']:,} pupils (one in five on SEN support: 4 events, else 1), "
        f"{result['machine']['date']}, {result['machine']['cpus']} CPUs",
        "",
        "| store | file | first import | events/s | again (no change) | plain append events/s "
        "| ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for store, r in result["stores"].items():
        for kind in ("csv", "ctf"):
            lines.append(
                f"| {store} | {kind} | {r[f'{kind}_first_s']} s | {r[f'{kind}_events_per_s']:,} | "
                f"{r[f'{kind}_again_s']} s | {r['plain_events_per_s']:,} | "
                f"{r[f'{kind}_ratio_to_plain']} |"
            )
    history = next(iter(result["stores"].values())).get("history_rows")
    if history:
        lines += [
            "",
            f"History import of {history:,} rows ({HISTORY_PER_PUPIL} per pupil, one in five a "
            "CPOMS pointer)",
            "",
            "| store | first import | entries/s | again (no change) | plain append events/s "
            "| ratio |",
            "|---|---|---|---|---|---|",
        ]
        for store, r in result["stores"].items():
            lines.append(
                f"| {store} | {r['history_first_s']} s | {r['history_events_per_s']:,} | "
                f"{r['history_again_s']} s | {r['history_plain_events_per_s']:,} | "
                f"{r['history_ratio_to_plain']} |"
            )
    return "\n".join(lines)
