"""The read-model routes: register, deadlines, the DSL's safeguarding views. Scoped to the
caller's academies, by the pupil's current academy; each pupil shown is logged as read.
On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from typing import Any

from domain.pupil import Pupil
from domain.values import AreaOfNeed, ConcernSource, RegisterStatus
from tests.factories import a_pupil, agree, move, on, primary_need
from tests.http.conftest import Api
from tests.http.entries import BY_SLUG, post


def _save(api: Api, pupil: Pupil) -> Pupil:
    api.records.save(pupil)
    return pupil


def _on_support(api: Api, family: str, academy: str = "OAK") -> Pupil:
    pupil = a_pupil(family=family, academy=academy)
    primary_need(pupil, date(2025, 2, 3))
    move(pupil, date(2025, 2, 4), RegisterStatus.MONITORING)
    move(pupil, date(2025, 2, 5), RegisterStatus.SEN_SUPPORT)
    return _save(api, pupil)


def _views(api: Api, pupil: Pupil) -> list[tuple[str, str]]:
    log = api.client.get(f"/pupils/{pupil.id}/access-log", headers=api.headers("dsl", ()))
    return [(r["role"], r["what"]) for r in log.json()["records"]]


def _ids(rows: list[dict[str, Any]]) -> list[str]:
    return [r["pupil_id"] for r in rows]


def test_the_register_filters_sorts_counts_and_logs(api: Api) -> None:
    k = _on_support(api, "Abernathy")
    n = _save(api, a_pupil(family="Zimmerman"))
    _save(api, a_pupil(family="Elsewhere", academy="ELM"))
    h = api.headers("sendco", ("OAK",))
    every = api.client.get("/register", headers=h).json()
    assert every["total"] == 2
    assert _ids(every["pupils"]) == [str(k.id), str(n.id)]  # by family name
    row = every["pupils"][0]
    assert (row["status"], row["census_code"], row["primary_need"]) == ("sen_support", "K", "SLCN")
    assert row["name"] == "Zebedee Abernathy"
    assert every["counts"] == [
        {"academy": "OAK", "N": 1, "K": 1, "E": 0, "primary_need": {"SLCN": {"K": 1, "E": 0}}}
    ]
    on_k = api.client.get("/register?status=sen_support", headers=h).json()
    assert _ids(on_k["pupils"]) == [str(k.id)] and on_k["total"] == 1
    slcn = api.client.get("/register?need=SLCN", headers=h).json()
    assert _ids(slcn["pupils"]) == [str(k.id)]
    by_status = api.client.get("/register?sort=status", headers=h).json()
    assert _ids(by_status["pupils"]) == [str(k.id), str(n.id)]
    paged = api.client.get("/register?limit=1&offset=1", headers=h).json()
    assert paged["total"] == 2 and _ids(paged["pupils"]) == [str(n.id)]
    assert ("sendco", "register") in _views(api, k)


def test_the_register_of_several_academies_is_one_list(api: Api) -> None:
    oak = _save(api, a_pupil(family="Brown"))
    elm = _save(api, a_pupil(family="Adams", academy="ELM"))
    ash = _save(api, a_pupil(family="Clark", academy="ASH"))
    both = api.headers("sendco", ("OAK", "ELM"))
    got = api.client.get("/register", headers=both).json()
    assert _ids(got["pupils"]) == [str(elm.id), str(oak.id)]
    assert got["total"] == 2 and {c["academy"] for c in got["counts"]} == {"ELM", "OAK"}
    assert str(ash.id) not in _ids(got["pupils"])
    page = api.client.get("/register?limit=1&offset=1", headers=both).json()
    assert _ids(page["pupils"]) == [str(oak.id)]
    refused = api.client.get("/register?academy=ASH", headers=both)
    assert refused.status_code == 403


def test_deadlines_are_listed_with_names_for_the_responsible_academy(api: Api) -> None:
    pupil = a_pupil(family="Overdue")
    agree(pupil, date(2025, 2, 10))
    _save(api, pupil)
    h = api.headers("sendco", ("OAK",))
    got = api.client.get("/deadlines", headers=h)
    assert got.status_code == 200, got.text
    (deadline,) = [d for d in got.json()["deadlines"] if d["pupil_id"] == str(pupil.id)]
    assert deadline["rule"] == "plan_review" and deadline["status"] == "overdue"
    assert deadline["name"] == "Zebedee Overdue" and deadline["days"] < 0
    assert deadline["responsible"] == "OAK-sendco-1"
    mine = api.client.get("/deadlines?mine=true", headers=h).json()
    assert mine["deadlines"] == []
    theirs = api.client.get("/deadlines?person=OAK-sendco-1&overdue=true", headers=h).json()
    assert _ids(theirs["deadlines"]) == [str(pupil.id)]
    before = api.client.get("/deadlines?as_of=2025-02-01", headers=h).json()
    assert before["deadlines"] == [] and before["as_of"] == "2025-02-01"
    assert ("sendco", "deadlines") in _views(api, pupil)
    moved = post(api, h, pupil.id, "transfers", BY_SLUG["transfers"].body())
    assert moved.status_code == 201
    assert api.client.get("/deadlines", headers=h).json()["deadlines"] == []
    elm = api.client.get("/deadlines", headers=api.headers("sendco", ("ELM",))).json()
    assert _ids(elm["deadlines"]) == [str(pupil.id)]


def test_a_dsl_audits_cross_references_and_concerns_awaiting_them(api: Api) -> None:
    pupil = a_pupil(family="Waiting")
    pupil.raise_concern(
        source=ConcernSource.TEACHER,
        area_of_need=AreaOfNeed.SEMH,
        description="Withdrawn at break times",
        evidence="Playground log",
        **on(date(2025, 2, 10)),
    )
    _save(api, pupil)
    dsl = api.headers("dsl", ("OAK",))
    waiting = api.client.get("/safeguarding/awaiting-decision", headers=dsl).json()
    (entry,) = waiting["pupils"]
    assert entry["pupil_id"] == str(pupil.id) and entry["concern_seqs"] == [3]
    assert entry["name"] == "Zebedee Waiting"
    body = {**BY_SLUG["safeguarding-cross-references"].body(), "happened_on": "2025-02-11"}
    added = post(api, dsl, pupil.id, "safeguarding-cross-references", body)
    assert added.status_code == 201, added.text
    assert api.client.get("/safeguarding/awaiting-decision", headers=dsl).json()["pupils"] == []
    index = api.client.get("/safeguarding/cross-references", headers=dsl)
    (ref,) = index.json()["cross_references"]
    assert (ref["cpoms_log_id"], ref["dsl_decision"], ref["added_role"]) == (
        "CP-00077",
        "monitor_in_school",
        "dsl",
    )
    assert body["note"] not in index.text
    elsewhere = api.client.get(
        "/safeguarding/cross-references", headers=api.headers("dsl", ("ELM",))
    )
    assert elsewhere.json() == {"total": 0, "cross_references": []}
    views = _views(api, pupil)
    assert ("dsl", "safeguarding awaiting decision") in views
    assert ("dsl", "safeguarding cross-references") in views


def test_listings_need_a_stated_purpose_from_a_dpo(api: Api) -> None:
    _save(api, a_pupil())
    silent = api.client.get("/register", headers=api.headers("dpo", (), purpose=None))
    assert silent.status_code == 400 and silent.json()["error"] == "purpose_required"
    stated = api.client.get("/register", headers=api.headers("dpo", ()))
    assert stated.status_code == 200


def test_bad_filters_are_refused_readably(api: Api) -> None:
    h = api.headers("sendco")
    for url in ("/register?status=sideways", "/register?sort=age", "/deadlines?limit=0"):
        got = api.client.get(url, headers=h)
        assert got.status_code == 422, url
        assert got.json()["error"] == "invalid_request"


def test_a_nul_character_is_refused_not_a_server_error(api: Api) -> None:
    """PostgreSQL cannot hold NUL in text: a query or body with one is refused readably."""
    h = api.headers("dsl", ())
    for url in ("/register?academy=OAK%00", "/safeguarding/awaiting-decision?academy=%00"):
        got = api.client.get(url, headers=h)
        assert got.status_code == 422, got.text
        assert "NUL" in got.json()["detail"]
    pupil = _save(api, a_pupil())
    body = {**BY_SLUG["transfers"].body(), "to_academy": "ELM\u0000"}
    got = post(api, api.headers("sendco"), pupil.id, "transfers", body)
    assert got.status_code == 422 and "NUL" in got.json()["detail"]
