"""Bearer tokens and the caller, as FastAPI dependencies (docs/permissions.md).

The route's use case is refused early (403) for a role that may never use it, before the
body is looked at; the use case itself checks again, with the pupil's academy, and is the
authority.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.app.caller import Access, Caller
from api.app.errors import AppError, forbidden
from api.app.permissions import access
from api.app.service import Chronicle
from api.http.permissions import ROUTES
from api.users import User

_bearer = HTTPBearer(auto_error=False, description="A personal token from `chronicle users add`.")


# The dependencies are coroutines: each is memory work only, and FastAPI would otherwise
# run each in a worker thread of its own (a thread hand-off per dependency per request).
# `current_user` leaves the event loop only when the token must be looked up.


async def chronicle(request: Request) -> Chronicle:
    found: Chronicle = request.app.state.chronicle
    return found


ChronicleDep = Annotated[Chronicle, Depends(chronicle)]


async def current_user(
    request: Request,
    app: ChronicleDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    """The person whose bearer token came with the request; 401 otherwise, and 429 (with
    Retry-After) after too many failures from the same address or with the same token
    prefix (`Chronicle.sign_ins`: each failure is counted and audited)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AppError(
            401,
            "unauthenticated",
            "send your personal token as `Authorization: Bearer <token>`; ask your trust "
            "admin for one (`chronicle users add`)",
        )
    source = request.client.host if request.client is not None else None
    token = credentials.credentials
    user = app.sign_ins.recent(token, source)
    if user is None:
        user = await run_in_threadpool(app.sign_ins.authenticate, token, source, "api")
    if user is None:
        raise AppError(
            401,
            "unauthenticated",
            "this token is not known: check you copied "
            "all of it, or ask your trust admin for a new one",
        )
    if user.revoked_at is not None:
        raise AppError(
            401,
            "unauthenticated",
            f"this token was revoked on "
            f"{user.revoked_at.date().isoformat()}: ask your trust admin for a new one",
        )
    return user


CurrentUser = Annotated[User, Depends(current_user)]


async def permitted(
    request: Request,
    user: CurrentUser,
    x_chronicle_position: Annotated[
        str | None,
        Header(
            max_length=20,
            description="The highest X-Chronicle-Position a write answered you with: the "
            "answer then shows that write, whichever server process answers.",
        ),
    ] = None,
) -> Caller:
    """The caller, if their role may use this route's use case at all; 403 otherwise."""
    route = request.scope.get("route")
    endpoint = f"{request.method} {getattr(route, 'path', request.url.path)}"
    use_case = ROUTES.get(endpoint, "")
    if access(use_case, user.role) is Access.DENIED:
        raise forbidden(
            f"a {user.role.value} may not use {endpoint} (see docs/permissions.md); ask "
            "someone whose role may"
        )
    caller = Caller.of_user(user)
    if x_chronicle_position is not None:
        text = x_chronicle_position.strip()
        if not text.isascii() or not text.isdigit() or len(text) > 18:
            raise AppError(
                400,
                "bad_position",
                "X-Chronicle-Position must be the number a write's answer gave (digits only)",
            )
        caller = replace(caller, seen=int(text))
    return caller


Permitted = Annotated[Caller, Depends(permitted)]


async def stated_purpose(
    x_purpose: Annotated[
        str | None,
        Header(max_length=500, description="Why you are reading (required for dpo, tribunal)."),
    ] = None,
    purpose: Annotated[
        str | None, Query(max_length=500, description="Same as the X-Purpose header.")
    ] = None,
) -> str | None:
    """The reason given for reading pupil content (the use case says who must give one)."""
    return x_purpose or purpose


Purpose = Annotated[str | None, Depends(stated_purpose)]


async def based_on(
    if_match: Annotated[
        str | None,
        Header(description="The pupil version this write was based on (from GET or a write)."),
    ] = None,
) -> int:
    """The version a write was based on; 428 if missing."""
    if if_match is None:
        raise AppError(
            428,
            "version_required",
            "state the pupil version you worked from in an If-Match header (the `version` "
            "of GET /pupils/{pupil_id}, or of your last write), so no one's change is lost",
        )
    text = if_match.strip().removeprefix("W/").strip('"')
    if not text.isdigit() or len(text) > 9:
        raise AppError(
            400,
            "bad_if_match",
            f"If-Match must be a version number such as 3, not {if_match[:40]!r}",
        )
    return int(text)


BasedOn = Annotated[int, Depends(based_on)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        max_length=200,
        description="Any unique string; a retry with the same key returns the first answer.",
    ),
]
