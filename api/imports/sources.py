"""Reading a CSV export: its encoding, its header, one `SourceRow` per line.

MIS exports come as UTF-8 (often with a byte-order mark, as Excel writes it) or as
Windows-1252 (older exports and files saved from Excel as "CSV"). A file that is valid
UTF-8 is read as UTF-8; otherwise as Windows-1252, unless it holds bytes Windows-1252 does
not define, when it is refused naming the first such byte's line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from api.imports.mappings import FIELDS, REQUIRED, Mapping


class SourceError(ValueError):
    """The file cannot be read at all (encoding, header); nothing of it was imported."""


@dataclass(frozen=True)
class SourceRow:
    """One pupil as the file gives it: where it is (line) and each field's column and text."""

    line: int
    fields: dict[str, tuple[str, str]]  # field -> (the column it came from, its text)


def decode(data: bytes) -> tuple[str, str]:
    """The file's text and the encoding it was read in."""
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8 (with BOM)"
        except UnicodeDecodeError as e:
            raise _undecodable(data, e.start + 3, "UTF-8") from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError as e:
        raise _undecodable(data, e.start, "UTF-8 or Windows-1252") from None


def _undecodable(data: bytes, at: int, what: str) -> SourceError:
    line = data[:at].count(b"\n") + 1
    return SourceError(
        f"line {line}: byte 0x{data[at]:02x} is not {what} text: save the export as "
        "CSV UTF-8 and import it again"
    )


def csv_rows(
    data: bytes,
    mapping: Mapping,
    fields: Sequence[str] = FIELDS,
    required: Sequence[str] = REQUIRED,
) -> tuple[list[SourceRow], str]:
    """The file's rows through the mapping, and its encoding; refused if the header lacks
    a column for a required field (by default the pupil fields; history rows name theirs)."""
    text, encoding = decode(data)
    if "\x00" in text:
        raise SourceError("the file holds NUL characters: it is not a CSV export")
    sample = text[:4096]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, ",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = next(reader)
    except StopIteration:
        raise SourceError("the file is empty: no header line") from None
    except csv.Error as e:
        raise SourceError(f"line 1: the header cannot be read as CSV ({e})") from None
    where = _columns(header, mapping, fields, required)
    rows: list[SourceRow] = []
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            found = {
                name: (column, values[index].strip() if index < len(values) else "")
                for name, (column, index) in where.items()
            }
            rows.append(SourceRow(line, found))
    except csv.Error as e:
        raise SourceError(f"line {reader.line_num}: not readable as CSV ({e})") from None
    return rows, encoding


def _columns(
    header: list[str], mapping: Mapping, fields: Sequence[str], required: Sequence[str]
) -> dict[str, tuple[str, int]]:
    """field -> (its column, the column's index), for the fields the file has."""
    index = {h.strip().casefold(): i for i, h in reversed(list(enumerate(header)))}
    found: dict[str, tuple[str, int]] = {}
    for name in fields:
        for column in mapping.columns.get(name, ()):
            if column.casefold() in index:
                found[name] = (column, index[column.casefold()])
                break
    missing = [
        f"{name} ({' or '.join(mapping.columns.get(name, (name,)))})"
        for name in required
        if name not in found
    ]
    if missing:
        raise SourceError(
            f"line 1: the header has no column for {', '.join(missing)} (mapping "
            f"{mapping.name}): use the mapping that matches the export, or write one "
            "(docs/import.md)"
        )
    return found
