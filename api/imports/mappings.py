"""Column mappings: which header of a CSV export holds which of Chronicle's fields.

Shipped mappings are named on the command line (`--format csv --mapping census`); a trust
writes a TOML file for any other export (docs/import.md, "A trust's mapping file").
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Chronicle's fields, in the order a report names them.
FIELDS = (
    "upn",
    "legal_given_names",
    "legal_family_name",
    "preferred_name",
    "date_of_birth",
    "academy",
    "year_group",
    "sen_provision",
    "primary_need",
    "secondary_need",
    "sen_start_date",
)
REQUIRED = ("upn", "legal_given_names", "legal_family_name", "date_of_birth", "year_group")
VALUE_MAPS = ("academy", "year_group", "sen_provision", "primary_need", "secondary_need")


class MappingError(ValueError):
    """A mapping file cannot be used; the message says what to change in it."""


@dataclass(frozen=True)
class Mapping:
    """Headers for each field (the first found in the file is used), the date formats
    tried in order, and per-field translations of the export's own values."""

    name: str
    source: str
    columns: dict[str, tuple[str, ...]]
    date_formats: tuple[str, ...] = ("%Y-%m-%d", "%d/%m/%Y")
    values: dict[str, dict[str, str]] = field(default_factory=dict)


CHRONICLE = Mapping(
    name="chronicle",
    source="Chronicle's own template (docs/import.md): one column per field, named as the field",
    columns={f: (f,) for f in FIELDS},
)

# The DfE's own data item names (Common Basic Data Set / school census), as many MIS
# census and CTF reports label their columns.
CENSUS = Mapping(
    name="census",
    source="DfE Common Basic Data Set item names (UPN, Surname, Forename, ...)",
    columns={
        "upn": ("UPN",),
        "legal_given_names": ("Forename", "LegalForename"),
        "legal_family_name": ("Surname", "LegalSurname"),
        "preferred_name": ("PreferredForename",),
        "date_of_birth": ("DOB",),
        "academy": ("Academy", "LAEstab", "DfENumber"),
        "year_group": ("NCyearActual",),
        "sen_provision": ("SENprovision",),
        "primary_need": ("SENtype1", "PrimarySENtype"),
        "secondary_need": ("SENtype2", "SecondarySENtype"),
        "sen_start_date": ("SENstartDate", "StartDate"),
    },
)

SHIPPED = {m.name: m for m in (CHRONICLE, CENSUS)}


def mapping_named(text: str | None) -> Mapping:
    """A shipped mapping by name, or a trust's mapping file by path (default: chronicle)."""
    if text is None:
        return CHRONICLE
    if text in SHIPPED:
        return SHIPPED[text]
    path = Path(text)
    if not path.is_file():
        raise MappingError(
            f"no mapping called {text!r}: give a shipped one ({', '.join(SHIPPED)}) or the "
            "path of a mapping file"
        )
    return load_mapping(path)


@dataclass(frozen=True)
class Fields:
    """What a kind of import reads: its fields, those required, those with value tables."""

    names: tuple[str, ...]
    required: tuple[str, ...]
    value_maps: tuple[str, ...]


PUPIL_FIELDS = Fields(FIELDS, REQUIRED, VALUE_MAPS)


def load_mapping(path: Path, fields: Fields = PUPIL_FIELDS) -> Mapping:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise MappingError(f"mapping file {path.name} is not valid TOML: {e}") from None
    return mapping_from(data, path.name, fields)


def mapping_from(data: dict[str, Any], where: str, fields: Fields = PUPIL_FIELDS) -> Mapping:
    columns = data.get("columns")
    if not isinstance(columns, dict):
        raise MappingError(f"{where}: a [columns] table naming each field's header is needed")
    unknown = sorted(set(columns) - set(fields.names))
    if unknown:
        raise MappingError(
            f"{where}: unknown field(s) {', '.join(unknown)} in [columns]; the fields are "
            f"{', '.join(fields.names)}"
        )
    missing = [f for f in fields.required if f not in columns]
    if missing:
        raise MappingError(f"{where}: [columns] must name a header for {', '.join(missing)}")
    headers: dict[str, tuple[str, ...]] = {}
    for name, given in columns.items():
        names = (
            (given,) if isinstance(given, str) else tuple(given) if isinstance(given, list) else ()
        )
        if not names or not all(isinstance(n, str) and n.strip() for n in names):
            raise MappingError(f"{where}: [columns] {name} must be a header or a list of them")
        headers[name] = tuple(n.strip() for n in names)
    values = data.get("values", {})
    if not isinstance(values, dict) or set(values) - set(fields.value_maps):
        raise MappingError(
            f"{where}: [values.FIELD] tables translate the export's values for "
            f"{', '.join(fields.value_maps)} only"
        )
    if any(not isinstance(v, dict) for v in values.values()):
        raise MappingError(f'{where}: each [values.FIELD] is a table of "export value" = code')
    formats = data.get("date_formats", ["%Y-%m-%d", "%d/%m/%Y"])
    if isinstance(formats, str):
        formats = [formats]
    return Mapping(
        name=str(data.get("name", where)),
        source=str(data.get("source", where)),
        columns=headers,
        date_formats=tuple(str(f) for f in formats),
        values={
            k: {str(a).strip().casefold(): str(b) for a, b in v.items()} for k, v in values.items()
        },
    )
