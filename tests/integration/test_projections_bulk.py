"""`bulk_write` on both stores (COPY on PostgreSQL, a prepared executemany on SQLite): every
value reads back as it was written, awkward text and NULLs included."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

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
    select,
)

from api.application import PupilRecords
from projections.bulk import bulk_write

metadata = MetaData()
sample = Table(
    "bulk_sample",
    metadata,
    Column("pupil_id", Uuid, primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("day", Date, nullable=True),
    Column("flag", Boolean, nullable=True),
    Column("code", String(40), nullable=True),
    Column("blob", LargeBinary, nullable=True),
)


def test_values_round_trip(records: PupilRecords) -> None:
    metadata.create_all(records.datastore.engine)
    rows = [
        {
            "pupil_id": uuid4(),
            "seq": n,
            "day": day,
            "flag": flag,
            "code": code,
            "blob": blob,
        }
        for n, (day, flag, code, blob) in enumerate(
            [
                (date(2025, 1, 2), True, "plain", b"\x00\xff"),
                (None, False, "tab\tnewline\nreturn\rslash\\", None),
                (date(1999, 12, 31), None, "\\N", b""),
                (date(2030, 6, 1), True, None, b"\\x"),
                (date(2024, 2, 29), False, "émoji ✓", b"\t\n"),
            ]
        )
    ]
    with records.datastore.transaction(commit=True) as session:
        bulk_write(session, sample, rows)
        bulk_write(session, sample, [])  # nothing to write: nothing happens
    with records.datastore.transaction(commit=False) as session:
        found = [dict(r) for r in session.execute(select(sample).order_by(sample.c.seq)).mappings()]
    assert [{**r, "blob": None if r["blob"] is None else bytes(r["blob"])} for r in found] == rows
