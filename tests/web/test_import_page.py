"""The import page (api/web/imports.py): upload, preview (nothing written), confirm with the
same file (written once), a different file refused at confirmation, refused rows shown by
line and column only, CSRF and roles; on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

from api.imports.mappings import CENSUS, CHRONICLE
from tests.imports.fixtures import csv_bytes, pupils
from tests.web.conftest import WebClient, csrf_of


def _digest(html: str) -> str:
    found = re.search(r'name="digest" value="([0-9a-f]{64})"', html)
    assert found, html[:500]
    return found.group(1)


def test_preview_then_confirm_imports_the_previewed_file_once(web: WebClient) -> None:
    web.as_("OAK-sendco-1", "sendco")
    page = web.client.get("/ui/import")
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
    csrf = csrf_of(page.text)
    made = pupils(4)
    made[1] = replace(made[1], provision="K", needs=("SPLD",), sen_start=date(2024, 9, 4))
    data = csv_bytes(made, CENSUS)
    fields = {"csrf_token": csrf, "format": "csv", "mapping": "census", "academy": ""}
    preview = web.client.post("/ui/import/preview", data=fields, files={"file": ("x.csv", data)})
    assert preview.status_code == 200, preview.text
    assert "4 new pupils" in preview.text and "RegisterStatusChanged" in preview.text
    assert next(web.records.registrations(), None) is None  # a preview writes nothing
    digest = _digest(preview.text)

    other = csv_bytes(pupils(2, start=30), CENSUS)
    wrong = web.client.post("/ui/import/confirm", data={**fields, "digest": digest},
                            files={"file": ("y.csv", other)})  # fmt: skip
    assert wrong.status_code == 422 and "not the file you previewed" in wrong.text
    assert next(web.records.registrations(), None) is None

    done = web.client.post("/ui/import/confirm", data={**fields, "digest": digest},
                           files={"file": ("x.csv", data)})  # fmt: skip
    assert done.status_code == 200 and "Imported" in done.text
    assert sum(1 for _ in web.records.registrations()) == 4
    register = web.client.get("/ui/register")
    assert made[0].family in register.text


def test_refused_rows_show_line_and_column_only(web: WebClient) -> None:
    web.as_("OAK-sendco-1", "sendco")
    csrf = csrf_of(web.client.get("/ui/import").text)
    made = pupils(3)
    made[2] = replace(made[2], upn=made[2].upn[:-1] + "Q", academy="ELM")  # not covered
    data = csv_bytes(made, CHRONICLE)
    fields = {"csrf_token": csrf, "format": "csv", "mapping": "chronicle", "academy": ""}
    got = web.client.post("/ui/import/preview", data=fields, files={"file": ("x.csv", data)})
    assert got.status_code == 422 and "Problems in the file" in got.text
    assert "<td>4</td><td>upn</td>" in got.text
    assert made[2].upn not in got.text and made[2].born.isoformat() not in got.text
    assert 'action="/ui/import/confirm"' not in got.text


def test_the_import_needs_the_csrf_token_and_a_role_that_may(web: WebClient) -> None:
    web.as_("OAK-sendco-1", "sendco")
    data = csv_bytes(pupils(1), CHRONICLE)
    forged = web.client.post("/ui/import/preview", data={"csrf_token": "x", "format": "csv"},
                             files={"file": ("x.csv", data)})  # fmt: skip
    assert forged.status_code == 403
    web.as_("OAK-teacher-1", "teacher")
    assert web.client.get("/ui/import").status_code == 403
    assert "/ui/import" not in web.client.get("/ui/register").text  # no link either
