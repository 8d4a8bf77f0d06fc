"""The sign-in audit: failed and refused sign-ins, for the DPO and the trust admin."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.http.auth import ChronicleDep, Permitted
from api.http.errors import responses

router = APIRouter(tags=["sign-ins"])


class SignInAttemptOut(BaseModel):
    """One failed or refused sign-in: no person, no pupil, never a whole token."""

    at: datetime
    source: str = Field(description="The address the attempt came from.", examples=["10.2.0.7"])
    token_prefix: str = Field(
        description="The first 8 characters of the token presented.", examples=["Xk3v9QaL"]
    )
    channel: Literal["api", "web"]
    outcome: Literal["unknown_token", "revoked_token", "throttled"]


class SignInAuditOut(BaseModel):
    total: int = Field(description="How many rows match (all pages).")
    limit: int
    offset: int
    attempts: list[SignInAttemptOut]


@router.get("/sign-in-audit", response_model=SignInAuditOut, responses=responses(401, 403, 422))
def sign_in_audit(
    app: ChronicleDep,
    caller: Permitted,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    source: Annotated[str | None, Query(max_length=64, description="One address.")] = None,
    outcome: Annotated[
        Literal["unknown_token", "revoked_token", "throttled"] | None,
        Query(description="One outcome."),
    ] = None,
) -> SignInAuditOut:
    """Failed bearer-token and web sign-ins, and the attempts refused while throttled,
    newest first (docs/api.md, "Limits and hardening")."""
    audit = app.sign_ins.read_audit(
        caller, limit=limit, offset=offset, source=source, outcome=outcome
    )
    return SignInAuditOut(
        total=audit.total,
        limit=limit,
        offset=offset,
        attempts=[
            SignInAttemptOut(
                at=a.at,
                source=a.source,
                token_prefix=a.token_prefix,
                channel=a.channel,  # type: ignore[arg-type]
                outcome=a.outcome,  # type: ignore[arg-type]
            )
            for a in audit.attempts
        ],
    )
