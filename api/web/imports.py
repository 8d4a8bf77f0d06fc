"""The import page: upload an MIS export, preview what it would write, confirm (docs/web.md,
docs/import.md). It calls the import use case the API's `POST /imports/pupils` and the
command line call, so the checks, the scope and the report are the same.

The preview is a dry run; the confirmation sends the same file again with the digest of
the previewed one, and is refused if the file differs, so what is written is exactly what
was previewed. Nothing of the file is kept between the two steps.
"""

from __future__ import annotations

import hashlib
from email.parser import BytesParser
from email.policy import HTTP
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from api.app.errors import AppError
from api.imports.ctf import CTF, ctf_rows
from api.imports.mappings import SHIPPED
from api.imports.sources import SourceError, csv_rows
from api.web import permissions as pages
from api.web.account import check_csrf
from api.web.core import PageError, Viewer, Web, guarded
from api.web.forms import FormData

MAX_UPLOAD_BYTES = 16 * 1024 * 1024


class Upload:
    """A posted multipart form: its fields and the uploaded file's bytes."""

    def __init__(self, fields: FormData, data: bytes) -> None:
        self.fields, self.data = fields, data

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


async def upload_data(request: Request) -> Upload:
    """The multipart/form-data body, parsed with the standard library (at most 16 MB)."""
    body = await request.body()
    if len(body) > MAX_UPLOAD_BYTES:
        raise PageError(413, "File too large", "Import files over 16 MB with the command line.")
    kind = request.headers.get("content-type", "")
    if not kind.startswith("multipart/form-data"):
        raise PageError(400, "Not an upload", "Choose the file to import and send the form.")
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + kind.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: list[tuple[str, str]] = []
    data = b""
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        if name == "file":
            data = content
        elif isinstance(name, str):
            fields.append((name, content.decode("utf-8", "replace")))
    return Upload(FormData(fields), data)


UploadForm = Annotated[Upload, Depends(upload_data)]


def router(web: Web) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    app = web.app

    @r.get("/ui/import")
    @guarded(web)
    def import_page(request: Request) -> Response:
        viewer = web.signed_in(request)
        viewer.require(pages.IMPORT, "the import")
        return _form(request, viewer, None, None, 200)

    def _form(
        request: Request, viewer: Viewer, report: object, upload: Upload | None, status: int,
        problem: str | None = None, confirmed: bool = False,
    ) -> Response:  # fmt: skip
        fields = upload.fields if upload is not None else FormData([])
        return web.render(
            request,
            "import.html",
            viewer,
            status=status,
            title="Import pupils from the MIS",
            mappings=sorted(SHIPPED),
            chosen={
                "format": fields.get("format") or "csv",
                "mapping": fields.get("mapping") or "chronicle",
                "academy": fields.get("academy"),
            },
            report=report,
            digest=upload.digest if upload is not None else "",
            problem=problem,
            confirmed=confirmed,
        )

    def _run(request: Request, upload: Upload, *, dry_run: bool) -> Response:
        viewer = web.signed_in(request)
        check_csrf(viewer, upload.fields)
        viewer.require(pages.IMPORT, "the import")
        fields = upload.fields
        kind = fields.get("format") or "csv"
        name = fields.get("mapping") or "chronicle"
        if kind not in ("csv", "ctf") or (kind == "csv" and name not in SHIPPED):
            return _form(request, viewer, None, None, 422, "Choose CSV or CTF and a mapping.")
        if not upload.data:
            return _form(request, viewer, None, None, 422, "Choose the file to import.")
        if not dry_run and fields.get("digest") != upload.digest:
            return _form(
                request, viewer, None, None, 422,
                "This is not the file you previewed: preview it first, then import it.",
            )  # fmt: skip
        mapping = CTF if kind == "ctf" else SHIPPED[name]
        try:
            rows, encoding = (
                ctf_rows(upload.data) if kind == "ctf" else csv_rows(upload.data, mapping)
            )
            report = app.imports.pupils(
                viewer.caller, rows, mapping, encoding=encoding,
                academy=fields.get("academy").strip() or None, dry_run=dry_run,
            )  # fmt: skip
        except SourceError as e:
            return _form(request, viewer, None, None, 422, f"{e}; nothing was imported.")
        except AppError as e:
            if e.status not in (409, 422):
                raise
            return _form(request, viewer, None, None, e.status, e.detail)
        status = 422 if report.refused else 200
        return _form(request, viewer, report, upload, status, confirmed=not dry_run)

    @r.post("/ui/import/preview")
    @guarded(web)
    def preview(request: Request, upload: UploadForm) -> Response:
        return _run(request, upload, dry_run=True)

    @r.post("/ui/import/confirm")
    @guarded(web)
    def confirm(request: Request, upload: UploadForm) -> Response:
        return _run(request, upload, dry_run=False)

    return r
