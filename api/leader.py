"""One ledger follower and one projection follower across every server process.

`chronicle serve --workers N` runs N processes over one PostgreSQL database. Each would
otherwise run its own followers (api/http/app.py): N processes integrating, signing and
projecting the same events (correct, since integration takes a transaction-level advisory
lock and projection positions are compare-and-set, but N times the work and N signers).
Instead each process holds a `FollowerLease`: whichever process takes a PostgreSQL
session-level advisory lock (`pg_try_advisory_lock`) on a connection of its own runs the
followers; the others try again every `retry` seconds. When the holder dies its connection
closes, the server releases the lock, and another process takes over within about a
second. The holder checks its connection every `retry` seconds too, and stops following at
once if it has lost it (the server may already have given the lock to another process).

The lock key is (CHR3, hashtext(current_schema())): one lease per installation, even when
several share a database in different schemas. `holders(engine)` names the OS process
holding it (its connection's application_name), for operators and tests.

On SQLite (one process only: `chronicle serve` refuses more) the lease is taken at once,
with no lock.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

log = logging.getLogger("chronicle.leader")

LEASE_KEY = 0x43485233  # "CHR3" (the ledger's transaction lock is CHR1, the runner's CHR2)
RETRY_SECONDS = 1.0
APPLICATION_NAME = "chronicle-followers"
_TRY = text("SELECT pg_try_advisory_lock(:key, hashtext(current_schema()))")
# The server notices a vanished holder (a crashed host, a cut network) within about
# idle + interval * count seconds and releases its lock; the holder notices a dead
# connection as quickly (libpq's own keepalives and tcp_user_timeout).
_KEEPALIVE = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
}
_SERVER_KEEPALIVE = (
    "SET tcp_keepalives_idle = 5",
    "SET tcp_keepalives_interval = 2",
    "SET tcp_keepalives_count = 3",
    "SET tcp_user_timeout = 10000",
)

# Starts the followers; returns how to stop them.
StartFollowers = Callable[[], Callable[[], None]]


class FollowerLease:
    """Runs `start_followers` in this process while it holds the installation's follower
    lock (PostgreSQL), or at once (SQLite); stops them when the lock is lost or on `stop`."""

    def __init__(
        self, engine: Engine, start_followers: StartFollowers, retry: float = RETRY_SECONDS
    ) -> None:
        self._engine, self._start_followers, self.retry = engine, start_followers, retry
        self._postgres = engine.dialect.name == "postgresql"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stop_followers: Callable[[], None] | None = None
        self._conn: Connection | None = None
        self._lease_engine: Engine | None = None
        self.error: Exception | None = None

    @property
    def leading(self) -> bool:
        """Whether this process runs the followers now."""
        return self._stop_followers is not None

    def start(self) -> FollowerLease:
        """Take the lease if it is free (before returning, so a lone server follows from its
        first request), and keep trying in the background if it is not."""
        if not self._postgres:
            self._lead()
            return self
        self._attempt()
        self._thread = threading.Thread(target=self._run, name="follower-lease", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop following and give the lease up (another process takes it within `retry`)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._follow_no_more()
        self._drop_connection()
        if self._lease_engine is not None:
            self._lease_engine.dispose()

    # ----- the loop ---------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(self.retry):
            self._attempt()

    def _attempt(self) -> None:
        """One step: check the held lock, or try to take it."""
        try:
            if self.leading:
                assert self._conn is not None
                self._conn.execute(text("SELECT 1"))
                return
            conn = self._connection()
            if conn.execute(_TRY, {"key": LEASE_KEY}).scalar():
                self._lead()
            self.error = None
        except Exception as e:  # a lost connection or an unreachable server: try again
            if self.error is None or self.leading:
                # One line, the type only: a driver's message may name the database's host.
                log.warning(
                    "follower lock: %s; trying again every %s s", type(e).__name__, self.retry
                )
            self.error = e
            self._follow_no_more()
            self._drop_connection()

    def _lead(self) -> None:
        self._stop_followers = self._start_followers()
        log.info("process %s runs the ledger and projection followers", os.getpid())

    def _follow_no_more(self) -> None:
        stop, self._stop_followers = self._stop_followers, None
        if stop is not None:
            stop()
            log.info("process %s no longer runs the followers", os.getpid())

    def _connection(self) -> Connection:
        if self._conn is None:
            if self._lease_engine is None:
                # Its own engine with no pool: closing the connection really closes it (and
                # so releases the lock); never a connection another request could use.
                self._lease_engine = create_engine(
                    self._engine.url,
                    poolclass=NullPool,
                    isolation_level="AUTOCOMMIT",
                    connect_args={
                        **_KEEPALIVE,
                        "connect_timeout": 5,
                        "application_name": f"{APPLICATION_NAME} pid={os.getpid()}",
                    },
                )
            conn = self._lease_engine.connect()
            for statement in _SERVER_KEEPALIVE:
                conn.execute(text(statement))
            self._conn = conn
        return self._conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()  # releases the lock, if the server still had it
            except Exception:  # already gone
                conn.invalidate()


def holders(engine: Engine) -> list[int]:
    """The OS process ids holding this installation's follower lock (PostgreSQL; one at
    most): from the application_name of the connection holding it."""
    with engine.connect() as conn:
        names = conn.execute(
            text(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
                "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                "AND l.classid = :key AND l.objsubid = 2 "
                "AND l.objid = (hashtext(current_schema()))::oid "
                "AND l.database = (SELECT oid FROM pg_database "
                "WHERE datname = current_database())"
            ),
            {"key": LEASE_KEY},
        ).scalars()
        return sorted(int(n.rsplit("=", 1)[1]) for n in names if n and "pid=" in n)
