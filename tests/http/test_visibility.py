"""One visibility rule for every reader (api/app/visibility.py), through the API and the web.

A teacher sees the concern they wrote although the policy hides concerns from teachers; a
filter never matches a masked entry on what the mask hides (its author's role, its area of
need); a teacher is not told a restricted entry exists. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from domain.values import AreaOfNeed, ConcernSource
from tests.conftest import STORES_AND_MEMORY, Store, make_store
from tests.factories import on
from tests.http.conftest import SAFEGUARDING_NOTE, Api
from tests.web.conftest import csrf_of


@pytest.fixture(params=STORES_AND_MEMORY)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The use cases on every store: SQLite, PostgreSQL and the in-memory twin."""
    yield from make_store(request, tmp_path)


def test_a_teacher_sees_the_concern_they_wrote(api: Api) -> None:
    pupil = api.add_pupil()
    assert not api.records.policy.may_see("teacher", "ConcernRaised")  # the default policy
    teacher = api.headers("teacher")
    wrote = api.client.post(
        f"/pupils/{pupil.id}/concerns",
        headers={**teacher, "If-Match": str(api.version(pupil.id))},
        json={"source": "teacher", "description": "Hides under the table in maths"},
    )
    assert wrote.status_code == 201, wrote.text
    seq = wrote.json()["seq"]
    got = api.client.get(f"/pupils/{pupil.id}/chronology", headers=teacher).json()["entries"]
    mine = [e for e in got if e["seq"] == seq]
    assert mine and mine[0]["masked"] is False
    assert mine[0]["payload"]["description"] == "Hides under the table in maths"
    # Another teacher's concern (entry 2, by the SENDCo's factory) stays out of sight.
    assert all(e["seq"] != 2 for e in got)
    other = api.client.get(f"/pupils/{pupil.id}/chronology", headers=api.headers("teacher"))
    assert all(e["seq"] != seq for e in other.json()["entries"])


def test_a_teacher_sees_their_concern_on_the_web_right_after_saving(api: Api) -> None:
    from tests.http.test_edges_agree import _person

    pupil = api.add_pupil()
    person = _person(api, "teacher")
    form = person.web.get(f"/ui/pupils/{pupil.id}/entries/concerns")
    saved = person.web.post(
        f"/ui/pupils/{pupil.id}/entries/concerns",
        data={
            "csrf_token": csrf_of(form.text),
            "version": str(api.version(pupil.id)),
            "source": "teacher",
            "description": "Covers ears in assembly",
        },
    )
    assert saved.status_code == 200, saved.text  # the pupil page, after the redirect
    assert "Saved: raise a concern" in saved.text
    assert "Covers ears in assembly" in saved.text


def test_a_filter_never_matches_a_masked_entry_on_what_it_hides(api: Api) -> None:
    pupil = api.add_pupil("OAK", safeguarding=True)  # entry 3: a DSL's cross-reference
    pupil.raise_concern(
        source=ConcernSource.TEACHER,
        area_of_need=AreaOfNeed.SEMH,
        description="Withdrawn at playtimes",
        evidence="",
        **on(date(2025, 2, 10)),
    )
    api.records.save(pupil)
    dpo = api.headers("dpo")  # sees everything but restricted entries: those are masked
    everything = api.client.get(f"/pupils/{pupil.id}/chronology", headers=dpo).json()
    masked = [e for e in everything["entries"] if e["masked"]]
    assert [e["type"] for e in masked] == ["SafeguardingCrossReferenced"]
    by_dsl = api.client.get(f"/pupils/{pupil.id}/chronology?author_role=dsl", headers=dpo)
    assert by_dsl.status_code == 200 and by_dsl.json()["entries"] == []
    teacher = api.headers("teacher")
    for query in ("area=social_emotional_mental_health", "author_role=sendco", "author_role=dsl"):
        got = api.client.get(f"/pupils/{pupil.id}/chronology?{query}", headers=teacher)
        assert got.status_code == 200, got.text
        found = got.json()["entries"]
        # Concerns and cross-references are hidden from teachers: only what they may read.
        assert [e["type"] for e in found] == (["PupilRegistered"] if "sendco" in query else [])
        assert all(not e["masked"] for e in found)
        assert SAFEGUARDING_NOTE not in got.text
    sendco = api.headers("sendco")
    semh = api.client.get(
        f"/pupils/{pupil.id}/chronology?area=social_emotional_mental_health", headers=sendco
    )
    assert [e["type"] for e in semh.json()["entries"]] == ["ConcernRaised"]
