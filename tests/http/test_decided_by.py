"""Who decided (issue 16): a cross-reference's `decided_by` is the staff id of a current DSL
user, never any string (a teacher's id was once accepted as the deciding DSL); "not a
safeguarding matter" is the DSL's own entry, with no CPOMS log. Both stores."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.factories import DSL
from tests.http.conftest import Api
from tests.http.entries import post, prepared

SLUG = "safeguarding-cross-references"


def _body(**more: Any) -> dict[str, Any]:
    return {"cpoms_log_id": "CP-00042", "note": "Logged on CPOMS; ask the DSL", **more}


def test_the_deciding_dsl_is_a_dsl_user(api: Api) -> None:
    pupil, _ = prepared(api, lambda p: {})
    sendco = api.headers("sendco")
    ok = post(
        api, sendco, pupil.id, SLUG, _body(dsl_decision="early_help", decided_by=DSL.staff_id)
    )
    assert ok.status_code == 201, ok.text


@pytest.mark.parametrize(
    ("who", "says"),
    [("teacher", "it is a teacher, not a dsl"), (None, "it is no user")],
)
def test_anyone_else_named_as_deciding_is_refused(api: Api, who: str | None, says: str) -> None:
    pupil, _ = prepared(api, lambda p: {})
    name = "OAK-someone-9"
    if who is not None:
        api.users.add(name, who, ["OAK"], _now())
    before = api.events(pupil.id)
    got = post(
        api,
        api.headers("sendco"),
        pupil.id,
        SLUG,
        _body(dsl_decision="early_help", decided_by=name),
    )
    assert got.status_code == 422, got.text
    problem = got.json()
    assert problem["error"] == "invalid_entry" and says in problem["detail"], problem
    assert api.events(pupil.id) == before


def test_not_a_safeguarding_matter_is_the_dsl_s_own_entry_without_a_log(api: Api) -> None:
    pupil, _ = prepared(api, lambda p: {})
    body = {
        "note": "Looked at the SEMH concern: not a safeguarding matter",
        "dsl_decision": "not_safeguarding",
    }
    refused = post(api, api.headers("sendco"), pupil.id, SLUG, body)
    assert refused.status_code == 422 and "only the DSL decides" in refused.json()["detail"]
    with_log = post(api, api.headers("dsl"), pupil.id, SLUG, {**body, "cpoms_log_id": "CP-1"})
    assert with_log.status_code == 422 and "has no CPOMS log" in with_log.json()["detail"]
    dsl = api.headers("dsl")
    ok = post(api, dsl, pupil.id, SLUG, body)
    assert ok.status_code == 201, ok.text
    entry = api.records.entries(pupil.id)[-1]
    assert (
        entry.payload["cpoms_log_id"] == "" and entry.payload["dsl_decision"] == "not_safeguarding"
    )
    assert entry.payload["decided_by"] == entry.payload["recorded_by"]["staff_id"]
    assert entry.payload["recorded_by"]["role"] == "dsl"


def _now() -> datetime:
    return datetime.now(UTC)
