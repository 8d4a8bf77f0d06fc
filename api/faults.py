"""Faults of the machine (a full disk, a read-only or damaged file, a lost database) told to
an operator in one line: what happened, where, and what to do (docs/operations.md,
"Recovery runbook").

Messages name paths and the database's display URL, never SQL, parameters or anything a
request carried: a database driver's message is reduced to its first line and classified,
and only a known class's own wording is shown.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import sqlalchemy.exc
from eventsourcing import persistence

RUNBOOK = "docs/operations.md, Recovery runbook"

# SQLite's own words (sqlite3.OperationalError / DatabaseError), in the order they are tried.
_SQLITE = (
    (
        ("database or disk is full",),
        "could not be written: its disk is full. Free space on its file system (`df -h "
        "{where}`), then run the command again; SQLite rolled the transaction back, so "
        "nothing was half-written",
    ),
    (
        ("disk i/o error",),
        "could not be read or written (disk I/O error: the disk may be full, or failing): "
        "free space on its file system (`df -h {where}`), check the system log, then run the "
        "command again; SQLite rolled the transaction back, so nothing was half-written",
    ),
    (
        ("attempt to write a readonly database", "readonly database"),
        "is read-only (a read-only mount, or the file's owner or mode): make it writable by "
        "the service's user, then run the command again; nothing was written",
    ),
    (
        ("database disk image is malformed", "file is not a database"),
        "is damaged: stop the service and restore the database from the latest backup ("
        + RUNBOOK
        + ", Damaged database); nothing more was written",
    ),
    (
        ("unable to open database file",),
        "cannot be opened: check that its folder exists and the service's user may read and "
        "write it (and its -wal and -shm files)",
    ),
    (
        ("database is locked",),
        "is locked by another process for longer than the wait allowed: try again; if it "
        "lasts, find the process holding it (`fuser`)",
    ),
)

# PostgreSQL SQLSTATE classes a driver error may carry.
_PG_DISK_FULL = "53100"
_PG_OUT_OF_RESOURCES = "53"


def explain_os_error(e: OSError) -> str:
    """One line for a failed file operation: the path, the system's reason, what to do."""
    where = e.filename if e.filename is not None else "$CHRONICLE_HOME"
    if e.errno == errno.ENOSPC or e.errno == errno.EDQUOT:
        return (
            f"no space left on the device holding {where}: free space there (`df -h "
            f"{_folder(where)}`), then run the command again ({RUNBOOK}, Full disk)"
        )
    if e.errno == errno.EROFS:
        return f"{where} is on a read-only file system: remount it read-write, then run again"
    if e.errno in (errno.EACCES, errno.EPERM):
        return (
            f"permission denied on {where}: the service's user must own CHRONICLE_HOME and "
            "everything in it (`chown -R`), then run again"
        )
    if e.errno == errno.EIO:
        return (
            f"input/output error on {where}: the disk may be failing; check the system log "
            f"before going on ({RUNBOOK})"
        )
    reason = e.strerror or type(e).__name__
    return f"{where}: {reason}"


def explain_database_error(e: BaseException, database: str) -> str | None:
    """One line for a database fault the operator can act on, or None when the error is not
    one of those (then it is a bug, not a fault of the machine)."""
    orig = _root(e)
    text = _first_line(orig).lower()
    for needles, advice in _SQLITE:
        if any(needle in text for needle in needles):
            return f"the database at {database} " + advice.format(where=_where(database))
    code = getattr(orig, "pgcode", None)
    if isinstance(code, str) and code == _PG_DISK_FULL:
        return (
            f"the PostgreSQL server of {database} has no disk space left: free space on the "
            "server's data directory, then run again; the transaction was rolled back"
        )
    if isinstance(code, str) and code.startswith(_PG_OUT_OF_RESOURCES):
        return (
            f"the PostgreSQL server of {database} is out of resources (SQLSTATE {code}): "
            "see its log, then run again; the transaction was rolled back"
        )
    if isinstance(e, _CONNECTION_ERRORS):
        return (
            f"cannot reach the database at {database}: {_first_line(orig)}. Check "
            "CHRONICLE_DATABASE_URL and that the server is running"
        )
    return None


_CONNECTION_ERRORS = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    persistence.OperationalError,
    persistence.InterfaceError,
)
# Errors `explain_database_error` may turn into one line.
DATABASE_ERRORS = (
    sqlalchemy.exc.DBAPIError,
    persistence.PersistenceError,
)


def _root(e: BaseException) -> BaseException:
    """The driver's own error under the wrappers (eventsourcing's, then SQLAlchemy's)."""
    seen = {id(e)}
    while True:
        inner = getattr(e, "orig", None) or e.__cause__
        if not isinstance(inner, BaseException) or id(inner) in seen:
            return e
        seen.add(id(inner))
        e = inner


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def _where(database: str) -> str:
    if database.startswith("sqlite:///"):
        return os.path.dirname(database.removeprefix("sqlite:///")) or "."
    return "the server's data directory"


def _folder(where: object) -> str:
    if str(where).startswith("$"):
        return str(where)
    path = Path(str(where))
    return str(path.parent if path.suffix or not path.is_dir() else path)
