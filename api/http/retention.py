"""The data-protection officer's routes: the retention schedule, the two-person purge and
its signed records, and the subject-access export (docs/operations.md).

Legal holds, their release, subject access requests and refused erasure are entries on the
record like any other (`POST /pupils/{pupil_id}/legal-holds` and so on, generated from the
command catalogue: If-Match, Idempotency-Key, audited in the same transaction). A purged
pupil is answered with 410 and the signed purge record.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.app.bodies import ProposePurge, SubjectAccessExport
from api.http.auth import ChronicleDep, Permitted
from api.http.errors import responses
from projections.retention_schedule import RetentionEntry

router = APIRouter(tags=["retention"])
_READ = responses(401, 403, 404, 410, 422)


class LegalHoldOut(BaseModel):
    hold_id: UUID
    placed_on: date


class RetentionOut(BaseModel):
    """A pupil on the retention schedule: ids and dates only. `due_on` is when the whole
    record is purged: the later of `sen_file_due_on` (every record) and
    `child_protection_due_on` (only a record holding a restricted entry);
    `governed_by` says which (docs/policies.md, `[retention]`)."""

    pupil_id: UUID
    due_on: date | None
    sen_file_due_on: date | None
    child_protection_due_on: date | None
    governed_by: Literal["sen_file", "child_protection"] | None
    holds: list[LegalHoldOut]
    purged_on: date | None


class ScheduleOut(BaseModel):
    view: str
    as_of: date
    pupils: list[RetentionOut]


class PurgeRecordOut(BaseModel):
    """The signed statement that a pupil's records were destroyed (docs/operations.md)."""

    record: dict[str, Any]
    signature: str
    public_key: str


class ProposalOut(BaseModel):
    pupil_id: UUID
    proposed_by: str
    due_on: date


@router.get("/retention/schedule", response_model=ScheduleOut, responses=_READ)
def get_schedule(
    app: ChronicleDep,
    caller: Permitted,
    view: Annotated[Literal["due", "held", "purged", "all"], Query()] = "due",
    as_of: Annotated[date | None, Query(description="For `due`: default today.")] = None,
) -> ScheduleOut:
    """Pupils due for purge (not held, not purged), under a legal hold, purged, or all not
    yet purged: ids and dates only, no pupil content."""
    day, entries = app.reads.retention_schedule(caller, view, as_of)
    return ScheduleOut(view=view, as_of=day, pupils=[_entry(e) for e in entries])


@router.get("/retention/purges", response_model=list[PurgeRecordOut], responses=_READ)
def get_purge_records(app: ChronicleDep, caller: Permitted) -> list[Any]:
    """Every signed purge record of this installation, oldest first."""
    return [r.as_json() for r in app.reads.purge_records(caller)]


@router.get("/pupils/{pupil_id}/retention", response_model=RetentionOut, responses=_READ)
def get_pupil_retention(pupil_id: UUID, app: ChronicleDep, caller: Permitted) -> RetentionOut:
    """One pupil's place on the schedule: due date and holds (410 with the purge record
    once purged)."""
    return _entry(app.reads.pupil_retention(caller, pupil_id))


@router.post(
    "/pupils/{pupil_id}/purge-proposal",
    status_code=201,
    response_model=ProposalOut,
    responses=responses(401, 403, 404, 410, 422),
)
def propose_purge(
    pupil_id: UUID, body: ProposePurge, app: ChronicleDep, caller: Permitted
) -> ProposalOut:
    """Propose purging the pupil's records; a different person must approve. Refused (422,
    audited, nothing changed) under a legal hold or before the due date without override."""
    due = app.purges.propose(caller, pupil_id, body)
    return ProposalOut(pupil_id=pupil_id, proposed_by=caller.staff_id, due_on=due)


@router.post(
    "/pupils/{pupil_id}/purge-approval",
    status_code=201,
    response_model=PurgeRecordOut,
    responses=responses(401, 403, 404, 410, 422),
)
def approve_purge(pupil_id: UUID, app: ChronicleDep, caller: Permitted) -> dict[str, Any]:
    """Approve a proposed purge and carry it out — irreversible. The approver must not be
    the proposer. Answers with the signed purge record."""
    return app.purges.approve(caller, pupil_id).as_json()


@router.post(
    "/pupils/{pupil_id}/subject-access-exports",
    status_code=201,
    responses={
        **responses(401, 403, 404, 410, 422),
        201: {
            "description": "The `chronicle-export/1` bundle with `access_log` and "
            "`subject_access` (docs/verifiable-export.md); digest in `X-Export-Digest`.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
    },
    response_class=JSONResponse,
)
def subject_access_export(
    pupil_id: UUID, body: SubjectAccessExport, app: ChronicleDep, caller: Permitted
) -> JSONResponse:
    """The subject-access export: the whole record (restricted entries withheld unless a
    DSL releases them), the pupil's access log, and the entries holding third-party
    information marked for review. Recorded as RecordsDisclosed (purpose subject_access),
    which closes the request's deadline."""
    made = app.exports.subject_access(caller, pupil_id, body)
    return JSONResponse(made.bundle, status_code=201, headers={"X-Export-Digest": made.digest})


def _entry(e: RetentionEntry) -> RetentionOut:
    return RetentionOut(
        pupil_id=e.pupil_id,
        due_on=e.due_on,
        sen_file_due_on=e.sen_file_due_on,
        child_protection_due_on=e.child_protection_due_on,
        governed_by=e.governed_by,
        holds=[LegalHoldOut(hold_id=h.hold_id, placed_on=h.placed_on) for h in e.holds],
        purged_on=e.purged_on,
    )
