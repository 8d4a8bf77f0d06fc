"""The trust's academies: a closed list kept in the installation's database.

Every academy code the service accepts — a user's scope, a pupil's registration, a transfer's
destination, a listing's filter — must be one of these (docs/operations.md, "The trust's
academies"). The list is configuration, managed with `chronicle academies add|rename|list`;
an academy is never deleted (pupils and users keep referring to its code), only renamed.

With no academy listed at all (a new production installation, or a store made before the
list existed) everything that names an academy is refused until the operator adds them:
fail closed, never "any code goes".
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, String, Table, insert, select, update
from sqlalchemy.engine import Engine

metadata = MetaData()
trust_academies = Table(
    "trust_academies",
    metadata,
    Column("code", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("urn", String(6), nullable=True),  # DfE unique reference number, 6 digits
    Column("dfe_number", String(8), nullable=True),  # LA code / establishment: 873/2041
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Upper-case letters and digits, then also '-' or '_': no commas, no spaces, at most 40
# (a pupil's registered academy is at most 40 characters too).
CODE = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,39}")
URN = re.compile(r"\d{6}")
DFE_NUMBER = re.compile(r"(\d{3})/?(\d{4})")

NONE_CONFIGURED = (
    "no academies are configured: add them with `chronicle academies add CODE --name NAME`"
)

# Engines whose table is known to exist: create it once per engine, not on every request.
_ready: weakref.WeakSet[Engine] = weakref.WeakSet()


class AcademyError(ValueError):
    """An academy cannot be added or changed as asked, or a code is not the trust's."""


@dataclass(frozen=True)
class Academy:
    code: str
    name: str
    urn: str | None
    dfe_number: str | None
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "urn": self.urn,
            "dfe_number": self.dfe_number,
            "created_at": self.created_at.isoformat(),
        }


class Academies:
    """The `trust_academies` table in the installation's database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        if engine not in _ready:
            metadata.create_all(engine, checkfirst=True)
            _ready.add(engine)

    def add(
        self,
        code: str,
        name: str,
        now: datetime,
        *,
        urn: str | None = None,
        dfe_number: str | None = None,
    ) -> Academy:
        """List a new academy; refuses a malformed code or one already listed."""
        academy = Academy(
            _code(code), _name(name), _urn(urn), _dfe_number(dfe_number), created_at=now
        )
        with self._engine.begin() as conn:
            found = conn.execute(
                select(trust_academies.c.name).where(trust_academies.c.code == academy.code)
            ).first()
            if found is not None:
                raise AcademyError(
                    f"academy {academy.code} is already listed ({found.name}): use "
                    "`chronicle academies rename` to change its name"
                )
            conn.execute(insert(trust_academies).values(**asdict(academy)))
        return academy

    def rename(
        self,
        code: str,
        name: str,
        *,
        urn: str | None = None,
        dfe_number: str | None = None,
    ) -> Academy:
        """Change a listed academy's name (and URN or DfE number, when given); its code,
        which pupils and users refer to, never changes."""
        changes: dict[str, str | None] = {"name": _name(name)}
        if urn is not None:
            changes["urn"] = _urn(urn)
        if dfe_number is not None:
            changes["dfe_number"] = _dfe_number(dfe_number)
        code = code.strip().upper()
        with self._engine.begin() as conn:
            done = conn.execute(
                update(trust_academies).where(trust_academies.c.code == code).values(**changes)
            )
        if done.rowcount != 1:
            raise AcademyError(self.unknown(code))
        found = self.get(code)
        assert found is not None
        return found

    def ensure(self, academies: Iterable[tuple[str, str, str | None]], now: datetime) -> None:
        """List each (code, name, DfE number) not listed yet; listed ones are left as they
        are (for the demo trust, which may run on a home whose academies were set up)."""
        listed = self.codes()
        for code, name, dfe_number in academies:
            if code not in listed:
                self.add(code, name, now, dfe_number=dfe_number)

    def everyone(self) -> list[Academy]:
        """Every listed academy, by code."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(trust_academies).order_by(trust_academies.c.code)).all()
        return [_academy(r) for r in rows]

    def get(self, code: str) -> Academy | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(trust_academies).where(trust_academies.c.code == code)
            ).first()
        return None if row is None else _academy(row)

    def codes(self) -> frozenset[str]:
        with self._engine.connect() as conn:
            return frozenset(conn.execute(select(trust_academies.c.code)).scalars())

    def refusal(self, code: str) -> str | None:
        """Why `code` may not be used (not listed, or nothing is), or None: it is listed."""
        codes = self.codes()
        if code in codes:
            return None
        return self.unknown(code, codes)

    def unknown(self, code: str, codes: frozenset[str] | None = None) -> str:
        """The message for a code that is not the trust's: it names the listed codes."""
        codes = self.codes() if codes is None else codes
        if not codes:
            return NONE_CONFIGURED
        shown = code if code.isprintable() and code and " " not in code else repr(code)
        return f"no academy {shown} in this trust; academies: {', '.join(sorted(codes))}"


def _code(code: str) -> str:
    code = code.strip().upper()
    if not CODE.fullmatch(code):
        raise AcademyError(
            f"{code!r} is not an academy code: use 1 to 40 capital letters and digits "
            "(also - and _ after the first), e.g. OAK; no commas or spaces"
        )
    return code


def _name(name: str) -> str:
    name = " ".join(name.split())
    if not name or len(name) > 200 or "\x00" in name:
        raise AcademyError("give the academy's name (at most 200 characters) with --name")
    return name


def _urn(urn: str | None) -> str | None:
    if urn is None or not urn.strip():
        return None
    if not URN.fullmatch(urn.strip()):
        raise AcademyError(f"{urn!r} is not a URN: a DfE URN is six digits, e.g. 138291")
    return urn.strip()


def _dfe_number(number: str | None) -> str | None:
    if number is None or not number.strip():
        return None
    found = DFE_NUMBER.fullmatch(number.strip())
    if found is None:
        raise AcademyError(
            f"{number!r} is not a DfE number: the LA code and establishment number, e.g. 873/2041"
        )
    return f"{found.group(1)}/{found.group(2)}"


def _academy(row: Any) -> Academy:
    return Academy(row.code, row.name, row.urn, row.dfe_number, row.created_at)
