"""Exports: a pupil's verifiable history (`chronicle-export/1`, docs/verifiable-export.md)
as JSON, or the same export as the tribunal bundle a person reads (HTML).

An export is a disclosure: `api.export.export_pupil` records it on the pupil
(`RecordsDisclosed`, with the bundle's digest), so both routes are POSTs, and each export is
also recorded in the pupil's access log (`what = "export <digest>"`). The bundle holds
pupil content, so it is never stored by the API (no idempotency record either: a retried
export is a second export, and is recorded as one).
"""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse

from api.bundle_html import render_bundle_html
from api.export import Disclosure, Export, export_pupil
from api.http.access import record_views
from api.http.auth import Caller, Permitted, ServiceDep
from api.http.errors import ApiError, responses
from api.http.models import ExportRequest
from api.http.service import Service
from projections.ledger import LedgerError

router = APIRouter(prefix="/pupils", tags=["exports"])
_ERRORS = responses(401, 403, 404, 409, 410, 422)
_BUNDLE = {
    "description": "The `chronicle-export/1` bundle; its SHA-256 digest (of the canonical "
    "JSON) is in the `X-Export-Digest` header and in the pupil's RecordsDisclosed entry.",
    "content": {"application/json": {"schema": {"type": "object"}}},
}


def _export(svc: Service, caller: Caller, pupil_id: UUID, body: ExportRequest) -> Export:
    caller.check(svc.records.get_pupil(pupil_id))
    redactions: dict[int, str] = {}
    for r in body.redactions:
        if r.seq in redactions:
            raise ApiError(422, "invalid_entry", f"entry {r.seq} is redacted twice: list it once")
        redactions[r.seq] = r.reason
    disclosure = Disclosure(body.recipient, body.purpose, body.legal_basis, caller.recorder)
    try:
        made = export_pupil(svc.records, svc.ledger, pupil_id, disclosure, redactions)
    except LedgerError as e:
        # The log is behind a write made at the same moment: nothing was disclosed.
        raise ApiError(
            503,
            "ledger_behind",
            "the trust-wide log was catching up with a write made just now; nothing was "
            "exported or recorded: try again",
        ) from e
    record_views(svc.records, [pupil_id], caller.recorder, f"export {made.digest}", body.purpose)
    return made


@router.post(
    "/{pupil_id}/exports",
    status_code=201,
    responses={**_ERRORS, 201: _BUNDLE},
    response_class=JSONResponse,
)
def export_bundle(
    pupil_id: UUID, body: ExportRequest, svc: ServiceDep, caller: Permitted
) -> JSONResponse:
    """Export the pupil's verifiable history up to now (redacted entries keep their
    commitment), anchored in a signed checkpoint; recorded on the pupil as RecordsDisclosed."""
    made = _export(svc, caller, pupil_id, body)
    return JSONResponse(
        made.bundle,
        status_code=201,
        headers={"X-Export-Digest": made.digest},
    )


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
    pupil_id: UUID, body: ExportRequest, svc: ServiceDep, caller: Permitted
) -> HTMLResponse:
    """The same export as a tribunal bundle a person reads: date order, an index, numbered
    pages, each entry's sequence number and digest; also recorded as RecordsDisclosed."""
    made = _export(svc, caller, pupil_id, body)
    return HTMLResponse(
        render_bundle_html(made.bundle, made.digest),
        status_code=201,
        headers={"X-Export-Digest": made.digest},
    )
