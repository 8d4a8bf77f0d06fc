"""Pupil routes: the register, a pupil's record and chronology (each read logged), and the
access log for DSLs and DPOs. Each route calls one query of the application layer."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from api.app.queries import ChronologyFilters
from api.http.answers import as_json
from api.http.auth import ChronicleDep, Permitted, Purpose
from api.http.errors import responses
from api.http.models import (
    AccessLogOut,
    AccessRecord,
    Chronology,
    ChronologyItem,
    PupilRecord,
    RegisterEntry,
    RegisterPage,
)
from domain.values import AreaOfNeed
from projections.chronology import ChronologyEntry, Order
from projections.register import RegisterRow

router = APIRouter(prefix="/pupils", tags=["pupils"])
_READ_ERRORS = responses(400, 401, 403, 404, 410, 422)


@router.get("", response_model=RegisterPage, responses=responses(400, 401, 403, 422))
def list_pupils(
    app: ChronicleDep,
    caller: Permitted,
    purpose: Purpose,
    academy: Annotated[
        str | None, Query(max_length=64, description="One of your academies.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> RegisterPage:
    """The SEND register of the academies you cover, by name."""
    found = app.reads.list_pupils(caller, academy, limit, offset, purpose)
    return RegisterPage(total=found.total, pupils=[_register_entry(r) for r in found.rows])


@router.get("/{pupil_id}", response_model=PupilRecord, responses=_READ_ERRORS)
def get_pupil(
    pupil_id: UUID, app: ChronicleDep, caller: Permitted, purpose: Purpose, response: Response
) -> PupilRecord:
    """A pupil's details and current SEND status; the version is also the ETag."""
    pupil = app.reads.pupil(caller, pupil_id, purpose)
    response.headers["ETag"] = f'"{pupil.version}"'
    return PupilRecord(
        pupil_id=pupil.id,
        version=pupil.version,
        upn=pupil.upn,
        legal_given_names=pupil.legal_given_names,
        legal_family_name=pupil.legal_family_name,
        preferred_name=pupil.preferred_name,
        date_of_birth=pupil.date_of_birth,
        academy=pupil.academy,
        year_group_registered=pupil.year_group,
        status=pupil.status,
        sub_flags=list(pupil.sub_flags),
        needs={need.value: primary for need, primary in pupil.needs.items()},
        left_trust=pupil.left is not None,
    )


@router.get("/{pupil_id}/chronology", response_model=Chronology, responses=_READ_ERRORS)
def get_chronology(
    pupil_id: UUID,
    app: ChronicleDep,
    caller: Permitted,
    purpose: Purpose,
    kind: Annotated[
        list[str] | None, Query(max_length=40, description="Entry kinds, e.g. ConcernRaised.")
    ] = None,
    since: Annotated[date | None, Query(description="Happened on or after.")] = None,
    until: Annotated[date | None, Query(description="Happened on or before.")] = None,
    author_role: Annotated[str | None, Query(max_length=20, examples=["teacher"])] = None,
    area: Annotated[AreaOfNeed | None, Query()] = None,
    order: Annotated[Order, Query()] = "happened",
) -> Response:
    """A pupil's chronology; entries your role may not read are masked (kind and dates), or
    left out for teachers; your own entries are always shown."""
    filters = ChronologyFilters(
        kinds=kind,
        since=since,
        until=until,
        author_role=author_role,
        area=None if area is None else area.value,
        order=order,
    )
    found = app.reads.chronology_entries(caller, pupil_id, filters, purpose)
    return as_json(Chronology(pupil_id=pupil_id, entries=[_item(e) for e in found]))


@router.get("/{pupil_id}/access-log", response_model=AccessLogOut, responses=_READ_ERRORS)
def get_access_log(pupil_id: UUID, app: ChronicleDep, caller: Permitted) -> AccessLogOut:
    """Who read this pupil's records, what, when and why (DSL and DPO only)."""
    return AccessLogOut(
        pupil_id=pupil_id,
        records=[
            AccessRecord(
                seq=r["seq"],
                recorded_at=r["recorded_at"],
                staff_id=r["recorded_by"]["staff_id"],
                role=r["recorded_by"]["role"],
                what=r["what"],
                purpose=r["purpose"],
            )
            for r in app.reads.access_log(caller, pupil_id)
        ],
    )


def _item(entry: ChronologyEntry) -> ChronologyItem:
    return ChronologyItem(
        seq=entry.seq,
        type=entry.type,
        happened_on=entry.happened_on,
        recorded_at=entry.recorded_at,
        recorded_by=entry.recorded_by,
        payload=entry.payload,
        commitment=entry.commitment.hex(),
        restricted=entry.restricted,
        masked=entry.masked,
        corrects_seq=entry.corrects_seq,
        corrections=[_item(c) for c in entry.corrections],
    )


def _register_entry(row: RegisterRow) -> RegisterEntry:
    return RegisterEntry(
        pupil_id=row.pupil_id,
        upn=row.upn,
        name=row.name,
        academy=row.academy,
        year_group=row.year_group,
        status=row.status,
        census_code=row.census_code,
        primary_need=row.primary_need,
    )
