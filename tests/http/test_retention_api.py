"""The DPO's retention and data-protection routes through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from crypto.bundle_check import verify_bundle
from domain.access import access_stream_id
from projections.deadlines import due_deadlines
from tests.http.conftest import Api
from tests.http.retention_calls import retention


def _post(api: Api, h: dict[str, str], pupil_id: UUID, path: str, body: object) -> object:
    return api.client.post(
        f"/pupils/{pupil_id}/{path}",
        headers={**h, "If-Match": str(api.version(pupil_id))},
        json=body,
    )


def _sar_deadlines(api: Api, pupil_id: UUID) -> list[date]:
    api.client.app.state.chronicle.reads.catch_up()  # type: ignore[attr-defined]
    return [
        d.due_on
        for d in due_deadlines(api.records, as_of=date(2100, 1, 1))
        if d.rule == "subject_access" and d.pupil_id == pupil_id
    ]


def test_a_subject_access_request_is_answered_with_a_verifiable_export(api: Api) -> None:
    pupil = api.add_pupil("OAK")
    dpo = api.headers("dpo", ("OAK",), purpose="SAR-2026-014")
    sendco = api.headers("sendco", ("OAK",))
    assert api.client.get(f"/pupils/{pupil.id}/chronology", headers=sendco).status_code == 200
    body = {
        "request_reference": "SAR-2026-014",
        "requester_relationship": "parent",
        "received_on": "2026-01-31",
    }
    made = api.client.post(
        f"/pupils/{pupil.id}/subject-access-requests",
        headers={**dpo, "If-Match": str(api.version(pupil.id))},
        json=body,
    )
    assert made.status_code == 201, made.text
    assert made.json()["type"] == "SubjectAccessRequested"
    assert _sar_deadlines(api, pupil.id) == [date(2026, 2, 28)]
    got = api.client.post(f"/pupils/{pupil.id}/subject-access-exports", headers=dpo, json={})
    assert got.status_code == 201, got.text
    bundle = got.json()
    verdict = verify_bundle(bundle, api.ledger.public_key)
    assert verdict.valid, verdict.failure
    assert verdict.access_log_entries == 2  # opened by the SENDCo's read, and that read
    assert bundle["access_log"]["stream"] == str(access_stream_id(pupil.id))
    assert bundle["subject_access"]["request_reference"] == "SAR-2026-014"
    assert [m["type"] for m in bundle["subject_access"]["third_party_review"]] == ["ConcernRaised"]
    assert (
        got.headers["X-Export-Digest"] == api.records.entries(pupil.id)[-1].payload["export_digest"]
    )
    assert _sar_deadlines(api, pupil.id) == []


def test_holds_the_two_person_purge_and_the_gone_answer(api: Api) -> None:
    pupil = api.add_pupil("OAK")
    ada = api.headers("dpo", ("OAK",))
    bo = api.headers("dpo", ("OAK",))
    hold = {"reason": "Tribunal appeal pending", "requested_by": "Trust solicitor"}
    assert _post(api, ada, pupil.id, "legal-holds", hold).status_code == 201  # type: ignore[attr-defined]
    held = api.client.get("/retention/schedule?view=held", headers=ada).json()
    assert [p["pupil_id"] for p in held["pupils"]] == [str(pupil.id)]
    retention(api)
    refused = api.client.post(
        f"/pupils/{pupil.id}/purge-proposal", headers=ada, json={"override": "court order 1"}
    )
    assert refused.status_code == 422 and "legal hold" in refused.json()["detail"]
    released = _post(api, ada, pupil.id, "legal-holds/release", {"reason": "Appeal concluded"})
    assert released.status_code == 201  # type: ignore[attr-defined]
    early = api.client.post(f"/pupils/{pupil.id}/purge-proposal", headers=ada, json={})
    assert early.status_code == 422 and "not due for purging" in early.json()["detail"]
    proposed = api.client.post(
        f"/pupils/{pupil.id}/purge-proposal", headers=ada, json={"override": "court order 1"}
    )
    assert proposed.status_code == 201, proposed.text
    same = api.client.post(f"/pupils/{pupil.id}/purge-approval", headers=ada)
    assert same.status_code == 422 and "cannot approve it" in same.json()["detail"]
    approved = api.client.post(f"/pupils/{pupil.id}/purge-approval", headers=bo)
    assert approved.status_code == 201, approved.text
    record = approved.json()
    assert record["record"]["pupil"] == str(pupil.id)
    assert record["record"]["approved_by"] != record["record"]["proposed_by"]
    gone = api.client.get(f"/pupils/{pupil.id}/retention", headers=ada)
    assert gone.status_code == 410
    assert gone.json()["purge_record"] == record and gone.json()["purged_on"]
    for path in (f"/pupils/{pupil.id}", f"/pupils/{pupil.id}/chronology"):
        read = api.client.get(path, headers=ada)
        assert read.status_code == 410 and read.json()["purge_record"] == record, path
    again = api.client.post(
        f"/pupils/{pupil.id}/legal-holds", headers={**ada, "If-Match": "3"}, json=hold
    )
    assert again.status_code == 410 and again.json()["purge_record"] == record  # type: ignore[attr-defined]
    admin = api.headers("trust_admin", ())
    purged = api.client.get("/retention/schedule?view=purged", headers=admin).json()
    assert [p["pupil_id"] for p in purged["pupils"]] == [str(pupil.id)]
    assert purged["pupils"][0]["due_on"] is None  # it would give the birthday away
    auditor = api.headers("auditor", ())
    assert api.client.get("/retention/purges", headers=auditor).json() == [record]


def test_the_due_list(api: Api) -> None:
    pupil = api.add_pupil("OAK")  # born May 2015: the SEN file is due at DOB + 31, in 2046
    dpo = api.headers("dpo", ())
    assert api.client.get("/retention/schedule", headers=dpo).json()["pupils"] == []
    # DOB + 25 (the old default, and the child protection period) purges nothing here.
    early = api.client.get("/retention/schedule?as_of=2045-01-01", headers=dpo).json()
    assert early["pupils"] == []
    due = api.client.get("/retention/schedule?as_of=2046-06-01", headers=dpo).json()
    assert [p["pupil_id"] for p in due["pupils"]] == [str(pupil.id)]
    assert {k: v for k, v in due["pupils"][0].items() if "due" in k or "govern" in k} == {
        "due_on": "2046-05-31",  # the end of the month retention ends
        "sen_file_due_on": "2046-05-31",
        "child_protection_due_on": None,  # no restricted entries
        "governed_by": "sen_file",
    }
    bad = api.client.get("/retention/schedule?view=soon", headers=dpo)
    assert bad.status_code == 422


def test_an_erasure_refusal_is_an_entry_and_keeps_the_entry(api: Api) -> None:
    pupil = api.add_pupil("OAK")
    dpo = api.headers("dpo", ("OAK",))
    before = api.records.entries(pupil.id)[1].payload
    body = {
        "entry_seq": 2,
        "request_reference": "ER-2026-003",
        "requester_relationship": "parent",
        "reason": "Record of SEN support provided",
        "legal_basis": "UK GDPR art. 17(3)(b)",
    }
    stale = api.client.post(
        f"/pupils/{pupil.id}/erasure-refusals", headers={**dpo, "If-Match": "1"}, json=body
    )
    assert stale.status_code == 409
    made = _post(api, dpo, pupil.id, "erasure-refusals", body)
    assert made.status_code == 201  # type: ignore[attr-defined]
    entries = api.records.entries(pupil.id)
    assert entries[1].payload == before
    assert entries[-1].type == "ErasureRequestRefused"
    assert entries[-1].payload["legal_basis"] == "UK GDPR art. 17(3)(b)"
    unknown = _post(api, dpo, pupil.id, "erasure-refusals", {**body, "entry_seq": 99})
    assert unknown.status_code == 422 and "no entry 99" in unknown.json()["detail"]  # type: ignore[attr-defined]
    named = _post(api, dpo, pupil.id, "erasure-refusals", {**body, "requester_relationship": "x"})
    assert named.status_code == 422  # type: ignore[attr-defined]
