"""Every query use case records exactly one access record per pupil it shows, and none for
a pupil it does not (api/app/queries.py). The queries are enumerated from the permission
table, so a new query that forgets to log, or is not tested here, fails. On SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.app.access import access_records
from api.app.caller import Access, Caller
from api.app.permissions import QUERIES, ROLE_ORDER, USE_CASES
from api.app.queries import UNLOGGED, ChronologyFilters
from api.app.service import Chronicle
from api.application import PupilRecords
from api.bootstrap import assemble, build_ledger
from domain.values import AreaOfNeed, ConcernSource
from tests.conftest import STORES_AND_MEMORY, Store, make_store
from tests.factories import a_pupil, agree, on
from tests.web.conftest import add_pupil


@pytest.fixture(params=STORES_AND_MEMORY)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The use cases on every store: SQLite, PostgreSQL and the in-memory twin."""
    yield from make_store(request, tmp_path)


Shown = Callable[[Chronicle, Caller, UUID], set[UUID]]

# What each query shows: the pupils on its answer.
SHOWN: dict[str, list[Shown]] = {
    "list_pupils": [
        lambda app, c, p: {r.pupil_id for r in app.reads.list_pupils(c, None, 50, 0, "T").rows},
        lambda app, c, p: {r.pupil_id for r in app.reads.register(c, purpose="T").rows},
        lambda app, c, p: {e.pupil_id for e in app.reads.registrations(c, None, "T")},
    ],
    "read_pupil": [lambda app, c, p: {app.reads.pupil(c, p, "T").id}],
    "read_chronology": [
        lambda app, c, p: {app.reads.chronology(c, p, ChronologyFilters(), "T").pupil.id},
        lambda app, c, p: {
            app.reads.chronology(c, p, ChronologyFilters(kinds=["ConcernRaised"]), "T").pupil.id
        },
        lambda app, c, p: {
            e.pupil_id for e in app.reads.chronology_entries(c, p, ChronologyFilters(), "T")
        },
    ],
    "list_deadlines": [
        lambda app, c, p: {
            d.pupil_id for d in app.reads.deadlines(c, as_of=date(2030, 1, 1), purpose="T").rows
        }
    ],
    "list_cross_references": [
        lambda app, c, p: {x.pupil_id for x in app.reads.cross_references(c, purpose="T").rows}
    ],
    "list_awaiting_decision": [
        lambda app, c, p: {w.pupil_id for w in app.reads.awaiting_decision(c, purpose="T").rows}
    ],
}


def test_every_query_is_logged_or_says_why_not() -> None:
    assert set(SHOWN) | set(UNLOGGED) == set(QUERIES)
    assert not set(SHOWN) & set(UNLOGGED)


@pytest.fixture
def app(records: PupilRecords, tmp_path: Path) -> Chronicle:
    key = Ed25519PrivateKey.generate()
    ledger = build_ledger(records, key, None)
    return assemble(records, ledger, signing_key=key, purge_journal=tmp_path / "p.jsonl")


def _counts(records: PupilRecords, pupils: list[UUID]) -> dict[UUID, int]:
    return {p: len(access_records(records, p)) for p in pupils}


@pytest.mark.parametrize("use_case", sorted(SHOWN))
def test_a_query_records_one_read_per_pupil_shown(
    app: Chronicle, records: PupilRecords, use_case: str
) -> None:
    shown_one = add_pupil(records, "OAK", safeguarding=True)
    shown_one.raise_concern(
        source=ConcernSource.TEACHER,
        area_of_need=AreaOfNeed.SEMH,
        description="Withdrawn",
        evidence="",
        **on(date(2025, 2, 10)),
    )
    agree(shown_one, date(2025, 2, 11))
    records.save(shown_one)
    elsewhere = a_pupil(academy="ELM")
    records.save(elsewhere)
    pupils = [shown_one.id, elsewhere.id]
    role = next(r for r in ROLE_ORDER if USE_CASES[use_case][r] is not Access.DENIED)
    caller = Caller(f"{role.value}-1", role, frozenset({"OAK"}))
    for read in SHOWN[use_case]:
        before = _counts(records, pupils)
        shown = read(app, caller, shown_one.id)
        assert shown == {shown_one.id}, use_case
        after = _counts(records, pupils)
        assert after[shown_one.id] == before[shown_one.id] + 1, use_case
        assert after[elsewhere.id] == before[elsewhere.id] == 0, use_case
