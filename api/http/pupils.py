"""Pupil routes: the register, a pupil's record and chronology (each read logged), and the
access log for DSLs and DPOs."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Query, Response

from api.http.access import access_records, record_views
from api.http.auth import Permitted, Purpose, ServiceDep
from api.http.errors import ApiError, responses
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
from projections.chronology import ChronologyEntry, Order, chronology
from projections.register import RegisterFilter, RegisterReader, RegisterRow

router = APIRouter(prefix="/pupils", tags=["pupils"])
_READ_ERRORS = responses(400, 401, 403, 404, 410, 422)


@router.get("", response_model=RegisterPage, responses=responses(400, 401, 403, 422))
def list_pupils(
    svc: ServiceDep,
    caller: Permitted,
    purpose: Purpose,
    academy: Annotated[
        str | None, Query(max_length=64, description="One of your academies.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> RegisterPage:
    """The SEND register of the academies you cover, by name."""
    user = caller.user
    if academy is not None and not user.covers(academy):
        raise ApiError(
            403,
            "forbidden",
            f"academy {academy!r} is not one you cover "
            f"({', '.join(sorted(user.academies))}); leave `academy` out to see all yours",
        )
    svc.catch_up()
    reader = RegisterReader(svc.records)
    if academy is not None or user.trust_wide:
        page = reader.page(RegisterFilter(academy=academy), limit=limit, offset=offset)
        rows, total = page.rows, page.total
    else:
        every = [
            r for a in sorted(user.academies) for r in reader.page(RegisterFilter(academy=a)).rows
        ]
        every.sort(key=lambda r: ((r.name or "").casefold(), str(r.pupil_id)))
        rows, total = every[offset : offset + limit], len(every)
    record_views(svc.records, [r.pupil_id for r in rows], caller.recorder, "register", purpose)
    return RegisterPage(total=total, pupils=[_register_entry(r) for r in rows])


@router.get("/{pupil_id}", response_model=PupilRecord, responses=_READ_ERRORS)
def get_pupil(
    pupil_id: UUID, svc: ServiceDep, caller: Permitted, purpose: Purpose, response: Response
) -> PupilRecord:
    """A pupil's details and current SEND status; the version is also the ETag."""
    pupil = caller.check(svc.records.get_pupil(pupil_id))
    record_views(svc.records, [pupil_id], caller.recorder, "record", purpose)
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
    svc: ServiceDep,
    caller: Permitted,
    purpose: Purpose,
    kind: Annotated[list[str] | None, Query(description="Entry kinds, e.g. ConcernRaised.")] = None,
    since: Annotated[date | None, Query(description="Happened on or after.")] = None,
    until: Annotated[date | None, Query(description="Happened on or before.")] = None,
    author_role: Annotated[str | None, Query(max_length=20, examples=["teacher"])] = None,
    area: Annotated[AreaOfNeed | None, Query()] = None,
    order: Annotated[Order, Query()] = "happened",
) -> Chronology:
    """A pupil's chronology; entries your role may not read are masked (kind and dates)."""
    caller.check(svc.records.get_pupil(pupil_id))
    svc.catch_up()
    entries = chronology(
        svc.records,
        pupil_id,
        kinds=kind,
        since=since,
        until=until,
        author_role=author_role,
        area=None if area is None else area.value,
        viewer_role=caller.user.role.value,
        order=order,
    )
    filters = {
        "kind": kind,
        "since": since,
        "until": until,
        "author_role": author_role,
        "area": area,
        "order": order if order != "happened" else None,
    }
    shown = urlencode({k: v for k, v in filters.items() if v is not None}, doseq=True)
    what = "chronology" + (f"?{shown}" if shown else "")
    record_views(svc.records, [pupil_id], caller.recorder, what, purpose)
    return Chronology(pupil_id=pupil_id, entries=[_item(e) for e in entries])


@router.get("/{pupil_id}/access-log", response_model=AccessLogOut, responses=_READ_ERRORS)
def get_access_log(pupil_id: UUID, svc: ServiceDep, caller: Permitted) -> AccessLogOut:
    """Who read this pupil's records, what, when and why (DSL and DPO only)."""
    caller.check(svc.records.get_pupil(pupil_id))
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
            for r in access_records(svc.records, pupil_id)
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
    data: dict[str, Any] = row.as_json()
    return RegisterEntry(
        pupil_id=row.pupil_id,
        upn=data["upn"],
        name=data["name"],
        academy=data["academy"],
        year_group=data["year_group"],
        status=data["status"],
        census_code=data["census_code"],
        primary_need=data["primary_need"],
    )
