"""Limits and hardening (docs/api.md): bounded bodies and headers, one log line for an
unexpected error (never its message), security headers on every answer, /docs with no
third-party request, and bearer tokens counted, throttled and audited. On SQLite and
PostgreSQL (the `api` fixture's store); the live-server tests run uvicorn on loopback."""

from __future__ import annotations

import asyncio
import http.client
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy.exc
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from api.app.signins import sign_in_audit
from api.http.docs import DOCS_CSP
from api.http.hardening import DOCUMENT_CSP, STRICT_CSP, Hardening, Limits, uvicorn_options
from api.settings import load_settings
from api.web.core import SECURITY_HEADERS as PAGE_HEADERS
from api.web.core import guarded
from tests.http.conftest import Api

SECRET = "s3cr3t-Quartermaine-9f8e7d"
EXPORT = {
    "purpose": "send_tribunal_appeal",
    "recipient": "First-tier Tribunal (SEND)",
    "legal_basis": "SEND Regulations 2014",
}


def _app(api: Api) -> FastAPI:
    app = api.client.app
    assert isinstance(app, FastAPI)
    return app


def _from(api: Api, host: str) -> TestClient:
    """A client of the same app from another source address."""
    return TestClient(_app(api), client=(host, 40000), raise_server_exceptions=False)


# ----- bounded input ------------------------------------------------------------------------


def _asgi(limits: Limits, scope: dict[str, Any], chunks: list[bytes]) -> tuple[int, int, bool]:
    """Run `Hardening` over an app that reads the whole body; (status, bytes handed to the
    app, whether the app ran)."""
    handed, ran, sent = 0, False, []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal handed, ran
        ran = True
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ConnectionError("client went away")  # as Starlette's ClientDisconnect
            handed += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    queue = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]

    async def receive() -> dict[str, Any]:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    base = {"type": "http", "method": "POST", "path": "/pupils", "query_string": b""}
    asyncio.run(Hardening(app, limits)(base | scope, receive, send))  # type: ignore[arg-type]
    return sent[0]["status"], handed, ran


def test_a_declared_length_over_the_limit_is_refused_before_anything_is_read() -> None:
    read = []

    async def receive() -> dict[str, Any]:
        read.append(1)
        return {"type": "http.request", "body": b"x"}

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the application must not see this request")

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/pupils",
        "query_string": b"",
        "headers": [(b"content-length", b"104857600")],
    }
    asyncio.run(Hardening(app, Limits())(scope, receive, send))  # type: ignore[arg-type]
    assert read == [] and sent[0]["status"] == 413
    assert (b"connection", b"close") in sent[0]["headers"]
    assert b"body_too_large" in sent[1]["body"]


def test_a_streamed_body_is_cut_off_once_it_passes_the_limit() -> None:
    limits = Limits(max_body_bytes=64 * 1024)
    status, handed, ran = _asgi(limits, {"headers": []}, [b"x" * 16 * 1024] * 100)
    assert ran and status == 413
    assert handed <= 64 * 1024  # the chunk that passed the limit never reached the app
    status, handed, _ = _asgi(limits, {"headers": []}, [b"x" * 16 * 1024] * 4)
    assert (status, handed) == (200, 64 * 1024)


def test_the_default_body_limit_is_the_settings_and_a_large_body_gets_413(api: Api) -> None:
    assert Limits.from_settings(load_settings()).max_body_bytes == 2 * 1024 * 1024
    got = api.client.post("/pupils", content=b"{" + b" " * (3 * 1024 * 1024) + b"}")
    assert got.status_code == 413 and got.json()["error"] == "body_too_large"
    assert got.headers["connection"] == "close"
    # Under the limit, the same request is simply unauthenticated.
    assert api.client.post("/pupils", json={"upn": "x"}).status_code == 401


def test_headers_over_the_limit_get_431(api: Api) -> None:
    got = api.client.get("/ledger/checkpoint", headers={"X-Padding": "a" * (17 * 1024)})
    assert got.status_code == 431 and got.json()["error"] == "request_header_too_large"
    many = {f"X-H{i}": "1" for i in range(120)}
    assert api.client.get("/ledger/checkpoint", headers=many).status_code == 431


def test_if_match_of_4301_digits_is_a_400_naming_40_characters(api: Api) -> None:
    pupil = api.add_pupil()
    got = api.client.post(
        f"/pupils/{pupil.id}/concerns",
        headers={**api.headers("sendco"), "If-Match": "1" * 4301},
        json={"source": "teacher", "description": "Struggles to settle"},
    )
    assert got.status_code == 400 and got.json()["error"] == "bad_if_match"
    assert "1" * 41 not in got.json()["detail"]
    assert api.events(pupil.id) == 2  # nothing written


def test_a_nul_in_the_query_is_still_refused(api: Api) -> None:
    got = api.client.get("/pupils?academy=OAK%00", headers=api.headers("sendco"))
    assert got.status_code == 422 and "NUL" in got.json()["detail"]


# ----- errors: one line, no message, no parameters ------------------------------------------


def _boom(thing: str) -> Response:
    raise sqlalchemy.exc.IntegrityError(
        "INSERT INTO api_users (name, token_hash) VALUES (%(name)s, %(token_hash)s)",
        {"name": thing, "token_hash": SECRET},
        Exception(f"duplicate key value violates unique constraint: Key (name)=({SECRET})"),
    )


def _add_failing_routes(app: FastAPI) -> None:
    app.add_api_route("/test-boom/{thing}", _boom, methods=["GET"], include_in_schema=False)
    web = app.state.web

    @guarded(web)
    def page(request: Request, thing: str) -> Response:
        return _boom(thing)

    app.add_api_route("/ui/test-boom/{thing}", page, methods=["GET"], include_in_schema=False)


# The test's own HTTP client, and uvicorn's line per request (status and path only).
_NOT_THE_SERVICE = {"httpx", "httpcore", "uvicorn.access"}


def _logged(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    """What the service logged at `level` or above."""
    return [r for r in caplog.records if r.levelno >= level and r.name not in _NOT_THE_SERVICE]


@pytest.mark.parametrize("path", ["/test-boom/Quartermaine", "/ui/test-boom/Quartermaine"])
def test_an_unexpected_error_logs_one_line_without_its_message(
    api: Api, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    _add_failing_routes(_app(api))
    caplog.set_level(logging.DEBUG)
    got = api.client.get(path)
    assert got.status_code == 500
    reference = re.search(r"reference ([0-9a-f]{12})", got.text)
    assert reference is not None
    assert SECRET not in got.text and "INSERT" not in got.text
    (line,) = _logged(caplog, logging.INFO)
    text = line.getMessage()
    assert "IntegrityError" in text and reference.group(1) in text
    assert "test-boom/{thing}" in text and "Quartermaine" not in text
    assert line.exc_info is None and "\n" not in text
    # The frames at DEBUG, and nowhere any message or parameter.
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("Traceback" in m or "File " in m for m in debug)
    served = "\n".join(r.getMessage() for r in caplog.records if r.name not in _NOT_THE_SERVICE)
    assert SECRET not in served and "INSERT INTO" not in served and "Quartermaine" not in served
    assert SECRET not in caplog.text


def test_refusals_log_nothing(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    assert api.client.get("/ledger/checkpoint").status_code == 401
    assert api.client.get("/ledger/checkpoint", headers={"X-P": "a" * 20000}).status_code == 431
    assert _logged(caplog, logging.INFO) == []


# ----- the live server: keep-alive after a 500, limits before the body is read --------------


@pytest.fixture
def live(api: Api) -> Iterator[tuple[str, int]]:
    """The test's app served by uvicorn on loopback with `chronicle serve`'s limits, and
    uvicorn's own loggers propagating to the test's log capture."""
    app = _app(api)
    _add_failing_routes(app)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        access_log=False,
        log_config=None,
        lifespan="off",
        **uvicorn_options(load_settings()),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_after_a_500_the_connection_serves_the_next_request(
    live: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    conn = http.client.HTTPConnection(*live, timeout=10)
    conn.request("GET", "/test-boom/Quartermaine")
    first = conn.getresponse()
    first.read()
    assert first.status == 500 and first.getheader("connection") != "close"
    sock = conn.sock
    conn.request("GET", "/ledger/checkpoint")
    second = conn.getresponse()
    second.read()
    assert second.status == 401 and conn.sock is sock  # the same connection
    conn.close()
    # Our one line; nothing from uvicorn or Starlette (no traceback, no message).
    lines = _logged(caplog, logging.INFO)
    assert [r.name for r in lines] == ["chronicle.http"], [r.getMessage() for r in lines]
    assert SECRET not in caplog.text and "Traceback" not in caplog.text


def _answer(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def test_a_100_mb_declared_body_is_refused_without_reading_it(live: tuple[str, int]) -> None:
    with socket.create_connection(live, timeout=10) as sock:
        sock.sendall(
            b"POST /pupils HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 104857600\r\n\r\n"
        )
        started = time.monotonic()
        head = _answer(sock)  # answered without our sending a byte of the body
        assert head.startswith(b"HTTP/1.1 413"), head[:200]
        assert time.monotonic() - started < 5
        assert b"connection: close" in head.lower()


def test_a_chunked_body_is_cut_off_near_the_limit(live: tuple[str, int]) -> None:
    chunk = b"x" * 65536
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sent = 0
    with socket.create_connection(live, timeout=10) as sock:
        sock.sendall(
            b"POST /pupils HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        sock.settimeout(0.5)
        try:
            while sent < 100 * 1024 * 1024:
                sock.sendall(frame)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the server stopped reading: what we wanted
        head = _answer(sock)
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
    # The limit is 2 MB; the kernel's socket buffers take a few MB more before we block.
    assert sent < 32 * 1024 * 1024, sent


def _rss() -> int:
    """This process's resident set (the live server runs in it), in bytes."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024  # type: ignore[union-attr]


@pytest.mark.parametrize("how", ["declared", "chunked"])
def test_a_50_mb_body_leaves_the_servers_memory_as_it_was(live: tuple[str, int], how: str) -> None:
    """Sent for real (not only declared): the server answers 413 and its memory grows by no
    more than a few MB (the limit is 2 MB), whether the body is declared or streamed."""
    head = b"POST /pupils HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    if how == "declared":
        head += b"Content-Length: 52428800\r\n\r\n"
    else:
        head += b"Transfer-Encoding: chunked\r\n\r\n"
    chunk = b"x" * 65536
    frame = chunk if how == "declared" else f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    before = _rss()
    with socket.create_connection(live, timeout=10) as sock:
        sock.sendall(head)
        sock.settimeout(0.5)
        try:
            for _ in range(50 * 16):  # 50 MB
                sock.sendall(frame)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the server stopped reading
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    grown = _rss() - before
    assert grown < 8 * 1024 * 1024, f"RSS grew by {grown / 2**20:.1f} MB"


def test_the_server_refuses_a_request_head_over_the_limit(live: tuple[str, int]) -> None:
    with socket.create_connection(live, timeout=10) as sock:
        sock.sendall(
            b"GET /ledger/checkpoint HTTP/1.1\r\nHost: x\r\nX-Padding: "
            + b"a" * (64 * 1024)
            + b"\r\n\r\n"
        )
        head = _answer(sock)
    # uvicorn's h11 parser refuses it before the application is called.
    assert head.startswith((b"HTTP/1.1 400 ", b"HTTP/1.1 431 ")), head[:200]


# ----- security headers on every answer --------------------------------------------------


def _assert_hardened(response: Any, csp: str | None = None, cache: str = "no-store") -> None:
    h = response.headers
    where = f"{response.request.method} {response.request.url.path} ({response.status_code})"
    assert h["X-Content-Type-Options"] == "nosniff", where
    assert h["X-Frame-Options"] == "DENY", where
    assert h["Referrer-Policy"] == "no-referrer", where
    assert h["Cache-Control"] == cache, where
    assert "frame-ancestors 'none'" in h["Content-Security-Policy"], where
    if csp is not None:
        assert h["Content-Security-Policy"] == csp, where


def test_every_answer_carries_the_security_headers(api: Api) -> None:
    pupil = api.add_pupil()
    sendco = api.headers("sendco")
    _add_failing_routes(_app(api))
    c = api.client
    for got in (
        c.get(f"/pupils/{pupil.id}", headers=sendco),
        c.get("/ledger/checkpoint"),
        c.get("/no-such-route"),
        c.get("/openapi.json"),
        c.post("/pupils", content=b"{" + b" " * (3 * 1024 * 1024) + b"}"),
        c.get("/ledger/checkpoint", headers={"X-P": "a" * 20000}),
        c.get("/test-boom/x"),
        c.post(f"/pupils/{pupil.id}/exports", headers=sendco, json=EXPORT),
    ):
        _assert_hardened(got, STRICT_CSP)
    export = c.post(f"/pupils/{pupil.id}/exports/html", headers=sendco, json=EXPORT)
    assert export.status_code == 201 and export.headers["content-type"].startswith("text/html")
    _assert_hardened(export, DOCUMENT_CSP)
    # The web's pages keep their own, stricter page policy; /docs its own.
    _assert_hardened(c.get("/ui/sign-in"), PAGE_HEADERS["Content-Security-Policy"])
    _assert_hardened(c.get("/ui/test-boom/x"), PAGE_HEADERS["Content-Security-Policy"])
    _assert_hardened(c.get("/docs"), DOCS_CSP)
    # Swagger UI's own files are public and may be cached; still never framed or sniffed.
    _assert_hardened(c.get("/docs/static/swagger-ui.css"), cache="public, max-age=86400")


# ----- /docs: nothing from anywhere else --------------------------------------------------


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "data-openapi") and value:
                self.urls.append(value)
        self._in_script = tag == "script" and not dict(attrs).get("src")

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1


def test_docs_load_nothing_from_another_server(api: Api) -> None:
    page = api.client.get("/docs")
    assert page.status_code == 200
    assert not re.search(r"https?://", page.text), page.text
    links = _Links()
    links.feed(page.text)
    assert links.inline_scripts == 0 and len(links.urls) >= 4
    for url in links.urls:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = api.client.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url
    csp = page.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "http" not in csp
    init = api.client.get("/docs/init.js").text
    assert "validatorUrl: null" in init and not re.search(r"https?://", init)
    assert api.client.get("/redoc").status_code == 404
    assert api.client.get("/docs/oauth2-redirect").status_code == 404


# ----- bearer tokens: counted, throttled, audited ----------------------------------------


def _rows(api: Api) -> list[Any]:
    with api.records.datastore.engine.connect() as conn:
        return list(conn.execute(select(sign_in_audit).order_by(sign_in_audit.c.id)).all())


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_ten_failures_from_one_address_then_429_even_for_a_right_token(api: Api) -> None:
    good = api.headers("sendco", ())
    wrong = [f"guess{i:03d}-{'x' * 30}" for i in range(10)]
    for token in wrong:
        assert api.client.get("/pupils", headers=_bearer(token)).status_code == 401
    refused = api.client.get("/pupils", headers=good)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"] == "too_many_failed_sign_ins"
    wait = int(refused.headers["Retry-After"])
    assert 1 <= wait <= 300 and refused.json()["retry_after"] == wait
    _assert_hardened(refused, STRICT_CSP)
    # Another address is not throttled, and a right token works there.
    assert _from(api, "10.20.30.40").get("/pupils", headers=good).status_code == 200
    rows = _rows(api)
    assert [r.outcome for r in rows] == ["unknown_token"] * 10 + ["throttled"]
    assert {r.source for r in rows} == {"testclient"} and {r.channel for r in rows} == {"api"}
    assert [r.token_prefix for r in rows[:10]] == [t[:8] for t in wrong]
    token = good["Authorization"].removeprefix("Bearer ")
    assert rows[10].token_prefix == token[:8]
    # Only prefixes: no row holds a whole token, right or wrong.
    stored = " ".join(str(tuple(r)) for r in rows)
    assert token not in stored and not any(t in stored for t in wrong)
    # Once the failures are older than the window, the address may sign in again.
    with api.records.datastore.engine.begin() as conn:
        for row in rows:
            conn.execute(
                update(sign_in_audit)
                .where(sign_in_audit.c.id == row.id)
                .values(at=row.at - timedelta(seconds=301))
            )
    assert api.client.get("/pupils", headers=good).status_code == 200


def test_a_token_prefix_is_throttled_across_addresses(api: Api) -> None:
    revoked = api.headers("teacher")
    name = api.users.everyone()[-1].name
    api.users.revoke(name, api.records.clock())
    for i in range(10):
        answer = _from(api, f"10.0.0.{i}").get("/pupils", headers=revoked)
        assert answer.status_code == 401 and "revoked" in answer.json()["detail"]
    elsewhere = _from(api, "10.0.1.1")
    assert elsewhere.get("/pupils", headers=revoked).status_code == 429
    # The same address with another (right) token is not refused.
    assert elsewhere.get("/pupils", headers=api.headers("sendco")).status_code == 200
    outcomes = [r.outcome for r in _rows(api)]
    assert outcomes == ["revoked_token"] * 10 + ["throttled"]


def test_a_missing_token_is_not_counted(api: Api) -> None:
    for _ in range(12):
        assert api.client.get("/pupils").status_code == 401
    assert _rows(api) == []
    assert api.client.get("/pupils", headers=api.headers("sendco")).status_code == 200


def test_the_dpo_and_trust_admin_read_the_audit_and_a_teacher_may_not(api: Api) -> None:
    burst = [f"burst{i:03d}-{'y' * 30}" for i in range(12)]
    for token in burst:
        _from(api, "192.0.2.7").get("/pupils", headers=_bearer(token))
    office = _from(api, "198.51.100.2")
    got = office.get("/sign-in-audit", headers=api.headers("dpo", ()))
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["total"] == 12
    attempts = body["attempts"]
    # Newest first; every attempt of the burst is shown, the last two refused unread.
    assert [a["outcome"] for a in attempts] == ["throttled"] * 2 + ["unknown_token"] * 10
    assert [a["token_prefix"] for a in reversed(attempts)] == [t[:8] for t in burst]
    assert {a["source"] for a in attempts} == {"192.0.2.7"}
    assert {a["channel"] for a in attempts} == {"api"}
    assert not any(t in got.text for t in burst)
    narrowed = office.get(
        "/sign-in-audit?outcome=throttled&limit=1", headers=api.headers("trust_admin", ())
    )
    assert narrowed.status_code == 200 and narrowed.json()["total"] == 2
    assert len(narrowed.json()["attempts"]) == 1
    for role in ("teacher", "sendco", "dsl", "tribunal", "auditor"):
        academies = ("OAK",) if role == "teacher" else ()
        refused = office.get("/sign-in-audit", headers=api.headers(role, academies))
        assert refused.status_code == 403, role
