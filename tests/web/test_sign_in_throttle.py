"""The web's sign-in form is counted, throttled and audited like a bearer token: after ten
failures from one address, 429 with Retry-After, even for a right token; another address
signs in; the audit holds token prefixes only. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app.signins import sign_in_audit
from api.web.sessions import COOKIE
from tests.web.conftest import WebClient, csrf_of


def _rows(web: WebClient) -> list[Any]:
    with web.records.datastore.engine.connect() as conn:
        return list(conn.execute(select(sign_in_audit).order_by(sign_in_audit.c.id)).all())


def _sign_in(client: TestClient, token: str) -> Any:
    client.cookies.clear()
    page = client.get("/ui/sign-in")
    return client.post(
        "/ui/sign-in",
        data={"csrf_token": csrf_of(page.text), "token": token, "next": ""},
        follow_redirects=False,
    )


def test_ten_failed_sign_ins_then_429_with_retry_after(web: WebClient) -> None:
    right = web.person("OAK-sendco-1", "sendco")
    wrong = [f"typo{i:02d}-{'z' * 35}" for i in range(10)]
    for token in wrong:
        assert web.sign_in(token).status_code == 401
    refused = web.sign_in(right)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 300
    assert "Too many failed sign-ins" in refused.text
    assert COOKIE not in refused.cookies  # no session
    assert refused.headers["X-Frame-Options"] == "DENY"
    # Another address signs in with the same token.
    elsewhere = TestClient(web.client.app, client=("10.3.2.1", 40000))
    assert _sign_in(elsewhere, right).status_code == 303
    rows = _rows(web)
    assert [r.outcome for r in rows] == ["unknown_token"] * 10 + ["throttled"]
    assert {r.channel for r in rows} == {"web"} and {r.source for r in rows} == {"testclient"}
    assert [r.token_prefix for r in rows] == [t[:8] for t in [*wrong, right]]
    stored = " ".join(str(tuple(r)) for r in rows)
    assert right not in stored and not any(t in stored for t in wrong)


def test_an_empty_or_expired_form_is_not_counted(web: WebClient) -> None:
    for _ in range(12):
        assert web.sign_in("").status_code == 422
    assert _rows(web) == []
    assert web.sign_in(web.person("OAK-sendco-2", "sendco")).status_code == 303


def test_failures_on_the_api_count_for_the_web_sign_in(web: WebClient) -> None:
    for i in range(10):
        got = web.client.get("/pupils", headers={"Authorization": f"Bearer api-guess-{i}"})
        assert got.status_code == 401
    assert web.sign_in(web.person("OAK-sendco-3", "sendco")).status_code == 429
    assert [r.channel for r in _rows(web)] == ["api"] * 10 + ["web"]


def test_the_dpo_reads_the_web_failures_on_the_api(web: WebClient) -> None:
    for i in range(3):
        assert web.sign_in(f"wrong-{i}-{'q' * 30}").status_code == 401
    _, token = web.users.add("TRUST-dpo-1", "dpo", [], web.records.clock())
    got = web.client.get("/sign-in-audit", headers={"Authorization": f"Bearer {token}"})
    assert got.status_code == 200, got.text
    attempts = got.json()["attempts"]
    assert [(a["channel"], a["token_prefix"]) for a in attempts] == [
        ("web", f"wrong-{i}-") for i in (2, 1, 0)
    ]
