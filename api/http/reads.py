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

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from api.http.answers import as_json
from api.http.auth import ChronicleDep, Permitted, Purpose
from api.http.errors import responses
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
from domain.values import NeedType, RegisterStatus
from projections.register import RegisterRow

router = APIRouter(tags=["read models"])
_LIST_ERRORS = responses(400, 401, 403, 422)

Academy = Annotated[
    str | None, Query(max_length=40, description="One of your academies; default all yours.")
]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


# ----- the register ---------------------------------------------------------------------------


@router.get("/register", response_model=RegisterOut, responses=_LIST_ERRORS)
def get_register(
    app: ChronicleDep,
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
) -> Response:
    """The SEND register of your academies, filtered and sorted, with census counts."""
    found = app.reads.register(
        caller,
        academy=academy,
        status=None if status is None else status.value,
        need=None if need is None else need.value,
        census_code=census_code,
        sort=sort,
        limit=limit,
        offset=offset,
        purpose=purpose,
    )
    counts = [
        CensusCounts(
            academy=c.academy,
            N=c.totals["N"],
            K=c.totals["K"],
            E=c.totals["E"],
            primary_need=c.by_need,
        )
        for c in found.census
    ]
    rows = [_register_row(r) for r in found.rows]
    return as_json(RegisterOut(total=found.total, pupils=rows, counts=counts))


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
    app: ChronicleDep,
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
    day = as_of or app.today()
    found = app.reads.deadlines(
        caller,
        academy=academy,
        person=person,
        mine=mine,
        overdue=overdue,
        within_days=within_days,
        as_of=day,
        limit=limit,
        offset=offset,
        purpose=purpose,
    )
    return DeadlinesOut(
        as_of=day,
        total=found.total,
        deadlines=[
            DeadlineOut(
                pupil_id=d.pupil_id,
                name=found.name(d.pupil_id),
                rule=d.rule,
                party=d.party,
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
            for d in found.rows
        ],
    )


# ----- safeguarding (DSL) ---------------------------------------------------------------------


@router.get(
    "/safeguarding/cross-references", response_model=CrossReferencesOut, responses=_LIST_ERRORS
)
def get_cross_references(
    app: ChronicleDep,
    caller: Permitted,
    purpose: Purpose,
    academy: Academy = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> CrossReferencesOut:
    """Every SEND-safeguarding cross-reference of your academies, newest first: the CPOMS log
    id, who added it and when, and the DSL's decision. The notes stay in the chronology."""
    found = app.reads.cross_references(caller, academy, limit, offset, purpose)
    return CrossReferencesOut(
        total=found.total,
        cross_references=[
            CrossReferenceOut(
                pupil_id=x.pupil_id,
                name=found.name(x.pupil_id),
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
            for x in found.rows
        ],
    )


@router.get(
    "/safeguarding/awaiting-decision", response_model=AwaitingDecisionPage, responses=_LIST_ERRORS
)
def get_awaiting_decision(
    app: ChronicleDep,
    caller: Permitted,
    purpose: Purpose,
    academy: Academy = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> AwaitingDecisionPage:
    """Pupils of your academies whose social, emotional and mental health concerns no DSL
    decision has followed yet, longest waiting first."""
    found = app.reads.awaiting_decision(caller, academy, limit, offset, purpose)
    return AwaitingDecisionPage(
        total=found.total,
        pupils=[
            AwaitingDecisionOut(
                pupil_id=w.pupil_id,
                name=found.name(w.pupil_id),
                academy=w.academy,
                concern_seqs=list(w.concern_seqs),
                first_raised_on=w.first_raised_on,
                raised_by=list(w.raised_by),
            )
            for w in found.rows
        ],
    )


@router.get("/access-log", response_model=AccessLogPage, responses=_LIST_ERRORS)
def get_access_log_across(
    app: ChronicleDep,
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
    found = app.reads.access_log_across(
        caller, academy=academy, staff=staff, since=since, until=until, limit=limit
    )
    return AccessLogPage(entries=[AccessLogRow(**entry.as_json()) for entry in found])
