"""A database that cannot be reached is a 503 with Retry-After on the API and the web pages,
logged in one line without the error's message; every other store error stays a 500.

In-process (the live server and real PostgreSQL outages: tests/e2e/test_connection_loss.py):
routes that raise the errors SQLAlchemy raises, with SQL parameters that must never be
logged or answered; which error is which is api/unavailable.py's table, tested here too.
"""

from __future__ import annotations

import logging
import re
import sqlite3

import psycopg2
import pytest
import sqlalchemy.exc
from eventsourcing import persistence
from fastapi import FastAPI, Request
from fastapi.responses import Response

from api.unavailable import RETRY_AFTER_SECONDS, database_unavailable
from api.web.core import guarded
from tests.http.conftest import Api

SECRET = "s3cr3t-Ravenscroft-41c2"
STATEMENT = "INSERT INTO http_idempotency (key, body) VALUES (%(key)s, %(body)s)"


def _dbapi(kind: type[sqlalchemy.exc.DBAPIError], orig: Exception, **kw: bool) -> Exception:
    return kind(STATEMENT, {"key": SECRET, "body": SECRET}, orig, **kw)


def _locked() -> Exception:
    return _dbapi(sqlalchemy.exc.OperationalError, sqlite3.OperationalError("database is locked"))


def _terminated() -> Exception:
    orig = psycopg2.OperationalError(
        f"terminating connection due to administrator command\nDETAIL: key={SECRET}"
    )
    error = _dbapi(sqlalchemy.exc.OperationalError, orig, connection_invalidated=True)
    try:  # as eventsourcing's transaction re-raises it
        raise persistence.OperationalError(error) from error
    except persistence.OperationalError as wrapped:
        return wrapped


CASES = {
    # name: (the error, 503?)
    "sqlite locked": (_locked, True),
    "sqlite unable to open": (
        lambda: _dbapi(
            sqlalchemy.exc.OperationalError,
            sqlite3.OperationalError("unable to open database file"),
        ),
        True,
    ),
    "sqlite disk I/O": (
        lambda: _dbapi(sqlalchemy.exc.OperationalError, sqlite3.OperationalError("disk I/O error")),
        True,
    ),
    "sqlite no such table": (
        lambda: _dbapi(
            sqlalchemy.exc.OperationalError, sqlite3.OperationalError("no such table: x")
        ),
        False,
    ),
    "sqlite malformed": (
        lambda: _dbapi(
            sqlalchemy.exc.DatabaseError, sqlite3.DatabaseError("database disk image is malformed")
        ),
        False,
    ),
    "postgres backend terminated": (_terminated, True),
    "postgres refused": (
        lambda: _dbapi(
            sqlalchemy.exc.OperationalError,
            psycopg2.OperationalError('connection to server at "127.0.0.1" failed'),
        ),
        True,
    ),
    "postgres connection closed": (
        lambda: _dbapi(
            sqlalchemy.exc.InterfaceError, psycopg2.InterfaceError("connection already closed")
        ),
        True,
    ),
    "raw psycopg2": (lambda: psycopg2.OperationalError("server closed the connection"), True),
    "invalidated, any class": (
        lambda: _dbapi(
            sqlalchemy.exc.DatabaseError, Exception("gone"), connection_invalidated=True
        ),
        True,
    ),
    "pool timeout": (lambda: sqlalchemy.exc.TimeoutError("QueuePool limit reached"), True),
    "postgres missing relation": (
        lambda: _dbapi(sqlalchemy.exc.ProgrammingError, psycopg2.ProgrammingError("no relation")),
        False,
    ),
    "integrity": (
        lambda: _dbapi(sqlalchemy.exc.IntegrityError, psycopg2.IntegrityError("duplicate")),
        False,
    ),
    "not a store error": (lambda: KeyError(SECRET), False),
}


@pytest.mark.parametrize("name", list(CASES))
def test_which_store_errors_are_database_unavailable(name: str) -> None:
    make, expected = CASES[name]
    assert database_unavailable(make()) is expected


def _add_failing_routes(app: FastAPI, make: object) -> None:
    assert callable(make)

    def api_route(thing: str) -> Response:
        raise make()

    app.add_api_route("/test-down/{thing}", api_route, methods=["GET"], include_in_schema=False)

    @guarded(app.state.web)
    def page(request: Request, thing: str) -> Response:
        raise make()

    app.add_api_route("/ui/test-down/{thing}", page, methods=["GET"], include_in_schema=False)


def _service_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("chronicle")]


@pytest.mark.parametrize("make", [_locked, _terminated], ids=["sqlite-locked", "pg-terminated"])
def test_the_api_answers_503_with_retry_after_and_logs_one_line(
    api: Api, caplog: pytest.LogCaptureFixture, make: object
) -> None:
    app = api.client.app
    assert isinstance(app, FastAPI)
    _add_failing_routes(app, make)
    caplog.set_level(logging.DEBUG)
    got = api.client.get("/test-down/Ravenscroft")
    assert got.status_code == 503, got.text
    assert got.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert got.headers.get("connection") != "close"
    body = got.json()
    assert body["error"] == "database_unavailable"
    reference = re.search(r"reference ([0-9a-f]{12})", body["detail"])
    assert reference is not None and "Idempotency-Key" in body["detail"]
    assert SECRET not in got.text and "INSERT" not in got.text
    (line,) = _service_lines(caplog)
    text = line.getMessage()
    assert "database unavailable" in text and reference.group(1) in text
    assert "test-down/{thing}" in text and "Ravenscroft" not in text
    assert line.exc_info is None and "\n" not in text
    assert SECRET not in caplog.text and "INSERT" not in caplog.text


def test_a_web_page_answers_a_503_page_with_a_reference(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    app = api.client.app
    assert isinstance(app, FastAPI)
    _add_failing_routes(app, _terminated)
    caplog.set_level(logging.DEBUG)
    got = api.client.get("/ui/test-down/Ravenscroft")
    assert got.status_code == 503
    assert got.headers["content-type"].startswith("text/html")
    assert got.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    reference = re.search(r"reference ([0-9a-f]{12})", got.text)
    assert reference is not None and "Database unavailable" in got.text
    assert SECRET not in got.text and "Ravenscroft" not in got.text
    (line,) = _service_lines(caplog)
    assert reference.group(1) in line.getMessage() and "web GET" in line.getMessage()
    assert SECRET not in caplog.text


def test_a_store_error_that_is_not_an_outage_stays_a_500(api: Api) -> None:
    app = api.client.app
    assert isinstance(app, FastAPI)
    _add_failing_routes(app, CASES["sqlite no such table"][0])
    got = api.client.get("/test-down/x")
    assert got.status_code == 500 and got.json()["error"] == "internal_error"
    assert "Retry-After" not in got.headers
    assert api.client.get("/ui/test-down/x").status_code == 500
