"""Exports: a pupil's verifiable history (`chronicle-export/1`, docs/verifiable-export.md)
as JSON, or the same export as the tribunal bundle a person reads (HTML).

An export is a disclosure (the application's `Exports` use case: withheld entries follow
the recipient and purpose, it is recorded on the pupil as `RecordsDisclosed` and in its
access log), so both routes are POSTs. The bundle holds pupil content, so it is never
stored by the API (no idempotency record either: a retried export is a second export).
"""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse

from api.app.bodies import ExportRequest
from api.bundle_html import render_bundle_html
from api.http.auth import ChronicleDep, Permitted
from api.http.errors import responses

router = APIRouter(prefix="/pupils", tags=["exports"])
_ERRORS = responses(401, 403, 404, 409, 410, 422)
_BUNDLE = {
    "description": "The `chronicle-export/1` bundle; its SHA-256 digest (of the canonical "
    "JSON) is in the `X-Export-Digest` header and in the pupil's RecordsDisclosed entry.",
    "content": {"application/json": {"schema": {"type": "object"}}},
}


@router.post(
    "/{pupil_id}/exports",
    status_code=201,
    responses={**_ERRORS, 201: _BUNDLE},
    response_class=JSONResponse,
)
def export_bundle(
    pupil_id: UUID, body: ExportRequest, app: ChronicleDep, caller: Permitted
) -> JSONResponse:
    """Export the pupil's verifiable history up to now for the recipient (withheld entries
    keep their commitment, with the reason), anchored in a signed checkpoint; recorded on
    the pupil as RecordsDisclosed."""
    made = app.exports.export(caller, pupil_id, body)
    return JSONResponse(made.bundle, status_code=201, headers={"X-Export-Digest": made.digest})


@router.post(
    "/{pupil_id}/exports/html",
    status_code=201,
    responses={
        **_ERRORS,
        201: {
            "description": "The tribunal bundle (HTML) of a new export.",
            "content": {"text/html": {"schema": {"type": "string"}}},
        },
    },
    response_class=HTMLResponse,
)
def export_bundle_html(
    pupil_id: UUID, body: ExportRequest, app: ChronicleDep, caller: Permitted
) -> HTMLResponse:
    """The same export as a tribunal bundle a person reads: date order, an index, numbered
    pages, each entry's sequence number and digest; also recorded as RecordsDisclosed."""
    made = app.exports.export(caller, pupil_id, body)
    return HTMLResponse(
        render_bundle_html(made.bundle, made.digest),
        status_code=201,
        headers={"X-Export-Digest": made.digest},
    )
