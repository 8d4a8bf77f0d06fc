"""Which store errors mean "the database is unavailable right now" (503, Retry-After), and the
one log line such an answer gets. Shared by the HTTP API (api/http/hardening.py) and the web
pages (api/web/core.py); docs/api.md, "When the database is unavailable", is the contract.

503 (a retry, unchanged, can succeed once the database is back; nothing half-done is kept,
because every write is one transaction):

- any DB-API error SQLAlchemy recognised as a lost connection (`connection_invalidated`);
- the connection pool's own timeout (every connection busy for `pool_timeout`);
- on PostgreSQL (and any driver but SQLite), every `OperationalError` and `InterfaceError`:
  refused or dropped connections, a terminated backend, a database that does not exist or
  refuses connections, too many clients, a server shutting down or in recovery, a full disk,
  a statement cancelled, a serialization failure or deadlock;
- on SQLite, an `OperationalError` only when the file is busy or cannot be used just now:
  "database is locked" (another process held the write lock past the busy timeout), "database
  table is locked", "unable to open database file", "disk I/O error", "database or disk is
  full", "attempt to write a readonly database".

Anything else stays a 500 (a reference, nothing more): a SQLite "no such table" or a PostgreSQL
`ProgrammingError` (a missing relation, a wrong schema: retrying will not help), integrity
errors the application did not expect, a damaged SQLite file ("database disk image is
malformed" is a `DatabaseError`, not an `OperationalError`), every other exception.

Neither the answer nor the log names the error's message: a driver's message may hold the
statement and its parameters (ciphertext, ids, a token's hash) or, from SQLAlchemy, the SQL.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import Iterator

import sqlalchemy.exc

# Seconds a client is asked to wait (`Retry-After`): long enough for a restarted server or a
# failover to accept connections, short enough that a writer's retry is not a new session.
RETRY_AFTER_SECONDS = 2

SQLITE_UNAVAILABLE = (
    "database is locked",
    "database table is locked",
    "unable to open database file",
    "disk i/o error",
    "database or disk is full",
    "attempt to write a readonly database",
)


def _driver_errors() -> tuple[type[BaseException], ...]:
    """psycopg2's connection errors, as raised outside SQLAlchemy (a raw connection)."""
    try:
        import psycopg2  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - an installation on SQLite alone
        return ()
    return (psycopg2.OperationalError, psycopg2.InterfaceError)


_DRIVER_UNAVAILABLE = _driver_errors()


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, what it was raised from or during, and SQLAlchemy's `orig` of each."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        for nxt in (orig, current.__cause__, current.__context__):
            if isinstance(nxt, BaseException):
                pending.append(nxt)


def _sqlite_unavailable(exc: sqlite3.OperationalError) -> bool:
    message = str(exc.args[0] if exc.args else "").lower()
    return any(message.startswith(m) for m in SQLITE_UNAVAILABLE)


def unavailable_cause(exc: BaseException) -> BaseException | None:
    """The error in `exc`'s chain that makes it a "database unavailable" (see above)."""
    for e in _chain(exc):
        if isinstance(e, sqlalchemy.exc.DBAPIError) and e.connection_invalidated:
            return e
        if isinstance(e, sqlalchemy.exc.TimeoutError):  # the pool's, not a statement's
            return e
        if isinstance(e, sqlite3.OperationalError):
            if _sqlite_unavailable(e):
                return e
            continue
        if isinstance(e, _DRIVER_UNAVAILABLE):
            return e
        if isinstance(e, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
            orig = e.orig
            if not isinstance(orig, sqlite3.Error):
                return e
    return None


def database_unavailable(exc: BaseException) -> bool:
    return unavailable_cause(exc) is not None


def log_unavailable(log: logging.Logger, exc: BaseException, where: str) -> str:
    """Log one line (the driver's error type, `where`, a new reference; never a message, at
    any level); return the reference."""
    reference = uuid.uuid4().hex[:12]
    cause = unavailable_cause(exc) or exc
    cause = getattr(cause, "orig", None) or cause  # the driver's own error, if SQLAlchemy's
    log.error(
        "database unavailable (%s.%s) on %s (ref %s): answered 503",
        type(cause).__module__,
        type(cause).__qualname__,
        where,
        reference,
    )
    return reference


def unavailable_detail(reference: str) -> str:
    return (
        f"the database cannot be reached right now (reference {reference}): retry after "
        f"{RETRY_AFTER_SECONDS} seconds. A write answered 503 may or may not have been saved: "
        "send it again with the same Idempotency-Key (and If-Match), which never writes twice; "
        "if it persists, tell the trust's admin the reference"
    )
