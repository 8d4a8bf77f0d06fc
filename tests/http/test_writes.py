"""Optimistic concurrency (If-Match) and idempotent retries."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient

from tests.factories import a_upn
from tests.http.conftest import Api

CONCERN = {"source": "parent", "description": "Not sleeping before tests", "evidence": "Email"}


def test_the_same_post_twice_with_one_key_writes_one_event(api: Api) -> None:
    pupil = api.add_pupil()
    h = {**api.headers("sendco"), "If-Match": "2", "Idempotency-Key": "k-1"}
    first = api.client.post(f"/pupils/{pupil.id}/concerns", headers=h, json=CONCERN)
    again = api.client.post(f"/pupils/{pupil.id}/concerns", headers=h, json=CONCERN)
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert api.events(pupil.id) == 3


def test_one_key_with_another_body_is_refused(api: Api) -> None:
    pupil = api.add_pupil()
    h = {**api.headers("sendco"), "If-Match": "2", "Idempotency-Key": "k-2"}
    assert api.client.post(f"/pupils/{pupil.id}/concerns", headers=h, json=CONCERN).is_success
    other = {**CONCERN, "description": "Something else entirely"}
    refused = api.client.post(f"/pupils/{pupil.id}/concerns", headers=h, json=other)
    assert refused.status_code == 422
    assert "different request" in refused.json()["detail"]
    assert api.events(pupil.id) == 3


def test_keys_belong_to_one_person(api: Api) -> None:
    pupil = api.add_pupil()
    a = {**api.headers("sendco"), "Idempotency-Key": "shared"}
    b = {**api.headers("sendco"), "Idempotency-Key": "shared"}
    assert (
        api.client.post(
            f"/pupils/{pupil.id}/concerns", headers={**a, "If-Match": "2"}, json=CONCERN
        ).status_code
        == 201
    )
    second = api.client.post(
        f"/pupils/{pupil.id}/concerns", headers={**b, "If-Match": "3"}, json=CONCERN
    )
    assert second.status_code == 201 and second.json()["version"] == 4


def test_registering_twice_with_one_key_registers_one_pupil(api: Api) -> None:
    body = {
        "upn": a_upn(),
        "legal_given_names": "Ada",
        "legal_family_name": "Quill",
        "date_of_birth": "2016-01-01",
        "academy": "OAK",
        "year_group": 3,
    }
    h = {**api.headers("sendco"), "Idempotency-Key": "reg-1"}
    first = api.client.post("/pupils", headers=h, json=body)
    again = api.client.post("/pupils", headers=h, json=body)
    assert first.status_code == again.status_code == 201
    assert first.json()["pupil_id"] == again.json()["pupil_id"]
    assert len(list(api.records.registrations())) == 1


def test_a_stale_version_gets_409_and_writes_nothing(api: Api) -> None:
    pupil = api.add_pupil()
    h = api.headers("sendco")
    assert (
        api.client.post(
            f"/pupils/{pupil.id}/concerns", headers={**h, "If-Match": "2"}, json=CONCERN
        ).status_code
        == 201
    )
    stale = api.client.post(
        f"/pupils/{pupil.id}/concerns", headers={**h, "If-Match": "2"}, json=CONCERN
    )
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 3
    assert "If-Match" in stale.json()["detail"]
    assert api.events(pupil.id) == 3


def test_concurrent_writers_from_one_version_one_wins(api: Api) -> None:
    pupil = api.add_pupil()
    h = {**api.headers("sendco"), "If-Match": "2"}
    statuses: list[int] = []
    start = threading.Barrier(6)

    def write(n: int) -> None:
        with TestClient(api.client.app, raise_server_exceptions=False) as client:
            start.wait()
            body = {**CONCERN, "description": f"Writer {n}"}
            r = client.post(f"/pupils/{pupil.id}/concerns", headers=h, json=body)
            statuses.append(r.status_code)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(statuses) == [201] + [409] * 5, statuses
    assert api.events(pupil.id) == 3
