"""Web sessions in the database (api/web/sessions.py), on SQLite and PostgreSQL: no token in
the table, sign-out, revocation and expiry end the row, and a web write is read by the same
person through another worker (another app on the same database, no follower) because the
session carries the write's position."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from api.bootstrap import assemble, build_ledger
from api.http import create_app
from api.users import Users, api_users, token_hash
from api.web.sessions import COOKIE, IDLE, LIFETIME, web_sessions
from crypto.kek import InMemoryKekRing
from tests.conftest import OpenRecords
from tests.web.conftest import WebClient, add_pupil, csrf_of, list_academies

DESCRIPTION = "Reads aloud confidently but avoids writing tasks"


def concern(version: int, csrf: str) -> dict[str, str]:
    return {
        "csrf_token": csrf,
        "version": str(version),
        "source": "teacher",
        "area_of_need": "cognition_and_learning",
        "description": DESCRIPTION,
        "evidence": "",
        "happened_on": "2025-01-15",
    }


def _rows(web: WebClient) -> list[Any]:
    with web.records.datastore.engine.connect() as conn:
        return list(conn.execute(select(web_sessions)).all())


def _cookie(web: WebClient) -> str:
    value = web.client.cookies.get(COOKIE)
    assert value, "not signed in"
    return value


def test_the_row_holds_the_id_s_hash_and_the_user_not_the_token_until_sign_out(
    web: WebClient,
) -> None:
    token = web.person("OAK-sendco-1", "sendco")
    assert web.sign_in(token).status_code == 303
    session_id = _cookie(web)
    (row,) = _rows(web)
    assert row.session_key == hashlib.sha256(session_id.encode()).hexdigest()
    stored = " ".join(str(v) for v in row)
    for secret in (token, token_hash(token), session_id):
        assert secret not in stored
    user = web.users.by_token(token)
    assert user is not None and row.user_id == user.user_id
    page = web.client.get("/ui/account")
    assert page.status_code == 200 and csrf_of(page.text) == row.csrf
    web.client.post("/ui/sign-out", data={"csrf_token": row.csrf})
    assert _rows(web) == []  # sign-out deletes the row


def test_a_revoked_token_ends_its_session_at_once(web: WebClient) -> None:
    web.as_("OAK-sendco-1", "sendco")
    assert web.client.get("/ui/account").status_code == 200
    # As `chronicle users revoke` does from another process: this process's token cache is
    # not told, but a session reads the person's row with its own on every request.
    with web.records.datastore.engine.begin() as conn:
        conn.execute(update(api_users).values(revoked_at=datetime.now(UTC)))
    answer = web.client.get("/ui/account", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/sign-in")
    assert _rows(web) == []


def test_an_idle_or_old_session_ends(web: WebClient) -> None:
    web.person("OAK-sendco-1", "sendco")
    for column, age in (("last_used_at", IDLE), ("started_at", LIFETIME)):
        assert web.sign_in(web.tokens["OAK-sendco-1"]).status_code == 303
        assert web.client.get("/ui/account").status_code == 200
        with web.records.datastore.engine.begin() as conn:
            past = time.time() - age.total_seconds() - 5
            conn.execute(update(web_sessions).values({column: past}))
        answer = web.client.get("/ui/account", follow_redirects=False)
        assert answer.status_code == 303, column
        assert _rows(web) == []


def test_a_notice_is_shown_once_from_the_database(web: WebClient) -> None:
    pupil = web.add_pupil()
    web.as_("OAK-sendco-1", "sendco")
    form = web.client.get(f"/ui/pupils/{pupil.id}/entries/concerns")
    saved = web.client.post(
        f"/ui/pupils/{pupil.id}/entries/concerns",
        data=concern(pupil.version, csrf_of(form.text)),
        follow_redirects=False,
    )
    assert saved.status_code == 303
    (row,) = _rows(web)
    assert "Saved: raise a concern" in row.flash and DESCRIPTION not in row.flash
    assert row.seen > 0
    assert "Saved: raise a concern" in web.client.get(saved.headers["location"]).text
    assert "Saved: raise a concern" not in web.client.get(saved.headers["location"]).text


class Worker:
    """One server process of several on the same database: its own records and caches, no
    background followers (nothing but a request brings its read models up to date)."""

    def __init__(self, open_records: OpenRecords, ring: InMemoryKekRing, tmp: Path) -> None:
        self.records = open_records(ring)
        key = Ed25519PrivateKey.generate()
        chronicle = assemble(
            self.records,
            build_ledger(self.records, key, None),
            users=Users(self.records.datastore.engine),
            signing_key=key,
            purge_journal=tmp / "purges.jsonl",
        )
        self.client = TestClient(create_app(chronicle), raise_server_exceptions=False)


@pytest.fixture
def two_workers(open_records: OpenRecords, tmp_path: Path) -> Iterator[tuple[Worker, Worker]]:
    ring = InMemoryKekRing()
    a, b = Worker(open_records, ring, tmp_path), Worker(open_records, ring, tmp_path)
    list_academies(a.records)
    with a.client, b.client:
        yield a, b


def test_a_web_write_is_read_through_another_worker_by_the_session_s_position(
    two_workers: tuple[Worker, Worker],
) -> None:
    a, b = two_workers
    users = Users(a.records.datastore.engine)
    writer = WebClient(a.client, a.records, users)
    other = WebClient(b.client, b.records, users)
    pupil = add_pupil(a.records)
    writer.as_("OAK-sendco-1", "sendco")
    other.as_("OAK-sendco-2", "sendco")  # signed in on B, never wrote
    # Both workers have projected the pupil (a read after its registration).
    for client in (a.client, b.client):
        assert client.get(f"/ui/pupils/{pupil.id}").status_code == 200
    form = a.client.get(f"/ui/pupils/{pupil.id}/entries/concerns")
    saved = a.client.post(
        f"/ui/pupils/{pupil.id}/entries/concerns",
        data=concern(pupil.version, csrf_of(form.text)),
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    # Another person's session on B carries no position: B answers from where the read
    # models stand, without the write (so what shows it below is the position).
    b.client.cookies.set(COOKIE, _cookie(other))
    assert DESCRIPTION not in b.client.get(f"/ui/pupils/{pupil.id}").text
    # The redirect's page on B with the writer's cookie: B brings the read models up to the
    # session's position first, so the writer sees their entry.
    b.client.cookies.set(COOKIE, _cookie(writer))
    page = b.client.get(saved.headers["location"])
    assert page.status_code == 200
    assert DESCRIPTION in page.text
