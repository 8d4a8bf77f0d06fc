"""What every request and every answer goes through: bounded input, security headers, and
one log line (never a traceback or a message at INFO or above) for an unexpected error.

`Hardening` is a pure ASGI middleware, just inside Starlette's `ServerErrorMiddleware`, so
nothing else sees a request first or an exception last:

- the request head is refused (431) above `max_header_bytes`, a query holding NUL (422);
- a body whose `Content-Length` is over `max_body_bytes` is refused (413) before a byte of
  it is read, and a streamed (chunked) body as soon as it passes the limit: the answer is
  sent then, the application is told the client went away, and the connection is closed;
- a store error meaning the database is unavailable (api/unavailable.py) becomes a 503
  with Retry-After, `database_unavailable` and a reference, logged in one line the same way;
- an exception no handler turned into an answer becomes a 500 naming a reference; the log
  gets one line (the error's type, the route's template, the reference) and, at DEBUG
  only, the frames of the traceback without any exception's message (an SQLAlchemy error's
  message holds the statement's parameters, which may be pupil plaintext or a token). The
  exception is not re-raised, so the server logs nothing of its own and keeps the
  connection open for the next request;
- every answer gets the security headers it lacks (`SECURITY_HEADERS`, and a CSP: the
  strictest for anything but HTML, one allowing the document's own inline style sheet and
  nothing else for HTML; pages that set their own, the web's and /docs, keep theirs).

`uvicorn_options(settings)` are the server's own limits (`chronicle serve`).
"""

from __future__ import annotations

import json
import logging
import traceback
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from api.settings import Settings
from api.unavailable import (
    RETRY_AFTER_SECONDS,
    database_unavailable,
    log_unavailable,
    unavailable_detail,
)

log = logging.getLogger("chronicle.http")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Answers that carry no page: nothing may be framed, sniffed, cached or loaded by them.
STRICT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# An HTML document without a CSP of its own (the tribunal bundle): its inline style sheet,
# no script, nothing from anywhere.
DOCUMENT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
MAX_HEADERS = 100


@dataclass(frozen=True)
class Limits:
    """The sizes a request may have (CHRONICLE_MAX_BODY_BYTES, CHRONICLE_MAX_HEADER_BYTES)."""

    max_body_bytes: int = 2 * 1024 * 1024
    max_header_bytes: int = 16 * 1024

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(settings.max_body_bytes, settings.max_header_bytes)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's own limits, for `uvicorn.run(app, ..., **uvicorn_options(settings))`: the h11
    parser (whose limit on an incomplete request head is the one that applies before the
    application sees anything), refusing a head over `max_header_bytes` with 400."""
    return {"http": "h11", "h11_max_incomplete_event_size": settings.max_header_bytes}


def frames(exc: BaseException) -> str:
    """The traceback of `exc` and the exceptions it came from, as types and frames only: no
    exception's message (it may hold SQL parameters or request content)."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(f"{type(current).__module__}.{type(current).__qualname__}\n")
        parts.extend(traceback.format_tb(current.__traceback__))
        current = current.__cause__ or current.__context__
    return "".join(parts)


def log_unexpected(exc: BaseException, where: str) -> str:
    """Log one line for an unexpected error (its type, `where`, a new reference) and, at
    DEBUG, its frames; return the reference."""
    reference = uuid.uuid4().hex[:12]
    log.error("unexpected %s on %s (ref %s)", type(exc).__name__, where, reference)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("ref %s traceback (messages left out):\n%s", reference, frames(exc))
    return reference


def route_of(scope: Scope) -> str:
    """`METHOD /template/{param}` of the matched route (never the concrete path or query)."""
    route = scope.get("route")
    return f"{scope.get('method', '?')} {getattr(route, 'path', '(no route)')}"


def internal_error_detail(reference: str) -> str:
    return (
        f"something went wrong on our side (reference {reference}): retry (a write with the "
        "same Idempotency-Key never writes twice); if it persists, tell the trust's admin the "
        "reference"
    )


class ResponseAborted(Exception):
    """An unexpected error after the answer had started: the connection must be closed."""


class Hardening:
    """The middleware (see the module's docstring)."""

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app, self.limits = app, limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        answer = _Answer(send)
        refusal = self._refusal(scope)
        if refusal is not None:
            await answer.problem(*refusal)
            return
        limit, received = self.limits.max_body_bytes, 0

        async def bounded() -> Message:
            nonlocal received
            if answer.refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    await answer.problem(*_too_large(limit))
                    return {"type": "http.disconnect"}
            return message

        try:
            await self.app(scope, bounded, answer.send)
        except Exception as exc:
            if answer.refused:
                return  # the application noticed the refused body; it was answered
            if database_unavailable(exc):
                # docs/api.md, "When the database is unavailable": 503, a normal answer on the
                # keep-alive connection, Retry-After, one log line.
                reference = log_unavailable(log, exc, route_of(scope))
                if answer.started:
                    raise ResponseAborted(f"answer interrupted (ref {reference})") from None
                await answer.problem(
                    503,
                    "database_unavailable",
                    unavailable_detail(reference),
                    retry_after=RETRY_AFTER_SECONDS,
                )
                return
            reference = log_unexpected(exc, route_of(scope))
            if answer.started:
                raise ResponseAborted(f"answer interrupted (ref {reference})") from None
            await answer.problem(500, "internal_error", internal_error_detail(reference))

    def _refusal(self, scope: Scope) -> tuple[int, str, str] | None:
        headers: list[tuple[bytes, bytes]] = scope.get("headers") or []
        size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        size += sum(len(name) + len(value) + 4 for name, value in headers)
        if size > self.limits.max_header_bytes or len(headers) > MAX_HEADERS:
            return (
                431,
                "request_header_too_large",
                f"the request's headers are too large (at most {self.limits.max_header_bytes} "
                f"bytes and {MAX_HEADERS} headers)",
            )
        if b"%00" in (scope.get("query_string") or b""):
            # PostgreSQL cannot compare text holding NUL: refuse it before any route sees it.
            return (
                422,
                "invalid_request",
                "the request is not valid: query: NUL (%00) in a parameter",
            )
        lengths = [v for n, v in headers if n.lower() == b"content-length"]
        if lengths:
            if len(set(lengths)) > 1 or not all(v.strip().isdigit() for v in lengths):
                return 400, "bad_content_length", "the Content-Length header is not one number"
            if int(lengths[0]) > self.limits.max_body_bytes:
                return _too_large(self.limits.max_body_bytes)
        return None


def _too_large(limit: int) -> tuple[int, str, str]:
    return (
        413,
        "body_too_large",
        f"the request body is larger than this service accepts ({limit} bytes): send less",
    )


class _Answer:
    """The answer to one request: adds the security headers, and lets the middleware answer
    first (a refusal), after which whatever the application sends is dropped."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False
        self.refused = False

    async def send(self, message: Message) -> None:
        if self.refused:
            return
        if message["type"] == "http.response.start":
            self.started = True
            message["headers"] = with_security_headers(list(message.get("headers") or []))
        await self._send(message)

    async def problem(
        self, status: int, error: str, detail: str, retry_after: int | None = None
    ) -> None:
        if self.started:
            self.refused = True
            return
        body = json.dumps({"error": error, "detail": detail}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        if retry_after is not None:
            headers.append((b"retry-after", str(retry_after).encode()))
        if status in (400, 413, 431):
            # The rest of the request is not read: the connection cannot carry another.
            headers.append((b"connection", b"close"))
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})
        self.refused = True


def with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` with every security header it lacks."""
    present = {name.lower() for name, _ in headers}
    for name, value in SECURITY_HEADERS.items():
        if name.lower().encode() not in present:
            headers.append((name.lower().encode(), value.encode()))
    if b"content-security-policy" not in present:
        kind = next((v for n, v in headers if n.lower() == b"content-type"), b"")
        csp = DOCUMENT_CSP if kind.lower().startswith(b"text/html") else STRICT_CSP
        headers.append((b"content-security-policy", csp.encode()))
    return headers
