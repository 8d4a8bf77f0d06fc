"""Throw-away stores for benchmarks: a SQLite file and a PostgreSQL database, both removed
afterwards, and one KEK ring for every store a benchmark process opens."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

from crypto.kek import InMemoryKekRing

RING = InMemoryKekRing()
PG_ADMIN = os.environ.get(
    "CHRONICLE_BENCH_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def temporary_stores(sqlite_name: str = "bench.db") -> Iterator[tuple[str, str]]:
    """(SQLite URL, PostgreSQL URL) of two empty stores, dropped on exit."""
    with tempfile.TemporaryDirectory() as tmp:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        name = f"chronicle_bench_{secrets.token_hex(4)}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield f"sqlite:///{tmp}/{sqlite_name}", PG_ADMIN.rsplit("/", 1)[0] + "/" + name
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            admin.dispose()
