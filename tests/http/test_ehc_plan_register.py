"""An issued EHC plan puts the pupil on E in the same write (issue 16): a plan that came
with the pupil (transferred in) counts in the census as E at once, not N until a second
request; the move keeps the policy's rules (a primary need, parents informed), and a
refused move writes neither entry. Both stores."""

from __future__ import annotations

from datetime import date
from typing import Any

from tests.factories import primary_need
from tests.http.conftest import Api
from tests.http.entries import post, prepared, today

PLAN = {
    "local_authority": "Shire CC",
    "plan_reference": "EHCP-7",
    "named_setting": "Oak Primary",
    "transferred_from": "Birch Academy (another trust)",
}


def _oak_census(api: Api, headers: dict[str, str]) -> dict[str, Any]:
    got = api.client.get("/register?limit=200", headers=headers)
    assert got.status_code == 200, got.text
    (oak,) = [c for c in got.json()["counts"] if c["academy"] == "OAK"]
    return dict(oak)


def test_the_census_after_a_transferred_in_plan(api: Api) -> None:
    pupil, _ = prepared(api, lambda p: primary_need(p, date(2025, 2, 3)) or {})
    sendco = api.headers("sendco")
    before = _oak_census(api, sendco)
    body = {**PLAN, "on_register": True, "parents_informed_on": today().isoformat()}
    saved = post(api, sendco, pupil.id, "ehc-plans", body)
    assert saved.status_code == 201, saved.text
    types = [e.type for e in api.records.entries(pupil.id)][-2:]
    assert types == ["EHCPlanIssued", "RegisterStatusChanged"]
    after = _oak_census(api, sendco)
    assert (after["E"], after["N"]) == (before["E"] + 1, before["N"] - 1)
    assert (
        after["primary_need"]["SLCN"]["E"] == before["primary_need"].get("SLCN", {}).get("E", 0) + 1
    )


def test_a_move_the_policy_refuses_writes_neither_entry(api: Api) -> None:
    pupil, _ = prepared(api, lambda p: {})  # no primary need recorded
    before = api.events(pupil.id)
    got = post(api, api.headers("sendco"), pupil.id, "ehc-plans", {**PLAN, "on_register": True})
    assert got.status_code == 422, got.text
    assert "primary need" in got.json()["detail"]
    assert api.events(pupil.id) == before
