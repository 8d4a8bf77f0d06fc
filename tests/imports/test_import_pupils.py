"""Importing pupils from the MIS (api/app/imports.py) on SQLite and PostgreSQL: generated
CSV exports per shipped mapping and a generated CTF, refusals by line and column, encodings,
idempotent re-import, changed rows as entries, resume after a crash, dry runs."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.academies import Academies
from api.app.caller import Caller
from api.app.errors import AppError
from api.app.imports import ImportReport
from api.app.service import Chronicle
from api.application import PupilRecords
from api.bootstrap import assemble, build_ledger
from api.imports.ctf import CTF, ctf_rows
from api.imports.mappings import CENSUS, CHRONICLE, Mapping, mapping_from
from api.imports.sources import SourceError, csv_rows
from domain.values import Role
from tests.imports.fixtures import FakePupil, csv_bytes, ctf_bytes, pupils, upn

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SENDCO_OAK = Caller("OAK-sendco-1", Role.SENDCO, frozenset({"OAK"}))
ADMIN = Caller("trust-admin-1", Role.TRUST_ADMIN)
TEACHER = Caller("OAK-teacher-1", Role.TEACHER, frozenset({"OAK"}))


@pytest.fixture
def app(records: PupilRecords, tmp_path: Path) -> Chronicle:
    academies = Academies(records.datastore.engine)
    academies.add("OAK", "Oakfield Primary Academy", NOW, dfe_number="873/2041")
    academies.add("ELM", "Elmwood Academy", NOW, urn="138291")
    key = Ed25519PrivateKey.generate()
    ledger = build_ledger(records, key, None)
    return assemble(records, ledger, signing_key=key, purge_journal=tmp_path / "p.jsonl")


def run(
    app: Chronicle,
    data: bytes,
    mapping: Mapping = CHRONICLE,
    caller: Caller = ADMIN,
    **options: Any,
) -> ImportReport:
    rows, encoding = ctf_rows(data) if mapping is CTF else csv_rows(data, mapping)
    return app.imports.pupils(caller, rows, mapping, encoding=encoding, **options)


def on_file(records: PupilRecords) -> dict[str, Any]:
    """Every pupil in the store by UPN: their registration and entry types."""
    found: dict[str, Any] = {}
    for entry in records.registrations():
        pupil = records.get_pupil(entry.pupil_id)
        found[pupil.upn] = pupil
    return found


def event_count(records: PupilRecords) -> int:
    return int(records.recorder.max_notification_id() or 0)


def sen_pupils() -> list[FakePupil]:
    made = pupils(12)
    made[1] = replace(made[1], provision="K", needs=("SPLD", "SLCN"), sen_start=date(2024, 9, 4))
    made[2] = replace(made[2], provision="N", needs=("ASD",), sen_start=date(2025, 1, 10))
    made[3] = replace(made[3], academy="ELM")
    return made


# ----- the shipped mappings and the CTF --------------------------------------------------


@pytest.mark.parametrize("mapping", [CHRONICLE, CENSUS], ids=lambda m: m.name)
def test_a_generated_export_per_shipped_mapping_puts_every_pupil_on_the_register(
    app: Chronicle, records: PupilRecords, mapping: Mapping
) -> None:
    made = sen_pupils()
    report = run(app, csv_bytes(made, mapping), mapping)
    assert report.refused == [] and report.written
    assert report.outcomes == {"new": 12}
    stored = on_file(records)
    assert set(stored) == {p.upn for p in made}
    k = stored[made[1].upn]
    assert (k.status.value, k.primary_need and k.primary_need.value) == ("sen_support", "SPLD")
    assert set(k.needs) == {"SPLD", "SLCN"}
    assert stored[made[3].upn].academy == "ELM"
    assert stored[made[0].upn].year_group == made[0].year
    assert report.entries["PupilRegistered"] == 12
    assert report.entries["RegisterStatusChanged"] == 1
    assert report.entries["NeedRecorded"] == 3


def test_a_generated_ctf_lands_at_its_destination_academy_with_its_sen_section(
    app: Chronicle, records: PupilRecords
) -> None:
    made = [replace(p, academy="OAK") for p in sen_pupils()]
    report = run(app, ctf_bytes(made), CTF)
    assert report.refused == [] and report.outcomes == {"new": 12}
    stored = on_file(records)
    assert {p.academy for p in stored.values()} == {"OAK"}  # DestSchool 873/2041
    k = stored[made[1].upn]
    assert k.status.value == "sen_support" and k.primary_need is not None
    assert k.primary_need.value == "SPLD" and set(k.needs) == {"SPLD", "SLCN"}
    # The same file again changes nothing.
    before = event_count(records)
    again = run(app, ctf_bytes(made), CTF)
    assert again.outcomes == {"unchanged": 12} and event_count(records) == before


def test_a_trust_mapping_file_translates_the_exports_own_values(
    app: Chronicle, records: PupilRecords
) -> None:
    mapping = mapping_from(
        {
            "name": "our-export",
            "columns": {
                "upn": "Pupil UPN",
                "legal_given_names": ["Legal Forename", "Forename"],
                "legal_family_name": "Legal Surname",
                "date_of_birth": "Birth Date",
                "year_group": "Year",
                "academy": "School",
                "sen_provision": "SEN Status",
                "primary_need": "Need 1",
                "secondary_need": "Need 2",
                "sen_start_date": "SEN From",
                "preferred_name": "Known As",
            },
            "date_formats": "%d/%m/%Y",
            "values": {
                "sen_provision": {"SEN Support": "K", "No SEN": "N"},
                "academy": {"Oakfield Primary": "OAK"},
                "year_group": {"Reception": "0"},
            },
        },
        "our-export.toml",
    )
    made = [replace(p, academy="Oakfield Primary") for p in pupils(3)]
    made[1] = replace(made[1], provision="SEN Support", needs=("MLD",), sen_start=date(2024, 1, 8))
    made = [replace(p, provision="No SEN") if p.provision == "N" else p for p in made]
    report = run(app, csv_bytes(made, mapping, date_format="%d/%m/%Y"), mapping)
    assert report.refused == [], report.refused
    stored = on_file(records)
    assert stored[made[1].upn].status.value == "sen_support"
    assert {p.academy for p in stored.values()} == {"OAK"}


# ----- encodings and malformed files -----------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp1252", "utf-8"])
def test_utf8_with_a_bom_and_windows_1252_are_read(
    app: Chronicle, records: PupilRecords, encoding: str
) -> None:
    made = pupils(8)  # pupil 3's family name has an Ø
    report = run(app, csv_bytes(made, CHRONICLE, encoding=encoding, delimiter=";"))
    assert report.refused == [] and report.outcomes == {"new": 8}
    assert report.encoding == {"utf-8-sig": "utf-8 (with BOM)", "cp1252": "windows-1252"}.get(
        encoding, "utf-8"
    )
    stored = on_file(records)
    assert stored[made[3].upn].legal_family_name == made[3].family


def test_a_file_that_is_no_csv_of_the_mapping_is_refused_before_anything(
    app: Chronicle, records: PupilRecords
) -> None:
    with pytest.raises(SourceError, match="header has no column for legal_given_names"):
        csv_rows(csv_bytes(pupils(2), CENSUS), CHRONICLE)
    with pytest.raises(SourceError, match="empty"):
        csv_rows(b"", CHRONICLE)
    with pytest.raises(SourceError, match="byte 0x81 is not"):
        csv_rows(b"upn,x\r\n\x81\x8d\r\n", CHRONICLE)
    with pytest.raises(SourceError, match="NUL"):
        csv_rows(b"upn\x00,x\r\n", CHRONICLE)
    assert on_file(records) == {}


def test_refused_rows_say_line_column_and_reason_and_nothing_is_written(
    app: Chronicle, records: PupilRecords, caplog: pytest.LogCaptureFixture
) -> None:
    made = pupils(8)
    bad_letter = "Z" + made[1].upn[1:] if made[1].upn[0] != "Z" else "A" + made[1].upn[1:]
    made[1] = replace(made[1], upn=bad_letter)
    made[2] = replace(made[2], academy="NOPE")
    made[3] = replace(made[3], provision="K", needs=("XYZ",))
    made[4] = replace(made[4], upn=made[0].upn)  # the same UPN twice in the file
    made[5] = replace(made[5], year=19)
    data = csv_bytes(made, CENSUS).replace(made[6].born.isoformat().encode(), b"31/02/2019")
    caplog.set_level(logging.DEBUG)
    report = run(app, data, CENSUS)
    assert not report.written and on_file(records) == {}
    where = {(r.line, r.column) for r in report.refused}
    assert where == {
        (3, "UPN"),
        (4, "Academy"),
        (5, "SENtype1"),
        (6, "UPN"),
        (7, "NCyearActual"),
        (8, "DOB"),
    }
    said = " ".join(str(r) for r in report.refused) + caplog.text
    assert "wrong check letter" in said and "the same UPN as line 2" in said
    for p in made:  # nothing of a pupil's identity in the report or the logs
        for secret in (p.upn, p.given, p.family, p.born.isoformat()):
            assert secret not in said, secret


def test_a_sendco_imports_only_into_their_academies(app: Chronicle, records: PupilRecords) -> None:
    made = sen_pupils()  # one of them at ELM
    report = run(app, csv_bytes(made, CHRONICLE), caller=SENDCO_OAK)
    assert [(r.line, r.column) for r in report.refused] == [(5, "academy")]
    assert on_file(records) == {}
    with pytest.raises(AppError) as refused:
        run(app, csv_bytes(made, CHRONICLE), caller=TEACHER)
    assert refused.value.status == 403
    ok = run(app, csv_bytes(made[:3], CHRONICLE, academy_column=False), caller=SENDCO_OAK,
             academy="OAK")  # fmt: skip
    assert ok.outcomes == {"new": 3}


# ----- idempotency, changes, duplicates against the store -----------------------------------


def test_the_same_file_again_changes_nothing(app: Chronicle, records: PupilRecords) -> None:
    data = csv_bytes(sen_pupils(), CHRONICLE)
    run(app, data)
    before = event_count(records)
    again = run(app, data)
    assert again.outcomes == {"unchanged": 12} and again.entries == {}
    assert event_count(records) == before
    assert len(on_file(records)) == 12


def test_a_changed_row_becomes_the_right_entries_never_a_second_pupil(
    app: Chronicle, records: PupilRecords
) -> None:
    made = sen_pupils()
    run(app, csv_bytes(made, CHRONICLE))
    changed = list(made)
    changed[0] = replace(made[0], academy="ELM")  # moved academy
    changed[1] = replace(made[1], needs=("SLCN", "SPLD"))  # the primary need changed
    changed[2] = replace(made[2], provision="K", needs=("ASD",))  # onto SEN support
    changed[4] = replace(made[4], year=made[4].year - 1)  # kept back a year
    report = run(app, csv_bytes(changed, CHRONICLE))
    assert report.refused == [] and report.held == []
    assert report.outcomes == {"changed": 4, "unchanged": 8}
    by_line = {p.line: p.entries for p in report.plans}
    assert by_line[2] == ("TransferredWithinTrust",)
    assert by_line[3] == ("NeedRecorded",)
    assert by_line[4] == ("RegisterStatusChanged",)
    assert by_line[6] == ("YearGroupChanged",)
    kept_back = on_file(records)[made[4].upn]
    assert kept_back.year_group_on(NOW.date().today()) == made[4].year - 1
    again = run(app, csv_bytes(changed, CHRONICLE))
    assert again.outcomes == {"unchanged": 12}  # the year group now agrees
    stored = on_file(records)
    assert len(stored) == 12
    assert stored[made[0].upn].academy == "ELM"
    assert stored[made[1].upn].primary_need.value == "SLCN"
    moved = records.entries(stored[made[2].upn].id)[-1]
    assert moved.payload["reason"] == "imported from MIS"
    assert moved.payload["decision_maker"] == "imported from MIS"


def test_a_pupil_registered_through_the_api_is_matched_by_upn(
    app: Chronicle, records: PupilRecords
) -> None:
    from api.app.bodies import RegisterPupil

    made = pupils(3)
    first = made[0]
    saved = app.entries.register(
        SENDCO_OAK,
        RegisterPupil(
            upn=first.upn,
            legal_given_names=first.given,
            legal_family_name=first.family,
            date_of_birth=first.born,
            academy="OAK",
            year_group=first.year,
        ),
    )
    report = run(app, csv_bytes(made, CHRONICLE, sen=False))
    assert report.outcomes == {"unchanged": 1, "new": 2}
    assert on_file(records)[first.upn].id == saved.pupil_id


def test_a_move_the_policy_refuses_is_held_and_the_pupil_still_imported(
    app: Chronicle, records: PupilRecords
) -> None:
    made = pupils(2)
    made[1] = replace(made[1], provision="E", needs=("ASD",), sen_start=date(2024, 3, 1))
    report = run(app, csv_bytes(made, CHRONICLE))
    assert report.refused == [] and report.outcomes == {"new": 2}
    (held,) = report.held
    assert held.line == 3 and "ehcp" in held.what and "EHC plan" in held.reason
    pupil = on_file(records)[made[1].upn]
    assert pupil.status.value == "none" and pupil.primary_need.value == "ASD"


# ----- dry runs and batches ----------------------------------------------------------------


def test_a_dry_run_says_what_would_be_written_and_writes_nothing(
    app: Chronicle, records: PupilRecords
) -> None:
    report = run(app, csv_bytes(sen_pupils(), CHRONICLE), dry_run=True)
    assert not report.written and on_file(records) == {}
    said = report.as_json(per_row=True)
    assert said["pupils"] == {"new": 12, "changed": 0, "unchanged": 0}
    assert said["entries"] == {"NeedRecorded": 3, "PupilRegistered": 12, "RegisterStatusChanged": 1}
    assert said["per_row"][1] == {
        "line": 3, "outcome": "new",
        "entries": ["PupilRegistered", "NeedRecorded", "NeedRecorded", "RegisterStatusChanged"],
    }  # fmt: skip


class Crash(Exception):
    pass


def test_a_crash_mid_import_loses_one_batch_and_running_again_completes_it(
    app: Chronicle, records: PupilRecords
) -> None:
    made = pupils(25)
    data = csv_bytes(made, CHRONICLE, sen=False)
    seen: list[tuple[int, int]] = []

    def crash(batch: int) -> None:
        if batch == 2:
            raise Crash

    with pytest.raises(Crash):
        run(app, data, batch=10, after_batch=crash, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(10, 25), (20, 25)] and len(on_file(records)) == 20
    report = run(app, data, batch=10)
    assert report.outcomes == {"unchanged": 20, "new": 5}
    assert len(on_file(records)) == 25
    assert event_count(records) == 25  # one registration each, nothing doubled


def test_an_academy_given_by_urn_or_dfe_number(app: Chronicle, records: PupilRecords) -> None:
    made = [
        replace(p, academy=a)
        for p, a in zip(pupils(3), ["8732041", "138291", "873/2041"], strict=True)
    ]
    report = run(app, csv_bytes(made, CHRONICLE, sen=False))
    assert report.refused == []
    assert sorted(p.academy for p in on_file(records).values()) == ["ELM", "OAK", "OAK"]


def test_upn_helper_makes_valid_upns() -> None:
    from domain.values import validate_upn

    assert validate_upn(upn(7)) == upn(7)


def test_imported_entries_verify_in_an_export(records: PupilRecords, tmp_path: Path) -> None:
    from api.export import Disclosure, export_pupil
    from crypto.bundle_check import verify_bundle
    from domain.values import Recorder

    Academies(records.datastore.engine).add("OAK", "Oakfield Primary Academy", NOW)
    key = Ed25519PrivateKey.generate()
    ledger = build_ledger(records, key, tmp_path / "journal.jsonl")
    app = assemble(records, ledger)
    made = pupils(2)
    made[1] = replace(made[1], provision="K", needs=("SPLD", "HI"), sen_start=date(2024, 9, 4))
    run(app, csv_bytes(made, CHRONICLE))
    pupil = on_file(records)[made[1].upn]
    tribunal = Disclosure(
        "First-tier Tribunal (SEND)", "send_tribunal_appeal", "SEND Regulations 2014",
        Recorder("OAK-sendco-1", Role.SENDCO),
    )  # fmt: skip
    result = export_pupil(records, ledger, pupil.id, tribunal, {})
    assert verify_bundle(result.bundle, ledger.public_key).valid
    kinds = [e["type"] for e in result.bundle["events"]]
    assert kinds[:4] == ["PupilRegistered", "NeedRecorded", "NeedRecorded", "RegisterStatusChanged"]


def test_a_pupil_registered_during_the_import_fails_only_its_batch_and_a_rerun_completes(
    app: Chronicle, records: PupilRecords
) -> None:
    from api.app.bodies import RegisterPupil

    made = pupils(20)
    late = made[15]  # in the second batch of 10

    def someone_registers(batch: int) -> None:
        if batch == 1:
            app.entries.register(
                Caller("OAK-sendco-2", Role.SENDCO),
                RegisterPupil(
                    upn=late.upn, legal_given_names=late.given, legal_family_name=late.family,
                    date_of_birth=late.born, academy="OAK", year_group=late.year,
                ),
            )  # fmt: skip

    data = csv_bytes(made, CHRONICLE, sen=False)
    with pytest.raises(AppError) as conflict:
        run(app, data, batch=10, after_batch=someone_registers)
    assert (conflict.value.status, conflict.value.code) == (409, "import_conflict")
    assert late.upn not in conflict.value.detail
    assert len(on_file(records)) == 11  # the first batch and the late registration
    report = run(app, data, batch=10)
    assert report.outcomes == {"unchanged": 11, "new": 9}
    assert len(on_file(records)) == 20
