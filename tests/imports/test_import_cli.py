"""`chronicle import pupils` as an operator runs it: a generated export imported, shown on
the register, imported again with nothing changed; a dry run; a refused file exits 1 with
line and column only; a hostile CTF refused; a mapping file (docs/import.md)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

from api.imports.mappings import CENSUS, CHRONICLE
from tests.conftest import Store
from tests.e2e.test_cli import _json, ok, refused, run
from tests.imports.fixtures import csv_bytes, ctf_bytes, history_bytes, pupils
from tests.imports.test_sources import EXTERNAL_ENTITY

MAPPING = """\
name = "our-export"
source = "the trust's MIS export (made up for the test)"
date_formats = ["%d/%m/%Y"]

[columns]
upn = "Pupil UPN"
legal_given_names = "Legal Forename"
legal_family_name = "Legal Surname"
date_of_birth = "Birth Date"
year_group = "Year"
sen_provision = "SEN Status"
primary_need = "Need 1"

[values.sen_provision]
"SEN Support" = "K"
"No SEN" = "N"
"""


def test_import_pupils_from_the_command_line(tmp_path: Path, store: Store) -> None:
    home = tmp_path / "home"
    db = None if store.kind == "sqlite" else store.url
    ok(run(home, "init", db=db))
    oak = ("academies", "rename", "OAK", "--name", "Oakfield", "--dfe-number", "873/2041")
    ok(run(home, *oak, db=db))
    made = pupils(6)
    made[1] = replace(made[1], provision="K", needs=("SPLD",), sen_start=date(2024, 9, 4))
    export = tmp_path / "export.csv"
    export.write_bytes(csv_bytes(made, CENSUS, encoding="utf-8-sig"))

    dry = _json(run(home, "import", "pupils", str(export), "--mapping", "census", "--dry-run",
                    "--json", db=db))  # fmt: skip
    assert dry["pupils"] == {"new": 6, "changed": 0, "unchanged": 0} and not dry["written"]
    assert _json(run(home, "pupils", "list", "--json", db=db)) == []

    said = ok(run(home, "import", "pupils", str(export), "--mapping", "census", db=db))
    assert "6 new pupils" in said and "PupilRegistered" in said
    listed = _json(run(home, "pupils", "list", "--json", db=db))
    assert len(listed) == 6
    again = _json(run(home, "import", "pupils", str(export), "--mapping", "census", "--json",
                      db=db))  # fmt: skip
    assert again["pupils"] == {"new": 0, "changed": 0, "unchanged": 6} and again["entries"] == {}

    # A refused row: line and column, nothing of the row; nothing written.
    bad = list(pupils(3, start=20))
    bad[2] = replace(bad[2], upn=bad[2].upn[:-1] + "X")
    broken = tmp_path / "broken.csv"
    broken.write_bytes(csv_bytes(bad, CHRONICLE, encoding="cp1252"))
    result = run(home, "import", "pupils", str(broken), "--academy", "OAK", db=db)
    refused(result, "line 4, column upn")
    for p in bad:
        for secret in (p.upn, p.given, p.family, p.born.isoformat()):
            assert secret not in result.stderr + result.stdout
    assert len(_json(run(home, "pupils", "list", "--json", db=db))) == 6

    # A CTF to the academy's DfE number; a hostile one refused.
    ctf = tmp_path / "in.xml"
    ctf.write_bytes(ctf_bytes(pupils(2, start=40)))
    assert "2 new pupils" in ok(run(home, "import", "pupils", str(ctf), "--format", "ctf", db=db))
    (tmp_path / "hostile.xml").write_bytes(EXTERNAL_ENTITY)
    refused(
        run(home, "import", "pupils", str(tmp_path / "hostile.xml"), "--format", "ctf", db=db),
        "entities or external references",
    )

    # A trust's mapping file.
    (tmp_path / "ours.toml").write_text(MAPPING)
    ours = [replace(p, provision="No SEN") for p in pupils(2, start=60)]
    from api.imports.mappings import load_mapping

    theirs = csv_bytes(ours, load_mapping(tmp_path / "ours.toml"), date_format="%d/%m/%Y",
                       academy_column=False)  # fmt: skip
    (tmp_path / "ours.csv").write_bytes(theirs)
    report = _json(run(home, "import", "pupils", str(tmp_path / "ours.csv"), "--mapping",
                       str(tmp_path / "ours.toml"), "--academy", "OAK", "--json", "--per-row",
                       db=db))  # fmt: skip
    assert report["pupils"]["new"] == 2 and report["per_row"][0]["line"] == 2
    assert json.dumps(report).count("PupilRegistered") == 3  # per row, and the counts

    # CTF out: the SEN section of two pupils, for a school's DfE number.
    out_file = tmp_path / "out.xml"
    said = ok(run(home, "export", "ctf", made[1].upn, made[0].upn, "--out", str(out_file),
                  "--to", "999/1234", db=db))  # fmt: skip
    assert "2 pupils written" in said
    written = out_file.read_text()
    assert "<SENprovision>K</SENprovision>" in written and "<LEA>999</LEA>" in written
    assert written.count("<Pupil>") == 2
    again = tmp_path / "again.xml"  # the same command under its other name
    ok(run(home, "export-ctf", made[1].upn, "--out", str(again), db=db))
    assert again.read_text().count("<Pupil>") == 1


HISTORY_MAPPING = """\
name = "our-provision-map"
source = "Provision Map notes export (made up for the test)"
date_formats = ["%d/%m/%Y"]

[columns]
upn = "UPN"
happened_on = "Date"
kind = "Type"
title = "Subject"
details = "Note"
source_id = "ID"

[values.kind]
"Cause for Concern" = "concern"
"Incident" = "safeguarding"
"""


def test_import_history_from_the_command_line(tmp_path: Path, store: Store) -> None:
    home = tmp_path / "home"
    db = None if store.kind == "sqlite" else store.url
    ok(run(home, "init", db=db))
    made = pupils(3)
    export = tmp_path / "pupils.csv"
    export.write_bytes(csv_bytes(made, CHRONICLE, sen=False))
    ok(run(home, "import", "pupils", str(export), "--academy", "OAK", db=db))
    header = ("UPN", "Date", "Type", "Subject", "Note", "ID")
    rows = [
        dict(zip(header, v, strict=True))
        for v in (
            (made[0].upn, "12/10/2023", "Cause for Concern", "Reading", "Slow decoding", "1"),
            (made[1].upn, "13/10/2023", "Incident", "SECRET-DETAIL x", "SECRET-DETAIL y", "2"),
        )
    ]
    history = tmp_path / "history.csv"
    history.write_bytes(history_bytes(rows, header=header))
    mapping = tmp_path / "pm.toml"
    mapping.write_text(HISTORY_MAPPING, encoding="utf-8")
    args = ("import", "history", str(history), "--source", "Provision Map", "--mapping",
            str(mapping))  # fmt: skip

    dry = _json(run(home, *args, "--dry-run", "--json", db=db))
    assert dry["entries"] == {"HistoryImported": 1, "SafeguardingReferenceImported": 1}
    assert not dry["written"]
    said = ok(run(home, *args, db=db))
    assert "2 new entries for 2 pupils" in said and "HistoryImported" in said
    again = _json(run(home, *args, "--json", db=db))
    assert again["entries"] == {} and again["already_imported"] == 2
    chronology = ok(run(home, "chronology", made[0].upn, "--json", db=db))
    assert "Provision Map" in chronology and "Slow decoding" in chronology
    assert "SECRET-DETAIL" not in ok(run(home, "chronology", made[1].upn, "--json", db=db))

    # A refused row: line and column only, nothing written; no --source: usage error.
    rows[0]["Date"] = "2023-10-12"
    history.write_bytes(history_bytes(rows, header=header))
    result = run(home, *args, db=db)
    refused(result, "line 2, column Date")
    assert "Slow decoding" not in result.stdout + result.stderr
    usage = run(home, "import", "history", str(history), db=db)
    assert usage.returncode == 2 and "--source" in usage.stderr
