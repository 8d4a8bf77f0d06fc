"""Command routes: each POST is one typed entry on a pupil's record (docs/api.md)."""

from __future__ import annotations

from uuid import UUID, uuid4

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.http.auth import BasedOn, IdempotencyKey, Permitted, ServiceDep
from api.http.errors import ApiError, responses
from api.http.models import ChangeRegisterStatus, RaiseConcern, RegisterPupil, Written
from api.http.writes import WriteRequest, run
from domain.pupil import Pupil

router = APIRouter(prefix="/pupils", tags=["entries"])
_WRITE_ERRORS = responses(400, 401, 403, 404, 409, 410, 422, 428)


@router.post("", status_code=201, response_model=Written, responses=responses(401, 403, 422))
def register_pupil(
    body: RegisterPupil, svc: ServiceDep, caller: Permitted, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Open a pupil's SEND record at one of your academies."""
    if not caller.user.covers(body.academy):
        raise ApiError(
            403,
            "forbidden",
            f"you may register pupils only at your academies "
            f"({', '.join(sorted(caller.user.academies))}), not {body.academy!r}",
        )
    write = WriteRequest(svc, caller, "/pupils", body, None, idempotency_key)

    def register() -> JSONResponse:
        replayed = write.replay()
        if replayed is not None:
            return replayed
        now = svc.records.clock()
        pupil = Pupil.register(
            pupil_id=uuid4(),
            upn=body.upn,
            legal_given_names=body.legal_given_names,
            legal_family_name=body.legal_family_name,
            preferred_name=body.preferred_name,
            date_of_birth=body.date_of_birth,
            academy=body.academy,
            year_group=body.year_group,
            recorded_by=caller.recorder,
            happened_on=body.happened_on or now.date(),
            recorded_at=now,
        )
        return write.save(pupil)

    return run(register)


@router.post(
    "/{pupil_id}/concerns", status_code=201, response_model=Written, responses=_WRITE_ERRORS
)
def raise_concern(
    pupil_id: UUID,
    body: RaiseConcern,
    svc: ServiceDep,
    caller: Permitted,
    based_on: BasedOn,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Log a concern about the pupil (If-Match: the version you read)."""
    write = WriteRequest(
        svc, caller, f"/pupils/{pupil_id}/concerns", body, based_on, idempotency_key
    )

    def command(pupil: Pupil) -> None:
        now = svc.records.clock()
        pupil.raise_concern(
            source=body.source,
            area_of_need=body.area_of_need,
            description=body.description,
            evidence=body.evidence,
            recorded_by=caller.recorder,
            happened_on=body.happened_on or now.date(),
            recorded_at=now,
        )

    return run(lambda: write.on_pupil(pupil_id, command))


@router.post(
    "/{pupil_id}/register-status", status_code=201, response_model=Written, responses=_WRITE_ERRORS
)
def change_register_status(
    pupil_id: UUID,
    body: ChangeRegisterStatus,
    svc: ServiceDep,
    caller: Permitted,
    based_on: BasedOn,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Move the pupil on the graduated response, as the trust's policy allows."""
    write = WriteRequest(
        svc, caller, f"/pupils/{pupil_id}/register-status", body, based_on, idempotency_key
    )

    def command(pupil: Pupil) -> None:
        now = svc.records.clock()
        pupil.change_register_status(
            policy=svc.records.policy,
            status=body.status,
            sub_flags=tuple(body.sub_flags),
            reason=body.reason,
            decision_maker=body.decision_maker,
            parents_informed_on=body.parents_informed_on,
            recorded_by=caller.recorder,
            happened_on=body.happened_on or now.date(),
            recorded_at=now,
        )

    return run(lambda: write.on_pupil(pupil_id, command))
