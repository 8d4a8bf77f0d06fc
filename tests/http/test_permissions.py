"""The role x endpoint x academy matrix, generated from the table in docs/permissions.md."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.http.permissions import PERMISSIONS, ROUTES
from domain.pupil import Pupil
from domain.values import AreaOfNeed, ConcernSource, DslDecision, Role
from tests.factories import DEFAULT, DSL, a_pupil, a_upn, agree, on
from tests.http.conftest import SAFEGUARDING_NOTE, Api
from tests.http.entries import BY_SLUG, EXAMPLES, post, prepared
from tests.http.retention_calls import RETENTION_CALLS

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
        row = dict(zip(header[1:], cells[1:], strict=True))
        USE_CASE_COLUMN[cells[0]] = row.pop("use case")
        table[cells[0]] = row
    return table


# endpoint -> the use case the document says it is (the second column).
USE_CASE_COLUMN: dict[str, str] = {}


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


def _entry(slug: str) -> Call:
    """A command of the catalogue, on a fresh pupil of `p`'s academy made ready for it (so
    the matrix does not depend on the order of the calls)."""
    example = BY_SLUG[slug]

    def call(api: Api, h: dict[str, str], p: Pupil) -> httpx.Response:
        # Another name: a pupil transferred to the other academy is rightly shown there.
        fresh, extra = prepared(api, example.prepare, p.academy, family="Fresh")
        return post(api, h, fresh.id, slug, {**example.body(), **extra})

    return call


EXPORT = {
    "purpose": "send_tribunal_appeal",
    "recipient": "First-tier Tribunal (SEND)",
    "legal_basis": "SEND Regulations 2014",
}


def _export(suffix: str) -> Call:
    def call(api: Api, h: dict[str, str], p: Pupil) -> httpx.Response:
        return api.client.post(f"/pupils/{p.id}/exports{suffix}", headers=h, json=EXPORT)

    return call


def _get(url: str) -> Call:
    return lambda api, h, p: api.client.get(url, headers=h)


def _access_log(api: Api, h: dict[str, str], p: Pupil) -> httpx.Response:
    """The access log across pupils, after someone (a trust-wide SENDCo) read `p`."""
    assert api.client.get(f"/pupils/{p.id}", headers=api.headers("sendco", ())).is_success
    return api.client.get("/access-log", headers=h)


def _import(api: Api, h: dict[str, str], p: Pupil) -> httpx.Response:
    """One new pupil from a CSV export, at the matrix pupil's academy."""
    body = (
        "upn,legal_given_names,legal_family_name,date_of_birth,year_group\r\n"
        f"{a_upn()},Ada,Quill,2016-01-01,3\r\n"
    )
    return api.client.post(f"/imports/pupils?academy={p.academy}", headers=h, content=body.encode())


def _import_history(api: Api, h: dict[str, str], p: Pupil) -> httpx.Response:
    """One entry of the matrix pupil's history from another product."""
    body = (
        "upn,happened_on,kind,title,source_id\r\n"
        f"{p.upn},2024-01-10,note,Parent meeting,PM-{p.upn}\r\n"
    )
    return api.client.post(
        "/imports/history?source=Provision%20Map", headers=h, content=body.encode()
    )


CALLS: dict[str, Call] = {
    "GET /pupils": lambda api, h, p: api.client.get("/pupils", headers=h),
    "POST /pupils": _register,
    "POST /imports/pupils": _import,
    "POST /imports/history": _import_history,
    "GET /pupils/{pupil_id}": lambda api, h, p: api.client.get(f"/pupils/{p.id}", headers=h),
    "GET /pupils/{pupil_id}/chronology": lambda api, h, p: api.client.get(
        f"/pupils/{p.id}/chronology", headers=h
    ),
    "POST /pupils/{pupil_id}/concerns": _concern,
    "POST /pupils/{pupil_id}/register-status": _status,
    "GET /pupils/{pupil_id}/access-log": lambda api, h, p: api.client.get(
        f"/pupils/{p.id}/access-log", headers=h
    ),
    "GET /access-log": _access_log,
    "GET /ledger/checkpoint": lambda api, h, p: api.client.get("/ledger/checkpoint", headers=h),
    "GET /ledger/consistency": lambda api, h, p: api.client.get(
        "/ledger/consistency?old=1&new=1", headers=h
    ),
    **{
        f"POST /pupils/{{pupil_id}}/{e.slug}": _entry(e.slug)
        for e in EXAMPLES
        if e.slug not in ("concerns", "register-status")
    },
    # By name, the matrix pupil sorts after every "Fresh" pupil the entry calls register:
    # one page holds them all (`_whole` fails, not flakes, when it no longer does).
    "GET /register": _get("/register?limit=200"),
    "GET /deadlines": _get("/deadlines"),
    "GET /safeguarding/cross-references": _get("/safeguarding/cross-references"),
    "GET /safeguarding/awaiting-decision": _get("/safeguarding/awaiting-decision"),
    "POST /pupils/{pupil_id}/exports": _export(""),
    "POST /pupils/{pupil_id}/exports/html": _export("/html"),
    **RETENTION_CALLS,
    "GET /sign-in-audit": _get("/sign-in-audit"),
}


def _whole(body: dict[str, Any]) -> dict[str, Any]:
    """A listing's answer, checked to hold every pupil it counts."""
    assert body["total"] == len(body["pupils"]), "the listing needs more than one page"
    return body


# Listings within the caller's academies: which pupils an answer shows.
LISTINGS: dict[str, Callable[[dict[str, Any]], set[str]]] = {
    "GET /pupils": lambda body: {p["pupil_id"] for p in body["pupils"]},
    "GET /register": lambda body: {p["pupil_id"] for p in _whole(body)["pupils"]},
    "GET /deadlines": lambda body: {d["pupil_id"] for d in body["deadlines"]},
    "GET /safeguarding/cross-references": lambda body: {
        x["pupil_id"] for x in body["cross_references"]
    },
    "GET /safeguarding/awaiting-decision": lambda body: {p["pupil_id"] for p in body["pupils"]},
    "GET /access-log": lambda body: {e["pupil_id"] for e in body["entries"]},
}


def test_the_document_and_the_code_agree() -> None:
    assert set(TABLE) == set(PERMISSIONS) == set(CALLS)
    for endpoint, cells in TABLE.items():
        assert {r.value: a.value for r, a in PERMISSIONS[endpoint].items()} == cells, endpoint
        assert USE_CASE_COLUMN[endpoint] == ROUTES[endpoint], endpoint


def test_every_route_of_the_app_is_in_the_table(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    routes = {f"{m.upper()} {path}" for path, ops in schema["paths"].items() for m in ops}
    assert routes == set(TABLE)


def _listed(response: httpx.Response, pupil: Pupil, endpoint: str = "GET /pupils") -> bool:
    return str(pupil.id) in LISTINGS[endpoint](response.json())


def a_matrix_pupil(api: Api) -> Pupil:
    """A pupil at OAK on every listing: a safeguarding cross-reference, a later social,
    emotional and mental health concern awaiting the DSL, and a plan whose review is due."""
    pupil = a_pupil(academy="OAK")
    pupil.cross_reference_safeguarding(
        policy=DEFAULT,
        cpoms_log_id="CP-00042",
        note=SAFEGUARDING_NOTE,
        dsl_decision=DslDecision.EARLY_HELP,
        decided_by="OAK-dsl-1",
        **on(date(2025, 2, 1), DSL),
    )
    pupil.raise_concern(
        source=ConcernSource.TEACHER,
        area_of_need=AreaOfNeed.SEMH,
        description="Withdrawn at break times",
        evidence="Playground log",
        **on(date(2025, 2, 10)),
    )
    agree(pupil, date(2025, 2, 10))
    api.records.save(pupil)
    return pupil


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_role_across_endpoints_and_academies(api: Api, role: str) -> None:
    pupil = a_matrix_pupil(api)
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
        elif endpoint in LISTINGS:
            expected = [(200, True), (200, False)]
            got = [
                (r.status_code, r.is_success and _listed(r, pupil, endpoint))
                for r in (at_home, elsewhere)
            ]
        elif endpoint == "POST /pupils":
            expected, got = [201, 403], [at_home.status_code, elsewhere.status_code]
        elif endpoint == "POST /imports/pupils":
            expected, got = [200, 403], [at_home.status_code, elsewhere.status_code]
        elif endpoint == "POST /imports/history":
            # A pupil at another academy is a UPN not found there: the row is refused.
            expected, got = [200, 422], [at_home.status_code, elsewhere.status_code]
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
    found = [e for e in got.json()["entries"] if e["type"] == "SafeguardingCrossReferenced"]
    may_see = api.records.policy.may_see(role, "SafeguardingCrossReferenced")
    assert may_see == (role != "teacher")
    if role == "teacher":
        # Teachers are not even told that a restricted entry exists (as on the web).
        assert found == []
        assert SAFEGUARDING_NOTE not in got.text and "CP-00042" not in got.text
        return
    (entry,) = found
    assert entry["masked"] is not may_see
    if may_see:
        assert entry["payload"]["note"] == SAFEGUARDING_NOTE
    else:
        assert entry["payload"] is None and entry["recorded_by"] is None
        assert SAFEGUARDING_NOTE not in got.text and "CP-00042" not in got.text
