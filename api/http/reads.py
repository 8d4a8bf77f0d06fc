"""Read-model routes: the SEND register with census counts, deadlines, and the DSL's
safeguarding views (docs/api.md).

Each brings the read models up to date first, then reads them, within the caller's
academies (a pupil belongs to their current academy: docs/permissions.md). The read models
hold ids, codes and dates only; the pupils' names shown beside them are read from their
encrypted registrations. A listing that names pupils is a read of pupil content, so it
records one `RecordsViewed` per pupil shown, like `GET /pupils`; census counts name no one
and are not logged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Annotated, Any, Literal, Protocol, TypeVar
from uuid import UUID

from fastapi import APIRouter, Query
from sqlalchemy import select

from api.http.access import record_views
from api.http.auth import Caller, Permitted, Purpose, ServiceDep
from api.http.errors import ApiError, responses
from api.http.models import (
    AccessLogPage,
    AccessLogRow,
    AwaitingDecisionOut,
    AwaitingDecisionPage,
    CensusCounts,
    CrossReferenceOut,
    CrossReferencesOut,
    DeadlineOut,
    DeadlinesOut,
    RegisterOut,
    RegisterRowOut,
)
from api.http.service import Service
from domain.values import NeedType, RegisterStatus
from projections.access_log import access_log
from projections.census import CensusReader
from projections.crossrefs import awaiting_decision, cross_references
from projections.deadlines import deadline_pupils, due_deadlines
from projections.register import RegisterFilter, RegisterReader, RegisterRow, ShownName

router = APIRouter(tags=["read models"])
_LIST_ERRORS = responses(400, 401, 403, 422)

Academy = Annotated[
    str | None, Query(max_length=40, description="One of your academies; default all yours.")
]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
_STATUS_ORDER = {"ehcp": 0, "sen_support": 1, "monitoring": 2, "none": 3}


def _academies(caller: Caller, academy: str | None) -> list[str] | None:
    """The academies to read: [academy], the caller's own, or None for the whole trust."""
    user = caller.user
    if academy is not None:
        if not user.covers(academy):
            raise ApiError(
                403,
                "forbidden",
                f"academy {academy!r} is not one you cover "
                f"({', '.join(sorted(user.academies))}); leave `academy` out to see all yours",
            )
        return [academy]
    return None if user.trust_wide else sorted(user.academies)


def _names(svc: Service, pupil_ids: Iterable[UUID]) -> dict[UUID, ShownName]:
    ids = list(dict.fromkeys(pupil_ids))
    if not ids:
        return {}
    with svc.records.datastore.transaction(False) as session:
        return RegisterReader(svc.records).names(session, ids)


def _name(names: dict[UUID, ShownName], pupil_id: UUID) -> str | None:
    shown = names.get(pupil_id)
    return None if shown is None else shown.name


def _log(svc: Service, caller: Caller, ids: Sequence[UUID], what: str, purpose: str | None) -> None:
    record_views(svc.records, list(dict.fromkeys(ids)), caller.recorder, what, purpose)


class _Row(Protocol):
    @property
    def pupil_id(self) -> UUID: ...


_R = TypeVar("_R", bound=_Row)


def _shown_page(
    svc: Service,
    caller: Caller,
    found: Sequence[_R],
    offset: int,
    limit: int,
    what: str,
    purpose: str | None,
) -> tuple[list[_R], dict[UUID, ShownName]]:
    """The page of `found` to show, its pupils' names, and one access record per pupil
    on it (a listing that names pupils is a read of pupil content)."""
    page = list(found[offset : offset + limit])
    names = _names(svc, (row.pupil_id for row in page))
    _log(svc, caller, [row.pupil_id for row in page], what, purpose)
    return page, names


# ----- the register ---------------------------------------------------------------------------


@router.get("/register", response_model=RegisterOut, responses=_LIST_ERRORS)
def get_register(
    svc: ServiceDep,
    caller: Permitted,
    purpose: Purpose,
    academy: Academy = None,
    status: Annotated[RegisterStatus | None, Query()] = None,
    need: Annotated[NeedType | None, Query(description="Pupils with this need.")] = None,
    census_code: Annotated[Literal["N", "K", "E"] | None, Query()] = None,
    sort: Annotated[
        Literal["name", "status", "since"],
        Query(description="name; status (E, K, monitoring, none); since (oldest first)."),
    ] = "name",
    limit: Limit = 50,
    offset: Offset = 0,
) -> RegisterOut:
    """The SEND register of your academies, filtered and sorted, with census counts."""
    scope = _academies(caller, academy)
    svc.catch_up()
    reader = RegisterReader(svc.records)

    def where(one: str | None) -> RegisterFilter:
        return RegisterFilter(
            academy=one,
            status=None if status is None else status.value,
            need=None if need is None else need.value,
            census_code=census_code,
        )

    if scope is None or len(scope) == 1:
        one = None if scope is None else scope[0]
        page = reader.page(where(one), sort=sort, limit=limit, offset=offset)
        rows, total = page.rows, page.total
    else:
        # Each academy's first offset+limit rows, merged in the same order, then the page.
        pages = [reader.page(where(a), sort=sort, limit=offset + limit) for a in scope]
        candidates = [r for p in pages for r in p.rows]
        merged = sorted(candidates, key=_register_order(sort, svc, candidates))
        rows, total = merged[offset : offset + limit], sum(p.total for p in pages)
    counts = [
        CensusCounts(
            academy=c.academy,
            N=c.totals["N"],
            K=c.totals["K"],
            E=c.totals["E"],
            primary_need=c.by_need,
        )
        for c in CensusReader(svc.records).by_academy()
        if scope is None or c.academy in scope
    ]
    _log(svc, caller, [r.pupil_id for r in rows], "register", purpose)
    return RegisterOut(total=total, pupils=[_register_row(r) for r in rows], counts=counts)


def _register_order(
    sort: str, svc: Service, rows: list[RegisterRow]
) -> Callable[[RegisterRow], tuple[Any, ...]]:
    """The order RegisterReader.page uses, to merge the pages of several academies."""
    if sort == "name":
        names = _names(svc, (r.pupil_id for r in rows))

        def by_name(r: RegisterRow) -> tuple[Any, ...]:
            shown = names.get(r.pupil_id)
            if shown is None:  # unreadable (a purge in progress): last
                return (True, "", "", str(r.pupil_id))
            return (False, shown.family_name.casefold(), shown.name.casefold(), str(r.pupil_id))

        return by_name
    if sort == "status":
        return lambda r: (_STATUS_ORDER.get(r.status, 9), r.since, str(r.pupil_id))
    return lambda r: (r.since, str(r.pupil_id))


def _register_row(r: RegisterRow) -> RegisterRowOut:
    return RegisterRowOut(
        pupil_id=r.pupil_id,
        upn=r.upn,
        name=r.name,
        academy=r.academy,
        year_group=r.year_group,
        status=r.status,
        census_code=r.census_code,
        sub_flags=list(r.sub_flags),
        primary_need=r.primary_need,
        secondary_needs=list(r.secondary_needs),
        since=r.since,
        key_worker=r.key_worker,
    )


# ----- deadlines ------------------------------------------------------------------------------


@router.get("/deadlines", response_model=DeadlinesOut, responses=_LIST_ERRORS)
def get_deadlines(
    svc: ServiceDep,
    caller: Permitted,
    purpose: Purpose,
    academy: Academy = None,
    person: Annotated[
        str | None,
        Query(max_length=64, description="Only those this staff id is responsible for."),
    ] = None,
    mine: Annotated[bool, Query(description="Only those you are responsible for.")] = False,
    overdue: Annotated[bool, Query(description="Only overdue deadlines.")] = False,
    within_days: Annotated[
        int, Query(ge=0, le=3660, description="Not yet overdue: only those due within N days.")
    ] = 28,
    as_of: Annotated[date | None, Query(description="The day to judge by; default today.")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> DeadlinesOut:
    """Statutory and local deadlines open on a day, most overdue first."""
    scope = _academies(caller, academy)
    if mine:
        if person is not None and person != caller.user.name:
            raise ApiError(422, "invalid_request", "give either `mine` or `person`, not both")
        person = caller.user.name
    day = as_of or svc.records.clock().date()
    if not date(1900, 1, 1) <= day <= date(2999, 12, 31):
        raise ApiError(422, "invalid_request", f"as_of {day} is out of range")
    svc.catch_up()
    found = due_deadlines(
        svc.records,
        as_of=day,
        academy=None if scope is None or len(scope) != 1 else scope[0],
        person=person,
        overdue_only=overdue,
        within_days=within_days,
    )
    if scope is not None:
        # A deadline met after `as_of` keeps the academy it was met at: judge by where the
        # pupil is now, so a pupil who moved is never shown to their old academy.
        now_at = _deadline_academies(svc, {d.pupil_id for d in found})
        found = [d for d in found if now_at.get(d.pupil_id) in scope]
    page, names = _shown_page(svc, caller, found, offset, limit, "deadlines", purpose)
    return DeadlinesOut(
        as_of=day,
        total=len(found),
        deadlines=[
            DeadlineOut(
                pupil_id=d.pupil_id,
                name=_name(names, d.pupil_id),
                rule=d.rule,
                what=d.what,
                detail=d.detail,
                academy=d.academy,
                responsible=d.responsible,
                opened_seq=d.opened_seq,
                opened_on=d.opened_on,
                due_on=d.due_on,
                status=d.status,
                days=d.days,
            )
            for d in page
        ],
    )


def _deadline_academies(svc: Service, pupil_ids: set[UUID]) -> dict[UUID, str]:
    if not pupil_ids:
        return {}
    c = deadline_pupils.c
    found: dict[UUID, str] = {}
    ids = sorted(pupil_ids)
    with svc.records.datastore.transaction(False) as session:
        for start in range(0, len(ids), 2000):
            chunk = ids[start : start + 2000]
            for pupil_id, academy in session.execute(
                select(c.pupil_id, c.academy).where(c.pupil_id.in_(chunk))
            ):
                found[pupil_id] = academy
    return found


# ----- safeguarding (DSL) ---------------------------------------------------------------------


@router.get(
    "/safeguarding/cross-references", response_model=CrossReferencesOut, responses=_LIST_ERRORS
)
def get_cross_references(
    svc: ServiceDep,
    caller: Permitted,
    purpose: Purpose,
    academy: Academy = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> CrossReferencesOut:
    """Every SEND-safeguarding cross-reference of your academies, newest first: the CPOMS log
    id, who added it and when, and the DSL's decision. The notes stay in the chronology."""
    scope = _academies(caller, academy)
    svc.catch_up()
    found = [
        x
        for x in cross_references(svc.records, academy=academy)
        if scope is None or x.academy in scope
    ]
    page, names = _shown_page(
        svc, caller, found, offset, limit, "safeguarding cross-references", purpose
    )
    return CrossReferencesOut(
        total=len(found),
        cross_references=[
            CrossReferenceOut(
                pupil_id=x.pupil_id,
                name=_name(names, x.pupil_id),
                seq=x.seq,
                academy=x.academy,
                added_at_academy=x.added_at_academy,
                cpoms_log_id=x.cpoms_log_id,
                added_by=x.added_by,
                added_role=x.added_role,
                added_on=x.added_on,
                recorded_at=x.recorded_at,
                dsl_decision=x.dsl_decision,
                decided_by=x.decided_by,
                corrected_by=x.corrected_by,
            )
            for x in page
        ],
    )


@router.get(
    "/safeguarding/awaiting-decision", response_model=AwaitingDecisionPage, responses=_LIST_ERRORS
)
def get_awaiting_decision(
    svc: ServiceDep,
    caller: Permitted,
    purpose: Purpose,
    academy: Academy = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> AwaitingDecisionPage:
    """Pupils of your academies whose social, emotional and mental health concerns no DSL
    decision has followed yet, longest waiting first."""
    scope = _academies(caller, academy)
    svc.catch_up()
    found = [
        w
        for w in awaiting_decision(svc.records, academy=academy)
        if scope is None or w.academy in scope
    ]
    page, names = _shown_page(
        svc, caller, found, offset, limit, "safeguarding awaiting decision", purpose
    )
    return AwaitingDecisionPage(
        total=len(found),
        pupils=[
            AwaitingDecisionOut(
                pupil_id=w.pupil_id,
                name=_name(names, w.pupil_id),
                academy=w.academy,
                concern_seqs=list(w.concern_seqs),
                first_raised_on=w.first_raised_on,
                raised_by=list(w.raised_by),
            )
            for w in page
        ],
    )


@router.get("/access-log", response_model=AccessLogPage, responses=_LIST_ERRORS)
def get_access_log_across(
    svc: ServiceDep,
    caller: Permitted,
    academy: Academy = None,
    staff: Annotated[
        str | None, Query(max_length=64, description="Only reads by this staff id.")
    ] = None,
    since: Annotated[date | None, Query(description="From this day (inclusive).")] = None,
    until: Annotated[date | None, Query(description="Up to this day (inclusive).")] = None,
    limit: Limit = 100,
) -> AccessLogPage:
    """Who read which pupils' records, across the pupils of your academies: the most recent
    `limit` reads, oldest first, with the purpose each reader gave. For one pupil, see
    GET /pupils/{pupil_id}/access-log. Like that one, this read is not itself logged."""
    scope = _academies(caller, academy)
    svc.catch_up()
    found = access_log(
        svc.records, staff=staff, since=since, until=until, pupils_now_at=scope, limit=limit
    )
    return AccessLogPage(entries=[AccessLogRow(**entry.as_json()) for entry in found])
