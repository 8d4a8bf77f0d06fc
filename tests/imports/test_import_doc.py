"""docs/import.md's examples run: its CSV through the chronicle mapping, its mapping file,
its CTF; every row valid."""

from __future__ import annotations

import re
import tomllib
from datetime import date
from pathlib import Path

from api.imports.ctf import CTF, ctf_rows
from api.imports.mappings import CHRONICLE, mapping_from
from api.imports.rows import PupilRow, validate
from api.imports.sources import csv_rows

DOC = (Path(__file__).resolve().parents[2] / "docs" / "import.md").read_text()
ACADEMIES = {"OAK": "OAK", "873/2041": "OAK"}


def _block(language: str, n: int = 0) -> str:
    return re.findall(rf"```{language}\n(.*?)```", DOC, re.S)[n]


def test_the_documented_csv_is_valid() -> None:
    rows, _ = csv_rows(_block("csv").encode(), CHRONICLE)
    checked = [validate(r, CHRONICLE, ACADEMIES, None, date(2026, 12, 1)) for r in rows]
    assert all(isinstance(c, PupilRow) for c in checked), checked
    first = checked[0]
    assert isinstance(first, PupilRow) and first.provision == "K"


def test_the_documented_mapping_file_loads() -> None:
    mapping = mapping_from(tomllib.loads(_block("toml")), "doc")
    assert mapping.columns["legal_given_names"] == ("Legal First Name", "Forename")
    assert mapping.values["sen_provision"]["sen support"] == "K"


def test_the_documented_ctf_is_valid() -> None:
    (row,), _ = ctf_rows(_block("xml").encode())
    checked = validate(row, CTF, ACADEMIES, None, date(2026, 12, 1))
    assert isinstance(checked, PupilRow), checked
    assert checked.academy == "OAK" and [n.value for n in checked.needs] == ["SPLD", "SLCN"]


def test_the_documented_history_template_and_mapping_file_are_valid() -> None:
    from api.imports.history import HISTORY_FIELDS, HISTORY_TEMPLATE, HistoryRow, validate_history

    f = HISTORY_FIELDS
    rows, _ = csv_rows(_block("csv", 1).encode(), HISTORY_TEMPLATE, f.names, f.required)
    checked = [validate_history(r, HISTORY_TEMPLATE, date(2026, 12, 1)) for r in rows]
    assert all(isinstance(c, HistoryRow) for c in checked), checked
    review, pointer = checked
    assert isinstance(review, HistoryRow) and review.kind == "review"
    assert isinstance(pointer, HistoryRow) and pointer.kind is None
    assert pointer.cpoms_log_id == "CP-2023-00871"
    mapping = mapping_from(tomllib.loads(_block("toml", 1)), "doc", HISTORY_FIELDS)
    assert mapping.values["kind"]["incident"] == "safeguarding"
    assert mapping.columns["details"] == ("Note", "Notes")
