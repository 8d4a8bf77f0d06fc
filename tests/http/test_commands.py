"""Every command of the catalogue through HTTP: an accepted entry records its event with
the caller as author, and a refusal of the record's rules is a 422 naming the rule, in the
rule's own words, with nothing written. On SQLite and PostgreSQL (the `api` fixture)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from api.app.catalogue import COMMANDS
from tests.http.conftest import Api
from tests.http.entries import BY_SLUG, EXAMPLES, post, prepared, today


def test_every_command_has_an_example() -> None:
    assert [c.slug for c in COMMANDS] == [e.slug for e in EXAMPLES]
    assert {c.slug: c.event for c in COMMANDS} == {e.slug: e.event for e in EXAMPLES}


@pytest.mark.parametrize("slug", [e.slug for e in EXAMPLES])
def test_an_accepted_entry_records_its_event(api: Api, slug: str) -> None:
    example = BY_SLUG[slug]
    pupil, extra = prepared(api, example.prepare)
    before = api.version(pupil.id)
    headers = api.headers(example.role)
    got = post(api, headers, pupil.id, slug, {**example.body(), **extra})
    assert got.status_code == 201, got.text
    assert got.json() == {
        "pupil_id": str(pupil.id),
        "version": before + 1,
        "seq": before + 1,
        "type": example.event,
    }
    assert got.headers["ETag"] == f'"{before + 1}"'
    entry = api.records.entries(pupil.id)[-1]
    assert (entry.seq, entry.type) == (before + 1, example.event)
    payload = entry.payload
    assert payload["recorded_by"]["role"] == example.role
    assert payload["recorded_by"]["staff_id"].startswith(f"{example.role}-")
    assert payload["happened_on"] == today().isoformat()
    example.check(payload)


@pytest.mark.parametrize("slug", [e.slug for e in EXAMPLES])
def test_a_refused_entry_is_a_422_in_the_rules_words(api: Api, slug: str) -> None:
    refusal = BY_SLUG[slug].refusal
    pupil, extra = prepared(api, refusal.prepare)
    before = api.events(pupil.id)
    got = post(api, api.headers(BY_SLUG[slug].role), pupil.id, slug, {**refusal.body, **extra})
    assert got.status_code == 422, got.text
    problem = got.json()
    assert problem["error"] == refusal.error, problem
    assert refusal.says in problem["detail"], problem
    assert "Traceback" not in got.text
    assert api.events(pupil.id) == before


def test_a_plan_agreed_over_http_can_be_reviewed_by_its_id(api: Api) -> None:
    pupil, _ = prepared(api, lambda p: {})
    h = api.headers("sendco")
    a_month_ago = (today() - timedelta(days=30)).isoformat()
    body = {**BY_SLUG["plans"].body(), "happened_on": a_month_ago}
    agreed = post(api, h, pupil.id, "plans", body)
    assert agreed.status_code == 201, agreed.text
    plan_id = api.records.entries(pupil.id)[-1].payload["plan_id"]
    reviewed = post(
        api,
        h,
        pupil.id,
        "plan-reviews",
        {
            "plan_id": plan_id,
            "outcomes": [{"target": "Reads 40 CVC words", "outcome": "achieved"}],
            "pupil_voice": "Proud",
            "parent_voice": "Pleased",
            "next_steps": "Close",
            "closes_plan": True,
        },
    )
    assert reviewed.status_code == 201, reviewed.text
    assert reviewed.json()["type"] == "PlanReviewed"


def test_an_entry_dated_in_the_future_is_refused(api: Api) -> None:
    pupil, _ = prepared(api, lambda p: {})
    body = {**BY_SLUG["needs"].body(), "happened_on": "2999-01-01"}
    got = post(api, api.headers("sendco"), pupil.id, "needs", body)
    assert got.status_code == 422
    assert got.json()["error"] == "date_out_of_range"
    assert "entries cannot describe the future" in got.json()["detail"]


def test_a_body_with_unknown_fields_or_values_is_refused_readably(api: Api) -> None:
    pupil, _ = prepared(api, lambda p: {})
    h = api.headers("sendco")
    extra = post(api, h, pupil.id, "needs", {**BY_SLUG["needs"].body(), "colour": "red"})
    assert extra.status_code == 422 and "colour" in extra.json()["detail"]
    wrong = post(api, h, pupil.id, "needs", {"need": "XYZ", "primary": True})
    assert wrong.status_code == 422 and "need" in wrong.json()["detail"]
    assert api.events(pupil.id) == 2


def test_a_refused_safeguarding_reference_does_not_echo_the_text(api: Api) -> None:
    pupil, _ = prepared(api, lambda p: {})
    secret = "Disclosure by pupil about Mr Pennyfeather at home"
    body = {
        "cpoms_log_id": secret,
        "note": "See CPOMS",
        "dsl_decision": "early_help",
        "decided_by": "OAK-dsl-1",
    }
    got = post(api, api.headers("dsl"), pupil.id, "safeguarding-cross-references", body)
    assert got.status_code == 422
    assert secret not in got.text and "Pennyfeather" not in json.dumps(got.json())


def test_a_transfer_hands_the_pupil_to_the_new_academy(api: Api) -> None:
    pupil, _ = prepared(api, lambda p: {})
    oak = api.headers("sendco", ("OAK",))
    elm = api.headers("sendco", ("ELM",))
    moved = post(api, oak, pupil.id, "transfers", BY_SLUG["transfers"].body())
    assert moved.status_code == 201, moved.text
    assert post(api, oak, pupil.id, "needs", BY_SLUG["needs"].body()).status_code == 404
    assert post(api, elm, pupil.id, "needs", BY_SLUG["needs"].body()).status_code == 201


def test_a_pupil_who_left_takes_no_new_provision(api: Api) -> None:
    pupil, _ = prepared(api, lambda p: {})
    h = api.headers("sendco")
    left = post(api, h, pupil.id, "departures", BY_SLUG["departures"].body())
    assert left.status_code == 201, left.text
    refused = post(api, h, pupil.id, "needs", BY_SLUG["needs"].body())
    assert refused.status_code == 422
    assert refused.json()["error"] == "pupil_left_trust"
    corrected = post(api, h, pupil.id, "corrections", BY_SLUG["corrections"].body())
    assert corrected.status_code == 201, corrected.text
