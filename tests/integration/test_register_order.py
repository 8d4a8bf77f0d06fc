"""The register's order by name kept as pupil ids (`NameOrder`): pages sorted with it are
the pages sorted the long way, decrypting only the names shown; a new pupil and a pupil
whose name cannot be read (a purge in progress) are placed as the long way places them.
On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import pytest

from api.application import PupilRecords
from projections.catalogue import build_projections
from projections.register import NameOrder, RegisterFilter, RegisterReader
from projections.runner import ProjectionRunner
from tests.conftest import count_decryptions
from tests.factories import a_pupil, purge

NAMES = [
    ("Zoë", "Abbott"), ("amy", "abbott"), ("Émile", "Zola"), ("Bob", "Okafor"),
    ("bob", "Okafor"), ("Ann", "O'Neill"), ("Priya", "Afolabi"), ("Li", "Wei"),
    ("Kai", "Müller"), ("Sam", "Smith"), ("Sam", "smith"), ("Ada", "Lovelace"),
]  # fmt: skip


def _pages(reader: RegisterReader, academy: str | None, size: int) -> list[list[UUID]]:
    where = RegisterFilter(academy=academy)
    total = reader.page(where, limit=1).total
    return [
        [r.pupil_id for r in reader.page(where, limit=size, offset=start).rows]
        for start in range(0, total + size, size)
    ]


def _same_pages(records: PupilRecords, order: NameOrder) -> None:
    for academy in (None, "OAK", "RIV"):
        for size in (1, 3, 50):
            expected = _pages(RegisterReader(records), academy, size)
            assert _pages(RegisterReader(records, order), academy, size) == expected


def test_pages_by_name_are_the_pages_sorted_the_long_way(
    records: PupilRecords, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = ProjectionRunner(records, build_projections(records.policy))
    pupils = [
        a_pupil(given, family, academy="OAK" if n % 3 else "RIV", concerns=0)
        for n, (given, family) in enumerate(NAMES)
    ]
    records.save(*pupils)
    runner.catch_up()
    order = NameOrder()
    _same_pages(records, order)  # the first page learns the order

    opened = count_decryptions(records, monkeypatch)
    page = RegisterReader(records, order).page(limit=3, offset=3)
    assert len(page.rows) == 3 and all(r.name for r in page.rows)
    assert len(opened) == 3  # the names shown, not the twelve matching

    late = a_pupil("Aaron", "Abbott", academy="OAK", concerns=0)  # first of all, by name
    records.save(late)
    runner.catch_up()
    first = RegisterReader(records, order).page(limit=1).rows[0]
    assert first.pupil_id == late.id and first.name == "Aaron Abbott"
    _same_pages(records, order)

    # A purge in progress: recorded and the key gone, the register not caught up yet.
    gone = records.get_pupil(pupils[6].id)
    purge(gone, date(2026, 9, 1))
    records.save(gone)
    records.shred(gone.id)
    _same_pages(records, order)
    assert RegisterReader(records, order).page(limit=50).rows[-1].pupil_id == pupils[6].id
    runner.catch_up()
    _same_pages(records, order)
    assert pupils[6].id not in {r.pupil_id for r in RegisterReader(records, order).page().rows}


def test_status_counts_are_the_totals_of_each_status(records: PupilRecords) -> None:
    runner = ProjectionRunner(records, build_projections(records.policy))
    records.save(*[a_pupil(g, f, concerns=0) for g, f in NAMES[:5]])
    runner.catch_up()
    reader = RegisterReader(records)
    counts = reader.status_counts(RegisterFilter(academy="OAK", status="ehcp"))
    expected = {
        s: reader.page(RegisterFilter(academy="OAK", status=s), limit=1).total for s in counts
    }
    assert counts == expected and sum(counts.values()) == 5


def test_the_register_shows_the_year_group_set_after_registration(
    records: PupilRecords,
) -> None:
    from domain.values import year_group_on
    from tests.factories import on

    runner = ProjectionRunner(records, build_projections(records.policy))
    kept, other = a_pupil("Kit", "Kept", concerns=0), a_pupil("Oli", "Other", concerns=0)
    day = date(2025, 9, 3)
    kept.change_year_group(
        year_group=kept.year_group_on(day) - 1, reason="Kept back a year", **on(day)
    )
    records.save(kept, other)
    runner.catch_up()
    today = records.clock().date()
    shown = {r.pupil_id: r.year_group for r in RegisterReader(records).page(limit=50).rows}
    assert shown[other.id] == year_group_on(4, other.registered_on, today)
    assert shown[kept.id] == shown[other.id] - 1 == kept.year_group_on(today)
    row = RegisterReader(records).pupil(kept.id)
    assert row is not None and row.year_group == shown[kept.id]
