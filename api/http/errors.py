"""Errors as answers a person can act on: a status, what was wrong, and how to fix it.

Every error body is `{"error": <kind>, "detail": <message>, ...}` (`Problem`). Domain errors
carry messages written for the person reading them; anything unexpected becomes a 500 that
names only a reference, never a stack trace, and the log line names the error's type and
the route, never the request's content (it may hold pupil plaintext).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.app.errors import AppError
from api.app.service import Chronicle
from api.application import ConflictingUpdate
from api.http.hardening import internal_error_detail, log, log_unexpected, route_of
from api.unavailable import (
    RETRY_AFTER_SECONDS,
    database_unavailable,
    log_unavailable,
    unavailable_detail,
)
from crypto.errors import CryptoError
from domain.errors import DomainError, PupilPurged, UnknownPupil
from projections.register import RegisterQueryError


class Problem(BaseModel):
    """What went wrong and how to fix it."""

    error: str = Field(examples=["invalid_entry"])
    detail: str = Field(examples=["description of the concern must not be empty"])
    current_version: int | None = Field(
        default=None, description="The pupil's version now (409 only).", examples=[4]
    )
    purged_on: str | None = Field(
        default=None, description="When the records were purged (410 only).", examples=[None]
    )


# The HTTP edge raises the application's own refusal for its own checks (token, headers).
ApiError = AppError


def not_found(pupil_id: object) -> AppError:
    # The same words for "no such pupil" and "not in your academies" (docs/permissions.md).
    return AppError(
        404,
        "pupil_not_found",
        f"no pupil with id {pupil_id} among the academies you cover: check the id "
        "(GET /pupils lists the pupils you may see)",
    )


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of the error answers a route may give."""
    words = {
        400: "A required header or parameter is missing (e.g. a stated purpose).",
        401: "Missing, unknown or revoked bearer token.",
        403: "Your role may not use this endpoint, or not for that academy.",
        404: "No such pupil among the academies you cover.",
        409: "The pupil changed since the version you stated (If-Match); re-read and retry.",
        410: "The pupil's records were purged at the end of retention.",
        422: "The request or the entry is invalid; the detail says what and how to fix it.",
        428: "A write must state the version it was based on (If-Match).",
        429: "Too many failed sign-ins from your address or with this token: wait "
        "Retry-After seconds.",
        503: "The database (or a record behind it) is unavailable right now: retry after "
        "Retry-After seconds, a write with the same Idempotency-Key.",
    }
    return {s: {"model": Problem, "description": words[s]} for s in statuses}


def _body(error: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"error": error, "detail": detail, **{k: v for k, v in extra.items() if v is not None}}


def problem(status: int, error: str, detail: str, **extra: Any) -> JSONResponse:
    body = _body(error, detail, **extra)
    return JSONResponse(body, status_code=status, headers=_headers(status, body))


def _headers(status: int, body: dict[str, Any]) -> dict[str, str] | None:
    """401: how to authenticate; 429: how long to wait (`retry_after`, seconds); 503: when to
    try again (every 503: the database, a read model or log behind a write, the key store)."""
    if status == 401:
        return {"WWW-Authenticate": "Bearer"}
    if status == 429 and isinstance(body.get("retry_after"), int):
        return {"Retry-After": str(body["retry_after"])}
    if status == 503:
        return {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return None


def for_exception(exc: Exception) -> tuple[int, dict[str, Any]]:
    """The status and body for an error raised while handling a request."""
    if isinstance(exc, AppError):
        return exc.status, _body(exc.code, exc.detail, **exc.extra)
    if isinstance(exc, UnknownPupil):
        return for_exception(not_found(exc.pupil_id))
    if isinstance(exc, PupilPurged):
        purged = None if exc.purged_on is None else str(exc.purged_on)
        return 410, _body("pupil_purged", str(exc), purged_on=purged)
    if isinstance(exc, ConflictingUpdate):
        return 409, _body("conflicting_update", str(exc), current_version=exc.current)
    if isinstance(exc, (DomainError, RegisterQueryError)):
        return 422, _body(_kind(exc), str(exc))
    if isinstance(exc, CryptoError):
        return 503, _body(
            "records_unreadable",
            "the records cannot be read right now: "
            "tell the data-protection officer (key store problem)",
        )
    raise exc


def _purge_record(request: Request, pupil_id: object) -> dict[str, Any] | None:
    """The signed purge record of `pupil_id`, if this installation holds one."""
    app: Chronicle = request.app.state.chronicle
    record = app.reads.purge_record_of(pupil_id)
    return None if record is None else record.as_json()


def _kind(exc: Exception) -> str:
    name = type(exc).__name__
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a `Problem`."""

    # A query holding NUL, oversized requests and errors no handler answers: api/http/hardening.py.

    @app.exception_handler(AppError)
    @app.exception_handler(DomainError)
    @app.exception_handler(RegisterQueryError)
    @app.exception_handler(CryptoError)
    async def known(request: Request, exc: Exception) -> JSONResponse:
        status, body = for_exception(exc)
        if isinstance(exc, PupilPurged):
            record = _purge_record(request, exc.pupil_id)
            if record is not None:
                body["purge_record"] = record
        return JSONResponse(body, status_code=status, headers=_headers(status, body))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(_describe(e) for e in exc.errors())
        return problem(422, "invalid_request", f"the request is not valid: {problems}")

    @app.exception_handler(StarletteHTTPException)
    async def http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Reached only if the hardening middleware is not installed: it answers first.
        if database_unavailable(exc):
            reference = log_unavailable(log, exc, route_of(request.scope))
            return problem(503, "database_unavailable", unavailable_detail(reference))
        reference = log_unexpected(exc, route_of(request.scope))
        return problem(500, "internal_error", internal_error_detail(reference))


def _describe(error: Any) -> str:
    where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "request"
    return f"{where}: {error.get('msg', 'invalid')}"
