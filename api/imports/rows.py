"""Validating one pupil of an import: each field checked, every problem reported by line
and column, never by value for the pupil's names, UPN or date of birth (a refusal is
written to terminals, logs and HTTP answers: it must not carry the pupil's identity)."""

from __future__ import annotations

import re
from collections.abc import Mapping as Lookup
from dataclasses import dataclass
from datetime import date, datetime

from api.imports.mappings import Mapping
from api.imports.sources import SourceRow
from domain.errors import InvalidUPN
from domain.values import NeedType, validate_upn

PROVISIONS = ("N", "K", "E")
_YEAR = re.compile(r"(?:year|yr|y)?\s*(\d{1,2})", re.IGNORECASE)
_NAMED_YEARS = {"n1": -2, "n2": -1, "nursery": -1, "r": 0, "rec": 0, "reception": 0}
_SAYS_VALUE = frozenset(
    {"academy", "year_group", "sen_provision", "primary_need", "secondary_need", "kind"}
)


@dataclass(frozen=True)
class Refusal:
    """Why a row is not imported: where (line, column) and what is wrong."""

    line: int
    column: str
    reason: str

    def as_json(self) -> dict[str, object]:
        return {"line": self.line, "column": self.column, "reason": self.reason}

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.reason}"


@dataclass(frozen=True)
class PupilRow:
    """One pupil as the MIS has them, checked."""

    line: int
    upn: str
    legal_given_names: str
    legal_family_name: str
    preferred_name: str | None
    date_of_birth: date
    academy: str
    year_group: int
    # None: the file says nothing of SEN (no such column): SEN is left as it is.
    provision: str | None
    needs: tuple[NeedType, ...]  # ranked: the primary need first
    sen_start_date: date | None
    upn_column: str = "upn"


def validate(
    row: SourceRow,
    mapping: Mapping,
    academies: Lookup[str, str],
    default_academy: str | None,
    today: date,
) -> PupilRow | list[Refusal]:
    """The row checked, or every reason it is refused. `academies` maps each code, URN and
    DfE number the trust lists (upper case) to its academy code."""
    problems: list[Refusal] = []
    check = _Checker(row, mapping, problems)
    upn = check.text("upn")
    if upn is not None:
        try:
            upn = validate_upn(upn.upper())
        except InvalidUPN as e:
            upn = None
            check.refuse("upn", _without_value(str(e)))
    given = check.text("legal_given_names")
    family = check.text("legal_family_name")
    preferred = check.text("preferred_name", required=False)
    born = check.date("date_of_birth", today)
    academy = _academy(check, academies, default_academy)
    year = _year_group(check)
    provision = _provision(check)
    needs = tuple(
        need for name in ("primary_need", "secondary_need") if (need := _need(check, name))
    )
    if len(set(needs)) != len(needs):
        check.refuse("secondary_need", "the secondary need is the primary need again")
    started = check.date("sen_start_date", today, required=False)
    if born is not None and started is not None and started < born:
        check.refuse("sen_start_date", "the SEN start date is before the date of birth")
    if provision in ("K", "E") and not needs:
        check.refuse(
            "primary_need", f"provision {provision} needs a primary need (the census requires one)"
        )
    if problems:
        return problems
    assert upn and given and family and born and academy is not None and year is not None
    return PupilRow(
        row.line, upn, given, family, preferred, born, academy, year, provision, needs, started,
        upn_column=check.column("upn"),
    )  # fmt: skip


def _without_value(message: str) -> str:
    """The domain's UPN message, without the UPN it quotes or the check letter its digits
    call for (a letter derived from the UPN is something of the UPN too)."""
    message = re.sub(r"UPN '[^']*'", "the UPN", message)
    return re.sub(r": for these digits it should start with '[A-Z]'", "", message)


class _Checker:
    def __init__(self, row: SourceRow, mapping: Mapping, problems: list[Refusal]) -> None:
        self.row, self.mapping, self.problems = row, mapping, problems

    def column(self, name: str) -> str:
        found = self.row.fields.get(name)
        return found[0] if found else (self.mapping.columns.get(name, (name,))[0])

    def raw(self, name: str) -> str | None:
        found = self.row.fields.get(name)
        return found[1] if found and found[1] else None

    def present(self, name: str) -> bool:
        return name in self.row.fields

    def refuse(self, name: str, reason: str) -> None:
        self.problems.append(Refusal(self.row.line, self.column(name), reason))

    def translated(self, name: str) -> str | None:
        value = self.raw(name)
        if value is None:
            return None
        return self.mapping.values.get(name, {}).get(value.casefold(), value)

    def text(self, name: str, *, required: bool = True) -> str | None:
        value = self.raw(name)
        if value is None:
            if required:
                self.refuse(name, "empty: this field is required")
            return None
        if len(value) > 200:
            self.refuse(name, "longer than 200 characters")
            return None
        return value

    def date(self, name: str, today: date, *, required: bool = True) -> date | None:
        value = self.raw(name)
        if value is None:
            if required:
                self.refuse(name, "empty: this field is required")
            return None
        for form in self.mapping.date_formats:
            try:
                day = datetime.strptime(value, form).date()
            except ValueError:
                continue
            if day > today:
                self.refuse(name, "a date in the future")
                return None
            if day.year < 1900:
                self.refuse(name, "a date before 1900")
                return None
            return day
        self.refuse(name, f"not a date in the form {' or '.join(self.mapping.date_formats)}")
        return None

    def refuse_value(self, name: str, value: str, why: str) -> None:
        shown = f" {value[:40]!r}" if name in _SAYS_VALUE else ""
        self.refuse(name, f"{why}{shown}" if shown else why)


def _academy(check: _Checker, academies: Lookup[str, str], default: str | None) -> str | None:
    value = check.translated("academy")
    if value is None:
        if default is None:
            check.refuse("academy", "empty, and no --academy given for rows without one")
        return default
    code = academies.get(value.strip().upper().replace(" ", ""))
    if code is None:
        check.refuse_value(
            "academy", value, "not an academy of the trust (its code, URN or DfE number):"
        )
    return code


def _year_group(check: _Checker) -> int | None:
    value = check.translated("year_group")
    if value is None:
        check.refuse("year_group", "empty: this field is required")
        return None
    text = value.strip()
    named = _NAMED_YEARS.get(text.casefold())
    if named is not None:
        return named
    if re.fullmatch(r"-?\d{1,2}", text):
        year = int(text)
    elif (match := _YEAR.fullmatch(text)) is not None:
        year = int(match.group(1))
    else:
        check.refuse_value("year_group", value, "not a year group (N1, N2, R, 1 to 14):")
        return None
    if not -2 <= year <= 14:
        check.refuse_value("year_group", value, "out of range (N1 = -2 to 14):")
        return None
    return year


def _provision(check: _Checker) -> str | None:
    if not check.present("sen_provision"):
        return None
    value = check.translated("sen_provision")
    if value is None:
        return "N"
    code = value.strip().upper()
    if code not in PROVISIONS:
        check.refuse_value("sen_provision", value, "not a census SEN provision code (N, K or E):")
        return None
    return code


def _need(check: _Checker, name: str) -> NeedType | None:
    value = check.translated(name)
    if value is None:
        return None
    try:
        return NeedType(value.strip().upper())
    except ValueError:
        check.refuse_value(
            name, value, f"not a census SEN type code ({', '.join(n.value for n in NeedType)}):"
        )
        return None
