"""The data-protection officer's routes: the retention schedule, legal holds, the two-person
purge and its signed records, subject access and refused erasure (docs/operations.md).

Rectification is `POST /pupils/{pupil_id}/corrections` (api/http/commands.py). Entries on
the record (holds, requests, refusals) are writes like any other: If-Match and
Idempotency-Key. The purge goes through `api.retention.Retention`, which decides it from
the retention schedule and the head entry (not by replaying the record), audits every
refusal and journals the signed purge record. A purged pupil is answered with 410 and the
signed purge record.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.export import export_subject_access
from api.http.access import record_views
from api.http.auth import BasedOn, Caller, IdempotencyKey, Permitted, ServiceDep
from api.http.errors import ApiError, responses
from api.http.permissions import Access
from api.http.service import Service
from api.http.writes import WriteRequest, run
from api.retention import PURGE_JOURNAL, PurgeRecord, Retention, RetentionRefused
from domain.errors import UnknownPupil
from domain.pupil import Pupil
from domain.pupil.rights import REQUESTER_RELATIONSHIPS
from projections.ledger import LedgerError
from projections.retention_schedule import RetentionEntry, RetentionReader

router = APIRouter(tags=["retention"])
_READ = responses(401, 403, 404, 410, 422)
_WRITE = responses(400, 401, 403, 404, 409, 410, 422, 428)
_NAME = 200
Relationship = Literal["pupil", "parent", "carer", "legal_representative", "other"]
assert set(REQUESTER_RELATIONSHIPS) == set(Relationship.__args__)  # type: ignore[attr-defined]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HoldIn(_Body):
    """Place a legal hold: the records cannot be purged until it is lifted."""

    reason: str = Field(min_length=1, max_length=500, examples=["Tribunal appeal pending"])
    requested_by: str = Field(min_length=1, max_length=_NAME, examples=["Trust solicitor"])


class ReleaseIn(_Body):
    """Lift every legal hold in force."""

    reason: str = Field(min_length=1, max_length=500, examples=["Appeal concluded"])


class ProposeIn(_Body):
    """Propose the purge; `override` (recorded, no personal data) purges before the due date."""

    override: str | None = Field(default=None, max_length=500, examples=[None])


class SubjectAccessIn(_Body):
    """A subject access request received: tracked with a one-month deadline."""

    request_reference: str = Field(min_length=1, max_length=64, examples=["SAR-2026-014"])
    requester_relationship: Relationship = Field(examples=["parent"])
    received_on: date | None = Field(default=None, description="Default: today.")


class RedactionIn(_Body):
    seq: int = Field(ge=1, le=1_000_000, examples=[5])
    reason: str = Field(min_length=1, max_length=500, examples=["Third-party information"])


class SubjectAccessExportIn(_Body):
    """Export for a subject access request: the access log included, third-party
    information marked for review; recorded as RecordsDisclosed (purpose subject_access)."""

    request_seq: int | None = Field(
        default=None, ge=1, description="The request's entry; default the latest request."
    )
    recipient: str | None = Field(default=None, max_length=_NAME, examples=[None])
    redactions: list[RedactionIn] = Field(default_factory=list, max_length=1_000)


class ErasureRefusalIn(_Body):
    """A request to erase an entry, refused: the entry is kept, the refusal recorded."""

    entry_seq: int = Field(ge=1, le=1_000_000, examples=[7])
    request_reference: str = Field(min_length=1, max_length=64, examples=["ER-2026-003"])
    requester_relationship: Relationship = Field(examples=["parent"])
    reason: str = Field(min_length=1, max_length=1_000, examples=["Statutory SEND record"])
    legal_basis: str = Field(min_length=1, max_length=500, examples=["UK GDPR art. 17(3)(b)"])


class LegalHoldOut(BaseModel):
    hold_id: UUID
    placed_on: date


class RetentionOut(BaseModel):
    """A pupil on the retention schedule: ids and dates only."""

    pupil_id: UUID
    due_on: date | None
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


# ----- the schedule -------------------------------------------------------------------------


@router.get("/retention/schedule", response_model=ScheduleOut, responses=_READ)
def get_schedule(
    svc: ServiceDep,
    caller: Permitted,
    view: Annotated[Literal["due", "held", "purged", "all"], Query()] = "due",
    as_of: Annotated[date | None, Query(description="For `due`: default today.")] = None,
) -> ScheduleOut:
    """Pupils due for purge (not held, not purged), under a legal hold, purged, or all not
    yet purged: ids and dates only, no pupil content."""
    svc.catch_up()
    reader = RetentionReader(svc.records)
    day = as_of or svc.records.clock().date()
    entries = {
        "due": lambda: reader.due(day),
        "held": reader.held,
        "purged": reader.purged,
        "all": reader.schedule,
    }[view]()
    return ScheduleOut(view=view, as_of=day, pupils=[_entry(e) for e in entries])


@router.get("/retention/purges", response_model=list[PurgeRecordOut], responses=_READ)
def get_purge_records(request: Request, svc: ServiceDep, caller: Permitted) -> list[Any]:
    """Every signed purge record of this installation, oldest first."""
    return [r.as_json() for r in _retention(request, svc).purge_records()]


@router.get("/pupils/{pupil_id}/retention", response_model=RetentionOut, responses=_READ)
def get_pupil_retention(
    pupil_id: UUID, request: Request, svc: ServiceDep, caller: Permitted
) -> RetentionOut:
    """One pupil's place on the schedule: due date and holds (410 with the purge record
    once purged)."""
    _in_scope(request, svc, caller, pupil_id)
    svc.catch_up()
    entry = RetentionReader(svc.records).entry(pupil_id)
    if entry is None:
        raise ApiError(
            503, "schedule_behind", "the retention schedule has not caught up: try again"
        )
    return _entry(entry)


# ----- legal holds, the purge ---------------------------------------------------------------


@router.post("/pupils/{pupil_id}/legal-holds", status_code=201, responses=_WRITE)
def place_hold(
    pupil_id: UUID,
    body: HoldIn,
    request: Request,
    svc: ServiceDep,
    caller: Permitted,
    version: BasedOn,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Place a legal hold (written like any entry: If-Match, Idempotency-Key)."""

    def command(pupil: Pupil) -> None:
        now = svc.records.clock()
        pupil.place_legal_hold(
            reason=body.reason,
            requested_by=body.requested_by,
            recorded_by=caller.recorder,
            happened_on=now.date(),
            recorded_at=now,
        )

    return _write(request, svc, caller, pupil_id, body, version, idempotency_key, command, "hold")


@router.post("/pupils/{pupil_id}/legal-holds/release", status_code=201, responses=_WRITE)
def release_holds(
    pupil_id: UUID,
    body: ReleaseIn,
    request: Request,
    svc: ServiceDep,
    caller: Permitted,
    version: BasedOn,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Lift every legal hold in force (one entry per hold; the answer names the last)."""

    def command(pupil: Pupil) -> None:
        if not pupil.holds:
            raise RetentionRefused(f"pupil {pupil.id} has no legal hold in force")
        now = svc.records.clock()
        for hold_id in list(pupil.holds):
            pupil.lift_legal_hold(
                hold_id=hold_id,
                reason=body.reason,
                recorded_by=caller.recorder,
                happened_on=now.date(),
                recorded_at=now,
            )

    return _write(
        request, svc, caller, pupil_id, body, version, idempotency_key, command, "release"
    )


@router.post(
    "/pupils/{pupil_id}/purge-proposal",
    status_code=201,
    response_model=ProposalOut,
    responses=responses(401, 403, 404, 410, 422),
)
def propose_purge(
    pupil_id: UUID, body: ProposeIn, request: Request, svc: ServiceDep, caller: Permitted
) -> ProposalOut:
    """Propose purging the pupil's records; a different person must approve. Refused (422,
    audited, nothing changed) under a legal hold or before the due date without override."""
    _in_scope(request, svc, caller, pupil_id)
    due = _retention(request, svc).propose(pupil_id, caller.recorder, body.override)
    return ProposalOut(pupil_id=pupil_id, proposed_by=caller.recorder.staff_id, due_on=due)


@router.post(
    "/pupils/{pupil_id}/purge-approval",
    status_code=201,
    response_model=PurgeRecordOut,
    responses=responses(401, 403, 404, 410, 422),
)
def approve_purge(
    pupil_id: UUID, request: Request, svc: ServiceDep, caller: Permitted
) -> dict[str, Any]:
    """Approve a proposed purge and carry it out — irreversible. The approver must not be
    the proposer. Answers with the signed purge record."""
    _in_scope(request, svc, caller, pupil_id)
    return _retention(request, svc).approve(pupil_id, caller.recorder).as_json()


# ----- subject access, erasure --------------------------------------------------------------


@router.post("/pupils/{pupil_id}/subject-access-requests", status_code=201, responses=_WRITE)
def request_subject_access(
    pupil_id: UUID,
    body: SubjectAccessIn,
    request: Request,
    svc: ServiceDep,
    caller: Permitted,
    version: BasedOn,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Record a subject access request; its response is due one calendar month after
    receipt (GET /deadlines, rule `subject_access`)."""

    def command(pupil: Pupil) -> None:
        now = svc.records.clock()
        pupil.request_subject_access(
            request_reference=body.request_reference,
            requester_relationship=body.requester_relationship,
            recorded_by=caller.recorder,
            happened_on=body.received_on or now.date(),
            recorded_at=now,
        )

    return _write(
        request, svc, caller, pupil_id, body, version, idempotency_key, command, "subject_access"
    )


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
    pupil_id: UUID,
    body: SubjectAccessExportIn,
    request: Request,
    svc: ServiceDep,
    caller: Permitted,
) -> JSONResponse:
    """The subject-access export: the whole record, the pupil's access log, and the
    entries holding third-party information marked for review. Recorded as
    RecordsDisclosed (purpose subject_access), which closes the request's deadline."""
    _in_scope(request, svc, caller, pupil_id)
    redactions: dict[int, str] = {}
    for r in body.redactions:
        if r.seq in redactions:
            raise ApiError(422, "invalid_entry", f"entry {r.seq} is redacted twice: list it once")
        redactions[r.seq] = r.reason
    try:
        made = export_subject_access(
            svc.records,
            svc.ledger,
            pupil_id,
            caller.recorder,
            request_seq=body.request_seq,
            recipient=body.recipient,
            redactions=redactions,
        )
    except LedgerError as e:
        raise ApiError(
            503,
            "ledger_behind",
            "the trust-wide log was catching up with a write made just now; nothing was "
            "exported or recorded: try again",
        ) from e
    record_views(
        svc.records, [pupil_id], caller.recorder, f"subject-access export {made.digest}", None
    )
    return JSONResponse(made.bundle, status_code=201, headers={"X-Export-Digest": made.digest})


@router.post("/pupils/{pupil_id}/erasure-refusals", status_code=201, responses=_WRITE)
def refuse_erasure(
    pupil_id: UUID,
    body: ErasureRefusalIn,
    request: Request,
    svc: ServiceDep,
    caller: Permitted,
    version: BasedOn,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Record that erasing an entry was asked for and refused, with reason and legal basis;
    the entry itself is kept unchanged."""

    def command(pupil: Pupil) -> None:
        now = svc.records.clock()
        pupil.refuse_erasure(
            entry_seq=body.entry_seq,
            request_reference=body.request_reference,
            requester_relationship=body.requester_relationship,
            reason=body.reason,
            legal_basis=body.legal_basis,
            recorded_by=caller.recorder,
            happened_on=now.date(),
            recorded_at=now,
        )

    return _write(
        request, svc, caller, pupil_id, body, version, idempotency_key, command, "refuse_erasure"
    )


# ----- helpers ------------------------------------------------------------------------------


def retention_for(svc: Service, journal: Any, signing_key: Any) -> Retention:
    """A `Retention` over the service's records and ledger (set as `app.state.retention`)."""
    return Retention(svc.records, svc.ledger, signing_key, journal, after_purge=svc.catch_up)


def _retention(request: Request, svc: Service) -> Retention:
    """The installation's retention operations: `app.state.retention` when set, else built
    once from the ledger (its signing key; the purge journal beside its checkpoint journal,
    as `chronicle retention` uses). Without a journal, purges are refused (503)."""
    state = request.app.state
    found: Retention | None = getattr(state, "retention", None)
    if found is not None:
        return found
    key = getattr(svc.ledger, "_signing_key", None)
    if svc.ledger.journal is None or key is None:
        raise ApiError(
            503,
            "retention_unavailable",
            "this server has no purge journal or signing key configured: run purges with "
            "`chronicle retention` on the installation",
        )
    state.retention = retention_for(svc, svc.ledger.journal.parent / PURGE_JOURNAL, key)
    return state.retention  # type: ignore[no-any-return]


def _in_scope(request: Request, svc: Service, caller: Caller, pupil_id: UUID) -> None:
    """404 unless the pupil is in the caller's academies; a purged pupil raises
    `PupilPurged`, answered 410 with the signed purge record (api/http/errors.py). A
    trust-wide caller is checked without reading the record."""
    if caller.access is Access.ALLOWED or caller.user.trust_wide:
        head = svc.records.recorder.select_events(pupil_id, desc=True, limit=1)
        if not head:
            raise UnknownPupil(pupil_id)
        if head[0].topic.endswith(":RecordsPurged"):
            svc.records.get_pupil(pupil_id)  # raises PupilPurged with the date
        return
    caller.check(svc.records.get_pupil(pupil_id))


def purge_record_of(request: Request, pupil_id: object) -> dict[str, Any] | None:
    """The signed purge record of `pupil_id`, if the purge journal holds one (every 410)."""
    svc: Service = request.app.state.chronicle
    record = next((r for r in _retention_or_none(request, svc) if r.pupil_id == pupil_id), None)
    return None if record is None else record.as_json()


def _retention_or_none(request: Request, svc: Service) -> list[PurgeRecord]:
    try:
        return _retention(request, svc).purge_records()
    except ApiError:
        return []


def _write(
    request: Request,
    svc: Service,
    caller: Caller,
    pupil_id: UUID,
    body: BaseModel,
    version: int,
    key: str | None,
    command: Any,
    action: str,
) -> JSONResponse:
    write = WriteRequest(svc, caller, request.url.path, body, version, key)
    _in_scope(request, svc, caller, pupil_id)
    answer = run(lambda: write.on_pupil(pupil_id, command))
    if answer.status_code == 201 and answer.headers.get("Idempotent-Replayed") is None:
        _retention_audit(request, svc, caller, pupil_id, action)
    return answer


def _retention_audit(
    request: Request, svc: Service, caller: Caller, pupil_id: UUID, action: str
) -> None:
    try:
        retention = _retention(request, svc)
    except ApiError:
        return  # no purge journal here: the entry itself is the record
    retention.audit(action, pupil_id, caller.recorder, "done", "recorded over HTTP")


def _entry(e: RetentionEntry) -> RetentionOut:
    return RetentionOut(
        pupil_id=e.pupil_id,
        due_on=e.due_on,
        holds=[LegalHoldOut(hold_id=h.hold_id, placed_on=h.placed_on) for h in e.holds],
        purged_on=e.purged_on,
    )
