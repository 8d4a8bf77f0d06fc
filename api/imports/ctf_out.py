"""Writing a Common Transfer File's pupil core and SEN section (statutory codes only).

What a CTF carries of SEN is what the census carries: the provision (N, K, E) with its
start date and the need types ranked (1 the primary). Nothing else of the record (no
concerns, plans, notes or safeguarding) goes into it. Elements as `api/imports/ctf.py`
reads them, so a file written here imports again unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from xml.etree.ElementTree import Element, SubElement, indent, tostring


@dataclass(frozen=True)
class CtfPupil:
    upn: str
    surname: str
    forename: str
    preferred_forename: str | None
    date_of_birth: date
    year_group: int
    provision: str  # census code N, K or E
    provision_since: date | None
    needs: tuple[str, ...]  # census SEN type codes, the primary first


@dataclass(frozen=True)
class School:
    lea: str
    estab: str
    name: str = ""


def _year(year: int) -> str:
    return {-2: "N1", -1: "N2", 0: "R"}.get(year, str(year))


def write_ctf(
    pupils: list[CtfPupil], source: School | None, dest: School | None, now: datetime
) -> bytes:
    root = Element("CTfile")
    header = SubElement(root, "Header")
    SubElement(header, "DocumentName").text = "Common Transfer File"
    SubElement(header, "DocumentQualifier").text = "partial"
    SubElement(header, "DateTime").text = now.replace(microsecond=0).isoformat()
    SubElement(header, "SupplierID").text = "Chronicle"
    for tag, school in (("SourceSchool", source), ("DestSchool", dest)):
        if school is not None:
            element = SubElement(header, tag)
            SubElement(element, "LEA").text = school.lea
            SubElement(element, "Estab").text = school.estab
            if school.name:
                SubElement(element, "SchoolName").text = school.name
    data = SubElement(root, "CTpupilData")
    for p in pupils:
        pupil = SubElement(data, "Pupil")
        SubElement(pupil, "UPN").text = p.upn
        SubElement(pupil, "Surname").text = p.surname
        SubElement(pupil, "Forename").text = p.forename
        SubElement(pupil, "DOB").text = p.date_of_birth.isoformat()
        basic = SubElement(pupil, "BasicDetails")
        if p.preferred_forename:
            SubElement(basic, "PreferredForename").text = p.preferred_forename
        SubElement(basic, "NCyearActual").text = _year(p.year_group)
        history = SubElement(pupil, "SENhistory")
        sen = SubElement(history, "SEN")
        if p.provision_since is not None:
            SubElement(sen, "StartDate").text = p.provision_since.isoformat()
        SubElement(sen, "SENprovision").text = p.provision
        if p.needs:
            needs = SubElement(history, "SENneeds")
            for rank, code in enumerate(p.needs, start=1):
                need = SubElement(needs, "SENneed")
                SubElement(need, "SENtypeRank").text = str(rank)
                SubElement(need, "SENtype").text = code
    indent(root)
    body: bytes = tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body
