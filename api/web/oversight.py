"""The DSL's and DPO's pages: the safeguarding cross-reference audit, a pupil's access log,
the retention schedule, legal holds and the two-person purge. Each calls the use case the
API's route calls, so the scope and the audit are the same whichever way a person comes."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from api.app.bodies import LiftLegalHolds, PlaceLegalHold, ProposePurge
from api.app.errors import AppError
from api.web import permissions as pages
from api.web.account import Form, check_csrf
from api.web.core import SECURITY_HEADERS, PageError, Viewer, Web, guarded
from domain.errors import DomainError, PupilPurged, UnknownPupil
from domain.values import Role

SCHEDULE_ROWS = 100


def router(web: Web) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    app = web.app

    # ----- DSL: cross-reference audit ---------------------------------------------------

    @r.get("/ui/safeguarding")
    @guarded(web)
    def safeguarding(request: Request) -> Response:
        viewer = web.signed_in(request)
        viewer.require(pages.SAFEGUARDING, "the safeguarding audit")
        caller = viewer.caller
        refs = app.reads.cross_references(caller, limit=10_000)
        waiting = app.reads.awaiting_decision(caller, limit=10_000)
        names = {k: v.name for k, v in {**refs.names, **waiting.names}.items()}
        by_academy: dict[str, int] = {}
        for c in refs.rows:
            by_academy[c.academy] = by_academy.get(c.academy, 0) + 1
        return web.render(
            request,
            "safeguarding.html",
            viewer,
            title="Safeguarding cross-reference audit",
            refs=refs.rows,
            waiting=waiting.rows,
            names=names,
            by_academy=sorted(by_academy.items()),
        )

    # ----- DSL, DPO: who viewed a pupil -------------------------------------------------

    @r.get("/ui/pupils/{pupil_id}/access-log")
    @guarded(web)
    def access_log(request: Request, pupil_id: UUID) -> Response:
        viewer = web.signed_in(request)
        viewer.require(pages.ACCESS_LOG, "the access log")
        found = app.reads.access_log(viewer.caller, pupil_id)
        return web.render(
            request,
            "access_log.html",
            viewer,
            title="Who viewed this pupil's records",
            pupil_id=pupil_id,
            records=list(reversed(found)),
        )

    # ----- DPO: retention ---------------------------------------------------------------

    @r.get("/ui/retention")
    @guarded(web)
    def retention_page(request: Request) -> Response:
        viewer = web.signed_in(request)
        viewer.require(pages.RETENTION, "the retention pages")
        caller = viewer.caller
        today, due = app.reads.retention_schedule(caller, "due")
        _, held = app.reads.retention_schedule(caller, "held")
        _, schedule = app.reads.retention_schedule(caller, "all")
        _, purged = app.reads.retention_schedule(caller, "purged")
        purge_records = app.reads.purge_records(caller) if viewer.may("read_purge_records") else []
        return web.render(
            request,
            "retention.html",
            viewer,
            title="Retention",
            today=today,
            due=due,
            held=held,
            proposals=app.reads.purge_proposals(caller),
            schedule=schedule[:SCHEDULE_ROWS],
            schedule_total=len(schedule),
            purged=purged,
            purge_records=purge_records,
            available=app.purges.available(),
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
        entry = app.reads.pupil_retention(viewer.caller, pupil_id)
        proposals = app.reads.purge_proposals(viewer.caller)
        proposal = next((p for p in proposals if p["pupil_id"] == pupil_id), None)
        return web.render(
            request,
            "retention_pupil.html",
            viewer,
            status=status,
            title="Retention of one pupil's records",
            entry=entry,
            proposal=proposal,
            problem=problem,
            today=app.today(),
            is_dpo=viewer.role is Role.DPO,
            available=app.purges.available(),
        )

    @r.post("/ui/retention/{pupil_id}/{action}")
    @guarded(web)
    def retention_action(request: Request, pupil_id: UUID, action: str, form: Form) -> Response:
        viewer = web.signed_in(request)
        check_csrf(viewer, form)
        viewer.require(pages.RETENTION, "the retention pages")
        caller = viewer.caller
        try:
            if action == "hold":
                reason, requested_by = form.get("reason").strip(), form.get("requested_by")
                if not reason or not requested_by.strip():
                    raise _Refused("give the reason for the hold and who asked for it")
                body = PlaceLegalHold(reason=reason[:500], requested_by=requested_by.strip()[:200])
                app.entries.add(caller, "legal-holds", pupil_id, body, None)
                done = "Legal hold placed."
            elif action == "release":
                reason = form.get("reason").strip()
                if not reason:
                    raise _Refused("give the reason for lifting the hold")
                lift = LiftLegalHolds(reason=reason[:500])
                app.entries.add(caller, "legal-holds/release", pupil_id, lift, None)
                done = "Legal hold lifted."
            elif action == "propose":
                override = form.get("override").strip()[:500] or None
                due = app.purges.propose(caller, pupil_id, ProposePurge(override=override))
                done = f"Purge proposed (due {due}); a second person must approve it."
            elif action == "approve":
                record = app.purges.approve(caller, pupil_id)
                viewer.session.flash.append(
                    f"Purged pupil {pupil_id}; signed purge record for entry "
                    f"{record.record['head_seq']}."
                )
                # The pupil's own page now answers "purged": back to the schedule.
                return RedirectResponse("/ui/retention", status_code=303, headers=SECURITY_HEADERS)
            else:
                raise PageError(404, "No such action", f"Unknown retention action {action!r}.")
        except (PupilPurged, UnknownPupil):
            raise
        except AppError as e:
            if e.status != 422:
                raise
            return _retention_pupil(request, viewer, pupil_id, e.detail, 422)
        except (_Refused, DomainError) as e:
            return _retention_pupil(request, viewer, pupil_id, str(e), 422)
        viewer.session.flash.append(done)
        return RedirectResponse(
            f"/ui/retention/{pupil_id}", status_code=303, headers=SECURITY_HEADERS
        )

    return r


class _Refused(Exception):
    """A retention form left incomplete: shown on the pupil's retention page."""
