"""The role x endpoint x academy matrix, generated from the table in docs/permissions.md."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

import httpx
import pytest

from api.http.permissions import PERMISSIONS
from domain.pupil import Pupil
from domain.values import Role
from tests.factories import a_upn, on
from tests.http.conftest import SAFEGUARDING_NOTE, Api

DOC = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"


def documented_table() -> dict[str, dict[str, str]]:
    """endpoint -> role -> cell, parsed from the markdown table of docs/permissions.md."""
    lines = [line.strip() for line in DOC.read_text().splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("| endpoint |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    table: dict[str, dict[str, str]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        table[cells[0]] = dict(zip(header[1:], cells[1:], strict=True))
    return table


TABLE = documented_table()
Call = Callable[[Api, dict[str, str], Pupil], httpx.Response]


def _concern(api: Api, h: dict[str, str], p: Pupil) -> httpx.Response:
    return api.client.post(
        f"/pupils/{p.id}/concerns",
        headers={**h, "If-Match": str(api.version(p.id))},
        json={"source": "teacher", "description": "Struggles to settle"},
    )


def _status(api: Api, h: dict[str, str], p: Pupil) -> httpx.Response:
    return api.client.post(
        f"/pupils/{p.id}/register-status",
        headers={**h, "If-Match": str(api.version(p.id))},
        json={"status": "monitoring", "reason": "Persisting concern", "decision_maker": "S1"},
    )


def _register(api: Api, h: dict[str, str], p: Pupil) -> httpx.Response:
    return api.client.post(
        "/pupils",
        headers=h,
        json={
            "upn": a_upn(),
            "legal_given_names": "Ada",
            "legal_family_name": "Quill",
            "date_of_birth": "2016-01-01",
            "academy": p.academy,
            "year_group": 3,
        },
    )


CALLS: dict[str, Call] = {
    "GET /pupils": lambda api, h, p: api.client.get("/pupils", headers=h),
    "POST /pupils": _register,
    "GET /pupils/{pupil_id}": lambda api, h, p: api.client.get(f"/pupils/{p.id}", headers=h),
    "GET /pupils/{pupil_id}/chronology": lambda api, h, p: api.client.get(
        f"/pupils/{p.id}/chronology", headers=h
    ),
    "POST /pupils/{pupil_id}/concerns": _concern,
    "POST /pupils/{pupil_id}/register-status": _status,
    "GET /pupils/{pupil_id}/access-log": lambda api, h, p: api.client.get(
        f"/pupils/{p.id}/access-log", headers=h
    ),
    "GET /ledger/checkpoint": lambda api, h, p: api.client.get("/ledger/checkpoint", headers=h),
    "GET /ledger/consistency": lambda api, h, p: api.client.get(
        "/ledger/consistency?old=1&new=1", headers=h
    ),
}


def test_the_document_and_the_code_agree() -> None:
    assert set(TABLE) == set(PERMISSIONS) == set(CALLS)
    for endpoint, cells in TABLE.items():
        assert {r.value: a.value for r, a in PERMISSIONS[endpoint].items()} == cells, endpoint


def test_every_route_of_the_app_is_in_the_table(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    routes = {f"{m.upper()} {path}" for path, ops in schema["paths"].items() for m in ops}
    assert routes == set(TABLE)


def _listed(response: httpx.Response, pupil: Pupil) -> bool:
    return str(pupil.id) in {p["pupil_id"] for p in response.json()["pupils"]}


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_role_across_endpoints_and_academies(api: Api, role: str) -> None:
    pupil = api.add_pupil("OAK", safeguarding=True)
    home = api.headers(role, ("OAK",))
    away = api.headers(role, ("ELM",))
    wrong: list[str] = []
    for endpoint, call in CALLS.items():
        cell = TABLE[endpoint][role]
        at_home, elsewhere = call(api, home, pupil), call(api, away, pupil)
        if cell == "denied":
            expected = [(403,), (403,)]
            got = [(at_home.status_code,), (elsewhere.status_code,)]
        elif cell == "allowed":
            expected, got = [True, True], [at_home.is_success, elsewhere.is_success]
        elif endpoint == "GET /pupils":
            expected = [(200, True), (200, False)]
            got = [
                (at_home.status_code, at_home.is_success and _listed(at_home, pupil)),
                (elsewhere.status_code, elsewhere.is_success and _listed(elsewhere, pupil)),
            ]
        elif endpoint == "POST /pupils":
            expected, got = [201, 403], [at_home.status_code, elsewhere.status_code]
        else:
            expected = [True, 404]
            got = [at_home.is_success, elsewhere.status_code]
        if got != expected:
            wrong.append(
                f"{endpoint} ({cell}): expected {expected}, got {got} "
                f"[{at_home.text[:120]} | {elsewhere.text[:120]}]"
            )
        # No content leaks in a refusal, and a teacher never reads safeguarding content.
        for response in (elsewhere, at_home) if cell == "denied" else (elsewhere,):
            assert "Quartermaine" not in response.text and SAFEGUARDING_NOTE not in response.text
        if role == "teacher":
            assert SAFEGUARDING_NOTE not in at_home.text and "CP-00042" not in at_home.text
    assert not wrong, "\n".join(wrong)


def test_wrong_academy_looks_exactly_like_no_such_pupil(api: Api) -> None:
    pupil = api.add_pupil("OAK")
    away = api.headers("sendco", ("ELM",))
    elsewhere = api.client.get(f"/pupils/{pupil.id}", headers=away)
    missing_id = re.sub(r"[0-9a-f]", "0", str(pupil.id))
    missing = api.client.get(f"/pupils/{missing_id}", headers=away)
    assert elsewhere.status_code == missing.status_code == 404
    assert elsewhere.json()["detail"].replace(str(pupil.id), "X") == missing.json()[
        "detail"
    ].replace(missing_id, "X")


def test_a_pupil_who_moved_is_seen_by_the_new_academy_only(api: Api) -> None:
    pupil = api.add_pupil("OAK")
    pupil.transfer_within_trust(to_academy="ELM", reason="Family moved", **on(date(2025, 2, 3)))
    api.records.save(pupil)
    old, new = api.headers("teacher", ("OAK",)), api.headers("teacher", ("ELM",))
    for url in (f"/pupils/{pupil.id}", f"/pupils/{pupil.id}/chronology"):
        assert api.client.get(url, headers=old).status_code == 404
        assert api.client.get(url, headers=new).status_code == 200
    assert not _listed(api.client.get("/pupils", headers=old), pupil)
    assert _listed(api.client.get("/pupils", headers=new), pupil)


@pytest.mark.parametrize("role", ["teacher", "sendco", "dsl"])
def test_safeguarding_entries_are_masked_by_role(api: Api, role: str) -> None:
    pupil = api.add_pupil("OAK", safeguarding=True)
    got = api.client.get(f"/pupils/{pupil.id}/chronology", headers=api.headers(role))
    assert got.status_code == 200, got.text
    (entry,) = [e for e in got.json()["entries"] if e["type"] == "SafeguardingCrossReferenced"]
    may_see = api.records.policy.may_see(role, "SafeguardingCrossReferenced")
    assert may_see == (role != "teacher")
    assert entry["masked"] is not may_see
    if may_see:
        assert entry["payload"]["note"] == SAFEGUARDING_NOTE
    else:
        assert entry["payload"] is None and entry["recorded_by"] is None
        assert SAFEGUARDING_NOTE not in got.text and "CP-00042" not in got.text
