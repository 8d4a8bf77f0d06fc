"""Exports over HTTP: a tribunal bundle that verifies offline, recorded as a disclosure and
in the access log; its HTML rendering; refusals. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

from api.export import bundle_digest
from crypto.bundle_check import verify_bundle
from tests.factories import policy, request_assessment
from tests.http.conftest import SAFEGUARDING_NOTE, Api
from tests.http.entries import BY_SLUG, post

EXPORT = {
    "purpose": "send_tribunal_appeal",
    "recipient": "First-tier Tribunal (SEND)",
    "legal_basis": "SEND Regulations 2014, reg. 17",
}


def test_a_tribunal_export_verifies_and_is_recorded(api: Api) -> None:
    pupil = api.add_pupil(safeguarding=True)
    head = api.version(pupil.id)
    h = api.headers("tribunal", purpose=None)
    got = api.client.post(f"/pupils/{pupil.id}/exports", headers=h, json=EXPORT)
    assert got.status_code == 201, got.text
    bundle = got.json()
    assert bundle["format"] == "chronicle-export/2"
    assert bundle["purpose"] == "send_tribunal_appeal"
    assert bundle["manifest"]["recipient"] == "First-tier Tribunal (SEND)"
    assert bundle["manifest"]["exported_by"]["role"] == "tribunal"
    assert [e["seq"] for e in bundle["events"]] == list(range(1, head + 1))
    verdict = verify_bundle(bundle, bundle["public_key"])
    assert verdict.valid and verdict.anchored and verdict.version == 2, verdict.failure
    digest = got.headers["X-Export-Digest"]
    assert digest == bundle_digest(bundle)
    disclosed = api.records.entries(pupil.id)[-1]
    assert disclosed.type == "RecordsDisclosed"
    assert disclosed.payload["export_digest"] == digest
    assert disclosed.payload["up_to_seq"] == head
    assert disclosed.payload["recorded_by"]["role"] == "tribunal"
    log = api.client.get(f"/pupils/{pupil.id}/access-log", headers=api.headers("dsl")).json()
    assert [(r["role"], r["what"], r["purpose"]) for r in log["records"]] == [
        ("tribunal", f"export {digest}", "send_tribunal_appeal")
    ]


def test_a_redacted_export_keeps_the_commitment_and_still_verifies(api: Api) -> None:
    pupil = api.add_pupil(safeguarding=True)
    body = {**EXPORT, "redactions": [{"seq": 3, "reason": "Safeguarding: see CPOMS"}]}
    got = api.client.post(
        f"/pupils/{pupil.id}/exports", headers=api.headers("dpo", purpose=None), json=body
    )
    assert got.status_code == 201, got.text
    bundle = got.json()
    assert bundle["events"][2]["redacted"] is True
    assert SAFEGUARDING_NOTE not in got.text
    assert verify_bundle(bundle, bundle["public_key"]).valid
    assert api.records.entries(pupil.id)[-1].payload["redacted_seqs"] == [3]


def test_the_html_bundle_is_the_same_export_for_people(api: Api) -> None:
    pupil = api.add_pupil()
    got = api.client.post(
        f"/pupils/{pupil.id}/exports/html",
        headers=api.headers("tribunal", purpose=None),
        json={**EXPORT, "purpose": "Complaint 2026-04 (stage 2)"},
    )
    assert got.status_code == 201, got.text
    assert got.headers["content-type"].startswith("text/html")
    assert got.headers["X-Export-Digest"] in got.text
    assert "Quartermaine" in got.text and "<html" in got.text.lower()
    disclosed = api.records.entries(pupil.id)[-1].payload
    assert (disclosed["purpose"], disclosed["purpose_detail"]) == (
        "other",
        "Complaint 2026-04 (stage 2)",
    )


def test_refused_exports_record_nothing(api: Api) -> None:
    pupil = api.add_pupil()
    h = api.headers("tribunal", purpose=None)
    before = api.events(pupil.id)
    url = f"/pupils/{pupil.id}/exports"
    beyond = api.client.post(
        url, headers=h, json={**EXPORT, "redactions": [{"seq": 9, "reason": "x"}]}
    )
    assert beyond.status_code == 422
    assert "cannot redact entry 9" in beyond.json()["detail"]
    twice = [{"seq": 2, "reason": "a"}, {"seq": 2, "reason": "b"}]
    assert api.client.post(url, headers=h, json={**EXPORT, "redactions": twice}).status_code == 422
    no_purpose = {k: v for k, v in EXPORT.items() if k != "purpose"}
    missing = api.client.post(url, headers=h, json=no_purpose)
    assert missing.status_code == 422 and "purpose" in missing.json()["detail"]
    assert api.events(pupil.id) == before


def test_an_ehc_plan_goes_only_with_the_consent_the_policy_asks(api: Api) -> None:
    """Under a policy that needs parents' consent to disclose an EHC plan (Aspire's), an
    export that shows one for a purpose the policy does not list is refused in its words."""
    strict = policy("aspire")
    api.records.policy = strict
    pupil = api.add_pupil()
    loaded = api.records.get_pupil(pupil.id)
    request_assessment(loaded, date(2025, 2, 10), policy=strict)
    api.records.save(loaded)
    issued = post(api, api.headers("sendco"), pupil.id, "ehc-plans", BY_SLUG["ehc-plans"].body())
    assert issued.status_code == 201, issued.text
    h = api.headers("tribunal", purpose=None)
    refused = api.client.post(
        f"/pupils/{pupil.id}/exports", headers=h, json={**EXPORT, "purpose": "copy for a charity"}
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "not_allowed_by_policy"
    assert "parents' consent" in refused.json()["detail"]
