"""Exports follow the recipient and purpose (docs/policies.md, "What an export carries").

A pupil with a restricted safeguarding cross-reference and entries holding third-party
information, exported for every disclosure purpose: the cross-reference is withheld (with
its reason) unless the policy discloses restricted entries for that purpose; a copy to
parents also withholds the third-party entries; a DSL may release entries into one export,
nobody else may; and every bundle still verifies offline. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from crypto.bundle_check import verify_bundle
from domain.pupil import Pupil
from domain.values import AgencyKind, DisclosurePurpose
from tests.conftest import STORES_AND_MEMORY, Store, make_store
from tests.factories import on
from tests.http.conftest import SAFEGUARDING_NOTE, Api


@pytest.fixture(params=STORES_AND_MEMORY)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The use cases on every store: SQLite, PostgreSQL and the in-memory twin."""
    yield from make_store(request, tmp_path)


PURPOSES = [p.value for p in DisclosurePurpose if p is not DisclosurePurpose.SUBJECT_ACCESS]
PROFESSIONAL = "Dr Ottoline Vance"


def _pupil(api: Api) -> tuple[Pupil, dict[str, int]]:
    """Registered (1), a concern (2), a cross-reference (3), advice from an outside
    professional (4): returns the pupil and the seq of each kind."""
    pupil = api.add_pupil("OAK", safeguarding=True)
    pupil.receive_advice(
        agency=AgencyKind.EDUCATIONAL_PSYCHOLOGIST,
        service="Northshire Educational Psychology Service",
        professional=PROFESSIONAL,
        summary="Working memory well below age expectations",
        recommendations=("Chunk instructions",),
        **on(date(2025, 2, 5)),
    )
    api.records.save(pupil)
    seqs = {e.type: e.seq for e in api.records.entries(pupil.id)}
    return pupil, seqs


def _export(api: Api, role: str, pupil: Pupil, purpose: str, **extra: Any) -> Any:
    return api.client.post(
        f"/pupils/{pupil.id}/exports",
        headers=api.headers(role),
        json={
            "purpose": purpose,
            "recipient": "The recipient",
            "legal_basis": "The basis",
            **extra,
        },
    )


def _withheld(bundle: dict[str, Any]) -> dict[str, str]:
    return {e["type"]: e["reason"] for e in bundle["events"] if e.get("redacted")}


@pytest.mark.parametrize("purpose", PURPOSES)
def test_what_each_purpose_withholds(api: Api, purpose: str) -> None:
    pupil, seqs = _pupil(api)
    got = _export(api, "sendco", pupil, purpose)
    assert got.status_code == 201, got.text
    bundle = got.json()
    assert verify_bundle(bundle, api.ledger.public_key).valid
    withheld = _withheld(bundle)
    restricted_out = purpose in api.records.policy.disclosure.restricted_disclosed_for
    if restricted_out:
        assert "SafeguardingCrossReferenced" not in withheld
    else:
        assert "restricted entry" in withheld["SafeguardingCrossReferenced"]
        assert SAFEGUARDING_NOTE not in got.text and "CP-00042" not in got.text
    if purpose == "copy_to_parents":
        assert "third-party information" in withheld["ConcernRaised"]
        assert "third-party information" in withheld["AdviceReceived"]
        assert PROFESSIONAL not in got.text
    else:
        assert {"ConcernRaised", "AdviceReceived"}.isdisjoint(withheld)
    # The disclosure record lists exactly what was withheld.
    disclosed = api.records.entries(pupil.id)[-1].payload
    assert disclosed["redacted_seqs"] == sorted(seqs[kind] for kind in withheld)


def test_the_default_policy_discloses_restricted_entries_for_a_court_order_only() -> None:
    from tests.factories import DEFAULT

    assert set(DEFAULT.disclosure.restricted_disclosed_for) == {
        "criminal_court_order",
        "safeguarding_welfare_duties",
    }


def test_a_dsl_may_release_entries_into_a_copy_for_parents(api: Api) -> None:
    pupil, seqs = _pupil(api)
    released = [seqs["SafeguardingCrossReferenced"], seqs["ConcernRaised"]]
    got = _export(api, "dsl", pupil, "copy_to_parents", released=released)
    assert got.status_code == 201, got.text
    bundle = got.json()
    assert verify_bundle(bundle, api.ledger.public_key).valid
    assert set(_withheld(bundle)) == {"AdviceReceived"}
    assert SAFEGUARDING_NOTE in got.text


@pytest.mark.parametrize("role", ["sendco", "dpo", "tribunal"])
def test_only_a_dsl_may_release(api: Api, role: str) -> None:
    pupil, seqs = _pupil(api)
    before = api.events(pupil.id)
    got = _export(
        api, role, pupil, "copy_to_parents", released=[seqs["SafeguardingCrossReferenced"]]
    )
    assert got.status_code == 403, got.text
    assert "only a DSL may release" in got.json()["detail"]
    assert api.events(pupil.id) == before  # nothing disclosed, nothing recorded


def test_the_caller_s_own_redactions_are_kept_with_their_reason(api: Api) -> None:
    pupil, seqs = _pupil(api)
    got = _export(
        api,
        "tribunal",
        pupil,
        "send_tribunal_appeal",
        redactions=[{"seq": seqs["AdviceReceived"], "reason": "Not relevant to the appeal"}],
    )
    assert got.status_code == 201, got.text
    withheld = _withheld(got.json())
    assert withheld["AdviceReceived"] == "Not relevant to the appeal"
    assert "restricted entry" in withheld["SafeguardingCrossReferenced"]


def test_a_subject_access_export_withholds_restricted_entries(api: Api) -> None:
    pupil, _ = _pupil(api)
    loaded = api.records.get_pupil(pupil.id)
    loaded.request_subject_access(
        request_reference="SAR-1", requester_relationship="parent", **on(date(2025, 2, 6))
    )
    api.records.save(loaded)
    got = api.client.post(
        f"/pupils/{pupil.id}/subject-access-exports", headers=api.headers("dpo"), json={}
    )
    assert got.status_code == 201, got.text
    bundle = got.json()
    assert verify_bundle(bundle, api.ledger.public_key).valid
    assert "restricted entry" in _withheld(bundle)["SafeguardingCrossReferenced"]
    assert SAFEGUARDING_NOTE not in got.text
    # Third-party information is marked for the DPO's review, not withheld.
    marked = {m["type"] for m in bundle["subject_access"]["third_party_review"]}
    assert {"ConcernRaised", "AdviceReceived"} <= marked
