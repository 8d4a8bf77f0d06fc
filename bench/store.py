"""Append and read throughput of Chronicle against plain eventsourcing-sqlalchemy.

Both applications store the same `Pupil` aggregate and events, on the same database, in the
same run, interleaved in blocks of 50 pupils (the order swapped every block) so that neither
gets a warmer cache, a quieter disk or a less loaded CPU; the ratio reported is the median of
the rounds' ratios (each round's two totals measured side by side). "Plain"
is the library's own `Mapper` with its JSON transcoder (no encryption, no commitments, no
key store); "Chronicle" is `PupilRecords` (JCS payload, SHA-256 commitment, AES-256-GCM
under a per-pupil key created, wrapped and stored with the pupil's first event).
"""

from __future__ import annotations

import os
import secrets
import statistics
import tempfile
import time
from datetime import date
from enum import Enum
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder, Transcoding
from sqlalchemy import create_engine, text

from api.application import PupilRecords
from crypto.kek import InMemoryKekRing
from domain import values
from domain.values import Recorder
from tests.factories import a_pupil, add_concern

PG_ADMIN = os.environ.get(
    "CHRONICLE_BENCH_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)


class _DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class _RecorderAsDict(Transcoding):
    type = Recorder
    name = "recorder"

    def encode(self, obj: Recorder) -> dict[str, str]:
        return {"staff_id": obj.staff_id, "role": obj.role.value}

    def decode(self, data: dict[str, str]) -> Recorder:
        return Recorder(data["staff_id"], values.Role(data["role"]))


def _enum_transcoding(enum: type[Enum]) -> Transcoding:
    class _EnumByValue(Transcoding):
        type = enum
        name = f"enum_{enum.__name__}"

        def encode(self, obj: Enum) -> str:
            return str(obj.value)

        def decode(self, data: str) -> Enum:
            return enum(data)

    return _EnumByValue()


class PlainRecords(Application[UUID]):
    """The library as it comes: JSON transcoder, no cipher."""

    name = "plain"

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(_DateAsISO())
        transcoder.register(_RecorderAsDict())
        for enum in (values.Role, values.ConcernSource, values.RegisterStatus, values.NeedType):
            transcoder.register(_enum_transcoding(enum))


def _pupils(n: int, events_per_pupil: int) -> list[Any]:
    pupils = []
    for _ in range(n):
        p = a_pupil("Bench", "Pupil", pupil_id=uuid4(), concerns=0)
        for k in range(events_per_pupil - 1):
            add_concern(p, f"Concern number {k}: reads below age, loses place in multi-step tasks")
        pupils.append(p)
    return pupils


def _append(app: Application[UUID], pupils: list[Any]) -> float:
    start = time.perf_counter()
    for p in pupils:
        app.save(p)
    return time.perf_counter() - start


def _read(app: Application[UUID], ids: list[UUID]) -> float:
    start = time.perf_counter()
    for pupil_id in ids:
        app.repository.get(pupil_id)
    return time.perf_counter() - start


_OPS = ("append", "read_warm", "read_cold")


def _one_store(url: str, pupils_n: int, per: int, rounds: int, block: int) -> dict[str, Any]:
    """Both applications, interleaved block by block (`block` pupils at a time, the order
    swapped each block), so that both see the same machine load; each round's ratio is
    taken between the two applications' totals in that round."""
    plain = PlainRecords(
        env={"PERSISTENCE_MODULE": "eventsourcing_sqlalchemy", "SQLALCHEMY_URL": url}
    )
    chronicle = PupilRecords(database_url=url, ring=InMemoryKekRing())
    apps: list[tuple[str, Application[UUID]]] = [("plain", plain), ("chronicle", chronicle)]
    best: dict[str, float] = {}
    ratios: dict[str, list[float]] = {op: [] for op in _OPS}
    events = pupils_n * per
    for r in range(rounds):
        batches = {label: _pupils(pupils_n, per) for label, _ in apps}
        seconds = {(label, op): 0.0 for label, _ in apps for op in _OPS}
        for op in _OPS:
            for i, first in enumerate(range(0, pupils_n, block)):
                for label, app in apps if (i + r) % 2 == 0 else apps[::-1]:
                    chunk = batches[label][first : first + block]
                    ids = [p.id for p in chunk]
                    if op == "append":
                        seconds[label, op] += _append(app, chunk)
                        continue
                    if op == "read_cold" and isinstance(app, PupilRecords):
                        for pupil_id in ids:
                            app.data_keys.forget(pupil_id)
                    seconds[label, op] += _read(app, ids)
        for op in _OPS:
            for label, _ in apps:
                key = f"{label}_{op}"
                best[key] = max(best.get(key, 0.0), events / seconds[label, op])
            ratios[op].append(seconds["plain", op] / seconds["chronicle", op])
    plain.close()
    chronicle.close()
    out: dict[str, Any] = {k: round(v) for k, v in best.items()}
    for op in _OPS:
        out[f"ratio_{op}"] = round(statistics.median(ratios[op]), 3)
        out[f"ratios_{op}"] = [round(x, 3) for x in ratios[op]]
    return out


def run(quick: bool) -> dict[str, Any]:
    pupils_n, per, rounds = (200, 10, 2) if quick else (2000, 10, 3)
    rounds = int(os.environ.get("CHRONICLE_BENCH_ROUNDS", rounds))
    block = 50
    results: dict[str, Any] = {
        "pupils": pupils_n,
        "events_per_pupil": per,
        "rounds": rounds,
        "block": block,
    }
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = _one_store(f"sqlite:///{tmp}/bench.db", pupils_n, per, rounds, block)
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"chronicle_bench_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
        results["postgresql"] = _one_store(url, pupils_n, per, rounds, block)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
    return results


def render(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"store benchmark — {m['date']}, {m['cpus']} CPUs, {m['platform']}, Python {m['python']}",
        f"{result['pupils']} pupils x {result['events_per_pupil']} events, one save per pupil, "
        f"{result['rounds']} rounds interleaved in blocks of {result['block']} pupils; "
        "events/s best of the rounds, ratio the median of the rounds' ratios",
        "",
        "| store | operation | plain | Chronicle | ratio | each round |",
        "|---|---|---:|---:|---:|---|",
    ]
    for store in ("sqlite", "postgresql"):
        r = result[store]
        for op, label in (
            ("append", "append"),
            ("read_warm", "read (key cached)"),
            ("read_cold", "read (key unwrapped)"),
        ):
            lines.append(
                f"| {store} | {label} | {r[f'plain_{op}']:,} | {r[f'chronicle_{op}']:,} | "
                f"{r[f'ratio_{op}']:.2f} | {' '.join(f'{x:.2f}' for x in r[f'ratios_{op}'])} |"
            )
    return "\n".join(lines)
