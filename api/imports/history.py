"""SEN history from other products: the CSV's fields, its mapping, and each row checked.

A history export (a provision map, a safeguarding product, a spreadsheet) has one dated
entry per row: the pupil's UPN, the date, what kind of entry it was, its title and text,
its id in the source product, who wrote it and when. The mapping names the headers and
translates the export's own kinds into Chronicle's (`[values.kind]`); a kind translated to
`safeguarding` marks a safeguarding record (a CPOMS incident), of which only the date and
the log id are kept: its title and text are never read into the row.

As for pupils (rows.py), a refusal says line and column, never the row's text, names or
UPN: a report goes to terminals, logs and HTTP answers.
"""

from __future__ import annotations

from collections.abc import Mapping as Lookup
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from api.imports.mappings import Fields, Mapping, MappingError, load_mapping
from api.imports.rows import Refusal, _Checker, _without_value
from api.imports.sources import SourceRow
from domain.errors import InvalidUPN
from domain.pupil.history import DETAILS_MAX, SOURCE_ID_MAX, TITLE_MAX
from domain.values import HistoryKind, validate_upn

SAFEGUARDING = "safeguarding"
HISTORY_FIELDS = Fields(
    names=(
        "upn",
        "happened_on",
        "kind",
        "title",
        "details",
        "source_id",
        "author",
        "recorded_at",
        "cpoms_log_id",
    ),
    required=("upn", "happened_on", "kind", "source_id"),
    value_maps=("kind",),
)
_KINDS = (*(k.value for k in HistoryKind), SAFEGUARDING)

HISTORY_TEMPLATE = Mapping(
    name="chronicle",
    source="Chronicle's own history template (docs/import.md): one column per field",
    columns={f: (f,) for f in HISTORY_FIELDS.names},
    values={"kind": {"cpoms": SAFEGUARDING, "cpoms incident": SAFEGUARDING}},
)
SHIPPED_HISTORY = {HISTORY_TEMPLATE.name: HISTORY_TEMPLATE}


def provenance_text(imported_from: Lookup[str, str]) -> str:
    """Where an imported entry came from, in one line (the pupil page, the bundle, the CLI):
    "Provision Map, record PM-88213, written by J. Okafor (14/03/2024 15:42)"."""
    text = f"{imported_from['source']}, record {imported_from['source_id']}"
    if imported_from.get("original_author"):
        text += f", written by {imported_from['original_author']}"
    if imported_from.get("original_recorded_at"):
        text += f" ({imported_from['original_recorded_at']})"
    return text


def history_mapping_named(text: str | None) -> Mapping:
    """The shipped history template by name (the default), or a trust's mapping file."""
    if text is None or text in SHIPPED_HISTORY:
        return SHIPPED_HISTORY[text or HISTORY_TEMPLATE.name]
    path = Path(text)
    if not path.is_file():
        raise MappingError(
            f"no history mapping called {text!r}: give {', '.join(SHIPPED_HISTORY)} or the "
            "path of a mapping file"
        )
    return load_mapping(path, HISTORY_FIELDS)


@dataclass(frozen=True)
class HistoryRow:
    """One entry of the source, checked. `kind` is None for a safeguarding record, which
    then carries no title or details, only its log id."""

    line: int
    upn: str
    happened_on: date
    kind: HistoryKind | None
    title: str
    details: str
    source_id: str
    author: str
    recorded_at: str
    cpoms_log_id: str
    upn_column: str
    source_id_column: str


def validate_history(row: SourceRow, mapping: Mapping, today: date) -> HistoryRow | list[Refusal]:
    problems: list[Refusal] = []
    check = _Checker(row, mapping, problems)
    upn = check.text("upn")
    if upn is not None:
        try:
            upn = validate_upn(upn.upper())
        except InvalidUPN as e:
            upn = None
            check.refuse("upn", _without_value(str(e)))
    day = check.date("happened_on", today)
    kind = _kind(check)
    source_id = _bounded(check, "source_id", SOURCE_ID_MAX, required=True)
    author = _bounded(check, "author", TITLE_MAX) or ""
    recorded_at = _bounded(check, "recorded_at", 80) or ""
    title = details = log_id = ""
    if kind == SAFEGUARDING:
        # Only the pointer: the record's title and text are never read.
        log_id = (check.raw("cpoms_log_id") or source_id or "").strip()
        if len(log_id) > 64 or any(c.isspace() for c in log_id):
            check.refuse(
                "cpoms_log_id" if check.raw("cpoms_log_id") else "source_id",
                "not a safeguarding log id (at most 64 characters, no spaces)",
            )
    elif kind is not None:
        title = " ".join((check.raw("title") or "").split())
        if not title:
            check.refuse("title", "empty: an imported entry needs a title")
        elif len(title) > TITLE_MAX:
            check.refuse("title", f"longer than {TITLE_MAX} characters: put the rest in details")
        details = (check.raw("details") or "").strip()
        if len(details) > DETAILS_MAX:
            check.refuse("details", f"longer than {DETAILS_MAX:,} characters: split the entry")
    if problems:
        return problems
    assert upn is not None and day is not None and kind is not None and source_id is not None
    return HistoryRow(
        row.line, upn, day, None if kind == SAFEGUARDING else HistoryKind(kind), title,
        details, source_id, author, recorded_at, log_id, check.column("upn"),
        check.column("source_id"),
    )  # fmt: skip


def _kind(check: _Checker) -> str | None:
    value = check.translated("kind")
    if value is None:
        check.refuse("kind", "empty: this field is required")
        return None
    code = value.strip().casefold().replace(" ", "_")
    if code not in _KINDS:
        check.refuse_value(
            "kind",
            value,
            f"not a kind of entry ({', '.join(_KINDS)}; translate the export's own in the "
            "mapping's [values.kind]):",
        )
        return None
    return code


def _bounded(check: _Checker, name: str, most: int, *, required: bool = False) -> str | None:
    value = check.raw(name)
    if value is None:
        if required:
            check.refuse(name, "empty: this field is required")
        return None
    if len(value) > most:
        check.refuse(name, f"longer than {most} characters")
        return None
    return value
