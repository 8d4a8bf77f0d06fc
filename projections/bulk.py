"""Bulk writes for the ledger and the read models, inside the caller's transaction.

`bulk_write` inserts many rows in one go (COPY on PostgreSQL, one prepared executemany on
SQLite). `PupilRows` is what a batched projection works on: every row its tables hold for
the pupils a batch touches, loaded with one query per table, changed in memory by the
projection's rules, and written back once (only the rows that changed).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from operator import itemgetter
from typing import Any
from uuid import UUID

from sqlalchemy import Boolean, Date, Table, Uuid, delete, insert, select, tuple_
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session

_IN_CHUNK = 500  # ids per IN list: well inside SQLite's and PostgreSQL's parameter limits


def bulk_write(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows in the caller's transaction: COPY on PostgreSQL (several times faster
    than multi-row INSERT for batches of projection or ledger rows), one prepared
    executemany elsewhere. Every row has the same keys."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        _copy(connection, table, rows)
    elif connection.dialect.name == "sqlite":
        _executemany(connection, table, rows)
    else:
        session.execute(insert(table), rows)


def _copy(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    columns = list(rows[0])
    # Column by column: each column's values formatted by one `map` (C-level for ids,
    # numbers and dates), then the lines joined.
    formatted = [
        list(map(_copy_formatter(table, c), values))
        for c, values in zip(columns, _columns(rows, columns), strict=True)
    ]
    buffer = io.StringIO()
    buffer.writelines(line + "\n" for line in map("\t".join, zip(*formatted, strict=True)))
    buffer.seek(0)
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    cursor.copy_expert(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN", buffer)


def _executemany(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """The statement SQLAlchemy would run, with each value converted by its column type's
    own bind processor (so the stored form is the same), minus the per-row bookkeeping of
    an ORM-session executemany, which costs more than SQLite's insert."""
    columns = list(rows[0])
    dialect = connection.dialect
    quote = dialect.identifier_preparer.quote
    sql = (
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
        f"({', '.join(quote(c) for c in columns)}) VALUES ({', '.join('?' for _ in columns)})"
    )
    processors = [_bind_processor(table, c, dialect) for c in columns]
    if len(columns) == 1:
        params: list[tuple[Any, ...]] = [(row[columns[0]],) for row in rows]
    else:
        params = list(map(itemgetter(*columns), rows))
    if any(processors):
        # Column by column, so that only the columns that need converting are touched.
        values = [list(column) for column in zip(*params, strict=True)]
        for i, process in enumerate(processors):
            if process is not None:
                values[i] = [None if v is None else process(v) for v in values[i]]
        params = list(zip(*values, strict=True))
    connection.exec_driver_sql(sql, params)


def _columns(rows: list[dict[str, Any]], columns: list[str]) -> list[tuple[Any, ...]]:
    """The rows' values column by column."""
    if len(columns) == 1:
        return [tuple(row[columns[0]] for row in rows)]
    return list(zip(*map(itemgetter(*columns), rows), strict=True))


def _bind_processor(table: Table, column: str, dialect: Dialect) -> Callable[[Any], Any] | None:
    """How a value of `column` is handed to the driver: SQLAlchemy's own processor, or for
    the types a rebuild writes by the million, a C-level equivalent giving the same stored
    value (a Uuid as its 32 hex digits, a Date as YYYY-MM-DD, a bool as sqlite3 binds it:
    0 or 1)."""
    kind = table.c[column].type
    if type(kind) is Boolean:
        return None
    if type(kind) is Date:
        return date.isoformat
    if (
        type(kind) is Uuid
        and kind.as_uuid
        and not (kind.native_uuid and dialect.supports_native_uuid)
    ):
        return _UUID_HEX
    process: Callable[[Any], Any] | None = kind.dialect_impl(dialect).bind_processor(dialect)
    return process


_UUID_HEX: Callable[[Any], Any] = UUID.hex.fget  # type: ignore[attr-defined]


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# Types whose str() is already COPY text that needs no escaping (a date's is ISO 8601).
_PLAIN = (int, float, UUID, date)


def _copy_formatter(table: Table, column: str) -> Callable[[Any], str]:
    """`_copy_field` specialised to the column's type: one call per value, no type tests
    for the common columns (ids, numbers, dates, codes), which a rebuild writes by the
    million."""
    kind = table.c[column].type
    try:
        python_type: type[Any] | None = kind.python_type
    except NotImplementedError:
        python_type = None
    if python_type is str:
        return _copy_text
    if python_type is not None and python_type is not bool and issubclass(python_type, _PLAIN):
        return _copy_plain
    return _copy_field


def _copy_text(value: object) -> str:
    if value is None:
        return "\\N"
    return (value if type(value) is str else str(value)).translate(_COPY_ESCAPES)


def _copy_plain(value: object) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):  # a bool is an int: keep COPY's spelling of it
        return "t" if value else "f"
    if type(value) is str:  # the id or date as text: still escaped, never a column break
        return value.translate(_COPY_ESCAPES)
    return str(value)


def _copy_field(value: object) -> str:
    # COPY text format: \N is NULL; backslash, tab, newline and carriage return escaped.
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, bytes):
        return "\\\\x" + value.hex()
    return str(value).translate(_COPY_ESCAPES)


# ----- a batch's rows in memory -------------------------------------------------------------

Row = dict[str, Any]


class PupilRows:
    """The rows of some tables (each with a `pupil_id` column) for the pupils a batch
    touches, held in memory while the batch is applied, then written back.

    `load(pupils)` reads every row those pupils already have (one query per table and 500
    pupils); pupils first seen in this batch have none, so they need no query. The
    projection then works on plain dicts: `rows()` to look, `add()` for a new row,
    `changed()` after editing a loaded row in place (primary-key columns are never
    edited), `wipe()` to remove a pupil from every table. `flush()` deletes what was wiped
    and the changed rows by primary key, and inserts the new and changed rows in bulk, so
    the tables end as if each change had been a statement of its own.
    """

    def __init__(self, session: Session, tables: Sequence[Table]) -> None:
        self.session = session
        self.tables = {t.name: t for t in tables}
        # By the pupil id's int: it hashes in C, a UUID's hash is Python code.
        self._rows: dict[str, dict[int, list[Row]]] = {t.name: {} for t in tables}
        self._keys = {t.name: [c.name for c in t.primary_key.columns] for t in tables}
        self._new: dict[str, list[Row]] = {t.name: [] for t in tables}
        self._changed: dict[str, dict[int, Row]] = {t.name: {} for t in tables}
        self._loaded: set[int] = set()  # id() of rows read from the database
        self._wiped: set[UUID] = set()

    def load(self, pupil_ids: Iterable[UUID], tables: Sequence[Table] | None = None) -> None:
        """Read the stored rows of these pupils (call once per batch, before any change);
        only of `tables` if given: an append-only table need not be read to be added to."""
        chosen = list(pupil_ids)
        for name, table in self.tables.items():
            if tables is not None and not any(table is t for t in tables):
                continue
            into = self._rows[name]
            for chunk in _chunks(chosen, _IN_CHUNK):
                query = select(table).where(table.c.pupil_id.in_(chunk))
                for found in self.session.execute(query).mappings():
                    row = dict(found)
                    self._loaded.add(id(row))
                    into.setdefault(row["pupil_id"].int, []).append(row)

    def rows(self, table: Table, pupil_id: UUID) -> list[Row]:
        """The pupil's rows of `table` as they stand (insertion order; do not append)."""
        return self._rows[table.name].get(pupil_id.int, [])

    def add(self, table: Table, row: Row) -> Row:
        self._rows[table.name].setdefault(row["pupil_id"].int, []).append(row)
        self._new[table.name].append(row)
        return row

    def changed(self, table: Table, row: Row) -> None:
        """`row` (one of `rows()`) was edited in place."""
        if id(row) in self._loaded:
            self._changed[table.name][id(row)] = row

    def wipe(self, pupil_id: UUID) -> None:
        """Remove every row of the pupil from every table (its purge)."""
        self._wiped.add(pupil_id)
        for name in self.tables:
            gone = self._rows[name].pop(pupil_id.int, [])
            ids = {id(row) for row in gone}
            self._new[name] = [r for r in self._new[name] if id(r) not in ids]
            for key in ids:
                self._changed[name].pop(key, None)
                self._loaded.discard(key)

    def flush(self) -> None:
        """Write the batch's changes (inside the caller's transaction)."""
        session = self.session
        wiped = list(self._wiped)
        for name, table in self.tables.items():
            for chunk in _chunks(wiped, _IN_CHUNK):
                session.execute(delete(table).where(table.c.pupil_id.in_(chunk)))
            changed = list(self._changed[name].values())
            keys = self._keys[name]
            columns = tuple_(*(table.c[k] for k in keys))
            for chunk in _chunks(changed, _IN_CHUNK // len(keys)):
                values = [tuple(row[k] for k in keys) for row in chunk]
                session.execute(delete(table).where(columns.in_(values)))
            # Changed rows were deleted above: write them back with the new ones, in the
            # order they were made.
            bulk_write(session, table, [*changed, *self._new[name]])


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
