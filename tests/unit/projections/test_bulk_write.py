"""COPY text format for bulk writes on PostgreSQL: every value survives, NULL stays NULL."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Uuid,
    create_engine,
    insert,
    select,
    text,
)
from sqlalchemy.orm import Session

from projections.bulk import PupilRows, _copy_field, _copy_formatter, bulk_write
from projections.runner import chunks


def test_null_bool_bytes_dates_and_uuids() -> None:
    assert _copy_field(None) == "\\N"
    assert (_copy_field(True), _copy_field(False)) == ("t", "f")
    assert _copy_field(b"\x00\xff") == "\\\\x00ff"
    assert _copy_field(date(2025, 1, 2)) == "2025-01-02"
    uuid = UUID(int=5)
    assert _copy_field(uuid) == str(uuid)
    assert _copy_field(7) == "7"


def test_text_that_would_break_a_row_is_escaped() -> None:
    assert _copy_field("a\tb\nc\rd\\e") == "a\\tb\\nc\\rd\\\\e"
    assert _copy_field("\\N") == "\\\\N"  # the text "\N" is not NULL


def test_the_per_column_formatters_agree_with_copy_field() -> None:
    _, table, _ = _twin_tables()
    values = {
        "pupil_id": [UUID(int=5), None, "not\ta uuid"],
        "seq": [7, True, None, "1\t2"],
        "day": [date(2025, 1, 2), None],
        "flag": [True, False, None],
        "code": ["a\tb\nc\rd\\e", "\\N", None, 12],
        "blob": [b"\x00\xff", None],
    }
    for column, examples in values.items():
        format_ = _copy_formatter(table, column)
        for value in examples:
            assert format_(value) == _copy_field(value), (column, value)


def test_chunks() -> None:
    assert list(chunks([1, 2, 3, 4, 5], 2)) == [[1, 2], [3, 4], [5]]
    assert list(chunks([], 3)) == []


# ----- SQLite: the prepared executemany stores what SQLAlchemy's insert stores -------------


def _twin_tables() -> tuple[Any, Table, Table]:
    metadata = MetaData()
    columns = lambda: [  # noqa: E731
        Column("pupil_id", Uuid, primary_key=True),
        Column("seq", Integer, primary_key=True, autoincrement=False),
        Column("day", Date, nullable=True),
        Column("flag", Boolean, nullable=False),
        Column("code", String(20), nullable=True),
        Column("blob", LargeBinary, nullable=True),
    ]
    engine = create_engine("sqlite://")
    ours, theirs = Table("ours", metadata, *columns()), Table("theirs", metadata, *columns())
    metadata.create_all(engine)
    return engine, ours, theirs


def test_sqlite_bulk_write_stores_exactly_what_sqlalchemy_stores() -> None:
    engine, ours, theirs = _twin_tables()
    rows = [
        {"pupil_id": uuid4(), "seq": 1, "day": date(2025, 1, 2), "flag": True, "code": "a\tb"},
        {"pupil_id": uuid4(), "seq": 2, "day": None, "flag": False, "code": None},
        {"pupil_id": uuid4(), "seq": 3, "day": date(999, 12, 31), "flag": True, "code": "é"},
    ]
    rows = [{**row, "blob": b"\x00\x01" if row["seq"] != 2 else None} for row in rows]
    with Session(engine) as session:
        bulk_write(session, ours, rows)
        session.execute(insert(theirs), rows)
        raw = [
            session.execute(text(f"SELECT * FROM {t} ORDER BY seq")).all()
            for t in ("ours", "theirs")
        ]
        assert raw[0] == raw[1] and len(raw[0]) == 3
        # And it reads back as the same values.
        assert [
            dict(r) for r in session.execute(select(ours).order_by(ours.c.seq)).mappings()
        ] == rows


def test_pupil_rows_write_back_only_what_changed_and_wipe_removes_everything() -> None:
    engine, table, _ = _twin_tables()
    kept, changed, wiped = uuid4(), uuid4(), uuid4()
    with Session(engine) as session:
        bulk_write(
            session,
            table,
            [
                {"pupil_id": p, "seq": 1, "day": None, "flag": False, "code": "old", "blob": None}
                for p in (kept, changed, wiped)
            ],
        )
        rows = PupilRows(session, [table])
        rows.load([changed, wiped])
        assert rows.rows(table, kept) == []  # not loaded
        loaded = rows.rows(table, changed)[0]
        loaded["code"] = "new"
        rows.changed(table, loaded)
        rows.add(table, {**loaded, "seq": 2, "code": "added"})
        rows.wipe(wiped)
        rows.add(table, {"pupil_id": wiped, "seq": 9, "day": None, "flag": True, "code": "after",
                         "blob": None})  # fmt: skip
        rows.flush()
        found = {
            (r.pupil_id, r.seq): r.code
            for r in session.execute(select(table.c.pupil_id, table.c.seq, table.c.code))
        }
    assert found == {
        (kept, 1): "old",
        (changed, 1): "new",
        (changed, 2): "added",
        (wiped, 9): "after",
    }
