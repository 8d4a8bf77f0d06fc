"""Bearer tokens, roles and academy scope, as FastAPI dependencies (docs/permissions.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.http.errors import ApiError, not_found
from api.http.permissions import PURPOSE_REQUIRED, Access, access
from api.http.service import Service
from api.users import User
from domain.pupil import Pupil
from domain.values import Recorder

_bearer = HTTPBearer(auto_error=False, description="A personal token from `chronicle users add`.")


def service(request: Request) -> Service:
    chronicle: Service = request.app.state.chronicle
    return chronicle


ServiceDep = Annotated[Service, Depends(service)]


def current_user(
    svc: ServiceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    """The person whose bearer token came with the request; 401 otherwise."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(
            401,
            "unauthenticated",
            "send your personal token as `Authorization: Bearer <token>`; ask your trust "
            "admin for one (`chronicle users add`)",
        )
    user = svc.users.by_token(credentials.credentials)
    if user is None:
        raise ApiError(
            401,
            "unauthenticated",
            "this token is not known: check you copied "
            "all of it, or ask your trust admin for a new one",
        )
    if user.revoked_at is not None:
        raise ApiError(
            401,
            "unauthenticated",
            f"this token was revoked on "
            f"{user.revoked_at.date().isoformat()}: ask your trust admin for a new one",
        )
    return user


CurrentUser = Annotated[User, Depends(current_user)]


@dataclass(frozen=True)
class Caller:
    """An authenticated person at an endpoint their role may use, and on what terms."""

    user: User
    access: Access
    endpoint: str

    @property
    def recorder(self) -> Recorder:
        return Recorder(self.user.name, self.user.role)

    def may_see(self, pupil: Pupil) -> bool:
        return self.access is Access.ALLOWED or self.user.covers(pupil.academy)

    def check(self, pupil: Pupil) -> Pupil:
        """The pupil, if within the caller's scope; else 404 (docs/permissions.md)."""
        if not self.may_see(pupil):
            raise not_found(pupil.id)
        return pupil


def permitted(request: Request, user: CurrentUser) -> Caller:
    """The caller, if their role may use this endpoint at all; 403 otherwise."""
    route = request.scope.get("route")
    endpoint = f"{request.method} {getattr(route, 'path', request.url.path)}"
    allowed = access(endpoint, user.role)
    if allowed is Access.DENIED:
        raise ApiError(
            403,
            "forbidden",
            f"a {user.role.value} may not use {endpoint} (see docs/permissions.md); ask "
            "someone whose role may",
        )
    return Caller(user, allowed, endpoint)


Permitted = Annotated[Caller, Depends(permitted)]


def stated_purpose(
    caller: Permitted,
    x_purpose: Annotated[
        str | None,
        Header(max_length=500, description="Why you are reading (required for dpo, tribunal)."),
    ] = None,
    purpose: Annotated[
        str | None, Query(max_length=500, description="Same as the X-Purpose header.")
    ] = None,
) -> str | None:
    """The reason given for reading pupil content; roles that must give one get 400 without."""
    given = (x_purpose or purpose or "").strip() or None
    if given is None and caller.user.role in PURPOSE_REQUIRED:
        raise ApiError(
            400,
            "purpose_required",
            f"a {caller.user.role.value} must state why they read pupil records: send an "
            "X-Purpose header (or ?purpose=...), e.g. the SAR or tribunal case reference",
        )
    return given


Purpose = Annotated[str | None, Depends(stated_purpose)]


def based_on(
    if_match: Annotated[
        str | None,
        Header(description="The pupil version this write was based on (from GET or a write)."),
    ] = None,
) -> int:
    """The version a write was based on; 428 if missing."""
    if if_match is None:
        raise ApiError(
            428,
            "version_required",
            "state the pupil version you worked from in an If-Match header (the `version` "
            "of GET /pupils/{pupil_id}, or of your last write), so no one's change is lost",
        )
    text = if_match.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise ApiError(
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
