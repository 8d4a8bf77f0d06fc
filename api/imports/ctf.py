"""The DfE Common Transfer File (CTF): its pupils' core details and SEN section.

Parsed with defusedxml, which refuses a document type with entities (external entities,
"billion laughs" expansion) and external DTDs before anything is read: a CTF never needs
them. Each <Pupil> becomes a `SourceRow` whose line is the pupil's position in the file
(the parser gives no line numbers); the element names are the report's columns.

The destination school (<Header><DestSchool><LEA> and <Estab>) is matched against the
academies' DfE numbers, so a CTF sent to one academy lands there without --academy.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeTree
from defusedxml import DefusedXmlException

from api.imports.mappings import Mapping
from api.imports.sources import SourceError, SourceRow, decode

# The CTF's element names as the report's columns; dates are ISO 8601 (xs:date).
CTF = Mapping(
    name="ctf",
    source="DfE Common Transfer File XML (CTfile/CTpupilData/Pupil)",
    columns={
        "upn": ("UPN",),
        "legal_given_names": ("Forename",),
        "legal_family_name": ("Surname",),
        "preferred_name": ("PreferredForename",),
        "date_of_birth": ("DOB",),
        "academy": ("DestSchool",),
        "year_group": ("NCyearActual",),
        "sen_provision": ("SENprovision",),
        "primary_need": ("SENtype",),
        "secondary_need": ("SENtype",),
        "sen_start_date": ("StartDate",),
    },
    date_formats=("%Y-%m-%d",),
)
MAX_BYTES = 64 * 1024 * 1024
_CORE = (
    "upn", "legal_given_names", "legal_family_name", "preferred_name", "date_of_birth",
    "year_group",
)  # fmt: skip


def ctf_rows(data: bytes) -> tuple[list[SourceRow], str]:
    """The file's pupils, and how it was read."""
    if len(data) > MAX_BYTES:
        raise SourceError(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    try:
        root = SafeTree.fromstring(data, forbid_dtd=False, forbid_entities=True)
    except DefusedXmlException as e:
        raise SourceError(
            f"the file declares XML entities or external references ({type(e).__name__}), "
            "which a Common Transfer File never needs: refused, nothing read"
        ) from None
    except ParseError as e:
        line = e.position[0] if e.position else 0
        raise SourceError(f"line {line}: not well-formed XML") from None
    if root.tag != "CTfile":
        raise SourceError(f"the root element is <{root.tag[:40]}>, not <CTfile>: not a CTF")
    dest = _dest_school(root)
    pupils = root.findall("./CTpupilData/Pupil")
    rows = [_row(n, pupil, dest) for n, pupil in enumerate(pupils, start=1)]
    return rows, _encoding(data)


def _encoding(data: bytes) -> str:
    try:
        decode(data[:200])
    except SourceError:
        return "xml"
    head = data[:200].decode("ascii", "replace")
    return "xml (" + ("declared encoding" if "encoding=" in head else "utf-8") + ")"


def _dest_school(root: Element) -> str | None:
    lea = root.findtext("./Header/DestSchool/LEA")
    estab = root.findtext("./Header/DestSchool/Estab")
    if lea and estab:
        return f"{lea.strip()}/{estab.strip()}"
    return None


def _row(n: int, pupil: Element, dest: str | None) -> SourceRow:
    fields: dict[str, tuple[str, str]] = {}
    for name in _CORE:
        tag = CTF.columns[name][0]
        fields[name] = (tag, _first_text(pupil, tag))
    if dest is not None:
        fields["academy"] = ("DestSchool", dest)
    history = pupil.find("SENhistory")
    if history is not None:
        current = _current_sen(history)
        fields["sen_provision"] = ("SENprovision", current[0])
        fields["sen_start_date"] = ("StartDate", current[1])
        ranked = sorted(
            (
                (_rank(need.findtext("SENtypeRank")), (need.findtext("SENtype") or "").strip())
                for need in history.findall("./SENneeds/SENneed")
            ),
        )
        types = [t for _, t in ranked if t]
        if types:
            fields["primary_need"] = ("SENtype (rank 1)", types[0])
        if len(types) > 1:
            fields["secondary_need"] = ("SENtype (rank 2)", types[1])
    return SourceRow(n, fields)


def _first_text(pupil: Element, tag: str) -> str:
    found = next(pupil.iter(tag), None)
    return (found.text or "").strip() if found is not None else ""


def _current_sen(history: Element) -> tuple[str, str]:
    """The provision in force: the <SEN> without an end date, else the latest started."""
    entries = [
        (
            (sen.findtext("StartDate") or "").strip(),
            (sen.findtext("EndDate") or "").strip(),
            (sen.findtext("SENprovision") or "").strip(),
        )
        for sen in history.findall("SEN")
    ]
    if not entries:
        return "", ""
    open_ = [e for e in entries if not e[1]]
    start, _, provision = max(open_ or entries)
    if not open_:
        return "N", ""  # every provision recorded has ended
    return provision, start


def _rank(text: str | None) -> int:
    try:
        return int((text or "").strip())
    except ValueError:
        return 99
