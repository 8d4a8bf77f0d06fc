"""CTF out (api/app/transfers.py): the SEN section with statutory codes only, each pupil
recorded as read, refused outside the caller's academies; and a file written here imports
into another trust's store with the same provision and ranked needs. Both stores."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from api.academies import Academies
from api.app.access import access_records
from api.app.caller import Caller
from api.app.errors import AppError
from api.app.service import Chronicle
from api.application import PupilRecords
from api.imports.ctf import CTF, ctf_rows
from api.imports.ctf_out import School
from api.imports.mappings import CHRONICLE
from crypto.kek import InMemoryKekRing
from domain.errors import UnknownPupil
from domain.values import Role
from tests.imports.fixtures import csv_bytes, pupils
from tests.imports.test_import_pupils import ADMIN, on_file, run
from tests.imports.test_upn_unique import chronicle

SENDCO = Caller("OAK-sendco-1", Role.SENDCO, frozenset({"OAK"}))


def test_a_ctf_out_imports_again_with_the_same_sen_section(
    app: Chronicle,
    records: PupilRecords,
    tmp_path: Path,
) -> None:
    made = pupils(3)
    made[1] = replace(made[1], provision="K", needs=("SLCN", "HI"), sen_start=date(2024, 9, 4))
    run(app, csv_bytes(made, CHRONICLE))
    stored = on_file(records)
    ids = [stored[p.upn].id for p in made]
    data = app.transfers.ctf(SENDCO, ids, "transfer to Elsewhere", School("999", "1234"))
    text = data.decode()
    assert "<SENprovision>K</SENprovision>" in text and "<StartDate>2024-09-04" in text
    for private in ("imported from MIS", "ConcernRaised", "notes"):
        assert private not in text  # statutory codes only
    assert all(len(access_records(records, pupil_id)) == 1 for pupil_id in ids)

    rows, _ = ctf_rows(data)
    assert [r.fields["academy"][1] for r in rows] == ["999/1234"] * 3
    # Back into the same records (the academy given that DfE number): nothing differs.
    Academies(records.datastore.engine).rename("OAK", "Oakfield", dfe_number="999/1234")
    same = app.imports.pupils(ADMIN, rows, CTF, encoding="xml")
    assert same.refused == [] and same.outcomes == {"unchanged": 3} and same.held == []
    # Into another trust's store: the same pupils, provision and ranked needs.
    other = PupilRecords(database_url=f"sqlite:///{tmp_path}/other.db", ring=InMemoryKekRing())
    try:
        elsewhere = chronicle(other, tmp_path)
        Academies(other.datastore.engine).rename("OAK", "Oakfield", dfe_number="999/1234")
        report = elsewhere.imports.pupils(ADMIN, rows, CTF, encoding="xml")
        assert report.refused == [] and report.outcomes == {"new": 3}
        received = on_file(other)
    finally:
        other.close()
    for p in made:
        here, there = stored[p.upn], received[p.upn]
        assert (there.status, there.needs, there.year_group) == (
            here.status, here.needs, here.year_group,
        )  # fmt: skip
        assert (there.legal_family_name, there.date_of_birth) == (
            here.legal_family_name, here.date_of_birth,
        )  # fmt: skip


def test_a_ctf_out_is_refused_outside_the_callers_academies(
    app: Chronicle, records: PupilRecords
) -> None:
    made = [replace(p, academy="ELM") for p in pupils(1)]
    run(app, csv_bytes(made, CHRONICLE))
    pupil_id = on_file(records)[made[0].upn].id
    with pytest.raises(UnknownPupil):
        app.transfers.ctf(SENDCO, [pupil_id], None)
    with pytest.raises(AppError) as refused:
        app.transfers.ctf(
            Caller("OAK-teacher-1", Role.TEACHER, frozenset({"OAK"})), [pupil_id], None
        )
    assert refused.value.status == 403
