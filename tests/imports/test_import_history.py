"""SEN history from other products (api/app/history_imports.py) on SQLite and PostgreSQL:
entries with provenance, safeguarding records as pointers only (their detail never stored),
refusals by line and column, idempotent re-import, resume after a crash, scope, dry runs,
mapping files and encodings, and imported entries verifying in an export."""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import Any

import pytest

from api.app.bodies import ExportRequest
from api.app.caller import Caller
from api.app.errors import AppError
from api.app.history_imports import ALREADY, HistoryReport
from api.app.service import Chronicle
from api.application import PupilRecords
from api.bundle_html import render_bundle_html
from api.export import bundle_digest
from api.imports.history import HISTORY_FIELDS, HISTORY_TEMPLATE
from api.imports.mappings import CHRONICLE, Mapping, MappingError, mapping_from
from api.imports.sources import csv_rows
from crypto.bundle_check import verify_bundle
from domain.values import Recorder, Role
from projections.crossrefs import IMPORTED
from tests.imports.fixtures import csv_bytes, history_bytes, history_rows, pupils, upn
from tests.imports.test_import_pupils import ADMIN, SENDCO_OAK, TEACHER, event_count, on_file
from tests.imports.test_import_pupils import run as run_pupils

SENDCO_ELM = Caller("ELM-sendco-1", Role.SENDCO, frozenset({"ELM"}))


def run(
    app: Chronicle,
    data: bytes,
    mapping: Mapping = HISTORY_TEMPLATE,
    caller: Caller = ADMIN,
    source: str = "Provision Map",
    **options: Any,
) -> HistoryReport:
    rows, encoding = csv_rows(data, mapping, HISTORY_FIELDS.names, HISTORY_FIELDS.required)
    return app.history.history(caller, rows, mapping, source=source, encoding=encoding, **options)


def with_pupils(app: Chronicle, count: int = 6) -> list[str]:
    """`count` pupils imported (the last at ELM); their UPNs."""
    made = pupils(count)
    made[-1] = made[-1].__class__(**{**made[-1].__dict__, "academy": "ELM"})
    assert run_pupils(app, csv_bytes(made, CHRONICLE, sen=False)).written
    return [p.upn for p in made]


def payloads(records: PupilRecords) -> list[tuple[str, dict[str, Any]]]:
    return [
        (e.type, e.payload or {})
        for r in records.registrations()
        for e in records.entries(r.pupil_id)
    ]


def test_history_comes_in_with_provenance_and_safeguarding_as_pointers_only(
    app: Chronicle, records: PupilRecords
) -> None:
    upns = with_pupils(app)
    rows = history_rows(upns[:5], 4)
    report = run(app, history_bytes(rows))
    assert report.refused == [] and report.written
    assert report.entries == {"HistoryImported": 16, "SafeguardingReferenceImported": 4}
    assert report.as_json()["pupils"] == 5
    stored = payloads(records)
    imported = [p for t, p in stored if t == "HistoryImported"]
    assert len(imported) == 16
    first = next(p for p in imported if p["imported_from"]["source_id"] == "PM-000000")
    assert first["kind"] == "concern" and first["title"] == "Entry 0"
    assert first["details"] == "Text of 0" and first["happened_on"] == "2023-09-04"
    assert first["imported_from"] == {
        "source": "Provision Map",
        "source_id": "PM-000000",
        "original_author": "Staff member 0",
        "original_recorded_at": "04/09/2023 15:00",
    }
    assert first["recorded_by"] == {"staff_id": "trust-admin-1", "role": "trust_admin"}
    pointers = [p for t, p in stored if t == "SafeguardingReferenceImported"]
    assert sorted(p["cpoms_log_id"] for p in pointers) == [
        "CP-000004", "CP-000009", "CP-000014", "CP-000019",
    ]  # fmt: skip
    assert all("ask the DSL" in p["note"] for p in pointers)
    # The safeguarding detail (title, text) is nowhere: not in any entry, nor the report.
    assert "SECRET-DETAIL" not in json.dumps(stored) + json.dumps(report.as_json(per_row=True))
    # The DSL's index lists the pointers, with the decision in the other product.
    listed = app.reads.cross_references(Caller("dsl-1", Role.DSL)).rows
    assert {c.cpoms_log_id for c in listed if c.dsl_decision == IMPORTED} == {
        p["cpoms_log_id"] for p in pointers
    }


def test_the_same_file_again_changes_nothing_and_a_longer_one_adds_only_the_new(
    app: Chronicle, records: PupilRecords
) -> None:
    upns = with_pupils(app)
    rows = history_rows(upns[:3], 3)
    run(app, history_bytes(rows))
    before = event_count(records)
    again = run(app, history_bytes(rows))
    assert again.written and again.entries == {}
    assert again.as_json()["already_imported"] == 9
    assert event_count(records) == before
    more = history_rows(upns[:4], 3)  # the same 9 and 3 more, for a fourth pupil
    third = run(app, history_bytes(more))
    assert sum(third.entries.values()) == 3 and event_count(records) == before + 3
    # The same record under another source is another record.
    other = run(app, history_bytes(rows), source="Edukey")
    assert sum(other.entries.values()) == 9


class Crash(Exception):
    pass


def test_a_crash_mid_import_loses_one_batch_and_running_again_completes_it(
    app: Chronicle, records: PupilRecords
) -> None:
    upns = with_pupils(app)
    data = history_bytes(history_rows(upns[:5], 2))
    base = event_count(records)
    seen: list[tuple[int, int]] = []

    def crash(batch: int) -> None:
        if batch == 2:
            raise Crash

    with pytest.raises(Crash):
        run(app, data, batch=2, after_batch=crash, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(4, 10), (8, 10)] and event_count(records) == base + 8
    report = run(app, data, batch=2)
    assert report.as_json()["already_imported"] == 8 and sum(report.entries.values()) == 2
    assert event_count(records) == base + 10  # nothing doubled


def test_refused_rows_say_line_column_and_reason_and_nothing_is_written(
    app: Chronicle, records: PupilRecords, caplog: pytest.LogCaptureFixture
) -> None:
    upns = with_pupils(app)
    rows = history_rows(upns[:2], 6)
    rows[0]["upn"] = "Z" + upns[0][1:] if upns[0][0] != "Z" else "A" + upns[0][1:]
    rows[1]["happened_on"] = "2999-01-01"
    rows[2]["kind"] = "Gossip"
    rows[3]["title"] = ""
    rows[5]["source_id"] = rows[6]["source_id"]
    rows[6]["upn"] = upns[1]
    rows[7]["upn"] = upn(99)  # a valid UPN of no pupil here
    rows[8]["happened_on"] = "2001-01-01"  # before the pupil's date of birth
    rows[10]["happened_on"] = "31/02/2024"
    before = event_count(records)
    caplog.set_level(logging.DEBUG)
    report = run(app, history_bytes(rows))
    assert not report.written and event_count(records) == before
    where = {(r.line, r.column) for r in report.refused}
    assert {(2, "upn"), (3, "happened_on"), (4, "kind"), (5, "title"), (8, "source_id")} <= where
    assert (10, "(row)") in where and (12, "happened_on") in where
    said = " ".join(str(r) for r in report.refused) + caplog.text
    assert "wrong check letter" in said and "'Gossip'" in said
    assert "the same source id as line 7" in said and "the date of birth" in said
    assert "import the pupils first" in said
    for row in rows:  # nothing of an entry or a pupil in the report or the logs
        for secret in (row["upn"], row["title"], row["details"]):
            assert not secret or secret not in said, secret
    for p in pupils(6):
        assert p.born.isoformat() not in said


def test_a_sendco_imports_only_for_their_academies_pupils(
    app: Chronicle, records: PupilRecords
) -> None:
    upns = with_pupils(app)
    oak = history_bytes(history_rows(upns[:1], 2))
    elsewhere = run(app, oak, caller=SENDCO_ELM)
    unknown = run(app, history_bytes(history_rows([upn(99)], 1)), caller=SENDCO_ELM)
    assert not elsewhere.written
    # A pupil at another academy is answered as one that does not exist.
    assert {r.reason for r in elsewhere.refused} == {r.reason for r in unknown.refused}
    assert run(app, oak, caller=SENDCO_OAK).written
    with pytest.raises(AppError) as refused:
        run(app, oak, caller=TEACHER)
    assert refused.value.status == 403
    with pytest.raises(AppError, match="name the product"):
        run(app, oak, source="  ")


def test_a_dry_run_says_what_would_be_written_and_writes_nothing(
    app: Chronicle, records: PupilRecords
) -> None:
    upns = with_pupils(app)
    before = event_count(records)
    report = run(app, history_bytes(history_rows(upns[:2], 5)), dry_run=True)
    assert report.dry_run and not report.written and event_count(records) == before
    assert report.entries == {"HistoryImported": 8, "SafeguardingReferenceImported": 2}
    per_row = report.as_json(per_row=True)["per_row"]
    assert [r["line"] for r in per_row] == list(range(2, 12))
    assert all("pupil_id" not in r for r in per_row)  # a dry run names no pupil


def test_a_trust_mapping_file_names_its_headers_kinds_and_dates(
    app: Chronicle, records: PupilRecords
) -> None:
    upns = with_pupils(app)
    mapping = mapping_from(
        {
            "name": "our-provision-map",
            "source": "Provision Map > Reports > Notes export (made up for the test)",
            "date_formats": ["%d/%m/%Y"],
            "columns": {
                "upn": "UPN",
                "happened_on": "Date",
                "kind": "Type",
                "title": "Subject",
                "details": ["Note", "Notes"],
                "source_id": "Record ID",
                "author": "Created By",
            },
            "values": {"kind": {"Cause for Concern": "concern", "Incident": "safeguarding"}},
        },
        "ours.toml",
        HISTORY_FIELDS,
    )
    header = ("UPN", "Date", "Type", "Subject", "Notes", "Record ID", "Created By")
    rows = [
        dict(zip(header, v, strict=True))
        for v in (
            (upns[0], "12/10/2023", "Cause for Concern", "Café queue", "Refuses", "9", "R. Hale"),
            (upns[0], "13/10/2023", "Incident", "SECRET-DETAIL x", "SECRET-DETAIL y", "10", ""),
        )
    ]  # fmt: skip
    data = history_bytes(rows, header=header, encoding="cp1252")
    report = run(app, data, mapping, source="Provision Map")
    assert report.refused == [] and report.encoding == "windows-1252"
    assert report.entries == {"HistoryImported": 1, "SafeguardingReferenceImported": 1}
    stored = [p for t, p in payloads(records) if t.endswith("Imported")]
    concern = next(p for p in stored if "kind" in p)
    assert concern["title"] == "Café queue" and concern["happened_on"] == "2023-10-12"
    assert concern["imported_from"]["original_author"] == "R. Hale"
    pointer = next(p for p in stored if "cpoms_log_id" in p)
    assert pointer["cpoms_log_id"] == "10" and "SECRET" not in json.dumps(stored)
    with pytest.raises(MappingError, match="unknown field"):
        mapping_from({"columns": {"upn": "UPN", "colour": "x"}}, "bad.toml", HISTORY_FIELDS)
    with pytest.raises(MappingError, match="must name a header for"):
        mapping_from({"columns": {"upn": "UPN"}}, "bad.toml", HISTORY_FIELDS)


def test_imported_entries_verify_in_an_export_with_their_provenance(
    app: Chronicle, records: PupilRecords
) -> None:
    upns = with_pupils(app)
    assert run(app, history_bytes(history_rows(upns[:1], 5))).written
    pupil = on_file(records)[upns[0]]
    sendco = Caller("OAK-sendco-1", Role.SENDCO, frozenset({"OAK"}))
    request = ExportRequest(
        purpose="send_tribunal_appeal",
        recipient="First-tier Tribunal (SEND)",
        legal_basis="SEND Regulations 2014, reg. 17",
    )
    made = app.exports.export(sendco, pupil.id, request)
    bundle = made.bundle
    assert verify_bundle(bundle, bundle["public_key"]).valid
    shown = [e for e in bundle["events"] if e["type"] == "HistoryImported"]
    assert len(shown) == 4
    assert all(e["payload"]["imported_from"]["source"] == "Provision Map" for e in shown)
    # The bundle's page says which entries were imported, and from where.
    page = render_bundle_html(bundle, bundle_digest(bundle))
    assert page.count("<strong>Imported</strong> from Provision Map, record PM-") == 4


def test_history_for_a_pupil_who_left_still_comes_in(app: Chronicle, records: PupilRecords) -> None:
    upns = with_pupils(app, 2)
    pupil = on_file(records)[upns[0]]
    pupil.leave_trust(
        policy=records.policy,
        destination="Riverside Academy",
        records_sent_on=None,
        receipt_acknowledged_on=None,
        receipt_acknowledged_by=None,
        recorded_by=Recorder("OAK-sendco-1", Role.SENDCO),
        happened_on=date.today(),
    )
    records.save(pupil)
    report = run(app, history_bytes(history_rows(upns[:1], 2)))
    assert report.written and report.entries == {"HistoryImported": 2}
    assert ALREADY not in {p.entry for p in report.plans}
