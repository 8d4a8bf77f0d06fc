"""Every use case that has both an HTTP route and a web page, for every role, on a pupil in
the caller's academy, at another academy, moved away, left the trust and purged: the API
and the web give the same answer (docs/permissions.md). The web's retention actions on
another academy's pupil included: they once purged it (issue 12).

An answer is compared as its kind: "ok" (2xx, or the web's 303 after a form), or the
status of the refusal (403, 404, 410, 422). On SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app.bodies import ProposePurge
from api.app.caller import Caller
from api.app.service import Chronicle
from domain.pupil import Pupil
from domain.values import Role
from tests.conftest import STORES_AND_MEMORY, Store, make_store
from tests.factories import DEFAULT, DPO, on
from tests.http.conftest import Api


@pytest.fixture(params=STORES_AND_MEMORY)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The use cases on every store: SQLite, PostgreSQL and the in-memory twin."""
    yield from make_store(request, tmp_path)


ROLES = [r.value for r in Role]
SITUATIONS = ("in_scope", "other_academy", "moved", "left", "purged")
PURPOSE = "T-1"


@dataclass
class Person:
    api: dict[str, str]  # headers for the API
    web: TestClient  # a browser signed in as the same person


def _person(api: Api, role: str) -> Person:
    headers = api.headers(role, ("OAK",), purpose=PURPOSE)
    token = headers["Authorization"].removeprefix("Bearer ")
    browser = TestClient(api.client.app, raise_server_exceptions=False)
    page = browser.get("/ui/sign-in")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    signed = browser.post(
        "/ui/sign-in",
        data={"csrf_token": csrf.group(1), "token": token, "next": ""},
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text
    return Person(headers, browser)


def _chronicle(api: Api) -> Chronicle:
    found: Chronicle = api.client.app.state.chronicle  # type: ignore[attr-defined]
    return found


def _situated(api: Api, situation: str) -> Pupil:
    """A fresh pupil in `situation` for a caller covering OAK."""
    pupil = api.add_pupil("ELM" if situation == "other_academy" else "OAK")
    if situation == "moved":
        pupil.transfer_within_trust(to_academy="ELM", reason="Family moved", **on(date(2025, 3, 1)))
    if situation == "left":
        pupil.leave_trust(
            policy=DEFAULT,
            destination="Westmoor Academy",
            records_sent_on=None,
            receipt_acknowledged_on=None,
            receipt_acknowledged_by=None,
            **on(date(2025, 3, 1)),
        )
    if situation in ("moved", "left"):
        api.records.save(pupil)
    if situation == "purged":
        app = _chronicle(api)
        app.purges.propose(Caller.operator("dpo-a", Role.DPO), pupil.id, ProposePurge(override="x"))
        app.purges.approve(Caller.operator("dpo-b", Role.DPO), pupil.id)
    return pupil


def _with_hold(api: Api, pupil: Pupil) -> None:
    loaded = api.records.get_pupil(pupil.id)
    loaded.place_legal_hold(reason="Claim", requested_by="Solicitor", **on(date(2025, 3, 2), DPO))
    api.records.save(loaded)


def _proposed(api: Api, pupil: Pupil) -> None:
    _chronicle(api).purges.propose(
        Caller.operator("dpo-proposer", Role.DPO), pupil.id, ProposePurge(override="moved to LA")
    )


def _csrf(browser: TestClient, page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', browser.get(page).text)
    if found is None:  # the page itself was refused: take the token from the account page
        found = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/ui/account").text)
    assert found is not None
    return found.group(1)


def _version(api: Api, pupil: Pupil) -> str:
    try:
        return str(api.records.get_pupil(pupil.id).version)
    except Exception:  # purged: any version, the answer is 410 before it matters
        return "1"


def _form(browser: TestClient, page: str, action: str, data: dict[str, str]) -> httpx.Response:
    csrf = _csrf(browser, page)
    return browser.post(action, data={"csrf_token": csrf, **data}, follow_redirects=False)


# Each case: (prepare the pupil, the API call, the web call).
Call = Callable[[Api, Person, Pupil], httpx.Response]
CONCERN = {"source": "teacher", "description": "Struggles to settle"}


def _noop(api: Api, pupil: Pupil) -> None:
    return None


CASES: dict[str, tuple[Callable[[Api, Pupil], None], Call, Call]] = {
    "read_chronology": (
        _noop,
        lambda a, p, u: a.client.get(f"/pupils/{u.id}/chronology", headers=p.api),
        lambda a, p, u: p.web.get(f"/ui/pupils/{u.id}?purpose={PURPOSE}"),
    ),
    "read_access_log": (
        _noop,
        lambda a, p, u: a.client.get(f"/pupils/{u.id}/access-log", headers=p.api),
        lambda a, p, u: p.web.get(f"/ui/pupils/{u.id}/access-log"),
    ),
    "read_pupil_retention": (
        _noop,
        lambda a, p, u: a.client.get(f"/pupils/{u.id}/retention", headers=p.api),
        lambda a, p, u: p.web.get(f"/ui/retention/{u.id}"),
    ),
    "entry:concerns": (
        _noop,
        lambda a, p, u: a.client.post(
            f"/pupils/{u.id}/concerns",
            headers={**p.api, "If-Match": _version(a, u)},
            json=CONCERN,
        ),
        lambda a, p, u: _form(
            p.web,
            "/ui/account",
            f"/ui/pupils/{u.id}/entries/concerns",
            {"version": _version(a, u), **CONCERN},
        ),
    ),
    "entry:legal-holds": (
        _noop,
        lambda a, p, u: a.client.post(
            f"/pupils/{u.id}/legal-holds",
            headers={**p.api, "If-Match": _version(a, u)},
            json={"reason": "Tribunal appeal pending", "requested_by": "Trust solicitor"},
        ),
        lambda a, p, u: _form(
            p.web,
            "/ui/account",
            f"/ui/retention/{u.id}/hold",
            {"reason": "Tribunal appeal pending", "requested_by": "Trust solicitor"},
        ),
    ),
    "entry:legal-holds/release": (
        _with_hold,
        lambda a, p, u: a.client.post(
            f"/pupils/{u.id}/legal-holds/release",
            headers={**p.api, "If-Match": _version(a, u)},
            json={"reason": "Appeal concluded"},
        ),
        lambda a, p, u: _form(
            p.web, "/ui/account", f"/ui/retention/{u.id}/release", {"reason": "Appeal concluded"}
        ),
    ),
    "propose_purge": (
        _noop,
        lambda a, p, u: a.client.post(
            f"/pupils/{u.id}/purge-proposal", headers=p.api, json={"override": "moved to LA"}
        ),
        lambda a, p, u: _form(
            p.web, "/ui/account", f"/ui/retention/{u.id}/propose", {"override": "moved to LA"}
        ),
    ),
    "approve_purge": (
        _proposed,
        lambda a, p, u: a.client.post(f"/pupils/{u.id}/purge-approval", headers=p.api),
        lambda a, p, u: _form(p.web, "/ui/account", f"/ui/retention/{u.id}/approve", {}),
    ),
    "export": (
        _noop,
        lambda a, p, u: a.client.post(
            f"/pupils/{u.id}/exports",
            headers=p.api,
            json={
                "purpose": "send_tribunal_appeal",
                "recipient": "First-tier Tribunal (SEND)",
                "legal_basis": "SEND Regulations 2014",
            },
        ),
        lambda a, p, u: _form(
            p.web,
            "/ui/account",
            f"/ui/pupils/{u.id}/export",
            {
                "purpose": "send_tribunal_appeal",
                "recipient": "First-tier Tribunal (SEND)",
                "legal_basis": "SEND Regulations 2014",
                "format": "json",
            },
        ),
    ),
}


def _kind(answer: httpx.Response) -> str:
    if answer.status_code < 300 or answer.status_code == 303:
        return "ok"
    return str(answer.status_code)


def _answers(api: Api, people: dict[str, Person], use_case: str) -> dict[tuple[str, str], Any]:
    prepare, by_api, by_web = CASES[use_case]
    found = {}
    for role in ROLES:
        for situation in SITUATIONS:
            kinds = []
            for call in (by_api, by_web):
                pupil = _situated(api, situation)
                if situation != "purged":
                    prepare(api, pupil)
                kinds.append(_kind(call(api, people[role], pupil)))
            found[(role, situation)] = tuple(kinds)
    return found


@pytest.mark.parametrize("use_case", sorted(CASES))
def test_the_api_and_the_web_give_the_same_answer(api: Api, use_case: str) -> None:
    people = {role: _person(api, role) for role in ROLES}
    answers = _answers(api, people, use_case)
    differ = {k: v for k, v in answers.items() if v[0] != v[1]}
    assert differ == {}, f"{use_case}: (api, web) answers differ"
    # And the answers are the rule's: nobody reaches a pupil outside their academies.
    for (role, situation), (kind, _) in answers.items():
        if situation in ("other_academy", "moved"):
            assert kind in ("403", "404"), (use_case, role, situation, kind)
        if situation == "purged":
            assert kind in ("403", "410"), (use_case, role, situation, kind)


# ----- listings: the same pupils, or the same refusal ---------------------------------------

LISTINGS: dict[str, tuple[str, str, str]] = {
    # use case: (API path, the API's list key, web page)
    "list_pupils": ("/register?limit=200", "pupils", f"/ui/register?purpose={PURPOSE}"),
    "list_deadlines": ("/deadlines?limit=200", "deadlines", "/ui/deadlines"),
    "list_cross_references": (
        "/safeguarding/cross-references?limit=200",
        "cross_references",
        "/ui/safeguarding",
    ),
}


def _listed_pupil(api: Api, situation: str) -> Pupil:
    """A pupil in `situation` who appears on every listing where it is in scope: a plan
    whose review is overdue, and a safeguarding cross-reference."""
    from tests.factories import agree

    pupil = api.add_pupil("ELM" if situation == "other_academy" else "OAK", safeguarding=True)
    loaded = api.records.get_pupil(pupil.id)
    agree(loaded, date(2025, 2, 10))
    api.records.save(loaded)
    if situation == "moved":
        loaded.transfer_within_trust(to_academy="ELM", reason="Moved", **on(date(2025, 3, 1)))
        api.records.save(loaded)
    return pupil


def _listing_kind(answer: httpx.Response, pupil: Pupil, key: str | None) -> str:
    if answer.status_code != 200:
        return str(answer.status_code)
    if key is None:
        return "listed" if f"/ui/pupils/{pupil.id}" in answer.text else "not listed"
    return (
        "listed" if str(pupil.id) in {r["pupil_id"] for r in answer.json()[key]} else ("not listed")
    )


@pytest.mark.parametrize("use_case", sorted(LISTINGS))
def test_the_api_and_the_web_list_the_same_pupils(api: Api, use_case: str) -> None:
    path, key, page = LISTINGS[use_case]
    people = {role: _person(api, role) for role in ROLES}
    pupils = {s: _listed_pupil(api, s) for s in ("in_scope", "other_academy", "moved")}
    for role, person in people.items():
        api_answer = api.client.get(path, headers=person.api)
        web_answer = person.web.get(page)
        for situation, pupil in pupils.items():
            by_api = _listing_kind(api_answer, pupil, key)
            by_web = _listing_kind(web_answer, pupil, None)
            assert by_api == by_web, (use_case, role, situation)
            if situation != "in_scope":
                assert by_api in ("403", "not listed"), (use_case, role, situation)
        assert _listing_kind(api_answer, pupils["in_scope"], key) in ("403", "listed"), role
