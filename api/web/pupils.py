"""The SENDCo's and teacher's pages: register, pupil timeline, entry forms, deadlines, export.

Every page calls the same use case as the API's route for what it shows, so scope,
visibility and the access record are the application's, not the page's; a read that cannot
be recorded is not shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from api.app.bodies import ExportRequest
from api.app.catalogue import BY_SLUG, COMMANDS, Command
from api.app.errors import AppError
from api.app.queries import ChronologyFilters
from api.bundle_html import render_bundle_html
from api.web import permissions as pages
from api.web.account import Form, check_csrf
from api.web.core import SECURITY_HEADERS, PageError, Viewer, Web, guarded
from api.web.filters import long_date
from api.web.forms import Field, FormData, fields_of, humanise, parse
from domain.errors import DomainError, PupilPurged, UnknownPupil
from domain.events import EVENT_TYPES
from domain.pupil import Pupil
from domain.values import AreaOfNeed, DisclosurePurpose, Role
from projections.chronology import ChronologyEntry, Order
from projections.register import STATUSES

SORTS = {"name": "Name", "status": "Status (most support first)", "since": "Longest on register"}
NEED_CODES = (
    "SPLD", "MLD", "SLD", "PMLD", "SEMH", "SLCN", "HI", "VI", "MSI", "PD", "ASD", "OTH", "NSA",
)  # fmt: skip
KINDS = tuple(sorted(cls.__name__ for cls in EVENT_TYPES))
ROLES = tuple(r.value for r in Role)
# Payload keys shown elsewhere on an entry (dates, author) rather than in its details.
# Shown above the details: the dates, who recorded it, and where an imported entry came from.
_META = frozenset({"happened_on", "recorded_at", "recorded_by", "imported_from"})


def purpose_of(viewer: Viewer, given: str | None) -> str | None:
    """The stated purpose; None means the page must ask for one first."""
    text = (given or "").strip()[:500] or None
    return text


@dataclass(frozen=True)
class Plan:
    plan_id: UUID
    kind: str
    agreed_on: date
    review_on: date
    targets: tuple[str, ...]
    provision: str | None


def _with_pupil_choices(fields: list[Field], pupil: Pupil) -> list[Field]:
    """A required plan id is chosen from the pupil's open plans, not typed in; an optional
    one (a client's own id for a new plan, an API nicety) is left to the server."""
    plans = [
        (str(plan_id), f"{humanise(state.kind.value)} agreed {long_date(state.agreed_on)}")
        for plan_id, state in pupil.plans.items()
        if state.closed_on is None
    ]
    return [
        replace(f, kind="select", options=plans, hint=f.hint or "The pupil's open plans.")
        if f.name == "plan_id" and f.required
        else f
        for f in fields
        if f.name != "plan_id" or f.required
    ]


def current_plans(pupil: Pupil, entries: list[ChronologyEntry]) -> list[Plan]:
    """Open plans with their targets, and the provision (strategies) agreed, if visible."""
    agreed: dict[str, dict[str, Any]] = {}
    for e in entries:
        if e.type == "PlanAgreed" and e.payload is not None:
            agreed[str(e.payload.get("plan_id"))] = e.payload
    plans = []
    for plan_id, state in pupil.plans.items():
        if state.closed_on is not None:
            continue
        payload = agreed.get(str(plan_id), {})
        plans.append(
            Plan(
                plan_id,
                state.kind.value,
                state.agreed_on,
                state.review_on,
                tuple(state.targets),
                payload.get("provision"),
            )
        )
    return sorted(plans, key=lambda p: p.agreed_on, reverse=True)


def details(payload: dict[str, Any] | None) -> list[tuple[str, Any]]:
    if payload is None:
        return []
    return [(k, v) for k, v in payload.items() if k not in _META]


def pretty(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "; ".join(pretty(v) for v in value) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{k.replace('_', ' ')}: {pretty(v)}" for k, v in value.items())
    if value is None or value == "":
        return "—"
    return str(value)


REGISTER_PAGE = 100  # pupils shown (and recorded as read) per page of the register
DEADLINES_SHOWN = 1000  # the deadlines page lists this many at most (most overdue first)


def router(web: Web) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    web.env.filters["pretty"] = pretty
    app = web.app

    # ----- register ---------------------------------------------------------------------

    @r.get("/ui/register")
    @guarded(web)
    def register(
        request: Request,
        academy: Annotated[str | None, Query(max_length=64)] = None,
        status: Annotated[str | None, Query(max_length=20)] = None,
        need: Annotated[str | None, Query(max_length=10)] = None,
        sort: Annotated[str, Query(max_length=10)] = "name",
        purpose: Annotated[str | None, Query(max_length=500)] = None,
        start: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> Response:
        viewer = web.signed_in(request)
        viewer.require(pages.REGISTER, "the register")
        academy, status, need = academy or None, status or None, need or None
        if status is not None and status not in STATUSES:
            raise PageError(422, "Unknown status", f"Choose a status from the list: {status!r}")
        if need is not None and need not in NEED_CODES:
            raise PageError(422, "Unknown need", f"Choose a need from the list: {need!r}")
        chosen_sort: Literal["name", "status", "since"] = (
            "status" if sort == "status" else "since" if sort == "since" else "name"
        )
        stated = purpose_of(viewer, purpose)
        if viewer.purpose_required and stated is None:
            return web.render(
                request,
                "purpose.html",
                viewer,
                title="Register",
                heading="Why are you reading the register?",
                action="/ui/register",
                keep={"academy": academy or "", "status": status or "", "need": need or ""},
            )
        found = app.reads.register(
            viewer.caller,
            academy=academy,
            status=status,
            need=need,
            sort=chosen_sort,
            limit=REGISTER_PAGE,
            offset=start,
            purpose=stated,
        )
        return web.render(
            request,
            "register.html",
            viewer,
            title="SEND register",
            rows=found.rows,
            counts=found.by_status,
            total=sum(found.by_status.values()),
            academies=found.academies,
            statuses=STATUSES,
            needs=NEED_CODES,
            sorts=SORTS,
            chosen={"academy": academy, "status": status, "need": need, "sort": chosen_sort},
            purpose=stated or "",
            start=start,
            matching=found.total,
            page_size=REGISTER_PAGE,
            query=lambda at: urlencode(
                {
                    k: v
                    for k, v in (
                        ("academy", academy),
                        ("status", status),
                        ("need", need),
                        ("sort", chosen_sort),
                        ("purpose", stated),
                    )
                    if v
                }
                | {"start": at}
            ),
        )

    # ----- pupil page -------------------------------------------------------------------

    @r.get("/ui/pupils/{pupil_id}")
    @guarded(web)
    def pupil_page(
        request: Request,
        pupil_id: UUID,
        kind: Annotated[str | None, Query(max_length=60)] = None,
        since: Annotated[str | None, Query(max_length=10)] = None,
        until: Annotated[str | None, Query(max_length=10)] = None,
        author_role: Annotated[str | None, Query(max_length=20)] = None,
        area: Annotated[str | None, Query(max_length=60)] = None,
        order: Annotated[str, Query(max_length=10)] = "happened",
        purpose: Annotated[str | None, Query(max_length=500)] = None,
    ) -> Response:
        viewer = web.signed_in(request)
        viewer.require(pages.PUPIL, "pupil records")
        stated = purpose_of(viewer, purpose)
        if viewer.purpose_required and stated is None:
            return web.render(
                request,
                "purpose.html",
                viewer,
                title="Pupil record",
                heading="Why are you reading this pupil's records?",
                action=f"/ui/pupils/{pupil_id}",
                keep={},
            )
        chosen = _filters(kind, since, until, author_role, area, order)
        found = app.reads.chronology(viewer.caller, pupil_id, chosen.query, stated)
        pupil = found.pupil
        # A correction is shown with the entry it corrects (when that entry is shown).
        shown_seqs = {e.seq for e in found.entries}
        entries = [e for e in found.entries if e.corrects_seq not in shown_seqs]
        return web.render(
            request,
            "pupil.html",
            viewer,
            title=_name(pupil),
            pupil=pupil,
            name=_name(pupil),
            entries=entries,
            plans=current_plans(pupil, found.plans),
            commands=[c for c in COMMANDS if viewer.may(c.use_case)],
            may_export=viewer.may(pages.EXPORT),
            may_access_log=viewer.may(pages.ACCESS_LOG),
            filters=chosen.as_form(),
            kinds=[k for k in KINDS if k in app.policy.visible_kinds(viewer.role.value)],
            roles=ROLES,
            areas=[a.value for a in AreaOfNeed],
            details=details,
            purpose=stated or "",
        )

    # ----- entry forms (one per row of COMMANDS) ----------------------------------------

    def _command(slug: str, viewer: Viewer) -> Command:
        command = BY_SLUG.get(slug)
        if command is None:
            raise PageError(404, "No such form", f"There is no kind of entry called {slug!r}.")
        viewer.require(command.use_case, f"the form “{command.title}”")
        return command

    def _form_pupil(viewer: Viewer, pupil_id: UUID, command: Command) -> Pupil:
        """The pupil the form is about (its name is shown: a read, recorded as one)."""
        return app.reads.pupil(viewer.caller, pupil_id, f"entry form: {command.title}")

    def _entry_form(
        request: Request,
        viewer: Viewer,
        pupil: Pupil,
        command: Command,
        values: FormData,
        errors: dict[str, str],
        version: int,
        status: int = 200,
        problem: str | None = None,
    ) -> Response:
        return web.render(
            request,
            "entry_form.html",
            viewer,
            status=status,
            title=f"{command.title} — {_name(pupil)}",
            pupil=pupil,
            name=_name(pupil),
            command=command,
            fields=_with_pupil_choices(fields_of(command.body), pupil),
            values=values,
            errors=errors,
            version=version,
            problem=problem,
        )

    @r.get("/ui/pupils/{pupil_id}/entries/{slug:path}")
    @guarded(web)
    def entry_form(request: Request, pupil_id: UUID, slug: str) -> Response:
        viewer = web.signed_in(request)
        command = _command(slug, viewer)
        pupil = _form_pupil(viewer, pupil_id, command)
        return _entry_form(request, viewer, pupil, command, FormData([]), {}, pupil.version)

    @r.post("/ui/pupils/{pupil_id}/entries/{slug:path}")
    @guarded(web)
    def add_entry(request: Request, pupil_id: UUID, slug: str, form: Form) -> Response:
        viewer = web.signed_in(request)
        check_csrf(viewer, form)
        command = _command(slug, viewer)
        version_text = form.get("version").strip()
        if not version_text.isdigit() or len(version_text) > 9:
            raise PageError(
                400, "Form incomplete", "The form did not say which version it was based on."
            )
        based_on = int(version_text)
        parsed = parse(command.body, form)
        if parsed.body is None:
            pupil = _form_pupil(viewer, pupil_id, command)
            return _entry_form(
                request, viewer, pupil, command, form, parsed.errors, based_on, status=422
            )
        try:
            saved = app.entries.add(viewer.caller, command.slug, pupil_id, parsed.body, based_on)
        except AppError as e:
            if e.status == 409:
                current = _form_pupil(viewer, pupil_id, command)
                return _entry_form(
                    request, viewer, current, command, form, {}, current.version, 409,
                    "Someone else added to this pupil's record since you opened this form, "
                    "so nothing was saved. Check on the record (link above) that your entry "
                    "still applies, then save again: the form now works from the latest "
                    "version.",
                )  # fmt: skip
            raise
        except (PupilPurged, UnknownPupil):
            raise
        except DomainError as e:
            pupil = _form_pupil(viewer, pupil_id, command)
            return _entry_form(request, viewer, pupil, command, form, {}, based_on, 422, str(e))
        viewer.session.flash.append(f"Saved: {command.title.lower()} (entry {saved.seq}).")
        return RedirectResponse(
            f"/ui/pupils/{pupil_id}#entry-{saved.seq}", status_code=303, headers=SECURITY_HEADERS
        )

    # ----- deadlines --------------------------------------------------------------------

    @r.get("/ui/deadlines")
    @guarded(web)
    def deadlines_page(request: Request, overdue: Annotated[bool, Query()] = False) -> Response:
        viewer = web.signed_in(request)
        viewer.require(pages.DEADLINES, "the deadlines page")
        found = app.reads.deadlines(viewer.caller, overdue=overdue, limit=DEADLINES_SHOWN)
        return web.render(
            request,
            "deadlines.html",
            viewer,
            title="Deadlines",
            deadlines=found.rows,
            names={k: v.name for k, v in found.names.items()},
            today=app.today(),
            overdue=overdue,
            overdue_count=sum(1 for d in found.rows if d.status == "overdue"),
        )

    # ----- export -----------------------------------------------------------------------

    @r.get("/ui/pupils/{pupil_id}/export")
    @guarded(web)
    def export_form(request: Request, pupil_id: UUID) -> Response:
        viewer = web.signed_in(request)
        viewer.require(pages.EXPORT, "exports")
        pupil = app.reads.pupil(viewer.caller, pupil_id, "export form")
        return _export_form(request, viewer, pupil, FormData([]), {})

    def _export_form(
        request: Request,
        viewer: Viewer,
        pupil: Pupil,
        values: FormData,
        errors: dict[str, str],
        status: int = 200,
    ) -> Response:
        return web.render(
            request,
            "export.html",
            viewer,
            status=status,
            title=f"Export — {_name(pupil)}",
            pupil=pupil,
            name=_name(pupil),
            purposes=[p.value for p in DisclosurePurpose],
            values=values,
            errors=errors,
        )

    @r.post("/ui/pupils/{pupil_id}/export")
    @guarded(web)
    def export(request: Request, pupil_id: UUID, form: Form) -> Response:
        viewer = web.signed_in(request)
        check_csrf(viewer, form)
        viewer.require(pages.EXPORT, "exports")
        purpose = form.get("purpose").strip()
        detail = form.get("purpose_detail").strip()
        errors = {}
        if purpose not in {p.value for p in DisclosurePurpose}:
            errors["purpose"] = "Choose why the records are being disclosed."
        elif purpose == "other" and not detail:
            errors["purpose_detail"] = "Say what the purpose is."
        request_body = None
        try:
            request_body = ExportRequest(
                purpose=detail if purpose == "other" else purpose or "other",
                recipient=form.get("recipient").strip(),
                legal_basis=form.get("legal_basis").strip(),
            )
        except ValidationError as e:
            for problem in e.errors(include_url=False):
                name = str(problem["loc"][0]) if problem["loc"] else "purpose"
                errors.setdefault(
                    "purpose_detail" if name == "purpose" else name, _export_wording(name)
                )
        if errors or request_body is None:
            pupil = app.reads.pupil(viewer.caller, pupil_id, "export form")
            return _export_form(request, viewer, pupil, form, errors, 422)
        result = app.exports.export(viewer.caller, pupil_id, request_body)
        if form.get("format") == "html":
            content = render_bundle_html(result.bundle, result.digest)
            media_type, suffix = "text/html", "html"
        else:
            content = json.dumps(result.bundle, indent=1, ensure_ascii=False)
            media_type, suffix = "application/json", "json"
        return Response(
            content,
            media_type=media_type,
            headers={
                **SECURITY_HEADERS,
                "Content-Disposition": (
                    f'attachment; filename="chronicle-export-{pupil_id}.{suffix}"'
                ),
                "X-Export-Digest": result.digest,
            },
        )

    return r


def _export_wording(name: str) -> str:
    return {
        "recipient": "Say to whom the records go (500 characters or fewer).",
        "legal_basis": "Give the lawful basis for the disclosure (500 characters or fewer).",
    }.get(name, "Say what the purpose is (500 characters or fewer).")


def _name(pupil: Pupil) -> str:
    given = pupil.preferred_name or pupil.legal_given_names
    return f"{given} {pupil.legal_family_name}"


def _day(text: str | None, what: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PageError(
            422, "Not a date", f"{what}: enter a date as year-month-day, e.g. 2025-01-31."
        ) from None


@dataclass(frozen=True)
class Filters:
    """The chronology filters a person chose (the API's query parameters)."""

    kind: str | None
    since: date | None
    until: date | None
    author_role: str | None
    area: str | None
    order: Order

    @property
    def query(self) -> ChronologyFilters:
        """The same filters as the chronology query takes them."""
        return ChronologyFilters(
            kinds=None if self.kind is None else [self.kind],
            since=self.since,
            until=self.until,
            author_role=self.author_role,
            area=self.area,
            order=self.order,
        )

    def as_form(self) -> dict[str, str]:
        return {
            "kind": self.kind or "",
            "since": "" if self.since is None else self.since.isoformat(),
            "until": "" if self.until is None else self.until.isoformat(),
            "author_role": self.author_role or "",
            "area": self.area or "",
            "order": self.order,
        }


def _filters(
    kind: str | None,
    since: str | None,
    until: str | None,
    author_role: str | None,
    area: str | None,
    order: str,
) -> Filters:
    if kind and kind not in KINDS:
        raise PageError(422, "Unknown kind of entry", "Choose a kind from the list.")
    if author_role and author_role not in ROLES:
        raise PageError(422, "Unknown role", "Choose a role from the list.")
    if area and area not in {a.value for a in AreaOfNeed}:
        raise PageError(422, "Unknown area of need", "Choose an area from the list.")
    return Filters(
        kind or None,
        _day(since, "From"),
        _day(until, "To"),
        author_role or None,
        area or None,
        "recorded" if order == "recorded" else "happened",
    )
