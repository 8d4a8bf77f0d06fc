"""Through the HTTP API: an academy code the trust does not list is refused with 422 naming
the listed ones — a registration, a transfer (which would otherwise hide the pupil from
every academy-scoped user, its own DSL included) and a listing's filter — and nothing is
written. The fixture lists the academies the tests use (tests/http/conftest.py)."""

from __future__ import annotations

from httpx import Response

from tests.factories import a_upn
from tests.http.conftest import ACADEMIES, Api

LISTED = ", ".join(sorted(ACADEMIES))


def _unknown(answer: Response) -> None:
    got = answer.json()
    assert answer.status_code == 422, got
    assert got["error"] == "unknown_academy"
    assert got["detail"] == f"no academy ZZZ in this trust; academies: {LISTED}"


def test_registering_a_pupil_at_an_unlisted_academy_is_422(api: Api) -> None:
    body = {
        "upn": a_upn(),
        "legal_given_names": "Ada",
        "legal_family_name": "Quill",
        "date_of_birth": "2016-01-01",
        "academy": "ZZZ",
        "year_group": 3,
    }
    for headers in (api.headers("sendco"), api.headers("sendco", ())):
        _unknown(api.client.post("/pupils", headers=headers, json=body))
    assert list(api.records.registrations()) == []


def test_a_transfer_to_an_unlisted_academy_is_422_and_the_pupil_stays_visible(api: Api) -> None:
    pupil = api.add_pupil("OAK")
    version = api.version(pupil.id)
    sendco = api.headers("sendco")
    moved = api.client.post(
        f"/pupils/{pupil.id}/transfers",
        headers={**sendco, "If-Match": str(version)},
        json={"to_academy": "ZZZ", "reason": "Family moved"},
    )
    _unknown(moved)
    assert api.version(pupil.id) == version
    dsl = api.headers("dsl", ("OAK",))
    assert api.client.get(f"/pupils/{pupil.id}", headers=dsl).status_code == 200


def test_a_listing_filter_naming_an_unlisted_academy_is_422(api: Api) -> None:
    api.add_pupil("OAK")
    for headers in (api.headers("sendco"), api.headers("sendco", ())):
        for url in ("/pupils?academy=ZZZ", "/register?academy=ZZZ", "/deadlines?academy=ZZZ"):
            _unknown(api.client.get(url, headers=headers))
    dsl = api.headers("dsl", ())
    for url in ("/safeguarding/cross-references", "/safeguarding/awaiting-decision"):
        _unknown(api.client.get(f"{url}?academy=ZZZ", headers=dsl))
