"""Shared fixtures: every store test runs on SQLite and on the real PostgreSQL server.

PostgreSQL tests create their own database for the session and a schema per test, and
drop both. If the server is unreachable they fail (never skip): CI must not go green
without them. Deselect them knowingly with `-m "not postgres"` on a laptop without one.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from api.application import PupilRecords
from crypto.kek import InMemoryKekRing, KekRing

PG_ADMIN_URL = os.environ.get(
    "CHRONICLE_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)


@dataclass(frozen=True)
class Store:
    """Where one test's events live."""

    kind: str  # "sqlite" or "postgresql"
    url: str
    sqlite_path: Path | None = None
    database: str | None = None
    schema: str | None = None


def _admin_engine(url: str) -> Engine:
    return create_engine(url, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    engine = _admin_engine(PG_ADMIN_URL)
    try:
        conn = engine.connect()
    except Exception as e:  # any failure to connect is the same failure
        pytest.fail(
            f"PostgreSQL is unreachable at {PG_ADMIN_URL} ({type(e).__name__}). Start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, "
            "or deselect with -m 'not postgres'",
            pytrace=False,
        )
    name = f"chronicle_test_{os.getpid()}_{secrets.token_hex(3)}"
    conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.close()
        engine.dispose()


STORES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
# With the in-memory store too: for the store's contract tests and the use-case tests (a
# module opts in by overriding `store` with `params=STORES_AND_MEMORY`).
STORES_AND_MEMORY = [*STORES, "memory"]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store of each kind: a SQLite file, or a fresh PostgreSQL schema."""
    yield from make_store(request, tmp_path)


def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The store named by `request.param`: "sqlite" (a file), "postgresql" (a fresh schema
    of the session's database) or "memory" (SQLite's in-memory database, shared by every
    connection of this process that names it: nothing is written to disk)."""
    if request.param == "memory":
        name = f"chronicle_{secrets.token_hex(6)}"
        yield Store("memory", f"sqlite:///file:{name}?mode=memory&cache=shared&uri=true")
        return
    if request.param == "sqlite":
        path = tmp_path / "chronicle.db"
        yield Store("sqlite", f"sqlite:///{path}", sqlite_path=path)
        return
    database = request.getfixturevalue("pg_database")
    schema = "t_" + secrets.token_hex(6)
    engine = _admin_engine(database)
    with engine.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield Store(
            "postgresql",
            f"{database}?options=-csearch_path%3D{schema}",
            database=database,
            schema=schema,
        )
    finally:
        with engine.connect() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        engine.dispose()


OpenRecords = Callable[..., PupilRecords]


@pytest.fixture
def open_records(store: Store) -> Iterator[OpenRecords]:
    """Open `PupilRecords` on this test's store (closed at teardown)."""
    opened: list[PupilRecords] = []
    default_ring = InMemoryKekRing()

    def _open(ring: KekRing | None = None) -> PupilRecords:
        app = PupilRecords(database_url=store.url, ring=ring or default_ring)
        opened.append(app)
        return app

    yield _open
    for app in opened:
        app.close()


@pytest.fixture
def records(open_records: OpenRecords) -> PupilRecords:
    return open_records()


def count_decryptions(records: PupilRecords, monkeypatch: pytest.MonkeyPatch) -> list[StoredEvent]:
    """Every stored event `records` decrypts from now on (until the test ends), in order."""
    opened: list[StoredEvent] = []
    committed = records.sealing_mapper.committed

    def counting(stored: StoredEvent) -> Any:
        opened.append(stored)
        return committed(stored)

    monkeypatch.setattr(records.sealing_mapper, "committed", counting)
    return opened
