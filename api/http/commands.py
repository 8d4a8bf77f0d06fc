"""Command routes: each POST is one typed entry on a pupil's record (docs/api.md).

Generated from the application's command catalogue (`api.app.catalogue.COMMANDS`): one
route per row, `POST /pupils/{pupil_id}/{slug}`, each calling the one write use case.

This module deliberately does not use `from __future__ import annotations`: the generated
route functions annotate their body with the row's model, which FastAPI must resolve at
runtime.
"""

from collections.abc import Callable
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.app.bodies import RegisterPupil
from api.app.caller import Caller
from api.app.catalogue import COMMANDS, Command
from api.app.service import Chronicle
from api.app.writes import Saved
from api.http.auth import BasedOn, ChronicleDep, IdempotencyKey, Permitted
from api.http.errors import responses
from api.http.models import Written

router = APIRouter(prefix="/pupils", tags=["entries"])
_WRITE_ERRORS = responses(400, 401, 403, 404, 409, 410, 422, 428)


def answer(saved: Saved, app: Chronicle, caller: Caller) -> JSONResponse:
    """201 with what was written; a retried request gets its first answer, marked. The
    X-Chronicle-Position header is the caller's newest write (this one or later): sent back
    with a read, it makes the answer show this write, whichever server process answers
    (docs/api.md)."""
    position = app.position(caller)
    headers = {"ETag": f'"{saved.version}"', "X-Chronicle-Position": str(position)}
    if saved.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(saved.as_json(), status_code=201, headers=headers)


@router.post("", status_code=201, response_model=Written, responses=responses(401, 403, 409, 422))
def register_pupil(
    body: RegisterPupil,
    app: ChronicleDep,
    caller: Permitted,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Open a pupil's SEND record at one of your academies."""
    return answer(app.entries.register(caller, body, idempotency_key), app, caller)


def _route(command: Command) -> Callable[..., JSONResponse]:
    model = command.body

    def post(
        pupil_id: UUID,
        body: model,  # type: ignore[valid-type]
        app: ChronicleDep,
        caller: Permitted,
        based_on: BasedOn,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        saved = app.entries.add(caller, command.slug, pupil_id, body, based_on, idempotency_key)
        return answer(saved, app, caller)

    post.__name__ = command.slug.replace("-", "_").replace("/", "_")
    post.__doc__ = f"{command.summary} (If-Match: the version you read.) Records `{command.event}`."
    return post


for _command in COMMANDS:
    router.add_api_route(
        f"/{{pupil_id}}/{_command.slug}",
        _route(_command),
        methods=["POST"],
        status_code=201,
        response_model=Written,
        responses=_WRITE_ERRORS,
        summary=_command.title,
        name=_command.slug,
        tags=["retention"] if _command.audit else None,
    )
