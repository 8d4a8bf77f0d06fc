"""Ledger routes: the signed checkpoint and consistency proofs; no pupil content."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.http.auth import ChronicleDep, Permitted
from api.http.errors import responses
from api.http.models import Checkpoint, Consistency

router = APIRouter(prefix="/ledger", tags=["ledger"])


@router.get("/checkpoint", response_model=Checkpoint, responses=responses(401, 403))
def checkpoint(app: ChronicleDep, caller: Permitted) -> Checkpoint:
    """A signed checkpoint of the whole trust-wide log, up to the latest write."""
    return Checkpoint(**app.reads.checkpoint(caller).as_json())


@router.get("/consistency", response_model=Consistency, responses=responses(401, 403, 422))
def consistency(
    app: ChronicleDep,
    caller: Permitted,
    old: Annotated[int, Query(ge=1, le=2**53, description="The older size of the log.")],
    new: Annotated[int, Query(ge=1, le=2**53, description="The newer size of the log.")],
) -> Consistency:
    """A consistency proof (RFC 9162 2.1.4) that the log of size `old` is a prefix of `new`."""
    return Consistency(**app.reads.consistency(caller, old, new))
