"""Authentication, errors and the happy path of reads and writes."""

from __future__ import annotations

from uuid import uuid4

import pytest

from tests.http.conftest import Api


def test_missing_unknown_and_revoked_tokens_get_401_with_a_message(api: Api) -> None:
    pupil = api.add_pupil()
    url = f"/pupils/{pupil.id}"
    missing = api.client.get(url)
    assert missing.status_code == 401
    assert "Authorization: Bearer" in missing.json()["detail"]
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    unknown = api.client.get(url, headers={"Authorization": "Bearer nope"})
    assert unknown.status_code == 401 and "not known" in unknown.json()["detail"]
    headers = api.headers("sendco")
    assert api.client.get(url, headers=headers).status_code == 200
    name = api.users.everyone()[-1].name
    api.users.revoke(name, api.records.clock())
    revoked = api.client.get(url, headers=headers)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]


def test_read_then_write_then_read_again(api: Api) -> None:
    pupil = api.add_pupil()
    sendco = api.headers("sendco")
    got = api.client.get(f"/pupils/{pupil.id}", headers=sendco)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["legal_family_name"] == "Quartermaine" and body["version"] == 2
    assert got.headers["ETag"] == '"2"'
    written = api.client.post(
        f"/pupils/{pupil.id}/concerns",
        headers={**sendco, "If-Match": '"2"'},
        json={
            "source": "parent",
            "description": "Anxious at drop-off",
            "happened_on": "2025-02-03",
        },
    )
    assert written.status_code == 201, written.text
    assert written.json() == {
        "pupil_id": str(pupil.id),
        "version": 3,
        "seq": 3,
        "type": "ConcernRaised",
    }
    entries = api.client.get(f"/pupils/{pupil.id}/chronology", headers=sendco).json()["entries"]
    assert [e["type"] for e in entries][-1] == "ConcernRaised"
    assert entries[-1]["payload"]["description"] == "Anxious at drop-off"
    assert entries[-1]["recorded_by"] == {
        "staff_id": api.staff_id(sendco),
        "role": "sendco",
    }


def test_register_a_pupil_and_find_them_on_the_register(api: Api) -> None:
    sendco = api.headers("sendco")
    made = api.client.post(
        "/pupils",
        headers=sendco,
        json={
            "upn": api_upn(),
            "legal_given_names": "Ottoline",
            "legal_family_name": "Brackenbury",
            "date_of_birth": "2016-02-29",
            "academy": "OAK",
            "year_group": 3,
            "happened_on": "2025-01-06",
        },
    )
    assert made.status_code == 201, made.text
    pupil_id = made.json()["pupil_id"]
    listed = api.client.get("/pupils", headers=sendco)
    assert listed.status_code == 200, listed.text
    assert [p["pupil_id"] for p in listed.json()["pupils"]] == [pupil_id]
    assert listed.json()["pupils"][0]["name"].startswith("Ottoline")


def api_upn() -> str:
    from tests.factories import a_upn

    return a_upn()


def test_errors_say_what_is_wrong(api: Api) -> None:
    pupil = api.add_pupil()
    sendco = api.headers("sendco")
    unknown = api.client.get(f"/pupils/{uuid4()}", headers=sendco)
    assert unknown.status_code == 404 and "GET /pupils" in unknown.json()["detail"]
    no_version = api.client.post(
        f"/pupils/{pupil.id}/concerns",
        headers=sendco,
        json={"source": "parent", "description": "x"},
    )
    assert no_version.status_code == 428 and "If-Match" in no_version.json()["detail"]
    bad_body = api.client.post(
        f"/pupils/{pupil.id}/concerns",
        headers={**sendco, "If-Match": "2"},
        json={"source": "aunt", "description": "x"},
    )
    assert bad_body.status_code == 422 and "source" in bad_body.json()["detail"]
    refused = api.client.post(
        f"/pupils/{pupil.id}/register-status",
        headers={**sendco, "If-Match": "2"},
        json={"status": "ehcp", "reason": "r", "decision_maker": "OAK-sendco-1"},
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "transition_not_allowed"
    future = api.client.post(
        f"/pupils/{pupil.id}/concerns",
        headers={**sendco, "If-Match": "2"},
        json={"source": "parent", "description": "x", "happened_on": "2999-01-01"},
    )
    assert future.status_code == 422 and "future" in future.json()["detail"]
    assert api.version(pupil.id) == 2


def test_a_purged_pupil_is_gone_with_410(api: Api) -> None:
    pupil = api.add_pupil()
    api.records.shred(pupil.id)
    gone = api.client.get(f"/pupils/{pupil.id}", headers=api.headers("sendco"))
    assert gone.status_code == 410, gone.text
    assert gone.json()["error"] == "pupil_purged" and "purged" in gone.json()["detail"]


def test_dpo_and_tribunal_must_state_a_purpose(api: Api) -> None:
    pupil = api.add_pupil()
    for role in ("dpo", "tribunal"):
        without = api.client.get(f"/pupils/{pupil.id}", headers=api.headers(role, (), None))
        assert without.status_code == 400 and "X-Purpose" in without.json()["detail"]
        with_query = api.client.get(
            f"/pupils/{pupil.id}?purpose=SAR-7", headers=api.headers(role, (), None)
        )
        assert with_query.status_code == 200


def test_the_served_app_keeps_checkpoints_following_writes(api: Api) -> None:
    import time

    from fastapi.testclient import TestClient

    from api.bootstrap import assemble
    from api.http import create_app

    pupil = api.add_pupil()
    app = create_app(assemble(api.records, api.ledger, users=api.users), follow_ledger=True)
    with TestClient(app) as client:
        h = api.headers("sendco")
        client.post(
            f"/pupils/{pupil.id}/concerns",
            headers={**h, "If-Match": "2"},
            json={"source": "parent", "description": "Worried about homework"},
        )
        size = len(api.records.stored_events(pupil.id))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            latest = api.ledger.latest_checkpoint()
            if latest is not None and latest.checkpoint["size"] >= size:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("no checkpoint followed the write")


def test_an_unexpected_failure_is_a_500_without_a_trace(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    pupil = api.add_pupil()
    h = api.headers("sendco")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret pupil detail Quartermaine")

    api.records.get_pupil = broken  # type: ignore[method-assign]
    got = api.client.get(f"/pupils/{pupil.id}", headers=h)
    assert got.status_code == 500
    assert "reference" in got.json()["detail"]
    assert "Quartermaine" not in got.text and "Traceback" not in got.text
    assert "RuntimeError" in caplog.text and "Quartermaine" not in caplog.text
