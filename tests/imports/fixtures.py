"""Generated MIS files for the import tests: written in tmp dirs from the published field
lists (made-up pupils, never real data)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from api.imports.mappings import Mapping
from domain.values import upn_check_letter


def upn(n: int) -> str:
    body = f"8732041{n:05d}"
    return upn_check_letter(body) + body


@dataclass(frozen=True)
class FakePupil:
    upn: str
    given: str
    family: str
    born: date
    year: int
    academy: str = "OAK"
    preferred: str = ""
    provision: str = "N"
    needs: tuple[str, ...] = ()
    sen_start: date | None = None


GIVEN = ("Zebedee", "Ottoline", "Barnaby", "Perpetua", "Cosmo", "Hyacinth", "Ignatius", "Wren")
FAMILY = ("Quartermaine", "Fennimore", "Ashdown", "Thistlewood", "Brackenbury", "Ollerenshaw")


def pupils(count: int, start: int = 0, **overrides: object) -> list[FakePupil]:
    made = []
    for n in range(start, start + count):
        made.append(
            FakePupil(
                upn=upn(n),
                given=GIVEN[n % len(GIVEN)],
                family=FAMILY[n % len(FAMILY)] + ("-Ørsted" if n % 7 == 3 else ""),
                born=date(2012 + n % 6, 1 + n % 12, 1 + n % 28),
                year=max(0, 9 - n % 6),
            )
        )
    return [replace(p, **overrides) for p in made]  # type: ignore[arg-type]


def _year_text(year: int) -> str:
    return {0: "R", -1: "N2", -2: "N1"}.get(year, str(year))


def csv_bytes(
    rows: Sequence[FakePupil],
    mapping: Mapping,
    *,
    encoding: str = "utf-8",
    date_format: str = "%Y-%m-%d",
    sen: bool = True,
    academy_column: bool = True,
    delimiter: str = ",",
) -> bytes:
    """A CSV export with the first header of each of the mapping's columns."""
    fields = [
        "upn", "legal_given_names", "legal_family_name", "preferred_name", "date_of_birth",
        "year_group",
    ]  # fmt: skip
    if academy_column:
        fields.append("academy")
    if sen:
        fields += ["sen_provision", "primary_need", "secondary_need", "sen_start_date"]
    fields = [f for f in fields if f in mapping.columns]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow([mapping.columns[f][0] for f in fields])
    for p in rows:
        values = {
            "upn": p.upn,
            "legal_given_names": p.given,
            "legal_family_name": p.family,
            "preferred_name": p.preferred,
            "date_of_birth": p.born.strftime(date_format),
            "year_group": _year_text(p.year),
            "academy": p.academy,
            "sen_provision": p.provision,
            "primary_need": p.needs[0] if p.needs else "",
            "secondary_need": p.needs[1] if len(p.needs) > 1 else "",
            "sen_start_date": p.sen_start.strftime(date_format) if p.sen_start else "",
        }
        writer.writerow([values[f] for f in fields])
    text = out.getvalue()
    if encoding == "utf-8-sig":
        return b"\xef\xbb\xbf" + text.encode("utf-8")
    return text.encode(encoding)


def ctf_bytes(rows: Sequence[FakePupil], *, lea: str = "873", estab: str = "2041") -> bytes:
    """A Common Transfer File with the pupil core and SEN section of each pupil."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<CTfile><Header><DocumentName>Common Transfer File</DocumentName>",
        "<CTFversion>25.0</CTFversion><DocumentQualifier>full</DocumentQualifier>",
        "<SourceSchool><LEA>999</LEA><Estab>1234</Estab><SchoolName>Elsewhere School"
        "</SchoolName></SourceSchool>",
        f"<DestSchool><LEA>{lea}</LEA><Estab>{estab}</Estab></DestSchool></Header>",
        "<CTpupilData>",
    ]
    for p in rows:
        parts.append(
            f"<Pupil><UPN>{p.upn}</UPN><Surname>{p.family}</Surname>"
            f"<Forename>{p.given}</Forename><DOB>{p.born.isoformat()}</DOB><Sex>F</Sex>"
            f"<BasicDetails><PreferredForename>{p.preferred}</PreferredForename>"
            f"<NCyearActual>{_year_text(p.year)}</NCyearActual></BasicDetails>"
        )
        if p.provision != "N" or p.needs:
            start = p.sen_start.isoformat() if p.sen_start else ""
            needs = "".join(
                f"<SENneed><SENtypeRank>{rank}</SENtypeRank><SENtype>{need}</SENtype></SENneed>"
                for rank, need in enumerate(p.needs, start=1)
            )
            parts.append(
                "<SENhistory><SEN><StartDate>2015-09-01</StartDate><EndDate>2016-07-20"
                "</EndDate><SENprovision>K</SENprovision></SEN>"
                f"<SEN><StartDate>{start}</StartDate><SENprovision>{p.provision}</SENprovision>"
                f"</SEN><SENneeds>{needs}</SENneeds></SENhistory>"
            )
        parts.append("</Pupil>")
    parts.append("</CTpupilData></CTfile>")
    return "".join(parts).encode("utf-8")


HISTORY_HEADER = (
    "upn", "happened_on", "kind", "title", "details", "source_id", "author", "recorded_at",
    "cpoms_log_id",
)  # fmt: skip


def history_bytes(
    rows: Sequence[dict[str, str]],
    *,
    header: Sequence[str] = HISTORY_HEADER,
    encoding: str = "utf-8",
) -> bytes:
    """A history export (Chronicle's template, or the headers given) of made-up entries."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(h, "") for h in header])
    return out.getvalue().encode(encoding)


def history_rows(
    upns: Sequence[str], per_pupil: int, *, start: date = date(2023, 9, 4)
) -> list[dict[str, str]]:
    """`per_pupil` dated entries for each UPN, every fifth a CPOMS incident (whose title
    and details are safeguarding detail that must never be imported)."""
    kinds = ("concern", "note", "plan", "review", "agency_involvement")
    made = []
    for i, pupil_upn in enumerate(upns):
        for j in range(per_pupil):
            n = i * per_pupil + j
            cpoms = n % 5 == 4
            made.append(
                {
                    "upn": pupil_upn,
                    "happened_on": date.fromordinal(start.toordinal() + 7 * j).isoformat(),
                    "kind": "CPOMS incident" if cpoms else kinds[n % len(kinds)],
                    "title": f"SECRET-DETAIL-{n} disclosure" if cpoms else f"Entry {n}",
                    "details": f"SECRET-DETAIL-{n} who said what" if cpoms else f"Text of {n}",
                    "source_id": f"{'CP' if cpoms else 'PM'}-{n:06d}",
                    "author": f"Staff member {n % 3}",
                    "recorded_at": f"{start:%d/%m/%Y} 15:{n % 60:02d}",
                }
            )
    return made
