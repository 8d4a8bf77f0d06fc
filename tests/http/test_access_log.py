"""Every read of pupil content is recorded in the pupil's access stream."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from crypto.errors import KeyShredded
from domain.access import access_stream_id
from projections.ledger_audit import audit
from tests.http.conftest import Api


def test_reading_a_chronology_adds_exactly_one_access_record(api: Api) -> None:
    pupil = api.add_pupil()
    stream = access_stream_id(pupil.id)
    teacher = api.headers("teacher")
    dsl = api.headers("dsl", ())
    assert api.client.get(f"/pupils/{pupil.id}/access-log", headers=dsl).json()["records"] == []
    got = api.client.get(f"/pupils/{pupil.id}/chronology?kind=ConcernRaised", headers=teacher)
    assert got.status_code == 200
    listed = api.client.get(f"/pupils/{pupil.id}/access-log", headers=dsl)
    assert listed.status_code == 200, listed.text
    (record,) = listed.json()["records"]
    teacher_name = api.staff_id(teacher)
    assert record["staff_id"] == teacher_name and record["role"] == "teacher"
    assert record["what"] == "chronology?kind=ConcernRaised" and record["purpose"] == "T-1"
    api.client.get(f"/pupils/{pupil.id}/chronology", headers=teacher)
    assert len(api.client.get(f"/pupils/{pupil.id}/access-log", headers=dsl).json()["records"]) == 2
    # opened + two reads; reading the access log is not itself logged
    assert api.events(stream) == 3


def test_the_access_log_across_pupils_for_a_dsl_of_their_academies(api: Api) -> None:
    oak, elm = api.add_pupil("OAK"), api.add_pupil("ELM")
    reader = api.headers("sendco", (), purpose="Annual review prep")
    for pupil in (oak, elm):
        assert api.client.get(f"/pupils/{pupil.id}/chronology", headers=reader).is_success
    oak_dsl = api.headers("dsl", ("OAK",))
    entries = api.client.get("/access-log", headers=oak_dsl).json()["entries"]
    assert {e["pupil_id"] for e in entries} == {str(oak.id)}  # ELM's pupil is not in scope
    (entry,) = entries
    assert entry["role"] == "sendco" and entry["what"] == "chronology"
    assert entry["purpose"] == "Annual review prep"  # decrypted from the entry, not stored
    everyone = api.client.get("/access-log", headers=api.headers("dpo", ())).json()["entries"]
    assert {e["pupil_id"] for e in everyone} == {str(oak.id), str(elm.id)}
    by_staff = api.client.get(f"/access-log?staff={entry['staff_id']}x", headers=oak_dsl).json()[
        "entries"
    ]
    assert by_staff == []
    refused = api.client.get("/access-log?since=2025-02-01&until=2025-01-01", headers=oak_dsl)
    assert refused.status_code == 422 and "after" in refused.json()["detail"]


def test_a_read_never_changes_the_pupils_version(api: Api) -> None:
    pupil = api.add_pupil()
    h = api.headers("sendco")
    for url in (f"/pupils/{pupil.id}", f"/pupils/{pupil.id}/chronology", "/pupils"):
        assert api.client.get(url, headers=h).status_code == 200
    assert api.version(pupil.id) == 2
    written = api.client.post(
        f"/pupils/{pupil.id}/concerns",
        headers={**h, "If-Match": "2"},
        json={"source": "pupil", "description": "Asked for help"},
    )
    assert written.status_code == 201


def test_the_access_stream_is_in_the_ledger_and_shredded_with_the_pupil(api: Api) -> None:
    pupil = api.add_pupil()
    api.client.get(f"/pupils/{pupil.id}", headers=api.headers("sendco"))
    stream = access_stream_id(pupil.id)
    api.ledger.integrate()
    head = api.ledger.head(stream)
    assert head is not None and head.seq == 2
    report = audit(api.ledger, opener=api.records.sealing_mapper.committed)
    assert report.ok, report
    stored = api.records.stored_events(stream)
    assert b"sendco" not in b"".join(s.state for s in stored)  # sealed, not in the clear
    api.records.shred(pupil.id)
    api.records.data_keys.forget(pupil.id)
    with pytest.raises(KeyShredded):
        api.records.sealing_mapper.committed(stored[-1])


def test_concurrent_readers_are_all_recorded(api: Api) -> None:
    pupil = api.add_pupil()
    h = api.headers("sendco")
    api.client.get(f"/pupils/{pupil.id}", headers=h)  # opens the log
    statuses: list[int] = []
    start = threading.Barrier(5)

    def read() -> None:
        with TestClient(api.client.app, raise_server_exceptions=False) as client:
            start.wait()
            statuses.append(client.get(f"/pupils/{pupil.id}", headers=h).status_code)

    threads = [threading.Thread(target=read) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert statuses == [200] * 5
    assert api.events(access_stream_id(pupil.id)) == 1 + 6
