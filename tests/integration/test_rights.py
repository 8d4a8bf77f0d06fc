"""Data-protection rights on SQLite and PostgreSQL: subject access (deadline, export with the
access log and third-party review, offline verification), rectification and refused
erasure (visible in chronology and bundles), and the purge decided without rebuilding the
record (constant time, as strict as before)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.app.access import record_views
from api.application import PupilRecords
from api.bootstrap import build_ledger
from api.bundle_html import render_bundle_html
from api.export import Disclosure, bundle_digest, export_pupil, export_subject_access
from api.retention import RetentionRefused
from crypto.bundle_check import verify_bundle
from domain.access import access_stream_id
from domain.errors import InvalidEntry, UnknownEntry
from domain.pupil import Pupil
from domain.pupil.rights import subject_access_due
from domain.values import AgencyKind, ConcernSource, Recorder, Role
from projections.catalogue import build_projections
from projections.chronology import chronology
from projections.deadlines import due_deadlines
from projections.runner import ProjectionRunner
from tests.conftest import OpenRecords
from tests.factories import SENDCO, a_pupil, on
from tests.retention_desk import Desk

DPO_A = Recorder("dpo-ada", Role.DPO)
DPO_B = Recorder("dpo-bo", Role.DPO)
TODAY = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
PROFESSIONAL = "Dr Ottoline Vance"


@pytest.fixture
def records(open_records: OpenRecords) -> PupilRecords:
    app = open_records()
    app.clock = lambda: TODAY
    return app


@pytest.fixture
def dpo(records: PupilRecords, tmp_path: Path) -> Desk:
    key = Ed25519PrivateKey.generate()
    return Desk(
        records, build_ledger(records, key, tmp_path / "cp.jsonl"), key, tmp_path / "p.jsonl"
    )


def _pupil(records: PupilRecords) -> Pupil:
    pupil = a_pupil(concerns=1)
    pupil.receive_advice(
        agency=AgencyKind.EDUCATIONAL_PSYCHOLOGIST,
        service="Northshire Educational Psychology Service",
        professional=PROFESSIONAL,
        summary="Working memory well below age expectations",
        recommendations=("Chunk instructions",),
        **on(date(2025, 2, 1)),
    )
    records.save(pupil)
    return pupil


def _deadlines(records: PupilRecords, day: date) -> list[Any]:
    ProjectionRunner(records, build_projections(records.policy)).catch_up()
    return [d for d in due_deadlines(records, as_of=day) if d.rule == "subject_access"]


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (date(2026, 1, 31), date(2026, 2, 28)),  # no 31 February: the month's last day
        (date(2024, 1, 30), date(2024, 2, 29)),
        (date(2026, 3, 15), date(2026, 4, 15)),  # the same day next month
        (date(2026, 12, 31), date(2027, 1, 31)),
    ],
)
def test_a_subject_access_response_is_due_one_calendar_month_later(
    received: date, due: date
) -> None:
    assert subject_access_due(received) == due


class TestSubjectAccess:
    def test_the_request_opens_a_deadline_that_the_export_closes(
        self, records: PupilRecords, dpo: Desk
    ) -> None:
        pupil = _pupil(records)
        due = dpo.request_subject_access(pupil.id, DPO_A, "SAR-2026-014", "parent", TODAY.date())
        assert due == date(2026, 2, 28)
        (open_,) = _deadlines(records, date(2026, 3, 1))
        assert (open_.due_on, open_.status, open_.responsible) == (due, "overdue", "dpo-ada")
        assert open_.detail == "parent"  # the relationship, never a name
        tribunal = Disclosure("First-tier Tribunal (SEND)", "send_tribunal_appeal", "x", DPO_A)
        export_pupil(records, dpo.ledger, pupil.id, tribunal)
        assert len(_deadlines(records, date(2026, 3, 1))) == 1  # not a subject-access answer
        export_subject_access(records, dpo.ledger, pupil.id, DPO_A)
        assert _deadlines(records, date(2026, 3, 1)) == []
        disclosed = records.entries(pupil.id)[-1].payload
        assert disclosed["purpose"] == "subject_access"
        assert disclosed["purpose_detail"] == "SAR-2026-014"

    def test_leaving_the_trust_does_not_close_the_request(
        self, records: PupilRecords, dpo: Desk
    ) -> None:
        pupil = _pupil(records)
        dpo.request_subject_access(pupil.id, DPO_A, "SAR-1", "parent", date(2026, 1, 10))
        loaded = records.get_pupil(pupil.id)
        loaded.leave_trust(
            policy=records.policy,
            destination="Westmoor Academy",
            records_sent_on=None,
            receipt_acknowledged_on=None,
            receipt_acknowledged_by=None,
            **on(date(2026, 1, 20)),
        )
        records.save(loaded)
        assert _deadlines(records, date(2026, 1, 25)) != []
        assert [d.due_on for d in _deadlines(records, date(2026, 1, 25))] == [date(2026, 2, 10)]

    def test_the_export_has_the_access_log_and_marks_third_parties_and_verifies(
        self, records: PupilRecords, dpo: Desk
    ) -> None:
        pupil = _pupil(records)
        record_views(records, [pupil.id], SENDCO, "chronology", "annual review prep")
        record_views(records, [pupil.id], DPO_B, "record", "SAR-2026-014")
        dpo.request_subject_access(pupil.id, DPO_A, "SAR-2026-014", "parent", TODAY.date())
        result = export_subject_access(records, dpo.ledger, pupil.id, DPO_A)
        bundle = result.bundle
        verdict = verify_bundle(bundle, dpo.ledger.public_key)
        assert verdict.valid, verdict.failure
        assert verdict.access_log_entries == 3  # opened, and the two reads
        log = bundle["access_log"]
        assert log["stream"] == str(access_stream_id(pupil.id))
        assert [e["payload"].get("what") for e in log["events"]] == [None, "chronology", "record"]
        sar = bundle["subject_access"]
        assert (sar["request_seq"], sar["respond_by"]) == (4, "2026-02-28")
        marks = {m["seq"]: m for m in sar["third_party_review"]}
        assert marks[3]["type"] == "AdviceReceived" and "professional" in marks[3]["fields"]
        assert marks[2]["type"] == "ConcernRaised"
        assert 1 not in marks and 4 not in marks
        assert records.entries(pupil.id)[-1].payload["export_digest"] == bundle_digest(bundle)
        html = render_bundle_html(bundle, result.digest)
        assert "Review for third-party information" in html and "SAR-2026-014" in html
        assert "annual review prep" in html and "2026-02-28" in html

    def test_withholding_a_marked_entry_keeps_it_verifiable(
        self, records: PupilRecords, dpo: Desk
    ) -> None:
        pupil = _pupil(records)
        dpo.request_subject_access(pupil.id, DPO_A, "SAR-1", "pupil", TODAY.date())
        bundle = export_subject_access(
            records, dpo.ledger, pupil.id, DPO_A, redactions={3: "third-party information"}
        ).bundle
        assert verify_bundle(bundle).valid
        assert PROFESSIONAL not in str(bundle)
        assert [m["seq"] for m in bundle["subject_access"]["third_party_review"]] == [2]
        assert records.entries(pupil.id)[-1].payload["redacted_seqs"] == [3]

    def test_tampering_with_the_access_log_is_named(self, records: PupilRecords, dpo: Desk) -> None:
        pupil = _pupil(records)
        record_views(records, [pupil.id], SENDCO, "chronology", None)
        dpo.request_subject_access(pupil.id, DPO_A, "SAR-1", "parent", TODAY.date())
        bundle = export_subject_access(records, dpo.ledger, pupil.id, DPO_A).bundle
        cases: list[tuple[Callable[[dict[str, Any]], Any], str, int | None]] = [
            (lambda b: b["access_log"]["events"].pop(), "access log head", 1),
            (
                lambda b: b["access_log"]["events"][1]["payload"].update(what="nothing"),
                "access log chain",
                2,
            ),
            (lambda b: b["access_log"].update(stream=b["pupil"]), "access log", None),
            (
                lambda b: b["access_log"]["head"].update(log_index=0),
                "access log inclusion",
                None,
            ),
        ]
        for tamper, check, seq in cases:
            altered = copy.deepcopy(bundle)
            tamper(altered)
            failure = verify_bundle(altered).failure
            assert failure is not None and (failure.check, failure.seq) == (check, seq), failure

    def test_a_pupil_nobody_read_has_an_empty_access_log(
        self, records: PupilRecords, dpo: Desk
    ) -> None:
        pupil = _pupil(records)
        dpo.request_subject_access(pupil.id, DPO_A, "SAR-1", "parent", TODAY.date())
        bundle = export_subject_access(records, dpo.ledger, pupil.id, DPO_A).bundle
        assert bundle["access_log"]["events"] == [] and bundle["access_log"]["head"] is None
        assert verify_bundle(bundle).access_log_entries == 0

    def test_an_export_needs_a_request(self, records: PupilRecords, dpo: Desk) -> None:
        pupil = _pupil(records)
        with pytest.raises(InvalidEntry, match="no subject access request"):
            export_subject_access(records, dpo.ledger, pupil.id, DPO_A)
        with pytest.raises(UnknownEntry, match="not a subject access request"):
            export_subject_access(records, dpo.ledger, pupil.id, DPO_A, request_seq=2)
        assert records.entries(pupil.id)[-1].type == "AdviceReceived"  # nothing recorded

    def test_a_request_names_no_one(self, records: PupilRecords, dpo: Desk) -> None:
        pupil = _pupil(records)
        with pytest.raises(InvalidEntry, match="relationship 'Mrs Smith' is not one of"):
            dpo.request_subject_access(pupil.id, DPO_A, "SAR-1", "Mrs Smith", TODAY.date())


class TestRectificationAndErasure:
    def test_a_correction_shows_in_chronology_export_and_bundle(
        self, records: PupilRecords, dpo: Desk
    ) -> None:
        pupil = _pupil(records)
        seq = dpo.correct(
            pupil.id, DPO_A, 2, "Source was the parent", "Raised by the class teacher", "SAR-1"
        )
        assert seq == 4
        ProjectionRunner(records, build_projections(records.policy)).catch_up()
        (concern,) = [e for e in chronology(records, pupil.id) if e.seq == 2]
        assert concern.corrected_by == (4,)
        result = export_pupil(
            records, dpo.ledger, pupil.id, Disclosure("family", "copy_to_parents", "x", DPO_A)
        )
        assert verify_bundle(result.bundle).valid
        assert result.bundle["events"][3]["payload"]["corrects_seq"] == 2
        html = render_bundle_html(result.bundle, result.digest)
        assert "Corrected by entry #4" in html and "Raised by the class teacher" in html

    def test_a_refused_erasure_keeps_the_entry_and_says_why(
        self, records: PupilRecords, dpo: Desk
    ) -> None:
        pupil = _pupil(records)
        before = records.entries(pupil.id)[1].payload
        seq = dpo.refuse_erasure(
            pupil.id, DPO_A, 2, "ER-1", "parent", "Statutory SEND record", "UK GDPR 17(3)(b)"
        )
        entries = records.entries(pupil.id)
        assert entries[1].payload == before  # untouched
        refused = entries[seq - 1]
        assert refused.type == "ErasureRequestRefused"
        assert (refused.payload["entry_seq"], refused.payload["reason"]) == (
            2,
            "Statutory SEND record",
        )
        ProjectionRunner(records, build_projections(records.policy)).catch_up()
        kinds = [e.type for e in chronology(records, pupil.id)]
        assert "ErasureRequestRefused" in kinds
        with pytest.raises(UnknownEntry, match="no entry 9"):
            dpo.refuse_erasure(pupil.id, DPO_A, 9, "ER-2", "parent", "x", "y")


class TestPurgeWithoutReplay:
    def test_approval_decrypts_at_most_the_registration(
        self, records: PupilRecords, dpo: Desk, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        records.clock = lambda: datetime(2047, 6, 1, tzinfo=UTC)  # DOB + 31 has passed
        pupil = _pupil(records)
        loaded = records.get_pupil(pupil.id)
        for n in range(30):
            loaded.raise_concern(
                source=ConcernSource.TEACHER,
                area_of_need=None,
                description=f"n{n}",
                evidence="",
                **on(date(2025, 3, 1)),
            )
        records.save(loaded)
        dpo.propose(pupil.id, DPO_A)
        opened: list[int] = []
        real = records.sealing_mapper.committed

        def counting(stored: Any) -> Any:
            if stored.originator_id == pupil.id:
                opened.append(stored.originator_version)
            return real(stored)

        monkeypatch.setattr(records.sealing_mapper, "committed", counting)
        record = dpo.approve(pupil.id, DPO_B)
        assert record.record["head_seq"] == 34
        assert set(opened) <= {1, 34}, opened  # the registration; the tombstone (clear)

    def test_a_hold_recorded_while_the_purge_is_decided_stops_it(
        self, records: PupilRecords, dpo: Desk
    ) -> None:
        records.clock = lambda: datetime(2047, 6, 1, tzinfo=UTC)  # DOB + 31 has passed
        pupil = _pupil(records)
        dpo.propose(pupil.id, DPO_A)
        facts = dpo._facts("approve", pupil.id, DPO_B)
        dpo.hold(pupil.id, DPO_A, "claim received", "trust solicitor")  # after the check
        with pytest.raises(RetentionRefused, match="changed while the purge"):
            dpo._execute(facts, "dpo-ada", DPO_B, None)
        assert records.get_pupil(pupil.id).holds  # nothing purged
        assert records.entries(pupil.id)[-1].type == "LegalHoldPlaced"


def test_the_verifier_derives_access_streams_as_the_domain_does() -> None:
    from uuid import uuid4, uuid5

    from crypto.bundle_check import ACCESS_NAMESPACE
    from domain.access import ACCESS_NAMESPACE as DOMAIN_NAMESPACE

    assert ACCESS_NAMESPACE == DOMAIN_NAMESPACE
    pupil = uuid4()
    assert access_stream_id(pupil) == uuid5(ACCESS_NAMESPACE, str(pupil))
