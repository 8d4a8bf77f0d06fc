"""Ledger routes: the signed checkpoint and consistency proofs; no pupil content."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.http.auth import Permitted, ServiceDep
from api.http.errors import ApiError, responses
from api.http.models import Checkpoint, Consistency

router = APIRouter(prefix="/ledger", tags=["ledger"])


@router.get("/checkpoint", response_model=Checkpoint, responses=responses(401, 403))
def checkpoint(svc: ServiceDep, caller: Permitted) -> Checkpoint:
    """A signed checkpoint of the whole trust-wide log, up to the latest write."""
    signed = svc.ledger.checkpoint()
    return Checkpoint(**signed.as_json())


@router.get("/consistency", response_model=Consistency, responses=responses(401, 403, 422))
def consistency(
    svc: ServiceDep,
    caller: Permitted,
    old: Annotated[int, Query(ge=1, le=2**53, description="The older size of the log.")],
    new: Annotated[int, Query(ge=1, le=2**53, description="The newer size of the log.")],
) -> Consistency:
    """A consistency proof (RFC 9162 2.1.4) that the log of size `old` is a prefix of `new`."""
    svc.ledger.integrate()
    size = svc.ledger.size()
    if not old <= new <= size:
        raise ApiError(
            422, "bad_sizes", f"sizes must satisfy 1 <= old <= new <= {size} (the log's size now)"
        )
    return Consistency(
        old_size=old,
        new_size=new,
        old_root=svc.ledger.root(old).hex(),
        new_root=svc.ledger.root(new).hex(),
        proof=[h.hex() for h in svc.ledger.consistency_proof(old, new)],
    )
