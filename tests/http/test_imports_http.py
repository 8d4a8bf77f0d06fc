"""POST /imports/pupils: the import upload over the same use case as the command line
(docs/import.md), on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from api.imports.mappings import CENSUS, CHRONICLE
from tests.http.conftest import Api
from tests.imports.fixtures import csv_bytes, ctf_bytes, pupils
from tests.imports.test_sources import BILLION_LAUGHS


def test_a_sendco_uploads_an_export_and_the_same_file_again_changes_nothing(api: Api) -> None:
    h = api.headers("sendco", ("OAK",))
    made = pupils(5)
    made[2] = replace(made[2], provision="K", needs=("SLCN",), sen_start=date(2024, 9, 9))
    data = csv_bytes(made, CENSUS)
    dry = api.client.post("/imports/pupils?mapping=census&dry_run=true", headers=h, content=data)
    assert dry.status_code == 200, dry.text
    assert dry.json()["pupils"]["new"] == 5 and not dry.json()["written"]
    done = api.client.post("/imports/pupils?mapping=census&per_row=true", headers=h, content=data)
    assert done.status_code == 200 and done.json()["written"]
    assert done.json()["entries"]["RegisterStatusChanged"] == 1
    listed = api.client.get("/pupils", headers={**h, "X-Chronicle-Position":
                            done.headers["X-Chronicle-Position"]})  # fmt: skip
    assert listed.json()["total"] == 5
    again = api.client.post("/imports/pupils?mapping=census", headers=h, content=data)
    assert again.json()["pupils"] == {"new": 0, "changed": 0, "unchanged": 5}


def test_refused_rows_are_422_with_line_and_column_only(api: Api) -> None:
    h = api.headers("trust_admin", ())
    made = pupils(3)
    made[1] = replace(made[1], upn=made[1].upn[:-1] + "Q", academy="ZZZ")
    got = api.client.post("/imports/pupils", headers=h, content=csv_bytes(made, CHRONICLE))
    assert got.status_code == 422
    body = got.json()
    assert body["error"] == "rows_refused"
    assert {(r["line"], r["column"]) for r in body["report"]["refused"]} == {
        (3, "upn"),
        (3, "academy"),
    }
    for p in made:
        for secret in (p.upn, p.given, p.family, p.born.isoformat()):
            assert secret not in got.text
    assert api.client.get("/pupils", headers=api.headers("sendco", ())).json()["total"] == 0


def test_hostile_or_unreadable_files_and_server_paths_are_refused(api: Api) -> None:
    h = api.headers("sendco", ("OAK",))
    hostile = api.client.post("/imports/pupils?format=ctf", headers=h, content=BILLION_LAUGHS)
    assert hostile.status_code == 422 and hostile.json()["error"] == "unreadable_file"
    path = api.client.post("/imports/pupils?mapping=/etc/passwd", headers=h, content=b"x")
    assert path.status_code == 422 and path.json()["error"] == "unknown_mapping"
    teacher = api.headers("teacher", ("OAK",))
    assert api.client.post("/imports/pupils", headers=teacher, content=b"x").status_code == 403


def test_a_ctf_upload_to_the_academys_dfe_number(api: Api) -> None:
    from api.academies import Academies

    Academies(api.records.datastore.engine).rename("OAK", "Oakfield", dfe_number="873/2041")
    h = api.headers("sendco", ("OAK",))
    got = api.client.post("/imports/pupils?format=ctf", headers=h, content=ctf_bytes(pupils(2)))
    assert got.status_code == 200, got.text
    assert got.json()["pupils"]["new"] == 2
