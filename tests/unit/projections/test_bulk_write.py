"""COPY text format for bulk writes on PostgreSQL: every value survives, NULL stays NULL."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from projections.bulk import _copy_field
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


def test_chunks() -> None:
    assert list(chunks([1, 2, 3, 4, 5], 2)) == [[1, 2], [3, 4], [5]]
    assert list(chunks([], 3)) == []
