"""The SENDCo's and teacher's pages: register, pupil timeline, entry forms, deadlines, export.

Every page that shows pupil content records the read in the pupils' access streams exactly
as the API does (`record_views`), before anything is shown; a read that cannot be recorded
is not shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel

from api.bundle_html import render_bundle_html
from api.export import Disclosure, export_pupil
from api.http.access import record_views
from api.http.auth import Caller
from api.http.commands import BY_SLUG, COMMANDS, Command, Context
from api.http.errors import ApiError
from api.http.permissions import Access
from api.http.writes import WriteRequest, run
from api.web import permissions as pages
from api.web.account import Form, check_csrf
from api.web.core import SECURITY_HEADERS, PageError, Viewer, Web, guarded
from api.web.filters import long_date
from api.web.forms import Field, FormData, fields_of, humanise, parse
from domain.errors import DomainError, PupilPurged, UnknownPupil
from domain.events import EVENT_TYPES
from domain.pupil import Pupil
from domain.values import AreaOfNeed, DisclosurePurpose, Role
from projections.chronology import ChronologyEntry, Order, chronology
from projections.deadlines import due_deadlines
from projections.ledger import LedgerError
from projections.register import STATUSES, RegisterFilter, RegisterReader, RegisterRow

SORTS = {"name": "Name", "status": "Status (most support first)", "since": "Longest on register"}
NEED_CODES = (
    "SPLD", "MLD", "SLD", "PMLD", "SEMH", "SLCN", "HI", "VI", "MSI", "PD", "ASD", "OTH", "NSA",
)  # fmt: skip
KINDS = tuple(sorted(cls.__name__ for cls in EVENT_TYPES))
ROLES = tuple(r.value for r in Role)
# Payload keys shown elsewhere on an entry (dates, author) rather than in its details.
_META = frozenset({"happened_on", "recorded_at", "recorded_by"})


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


def router(web: Web) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    web.env.filters["pretty"] = pretty

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
        if sort not in SORTS:
            sort = "name"
        if academy is not None and not viewer.user.covers(academy):
            raise PageError(
                403,
                "Not one of your academies",
                f"Academy {academy!r} is not one you cover "
                f"({', '.join(sorted(viewer.user.academies))}).",
            )
        stated = purpose_of(viewer, purpose)
        web.svc.catch_up()
        reader = RegisterReader(web.svc.records)
        known = reader.academies()
        mine = [a for a in known if viewer.user.covers(a)]
        wanted = [academy] if academy is not None else mine
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
        rows: list[RegisterRow] = []
        counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
        for code in wanted:
            found = reader.page(RegisterFilter(academy=code, need=need), sort=sort).rows
            for row in found:
                counts[row.status] = counts.get(row.status, 0) + 1
            rows.extend(row for row in found if status is None or row.status == status)
        if len(wanted) > 1:
            rows = _sorted(rows, sort)
        matching = len(rows)
        start = min(start, max(0, matching - 1))
        rows = rows[start : start + REGISTER_PAGE]  # only the pupils shown are read (logged)
        record_views(
            web.svc.records, [row.pupil_id for row in rows], viewer.recorder, "register", stated
        )
        return web.render(
            request,
            "register.html",
            viewer,
            title="SEND register",
            rows=rows,
            counts=counts,
            total=sum(counts.values()),
            academies=mine,
            statuses=STATUSES,
            needs=NEED_CODES,
            sorts=SORTS,
            chosen={"academy": academy, "status": status, "need": need, "sort": sort},
            purpose=stated or "",
            start=start,
            matching=matching,
            page_size=REGISTER_PAGE,
            query=lambda at: urlencode(
                {
                    k: v
                    for k, v in (
                        ("academy", academy),
                        ("status", status),
                        ("need", need),
                        ("sort", sort),
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
        allowed = viewer.require(pages.PUPIL, "pupil records")
        pupil = web.pupil(viewer, pupil_id, allowed)
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
        web.svc.catch_up()
        entries = chronology(
            web.svc.records,
            pupil_id,
            kinds=None if chosen.kind is None else [chosen.kind],
            since=chosen.since,
            until=chosen.until,
            author_role=chosen.author_role,
            area=chosen.area,
            viewer_role=viewer.role.value,
            order=chosen.order,
        )
        if viewer.role is Role.TEACHER:
            # Teachers see what they need and no more: not even that a restricted entry exists.
            entries = [e for e in entries if not e.masked]
        # A correction is shown with the entry it corrects (when that entry is shown).
        shown_seqs = {e.seq for e in entries}
        entries = [e for e in entries if e.corrects_seq not in shown_seqs]
        plans_source = entries
        if chosen.narrowed:
            plans_source = chronology(
                web.svc.records, pupil_id, kinds=["PlanAgreed"], viewer_role=viewer.role.value
            )
        what = "chronology" + (f"?{urlencode(chosen.shown)}" if chosen.shown else "")
        record_views(web.svc.records, [pupil_id], viewer.recorder, "record", stated)
        record_views(web.svc.records, [pupil_id], viewer.recorder, what, stated)
        return web.render(
            request,
            "pupil.html",
            viewer,
            title=_name(pupil),
            pupil=pupil,
            name=_name(pupil),
            entries=entries,
            plans=current_plans(pupil, plans_source),
            commands=[c for c in COMMANDS if viewer.may(c.endpoint)],
            may_export=viewer.may(pages.EXPORT),
            may_access_log=viewer.may(pages.ACCESS_LOG),
            filters=chosen.as_form(),
            kinds=[
                k for k in KINDS if k in web.svc.records.policy.visible_kinds(viewer.role.value)
            ],
            roles=ROLES,
            areas=[a.value for a in AreaOfNeed],
            details=details,
            purpose=stated or "",
        )

    # ----- entry forms (one per row of COMMANDS) ----------------------------------------

    def _command(slug: str, viewer: Viewer) -> tuple[Command, Access]:
        command = BY_SLUG.get(slug)
        if command is None:
            raise PageError(404, "No such form", f"There is no kind of entry called {slug!r}.")
        return command, viewer.require(command.endpoint, f"the form “{command.title}”")

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

    @r.get("/ui/pupils/{pupil_id}/entries/{slug}")
    @guarded(web)
    def entry_form(request: Request, pupil_id: UUID, slug: str) -> Response:
        viewer = web.signed_in(request)
        command, allowed = _command(slug, viewer)
        pupil = web.pupil(viewer, pupil_id, allowed)
        return _entry_form(request, viewer, pupil, command, FormData([]), {}, pupil.version)

    @r.post("/ui/pupils/{pupil_id}/entries/{slug}")
    @guarded(web)
    def add_entry(request: Request, pupil_id: UUID, slug: str, form: Form) -> Response:
        viewer = web.signed_in(request)
        check_csrf(viewer, form)
        command, allowed = _command(slug, viewer)
        pupil = web.pupil(viewer, pupil_id, allowed)
        version_text = form.get("version").strip()
        if not version_text.isdigit():
            raise PageError(
                400, "Form incomplete", "The form did not say which version it was based on."
            )
        based_on = int(version_text)
        parsed = parse(command.body, form)
        if parsed.body is None:
            return _entry_form(
                request, viewer, pupil, command, form, parsed.errors, based_on, status=422
            )
        body: BaseModel = parsed.body
        caller = _caller(viewer, command.endpoint, allowed)
        write = WriteRequest(
            web.svc, caller, f"/pupils/{pupil_id}/{command.slug}", body, based_on, None
        )

        def apply(target: Pupil) -> None:
            ctx = Context(web.svc.records.policy, viewer.recorder, web.svc.records.clock())
            command.apply(target, body, ctx)

        try:
            answer = run(lambda: write.on_pupil(pupil_id, apply))
        except ApiError as e:
            if e.status == 409:
                current = web.pupil(viewer, pupil_id, allowed)
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
            return _entry_form(request, viewer, pupil, command, form, {}, based_on, 422, str(e))
        seq = json.loads(bytes(answer.body))["seq"]
        viewer.session.flash.append(f"Saved: {command.title.lower()} (entry {seq}).")
        return RedirectResponse(
            f"/ui/pupils/{pupil_id}#entry-{seq}", status_code=303, headers=SECURITY_HEADERS
        )

    # ----- deadlines --------------------------------------------------------------------

    @r.get("/ui/deadlines")
    @guarded(web)
    def deadlines_page(request: Request, overdue: Annotated[bool, Query()] = False) -> Response:
        viewer = web.signed_in(request)
        viewer.require(pages.DEADLINES, "the deadlines page")
        web.svc.catch_up()
        today = web.today()
        found = [
            d
            for d in due_deadlines(web.svc.records, as_of=today, overdue_only=overdue)
            if viewer.user.covers(d.academy)
        ]
        pupil_ids = list(dict.fromkeys(d.pupil_id for d in found))
        reader = RegisterReader(web.svc.records)
        with web.svc.records.datastore.transaction(False) as session:
            names = reader.names(session, pupil_ids)
        record_views(web.svc.records, pupil_ids, viewer.recorder, "deadlines", None)
        return web.render(
            request,
            "deadlines.html",
            viewer,
            title="Deadlines",
            deadlines=found,
            names={k: v.name for k, v in names.items()},
            today=today,
            overdue=overdue,
            overdue_count=sum(1 for d in found if d.status == "overdue"),
        )

    # ----- export -----------------------------------------------------------------------

    @r.get("/ui/pupils/{pupil_id}/export")
    @guarded(web)
    def export_form(request: Request, pupil_id: UUID) -> Response:
        viewer = web.signed_in(request)
        allowed = viewer.require(pages.EXPORT, "exports")
        pupil = web.pupil(viewer, pupil_id, allowed)
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
        allowed = viewer.require(pages.EXPORT, "exports")
        pupil = web.pupil(viewer, pupil_id, allowed)
        purpose = form.get("purpose").strip()
        detail = form.get("purpose_detail").strip()
        recipient = form.get("recipient").strip()
        legal_basis = form.get("legal_basis").strip()
        errors = {}
        if purpose not in {p.value for p in DisclosurePurpose}:
            errors["purpose"] = "Choose why the records are being disclosed."
        elif purpose == "other" and not detail:
            errors["purpose_detail"] = "Say what the purpose is."
        if not recipient:
            errors["recipient"] = "Say to whom the records go."
        if not legal_basis:
            errors["legal_basis"] = "Give the lawful basis for the disclosure."
        for name, value in (("purpose_detail", detail), ("recipient", recipient)):
            if len(value) > 500:
                errors[name] = "Keep this to 500 characters or fewer."
        if errors:
            return _export_form(request, viewer, pupil, form, errors, 422)
        disclosure = Disclosure(
            recipient, detail if purpose == "other" else purpose, legal_basis, viewer.recorder
        )
        try:
            result = export_pupil(web.svc.records, web.svc.ledger, pupil_id, disclosure)
        except LedgerError:
            raise PageError(
                503,
                "Try again",
                "The trust-wide log was catching up with a write made just now; nothing was "
                "exported or recorded. Try again.",
            ) from None
        record_views(
            web.svc.records,
            [pupil_id],
            viewer.recorder,
            f"export {result.digest}",
            disclosure.purpose,
        )
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


def _caller(viewer: Viewer, endpoint: str, allowed: Access) -> Caller:
    return Caller(viewer.user, allowed, endpoint)


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
    def shown(self) -> dict[str, str]:
        """The filters used, as the access log records them (as the API's query string)."""
        found = {k: v for k, v in self.as_form().items() if v}
        if found.get("order") == "happened":
            del found["order"]
        return found

    @property
    def narrowed(self) -> bool:
        return any(self.as_form()[k] for k in ("kind", "since", "until", "author_role", "area"))

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


_STATUS_RANK = {"ehcp": 0, "sen_support": 1, "monitoring": 2, "none": 3}


def _sorted(rows: list[RegisterRow], sort: str) -> list[RegisterRow]:
    if sort == "status":
        return sorted(rows, key=lambda r: (_STATUS_RANK.get(r.status, 9), r.since))
    if sort == "since":
        return sorted(rows, key=lambda r: r.since)
    return sorted(rows, key=lambda r: ((r.name or "").casefold(), str(r.pupil_id)))
