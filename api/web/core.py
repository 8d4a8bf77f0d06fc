"""What every page shares: the signed-in person, permissions, rendering and error pages."""

from __future__ import annotations

import functools
import logging
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ParamSpec
from urllib.parse import quote

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.app.caller import Access, Caller
from api.app.errors import AppError
from api.app.permissions import PURPOSE_REQUIRED
from api.app.service import Chronicle
from api.application import ConflictingUpdate
from api.unavailable import RETRY_AFTER_SECONDS, database_unavailable, log_unavailable
from api.users import User
from api.web import permissions as pages
from api.web.permissions import page_access
from api.web.sessions import COOKIE, Session, Sessions
from crypto.errors import CryptoError
from domain.errors import DomainError, PupilPurged, UnknownPupil
from domain.values import Recorder, Role

log = logging.getLogger("chronicle.web")
TEMPLATES = Path(__file__).parent / "templates"
P = ParamSpec("P")

SECURITY_HEADERS = {
    # Pupil content must not be kept by the browser or shown in another site's frame.
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class PageError(Exception):
    """An answer other than the page: a status, a title and what the person can do."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


class Redirect(Exception):
    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


@dataclass(frozen=True)
class Viewer:
    """The signed-in person on this request."""

    user: User
    session: Session
    session_id: str

    @property
    def role(self) -> Role:
        return self.user.role

    @property
    def recorder(self) -> Recorder:
        return Recorder(self.user.name, self.user.role)

    @property
    def caller(self) -> Caller:
        # `seen`: the person's own writes through this session, on whichever worker they
        # were made, are shown by a read on this one (api/web/sessions.py).
        return replace(Caller.of_user(self.user), seen=self.session.seen)

    def may(self, page: str) -> bool:
        return page_access(page, self.role) is not Access.DENIED

    def require(self, page: str, what: str) -> Access:
        allowed = page_access(page, self.role)
        if allowed is Access.DENIED:
            raise PageError(
                403,
                "Not available to your role",
                f"A {self.role.value} may not use {what} (see the web interface's "
                "permissions in docs/web.md). Ask someone whose role may.",
            )
        return allowed

    @property
    def purpose_required(self) -> bool:
        return self.role in PURPOSE_REQUIRED


def not_found(pupil_id: object) -> PageError:
    return PageError(
        404,
        "Pupil not found",
        f"There is no pupil with id {pupil_id} among the academies you cover. Check the "
        "link, or find the pupil on the register.",
    )


@dataclass
class Web:
    """The web interface's dependencies: the application, sessions and templates."""

    app: Chronicle
    sessions: Sessions
    env: jinja2.Environment

    def now(self) -> datetime:
        return self.app.now()

    def today(self) -> date:
        return self.now().date()

    def viewer(self, request: Request) -> Viewer | None:
        """The signed-in person, looked up once per request (and kept for `keep`)."""
        if not getattr(request.state, "viewer_looked_up", False):
            request.state.viewer = self.viewer_for(request.cookies.get(COOKIE))
            request.state.viewer_looked_up = True
        found: Viewer | None = request.state.viewer
        return found

    def viewer_for(self, session_id: str | None) -> Viewer | None:
        found = self.sessions.get(session_id, datetime.now(UTC))
        if found is None or session_id is None:
            return None
        session, user = found
        if user.revoked_at is not None:
            self.sessions.end(session_id)
            return None
        return Viewer(user, session, session_id)

    def keep(self, request: Request) -> None:
        """Write back what this request changed in the person's session: the notices for the
        next page, and after a form was sent (a write, perhaps) the position of the
        person's own writes here, so the next page shows them whichever worker serves it."""
        viewer: Viewer | None = getattr(request.state, "viewer", None)
        if viewer is None:
            return
        if request.method == "POST":
            viewer.session.seen = max(viewer.session.seen, self.app.position(viewer.caller))
        self.sessions.save(viewer.session)

    def signed_in(self, request: Request) -> Viewer:
        found = self.viewer(request)
        if found is None:
            target = request.url.path
            if request.method == "GET" and request.url.query:
                target += "?" + request.url.query
            raise Redirect("/ui/sign-in?next=" + quote(target, safe="/"))
        return found

    def render(
        self,
        request: Request,
        template: str,
        viewer: Viewer | None,
        status: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        page = self.env.get_template(template).render(
            request=request,
            viewer=viewer,
            nav=navigation(viewer, request.url.path),
            csrf=viewer.session.csrf if viewer is not None else context.pop("csrf", ""),
            flash=_take_flash(viewer),
            **context,
        )
        return HTMLResponse(page, status_code=status, headers=SECURITY_HEADERS)

    def error_page(
        self, request: Request, error: PageError, *, look_up_viewer: bool = True
    ) -> HTMLResponse:
        viewer = None
        try:
            viewer = self.viewer(request) if look_up_viewer else None
        except Exception:  # the error page must render even if the store is down
            viewer = None
        return self.render(
            request,
            "error.html",
            viewer,
            status=error.status,
            title=error.title,
            message=error.message,
        )


def _take_flash(viewer: Viewer | None) -> list[str]:
    if viewer is None:
        return []
    taken = list(viewer.session.flash)
    viewer.session.flash.clear()
    return taken


def navigation(viewer: Viewer | None, path: str) -> list[tuple[str, str, bool]]:
    """(label, href, current) of the pages this person may use."""
    if viewer is None:
        return []
    links = [
        ("Register", "/ui/register", pages.REGISTER),
        ("Deadlines", "/ui/deadlines", pages.DEADLINES),
        ("Safeguarding audit", "/ui/safeguarding", pages.SAFEGUARDING),
        ("Retention", "/ui/retention", pages.RETENTION),
        ("Import", "/ui/import", pages.IMPORT),
    ]
    return [(label, href, path.startswith(href)) for label, href, page in links if viewer.may(page)]


def as_page_error(exc: Exception) -> PageError:
    """A known failure as a page a person can act on."""
    if isinstance(exc, PageError):
        return exc
    if isinstance(exc, UnknownPupil):
        return not_found(exc.pupil_id)
    if isinstance(exc, PupilPurged):
        when = f" on {exc.purged_on}" if exc.purged_on is not None else ""
        return PageError(
            410,
            "Records purged",
            f"This pupil's records were purged{when} at the end of retention: nothing can be "
            "read or added. The signed purge record is on the retention page.",
        )
    if isinstance(exc, ConflictingUpdate):
        return PageError(409, "Changed by someone else", str(exc))
    if isinstance(exc, AppError):
        titles = {403: "Not available to you", 404: "Not found", 409: "Changed by someone else"}
        return PageError(exc.status, titles.get(exc.status, "Not done"), exc.detail)
    if isinstance(exc, DomainError):
        return PageError(422, "Not done", str(exc))
    if isinstance(exc, CryptoError):
        return PageError(
            503,
            "Records unreadable",
            "The records cannot be read right now: tell the data-protection officer "
            "(key store problem).",
        )
    raise exc


def unavailable_page(web: Web, request: Request, exc: Exception) -> Response:
    """503 with Retry-After for a database that cannot be reached (api/unavailable.py): one
    log line, a reference, and no look-up of the signed-in person (the store is away)."""
    where = f"web {request.method} {getattr(request.scope.get('route'), 'path', '?')}"
    reference = log_unavailable(log, exc, where)
    page = web.error_page(
        request,
        PageError(
            503,
            "Database unavailable",
            f"The records' database cannot be reached right now (reference {reference}). "
            "Nothing half-done was kept. Wait a moment and try again: a form you sent may or "
            "may not have been saved, so look at the record before sending it again. If it "
            "persists, tell the trust's administrator the reference.",
        ),
        look_up_viewer=False,
    )
    page.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return page


def _keep_after_error(web: Web, request: Request) -> None:
    """`Web.keep` for an error page: the error is the answer, whatever happens here."""
    try:
        web.keep(request)
    except Exception as e:
        log.warning("web session not updated after an error page: %s", type(e).__name__)


def guarded(web: Web) -> Callable[[Callable[P, Response]], Callable[P, Response]]:
    """Turn known failures into HTML error pages, and anything else into a 500 page that
    names a reference only (never the request's content, which may hold pupil data)."""

    def wrap(handler: Callable[P, Response]) -> Callable[P, Response]:
        @functools.wraps(handler)
        def run(*args: P.args, **kwargs: P.kwargs) -> Response:
            request = kwargs.get("request")
            assert isinstance(request, Request)
            try:
                response = handler(*args, **kwargs)
                # Before the answer leaves: the next page may be served by another worker.
                web.keep(request)
                return response
            except Redirect as r:
                return RedirectResponse(r.location, status_code=303, headers=SECURITY_HEADERS)
            except (PageError, DomainError, AppError, CryptoError) as e:
                page = web.error_page(request, as_page_error(e))
                if page.status_code == 503:
                    page.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
                _keep_after_error(web, request)
                return page
            except Exception as e:
                if database_unavailable(e):
                    return unavailable_page(web, request, e)
                reference = uuid.uuid4().hex[:12]
                # One line: the type, the route's template, the reference; never the
                # message (an SQLAlchemy error's holds the statement's parameters). The
                # frames of the traceback, without any message, at DEBUG only.
                log.error(
                    "unexpected %s on web %s %s (ref %s)",
                    type(e).__name__,
                    request.method,
                    getattr(request.scope.get("route"), "path", "?"),
                    reference,
                )
                if log.isEnabledFor(logging.DEBUG):
                    chain: list[BaseException] = []
                    cause: BaseException | None = e
                    while cause is not None and cause not in chain:
                        chain.append(cause)
                        cause = cause.__cause__ or cause.__context__
                    log.debug(
                        "ref %s traceback (messages left out):\n%s",
                        reference,
                        "".join(
                            f"{type(c).__module__}.{type(c).__qualname__}\n"
                            + "".join(traceback.format_tb(c.__traceback__))
                            for c in chain
                        ),
                    )
                return web.error_page(
                    request,
                    PageError(
                        500,
                        "Something went wrong",
                        f"Something went wrong on our side (reference {reference}). Nothing "
                        "half-done was saved. Try again; if it persists, tell the trust's "
                        "administrator the reference.",
                    ),
                )

        return run

    return wrap
