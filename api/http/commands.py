"""Command routes: each POST is one typed entry on a pupil's record (docs/api.md).

The catalogue of commands is one table, `COMMANDS`: a URL segment, a title, the request
body (a pydantic model with examples) and how the body becomes a call on the `Pupil`
aggregate. The HTTP routes (`POST /pupils/{pupil_id}/{slug}`), the permission table's rows
and the web interface's forms are all generated from it, so a new kind of entry is one row.

This module deliberately does not use `from __future__ import annotations`: the generated
route functions annotate their body with the row's model, which FastAPI must resolve at
runtime.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.http.auth import BasedOn, Caller, IdempotencyKey, Permitted, ServiceDep
from api.http.errors import ApiError, responses
from api.http.models import ChangeRegisterStatus, RaiseConcern, RegisterPupil, Written
from api.http.writes import WriteRequest, run
from domain.policy import TrustPolicy
from domain.pupil import Pupil
from domain.values import Recorder

router = APIRouter(prefix="/pupils", tags=["entries"])
_WRITE_ERRORS = responses(400, 401, 403, 404, 409, 410, 422, 428)


@dataclass(frozen=True)
class Context:
    """What a command needs besides its body: the trust's policy, who records it, and when."""

    policy: TrustPolicy
    recorder: Recorder
    now: datetime

    def on(self, happened_on: date | None) -> dict[str, Any]:
        """The recording arguments every command takes (happened_on defaults to today)."""
        return {
            "recorded_by": self.recorder,
            "happened_on": happened_on or self.now.date(),
            "recorded_at": self.now,
        }


@dataclass(frozen=True)
class Command:
    """One kind of entry a person can add to a pupil's record."""

    slug: str  # POST /pupils/{pupil_id}/{slug}
    title: str  # imperative, for forms and /docs: "Raise a concern"
    summary: str  # one sentence for /docs and the form's help text
    body: type[BaseModel]
    event: str  # the event type it records
    apply: Callable[[Pupil, Any, Context], None]

    @property
    def path(self) -> str:
        return f"/pupils/{{pupil_id}}/{self.slug}"

    @property
    def endpoint(self) -> str:
        """The permission table's key (api/http/permissions.py)."""
        return f"POST {self.path}"


def _raise_concern(pupil: Pupil, body: RaiseConcern, ctx: Context) -> None:
    pupil.raise_concern(
        source=body.source,
        area_of_need=body.area_of_need,
        description=body.description,
        evidence=body.evidence,
        **ctx.on(body.happened_on),
    )


def _change_register_status(pupil: Pupil, body: ChangeRegisterStatus, ctx: Context) -> None:
    pupil.change_register_status(
        policy=ctx.policy,
        status=body.status,
        sub_flags=tuple(body.sub_flags),
        reason=body.reason,
        decision_maker=body.decision_maker,
        parents_informed_on=body.parents_informed_on,
        **ctx.on(body.happened_on),
    )


COMMANDS: tuple[Command, ...] = (
    Command(
        "concerns",
        "Raise a concern",
        "Log a concern about the pupil: the start of every chronology.",
        RaiseConcern,
        "ConcernRaised",
        _raise_concern,
    ),
    Command(
        "register-status",
        "Change SEND register status",
        "Move the pupil on the graduated response, as the trust's policy allows.",
        ChangeRegisterStatus,
        "RegisterStatusChanged",
        _change_register_status,
    ),
)

BY_SLUG: dict[str, Command] = {c.slug: c for c in COMMANDS}


def context(svc_policy: TrustPolicy, caller: Caller, now: datetime) -> Context:
    return Context(policy=svc_policy, recorder=caller.recorder, now=now)


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


def _route(command: Command) -> Callable[..., JSONResponse]:
    model = command.body

    def post(
        pupil_id: UUID,
        body: model,  # type: ignore[valid-type]
        svc: ServiceDep,
        caller: Permitted,
        based_on: BasedOn,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        write = WriteRequest(
            svc,
            caller,
            f"/pupils/{pupil_id}/{command.slug}",
            body,
            based_on,
            idempotency_key,
        )

        def apply(pupil: Pupil) -> None:
            command.apply(pupil, body, context(svc.records.policy, caller, svc.records.clock()))

        return run(lambda: write.on_pupil(pupil_id, apply))

    post.__name__ = command.slug.replace("-", "_")
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
    )
