"""Signing in with a personal token, signing out, the home page and the style sheet."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from api.app.errors import AppError
from api.web import permissions as pages
from api.web.core import SECURITY_HEADERS, TEMPLATES, PageError, Viewer, Web, guarded
from api.web.forms import FormData
from api.web.sessions import COOKIE, PRE_COOKIE, same

MAX_FORM_BYTES = 1_000_000


async def form_data(request: Request) -> FormData:
    """The posted form (application/x-www-form-urlencoded), at most MAX_FORM_BYTES."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise PageError(413, "Too much text", "The form was too large to accept.")
    return FormData(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


Form = Annotated[FormData, Depends(form_data)]


def check_csrf(viewer: Viewer, form: FormData) -> None:
    """Every form POST must carry the session's CSRF token; refused (403) otherwise."""
    if not same(viewer.session.csrf, form.get("csrf_token")):
        raise PageError(
            403,
            "Form expired",
            "This form could not be accepted (its security token is missing or out of "
            "date, for example after signing in again). Go back, reload the page and "
            "submit it again.",
        )


def home_of(viewer: Viewer) -> str:
    """Where a person lands after signing in: their main job's page."""
    for page, href in (
        (pages.SAFEGUARDING, "/ui/safeguarding"),
        (pages.RETENTION, "/ui/retention"),
        (pages.REGISTER, "/ui/register"),
    ):
        if viewer.may(page):
            return href
    return "/ui/account"


def _safe_next(target: str | None) -> str | None:
    """Only our own pages: never another site (an open redirect)."""
    if target and target.startswith("/ui/") and "//" not in target and "\\" not in target:
        return target
    return None


def _cookie_flags(request: Request) -> dict[str, object]:
    return {
        "httponly": True,
        "samesite": "strict",
        "secure": request.url.scheme == "https",
        "path": "/",
    }


def router(web: Web) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    css = (TEMPLATES.parent / "static" / "web.css").read_text()

    @r.get("/ui/static/web.css")
    def stylesheet() -> Response:
        return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    @r.get("/")
    @guarded(web)
    def root(request: Request) -> Response:
        viewer = web.viewer(request)
        target = "/ui/sign-in" if viewer is None else home_of(viewer)
        return RedirectResponse(target, status_code=303)

    @r.get("/ui/sign-in")
    @guarded(web)
    def sign_in_page(
        request: Request, next: Annotated[str | None, Query(max_length=500)] = None
    ) -> Response:
        viewer = web.viewer(request)
        if viewer is not None:
            return RedirectResponse(_safe_next(next) or home_of(viewer), status_code=303)
        return _sign_in_form(request, next, None, 200)

    def _sign_in_form(
        request: Request, next_page: str | None, error: str | None, status: int
    ) -> Response:
        value = secrets.token_urlsafe(32)
        response = web.render(
            request,
            "sign_in.html",
            None,
            status=status,
            title="Sign in",
            csrf=value,
            next_page=_safe_next(next_page) or "",
            error=error,
        )
        response.set_cookie(PRE_COOKIE, value, max_age=3600, **_cookie_flags(request))  # type: ignore[arg-type]
        return response

    @r.post("/ui/sign-in")
    @guarded(web)
    def sign_in(request: Request, form: Form) -> Response:
        if not same(request.cookies.get(PRE_COOKIE), form.get("csrf_token")):
            raise PageError(
                403,
                "Form expired",
                "The sign-in form could not be accepted (its security token is missing or "
                "out of date). Open the sign-in page again and retry.",
            )
        next_page = form.get("next")
        token = form.get("token").strip()
        source = request.client.host if request.client is not None else None
        try:
            # Counted, throttled and audited like a bearer token (api/app/signins.py).
            user = web.app.sign_ins.authenticate(token, source, "web") if token else None
        except AppError as refused:
            if refused.status != 429:
                raise
            message = refused.detail[:1].upper() + refused.detail[1:] + "."
            response = _sign_in_form(request, next_page, message, 429)
            response.headers["Retry-After"] = str(refused.extra["retry_after"])
            return response
        if user is None or user.revoked_at is not None:
            message = (
                "Enter your personal token."
                if not token
                else "This token is not known or was revoked: check you copied all of it, "
                "or ask your trust admin for a new one."
            )
            return _sign_in_form(request, next_page, message, 401 if token else 422)
        web.sessions.end(request.cookies.get(COOKIE))  # no session fixation
        session_id = web.sessions.start(user, datetime.now(UTC))
        viewer = web.viewer_for(session_id)
        target = _safe_next(next_page) or (home_of(viewer) if viewer else "/")
        response = RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
        response.set_cookie(COOKIE, session_id, **_cookie_flags(request))  # type: ignore[arg-type]
        response.delete_cookie(PRE_COOKIE, path="/")
        return response

    @r.post("/ui/sign-out")
    @guarded(web)
    def sign_out(request: Request, form: Form) -> Response:
        viewer = web.viewer(request)
        if viewer is not None:
            check_csrf(viewer, form)
            web.sessions.end(viewer.session_id)
        response = RedirectResponse("/ui/sign-in", status_code=303, headers=SECURITY_HEADERS)
        response.delete_cookie(COOKIE, path="/")
        return response

    @r.get("/ui/account")
    @guarded(web)
    def account(request: Request) -> Response:
        viewer = web.signed_in(request)
        return web.render(request, "account.html", viewer, title="Your account")

    return r
