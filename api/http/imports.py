"""The import upload: pupils from an MIS export, over the import use case (docs/import.md).

The request body is the file itself (a CSV export or a Common Transfer File); the options
are query parameters. Only the shipped column mappings can be named here: a mapping file
is a path on the server, which the command line reads and the API never does.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.app.errors import AppError
from api.app.history_imports import HistoryReport
from api.app.imports import ImportReport
from api.app.service import Chronicle
from api.http.auth import ChronicleDep, Permitted
from api.http.errors import responses
from api.imports.ctf import CTF, ctf_rows
from api.imports.history import HISTORY_FIELDS, SHIPPED_HISTORY
from api.imports.mappings import SHIPPED
from api.imports.sources import SourceError, csv_rows

router = APIRouter(prefix="/imports", tags=["imports"])


@router.post("/pupils", responses=responses(400, 401, 403, 422))
async def import_pupils(
    request: Request,
    app: ChronicleDep,
    caller: Permitted,
    format: Annotated[Literal["csv", "ctf"], Query(description="csv or ctf")] = "csv",
    mapping: Annotated[
        str, Query(max_length=40, description="A shipped column mapping (chronicle, census).")
    ] = "chronicle",
    academy: Annotated[
        str | None, Query(max_length=40, description="The academy of rows that name none.")
    ] = None,
    dry_run: bool = False,
    per_row: bool = False,
) -> JSONResponse:
    """Import pupils from an MIS export sent as the request body (CSV or CTF XML)."""
    data = await request.body()
    if format == "csv" and mapping not in SHIPPED:
        raise AppError(
            422,
            "unknown_mapping",
            f"no shipped mapping {mapping!r} (shipped: {', '.join(SHIPPED)}); a trust's "
            "own mapping file is used with `chronicle import pupils --mapping FILE`",
        )
    chosen = CTF if format == "ctf" else SHIPPED[mapping]

    def run() -> ImportReport:
        try:
            rows, encoding = ctf_rows(data) if format == "ctf" else csv_rows(data, chosen)
        except SourceError as e:
            raise AppError(422, "unreadable_file", f"{e}; nothing was imported") from None
        return app.imports.pupils(
            caller, rows, chosen, encoding=encoding, academy=academy, dry_run=dry_run
        )

    # Reading, checking and saving take seconds for a large file: not on the event loop.
    report = await run_in_threadpool(run)
    return _answer(app, report, per_row)


@router.post("/history", responses=responses(400, 401, 403, 422))
async def import_history(
    request: Request,
    app: ChronicleDep,
    caller: Permitted,
    source: Annotated[
        str,
        Query(
            min_length=1,
            max_length=80,
            description="The product the history comes from, e.g. Provision Map.",
        ),
    ],
    mapping: Annotated[
        str, Query(max_length=40, description="A shipped history mapping (chronicle).")
    ] = "chronicle",
    dry_run: bool = False,
    per_row: bool = False,
) -> JSONResponse:
    """Import SEN history (dated entries from another product) sent as a CSV body."""
    data = await request.body()
    chosen = SHIPPED_HISTORY.get(mapping)
    if chosen is None:
        raise AppError(
            422,
            "unknown_mapping",
            f"no shipped history mapping {mapping!r} (shipped: {', '.join(SHIPPED_HISTORY)}); "
            "a trust's own mapping file is used with `chronicle import history --mapping FILE`",
        )

    def run() -> HistoryReport:
        try:
            f = HISTORY_FIELDS
            rows, encoding = csv_rows(data, chosen, f.names, f.required)
        except SourceError as e:
            raise AppError(422, "unreadable_file", f"{e}; nothing was imported") from None
        return app.history.history(
            caller, rows, chosen, source=source, encoding=encoding, dry_run=dry_run
        )

    report = await run_in_threadpool(run)
    return _answer(app, report, per_row)


def _answer(app: Chronicle, report: ImportReport | HistoryReport, per_row: bool) -> JSONResponse:
    body: dict[str, Any] = report.as_json(per_row=per_row)
    if report.refused:
        body = {
            "error": "rows_refused",
            "detail": f"{len(report.refused)} problems in the file: nothing was written",
            "report": body,
        }
        return JSONResponse(body, status_code=422)
    return JSONResponse(body, headers={"X-Chronicle-Position": str(app.position())})
