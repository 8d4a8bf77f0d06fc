"""The DSL's and DPO's pages: the safeguarding cross-reference audit, a pupil's access log,
the retention schedule, legal holds and the two-person purge."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from api.http.access import access_records, record_views
from api.http.permissions import Access
from api.retention import Retention, RetentionRefused, proposals
from api.web import permissions as pages
from api.web.account import Form, check_csrf
from api.web.core import SECURITY_HEADERS, PageError, Viewer, Web, guarded
from domain.errors import PupilPurged, UnknownPupil
from domain.values import Role
from projections.crossrefs import awaiting_decision, cross_references
from projections.register import RegisterReader
from projections.retention_schedule import RetentionReader

SCHEDULE_ROWS = 100


def router(web: Web) -> APIRouter:
    r = APIRouter(include_in_schema=False)

    def names_of(pupil_ids: list[UUID]) -> dict[UUID, str]:
        reader = RegisterReader(web.svc.records)
        with web.svc.records.datastore.transaction(False) as session:
            return {k: v.name for k, v in reader.names(session, pupil_ids).items()}

    # ----- DSL: cross-reference audit ---------------------------------------------------

    @r.get("/ui/safeguarding")
    @guarded(web)
    def safeguarding(request: Request) -> Response:
        viewer = web.signed_in(request)
        viewer.require(pages.SAFEGUARDING, "the safeguarding audit")
        web.svc.catch_up()
        records = web.svc.records
        refs = [c for c in cross_references(records) if viewer.user.covers(c.academy)]
        waiting = [w for w in awaiting_decision(records) if viewer.user.covers(w.academy)]
        pupil_ids = list(dict.fromkeys([c.pupil_id for c in refs] + [w.pupil_id for w in waiting]))
        names = names_of(pupil_ids)
        # Recorded as the API's two reads record them.
        ref_ids = list(dict.fromkeys(c.pupil_id for c in refs))
        record_views(records, ref_ids, viewer.recorder, "safeguarding cross-references", None)
        waiting_ids = [w.pupil_id for w in waiting]
        record_views(records, waiting_ids, viewer.recorder, "safeguarding awaiting decision", None)
        by_academy: dict[str, int] = {}
        for c in refs:
            by_academy[c.academy] = by_academy.get(c.academy, 0) + 1
        return web.render(
            request,
            "safeguarding.html",
            viewer,
            title="Safeguarding cross-reference audit",
            refs=refs,
            waiting=waiting,
            names=names,
            by_academy=sorted(by_academy.items()),
        )

    # ----- DSL, DPO: who viewed a pupil -------------------------------------------------

    @r.get("/ui/pupils/{pupil_id}/access-log")
    @guarded(web)
    def access_log(request: Request, pupil_id: UUID) -> Response:
        viewer = web.signed_in(request)
        allowed = viewer.require(pages.ACCESS_LOG, "the access log")
        web.pupil(viewer, pupil_id, allowed)
        found = access_records(web.svc.records, pupil_id)
        return web.render(
            request,
            "access_log.html",
            viewer,
            title="Who viewed this pupil's records",
            pupil_id=pupil_id,
            records=list(reversed(found)),
        )

    # ----- DPO: retention ---------------------------------------------------------------

    def retention_of() -> Retention:
        if web.retention is None:
            raise PageError(
                503,
                "Retention not available",
                "This service was started without the trust's signing key and purge "
                "journal, so holds and purges cannot be made here: use `chronicle "
                "retention`.",
            )
        return web.retention

    def pending() -> list[dict[str, Any]]:
        with web.svc.records.datastore.transaction(False) as session:
            rows = session.execute(select(proposals).order_by(proposals.c.proposed_at)).all()
        return [dict(row._mapping) for row in rows]

    @r.get("/ui/retention")
    @guarded(web)
    def retention_page(request: Request) -> Response:
        viewer = web.signed_in(request)
        viewer.require(pages.RETENTION, "the retention pages")
        web.svc.catch_up()
        reader = RetentionReader(web.svc.records)
        today = web.today()
        schedule = reader.schedule()
        purge_records = [] if web.retention is None else web.retention.purge_records()
        return web.render(
            request,
            "retention.html",
            viewer,
            title="Retention",
            today=today,
            due=reader.due(today),
            held=reader.held(),
            proposals=pending(),
            schedule=schedule[:SCHEDULE_ROWS],
            schedule_total=len(schedule),
            purged=reader.purged(),
            purge_records=purge_records,
            available=web.retention is not None,
        )

    @r.get("/ui/retention/{pupil_id}")
    @guarded(web)
    def retention_pupil(request: Request, pupil_id: UUID) -> Response:
        viewer = web.signed_in(request)
        viewer.require(pages.RETENTION, "the retention pages")
        return _retention_pupil(request, viewer, pupil_id, None, 200)

    def _retention_pupil(
        request: Request, viewer: Viewer, pupil_id: UUID, problem: str | None, status: int
    ) -> Response:
        web.svc.catch_up()
        entry = RetentionReader(web.svc.records).entry(pupil_id)
        if entry is None:
            raise PageError(404, "Not on the schedule", f"No pupil {pupil_id} is on it.")
        proposal = next((p for p in pending() if p["pupil_id"] == pupil_id), None)
        return web.render(
            request,
            "retention_pupil.html",
            viewer,
            status=status,
            title="Retention of one pupil's records",
            entry=entry,
            proposal=proposal,
            problem=problem,
            today=web.today(),
            is_dpo=viewer.role is Role.DPO,
            available=web.retention is not None,
        )

    @r.post("/ui/retention/{pupil_id}/{action}")
    @guarded(web)
    def retention_action(request: Request, pupil_id: UUID, action: str, form: Form) -> Response:
        viewer = web.signed_in(request)
        check_csrf(viewer, form)
        allowed = viewer.require(pages.RETENTION, "the retention pages")
        assert allowed is not Access.DENIED
        retention = retention_of()
        by = viewer.recorder
        try:
            if action in ("hold", "release", "propose") and viewer.role is not Role.DPO:
                raise RetentionRefused(
                    f"only a data-protection officer may {action} here, not a {viewer.role}"
                )
            if action == "hold":
                reason, requested_by = form.get("reason").strip(), form.get("requested_by")
                if not reason or not requested_by.strip():
                    raise RetentionRefused("give the reason for the hold and who asked for it")
                retention.hold(pupil_id, by, reason[:1000], requested_by.strip()[:200])
                done = "Legal hold placed."
            elif action == "release":
                reason = form.get("reason").strip()
                if not reason:
                    raise RetentionRefused("give the reason for lifting the hold")
                retention.release(pupil_id, by, reason[:1000])
                done = "Legal hold lifted."
            elif action == "propose":
                override = form.get("override").strip()[:1000] or None
                due = retention.propose(pupil_id, by, override)
                done = f"Purge proposed (due {due}); a second person must approve it."
            elif action == "approve":
                record = retention.approve(pupil_id, by)
                done = f"Purged; signed purge record for entry {record.record['head_seq']}."
            else:
                raise PageError(404, "No such action", f"Unknown retention action {action!r}.")
        except (PupilPurged, UnknownPupil):
            raise
        except RetentionRefused as e:
            return _retention_pupil(request, viewer, pupil_id, str(e), 422)
        viewer.session.flash.append(done)
        return RedirectResponse(
            f"/ui/retention/{pupil_id}", status_code=303, headers=SECURITY_HEADERS
        )

    return r
