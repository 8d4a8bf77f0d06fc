"""Exports on SQLite and PostgreSQL: they verify offline, redactions keep them verifiable,
every tamper is named, a shredded pupil breaks nobody else's proofs, and the signed manifest
(chronicle-export/2) catches every change to what the chain does not bind: purpose,
recipient, legal basis, exporter, time, withheld entries and reasons, the access log and
the subject-access part."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.app.access import record_views
from api.application import PupilRecords
from api.bootstrap import build_ledger
from api.bundle_html import UnverifiedBundle, render_bundle_html
from api.export import Disclosure, Export, bundle_digest, export_pupil, export_subject_access
from crypto.bundle_check import verify_bundle
from crypto.chain import commitment_hex, log_id, sign_checkpoint
from crypto.manifest import manifest_of, sign_manifest
from crypto.merkle import verify_consistency
from crypto.signing import public_key_hex
from domain.errors import InvalidEntry, PupilPurged
from domain.values import AgencyKind, Recorder, Role
from projections.ledger import Ledger
from tests.factories import SENDCO, a_pupil, add_concern, on

CLERK = Recorder("tribunal-clerk-1", Role.TRIBUNAL)
TRIBUNAL = Disclosure(
    "First-tier Tribunal (SEND)", "send_tribunal_appeal", "UK GDPR 6(1)(c)", CLERK
)


@pytest.fixture
def ledger(records: PupilRecords, tmp_path: Path) -> Ledger:
    return build_ledger(records, Ed25519PrivateKey.generate(), tmp_path / "journal.jsonl")


def _pupil_with_history(records: PupilRecords, name: str = "Xanthe") -> Any:
    pupil = a_pupil(name, concerns=3)
    pupil.correct_entry(
        corrects_seq=2,
        what_was_wrong="wrong date",
        correction="It was raised a week earlier",
        reason="checked the teacher's notes",
        recorded_by=SENDCO,
        happened_on=pupil.date_of_birth.replace(year=2025),
    )
    records.save(pupil)
    return pupil


def _export(records: PupilRecords, ledger: Ledger, pupil: Any, **redact: str) -> Export:
    redactions = {int(k.removeprefix("s")): v for k, v in redact.items()}
    return export_pupil(records, ledger, pupil.id, TRIBUNAL, redactions)


class TestExport:
    def test_an_export_verifies_and_is_recorded(
        self, records: PupilRecords, ledger: Ledger
    ) -> None:
        pupil = _pupil_with_history(records)
        records.save(a_pupil("Other"))
        result = _export(records, ledger, pupil)
        verdict = verify_bundle(result.bundle, ledger.public_key)
        assert verdict.valid, verdict.failure
        assert [e["seq"] for e in result.bundle["events"]] == [1, 2, 3, 4, 5]
        disclosed = records.entries(pupil.id)[-1]
        assert disclosed.type == "RecordsDisclosed"
        assert disclosed.payload["export_digest"] == result.digest == bundle_digest(result.bundle)
        assert disclosed.payload["up_to_seq"] == 5
        # the next export includes the first one's disclosure record, and still verifies
        again = _export(records, ledger, pupil)
        assert again.bundle["events"][-1]["type"] == "RecordsDisclosed"
        assert verify_bundle(again.bundle, ledger.public_key).valid

    def test_a_redacted_export_verifies(self, records: PupilRecords, ledger: Ledger) -> None:
        pupil = _pupil_with_history(records)
        result = _export(records, ledger, pupil, s3="third-party information")
        withheld = result.bundle["events"][2]
        assert withheld["redacted"] is True and "payload" not in withheld and "salt" not in withheld
        assert withheld["reason"] == "third-party information"
        assert verify_bundle(result.bundle).valid
        assert records.entries(pupil.id)[-1].payload["redacted_seqs"] == [3]

    def test_an_altered_redacted_commitment_does_not_verify(
        self, records: PupilRecords, ledger: Ledger
    ) -> None:
        pupil = _pupil_with_history(records)
        bundle = _export(records, ledger, pupil, s3="third-party").bundle
        bundle["events"][2]["commitment"] = "00" * 32
        failure = verify_bundle(bundle).failure
        assert failure is not None and failure.check == "chain" and failure.seq == 3

    @pytest.mark.parametrize(
        ("tamper", "check", "seq"),
        [
            (lambda b: b["events"][1]["payload"].update(description="edited"), "chain", 2),
            (lambda b: b["events"][0].update(salt="00" * 32), "chain", 1),
            (lambda b: b["events"].pop(2), "sequence", 3),
            (lambda b: b["events"].insert(1, copy.deepcopy(b["events"][1])), "sequence", 3),
            (lambda b: b["events"].__setitem__(slice(1, 3), b["events"][2:0:-1]), "sequence", 2),
            (lambda b: b["events"].pop(), "head", 4),
            (lambda b: b["checkpoint"].update(size=b["checkpoint"]["size"] + 1), "signature", None),
            (lambda b: b.update(signature="00" * 64), "signature", None),
            (
                lambda b: b["inclusion_proof"].reverse() or b["inclusion_proof"].append("00" * 32),
                "inclusion",
                None,
            ),
            (lambda b: b["head"].update(log_index=b["head"]["log_index"] + 1), "inclusion", None),
        ],
    )
    def test_every_tamper_is_named(
        self, records: PupilRecords, ledger: Ledger, tamper: Any, check: str, seq: int | None
    ) -> None:
        for n in range(3):
            records.save(a_pupil(f"Noise{n}"))  # so the proof has several elements
        pupil = _pupil_with_history(records)
        bundle = _export(records, ledger, pupil).bundle
        tamper(bundle)
        failure = verify_bundle(bundle).failure
        assert failure is not None and (failure.check, failure.seq) == (check, seq), failure

    def test_a_different_public_key_is_refused(self, records: PupilRecords, ledger: Ledger) -> None:
        bundle = _export(records, ledger, _pupil_with_history(records)).bundle
        other = Ed25519PrivateKey.generate()
        forged = build_ledger(records, other, None).public_key
        failure = verify_bundle(bundle, forged).failure
        assert failure is not None and failure.check == "public key"

    def test_redaction_needs_an_entry_and_a_reason(
        self, records: PupilRecords, ledger: Ledger
    ) -> None:
        pupil = _pupil_with_history(records)
        with pytest.raises(InvalidEntry, match="cannot redact entry 9"):
            _export(records, ledger, pupil, s9="x")
        with pytest.raises(InvalidEntry, match="needs a reason"):
            _export(records, ledger, pupil, s2=" ")
        assert records.entries(pupil.id)[-1].type == "EntryCorrected"  # nothing recorded

    def test_after_a_shred_every_other_export_and_consistency_proof_verifies(
        self, records: PupilRecords, ledger: Ledger
    ) -> None:
        pupils = [_pupil_with_history(records, f"P{n}") for n in range(4)]
        before = ledger.checkpoint()
        records.shred(pupils[1].id)
        with pytest.raises(PupilPurged):
            _export(records, ledger, pupils[1])
        for other in pupils[:1] + pupils[2:]:
            assert verify_bundle(_export(records, ledger, other).bundle).valid
        after = ledger.checkpoint()
        old, new = before.checkpoint, after.checkpoint
        proof = ledger.consistency_proof(old["size"], new["size"])
        assert verify_consistency(
            old["size"], new["size"], bytes.fromhex(old["root"]), bytes.fromhex(new["root"]), proof
        )

    def test_the_tribunal_bundle_reads_in_date_order_with_both_dates(
        self, records: PupilRecords, ledger: Ledger
    ) -> None:
        pupil = _pupil_with_history(records)
        add_concern(loaded := records.get_pupil(pupil.id), "Refuses to <script>enter</script> hall")
        records.save(loaded)
        result = _export(records, ledger, pupil, s3="third-party information")
        html = render_bundle_html(result.bundle, result.digest)
        assert "How to check this bundle" in html and result.digest in html
        assert "chronicle verify" in html and result.bundle["public_key"] in html
        assert "Withheld" in html and "third-party information" in html
        assert "Corrected by entry #5" in html
        assert "&lt;script&gt;" in html and "<script>" not in html
        assert "counter(page)" in html and "Index" in html
        for event in result.bundle["events"]:
            assert event["leaf_hash"] in html
        happened = [e["payload"]["happened_on"] for e in result.bundle["events"] if "payload" in e]
        positions = [html.index(f"Happened <strong>{d}") for d in sorted(set(happened))]
        assert positions == sorted(positions)


def test_bundle_json_round_trips(tmp_path: Path, records: PupilRecords, ledger: Ledger) -> None:
    bundle = _export(records, ledger, _pupil_with_history(records)).bundle
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle, indent=1, ensure_ascii=False))
    assert verify_bundle(json.loads(path.read_text())).valid


# ----- chronicle-export/2: the signed manifest -------------------------------------------

DPO = Recorder("TRUST-dpo-1", Role.DPO)
Tamper = Callable[[dict[str, Any]], Any]


def _withhold_shown(bundle: dict[str, Any], index: int) -> None:
    """Rewrite a shown entry as withheld, keeping its commitment: the chain still links."""
    event = bundle["events"][index]
    commitment = commitment_hex(bytes.fromhex(event["salt"]), event["payload"])
    bundle["events"][index] = {
        "seq": event["seq"],
        "type": event["type"],
        "redacted": True,
        "commitment": commitment,
        "reason": "not relevant",
        "leaf_hash": event["leaf_hash"],
    }


def _forge_access_row(bundle: dict[str, Any]) -> None:
    """Pass a forged read off as an access-log entry: withheld (so its commitment links the
    chain) yet carrying a payload that the HTML's "Who read" table would show."""
    row = bundle["access_log"]["events"][1]
    forged = dict(row["payload"], recorded_by={"staff_id": "nobody", "role": "sendco"})
    forged_row = {
        "seq": row["seq"],
        "type": row["type"],
        "redacted": True,
        "commitment": commitment_hex(bytes.fromhex(row["salt"]), row["payload"]),
        "reason": "x",
        "payload": forged,
        "leaf_hash": row["leaf_hash"],
    }
    bundle["access_log"]["events"][1] = forged_row


def _resign(bundle: dict[str, Any], key: Ed25519PrivateKey) -> None:
    """What a forger with their own key can do: re-sign the checkpoint and the manifest."""
    bundle["public_key"] = public_key_hex(key)
    bundle["checkpoint"]["log"] = log_id(bundle["public_key"])
    bundle["signature"] = sign_checkpoint(key, bundle["checkpoint"])
    bundle["manifest"] = manifest_of(bundle)
    bundle["manifest_signature"] = sign_manifest(key, bundle["manifest"])


TRIBUNAL_FORGERIES: list[tuple[str, Tamper, str, int | None]] = [
    ("shown entry rewritten as withheld", lambda b: _withhold_shown(b, 1), "withheld", 2),
    (
        "withheld entry given a payload",
        lambda b: b["events"][2].update(payload={"description": "FORGED"}),
        "withheld entry",
        3,
    ),
    (
        "withheld reason changed",
        lambda b: b["events"][2].update(reason="no longer relevant"),
        "withheld reason",
        3,
    ),
    ("purpose changed", lambda b: b.update(purpose="copy_to_parents"), "purpose", None),
    ("recipient changed", lambda b: b.update(recipient="A newspaper"), "recipient", None),
    ("time changed", lambda b: b.update(time="2020-01-01T00:00:00Z"), "time", None),
    ("legal basis changed", lambda b: b.update(legal_basis="consent"), "legal_basis", None),
    (
        "exporter changed",
        lambda b: b["exported_by"].update(staff_id="someone-else"),
        "exported_by.staff_id",
        None,
    ),
    ("policy changed", lambda b: b.update(policy="Another Trust"), "policy", None),
    ("purpose stripped", lambda b: b.pop("purpose"), "purpose", None),
    ("an unsigned field added", lambda b: b.update(requester="x"), "unsigned field", None),
    ("manifest stripped", lambda b: b.pop("manifest"), "manifest", None),
    (
        "manifest changed to match",
        lambda b: b.update(purpose="x") or b["manifest"].update(purpose="x"),
        "manifest signature",
        None,
    ),
    (
        "manifest re-signed by another key",
        lambda b: b.update(
            manifest_signature=sign_manifest(Ed25519PrivateKey.generate(), manifest_of(b))
        ),
        "manifest signature",
        None,
    ),
]

SAR_FORGERIES: list[tuple[str, Tamper, str, int | None]] = [
    ("a forged access-log row", _forge_access_row, "access log entry", 2),
    (
        "an access-log row changed",
        lambda b: b["access_log"]["events"][1]["payload"].update(purpose="forged"),
        "access log chain",
        2,
    ),
    ("access_log stripped", lambda b: b.pop("access_log"), "access_log", None),
    ("subject_access stripped", lambda b: b.pop("subject_access"), "subject_access", None),
    (
        "third_party_review stripped",
        lambda b: b["subject_access"].pop("third_party_review"),
        "subject_access.third_party_review",
        None,
    ),
    (
        "a third-party review row dropped",
        lambda b: b["subject_access"]["third_party_review"].pop(),
        "subject_access.third_party_review",
        None,
    ),
    (
        "response date changed",
        lambda b: b["subject_access"].update(respond_by="2099-01-01"),
        "subject_access.respond_by",
        None,
    ),
    ("purpose changed", lambda b: b.update(purpose="send_tribunal_appeal"), "purpose", None),
]


@pytest.fixture
def subject_access_bundle(records: PupilRecords, ledger: Ledger) -> dict[str, Any]:
    pupil = a_pupil(concerns=1)
    pupil.receive_advice(
        agency=AgencyKind.EDUCATIONAL_PSYCHOLOGIST,
        service="Northshire Educational Psychology Service",
        professional="Dr Ottoline Vance",
        summary="Working memory well below age expectations",
        recommendations=("Chunk instructions",),
        **on(date(2025, 2, 1)),
    )
    records.save(pupil)
    record_views(records, [pupil.id], SENDCO, "chronology", "annual review prep")
    record_views(records, [pupil.id], DPO, "record", "SAR-2026-014")
    pupil = records.get_pupil(pupil.id)
    pupil.request_subject_access(
        request_reference="SAR-2026-014",
        requester_relationship="parent",
        **on(date(2026, 1, 31), DPO),
    )
    records.save(pupil)
    bundle = export_subject_access(records, ledger, pupil.id, DPO).bundle
    assert bundle["subject_access"]["third_party_review"], "the fixture needs a review row"
    assert len(bundle["access_log"]["events"]) == 3
    return bundle


class TestSignedManifest:
    def test_the_bundle_carries_what_the_manifest_signs(
        self, records: PupilRecords, ledger: Ledger
    ) -> None:
        result = _export(records, ledger, _pupil_with_history(records), s3="third-party")
        bundle = result.bundle
        assert bundle["format"] == "chronicle-export/2"
        assert (bundle["recipient"], bundle["legal_basis"]) == (
            TRIBUNAL.recipient,
            TRIBUNAL.legal_basis,
        )
        assert bundle["exported_by"] == {"staff_id": "tribunal-clerk-1", "role": "tribunal"}
        assert bundle["policy"] == records.policy.trust
        assert "requester" not in bundle  # version 1's name for the recipient
        manifest = bundle["manifest"]
        assert manifest == manifest_of(bundle)
        assert manifest["entries"][2] == {
            "seq": 3,
            "type": "ConcernRaised",
            "withheld": "third-party",
        }
        assert manifest["entries"][1]["withheld"] is None
        assert manifest["checkpoint"] == bundle["checkpoint"]
        assert (manifest["access_log"], manifest["subject_access"]) == (None, None)
        # The recorded digest is still of the whole bundle, manifest and signature included.
        assert result.digest == bundle_digest(bundle)
        assert records.entries(UUID(bundle["pupil"]))[-1].payload["export_digest"] == result.digest
        verdict = verify_bundle(bundle, ledger.public_key)
        assert verdict.valid and verdict.anchored and verdict.version == 2, verdict.failure

    @pytest.mark.parametrize(
        ("tamper", "check", "seq"),
        [pytest.param(t, c, s, id=name) for name, t, c, s in TRIBUNAL_FORGERIES],
    )
    def test_every_forgery_of_a_tribunal_bundle_is_named(
        self,
        records: PupilRecords,
        ledger: Ledger,
        tamper: Tamper,
        check: str,
        seq: int | None,
    ) -> None:
        bundle = _export(records, ledger, _pupil_with_history(records), s3="third-party").bundle
        assert verify_bundle(bundle, ledger.public_key).valid
        tamper(bundle)
        for key in (ledger.public_key, None):
            failure = verify_bundle(bundle, key).failure
            assert failure is not None and (failure.check, failure.seq) == (check, seq), failure

    def test_every_forgery_of_a_subject_access_bundle_is_named(
        self, subject_access_bundle: dict[str, Any], ledger: Ledger
    ) -> None:
        assert verify_bundle(subject_access_bundle, ledger.public_key).valid
        for name, tamper, check, seq in SAR_FORGERIES:
            bundle = copy.deepcopy(subject_access_bundle)
            tamper(bundle)
            failure = verify_bundle(bundle, ledger.public_key).failure
            assert failure is not None, name
            assert (failure.check, failure.seq) == (check, seq), (name, failure)

    def test_a_duplicate_key_anywhere_is_refused(
        self, records: PupilRecords, ledger: Ledger
    ) -> None:
        bundle = _export(records, ledger, _pupil_with_history(records)).bundle
        text = json.dumps(bundle, indent=1)
        assert verify_bundle(text, ledger.public_key).valid
        top = text.replace('"purpose": ', '"purpose": "copy_to_parents",\n "purpose": ', 1)
        nested = text.replace('"salt": ', '"salt": "00",\n "salt": ', 1)
        for doubled, key in ((top, "purpose"), (nested, "salt")):
            failure = verify_bundle(doubled.encode(), ledger.public_key).failure
            assert failure is not None and failure.check == "duplicate key", failure
            assert repr(key) in failure.message

    def test_a_bundle_re_signed_by_another_key_is_not_anchored(
        self, records: PupilRecords, ledger: Ledger
    ) -> None:
        bundle = _export(records, ledger, _pupil_with_history(records)).bundle
        bundle["purpose"] = "copy_to_parents"
        forger = Ed25519PrivateKey.generate()
        _resign(bundle, forger)
        alone = verify_bundle(bundle)
        assert alone.valid and not alone.anchored  # consistent, but only with its own key
        assert alone.public_key == public_key_hex(forger) != ledger.public_key
        failure = verify_bundle(bundle, ledger.public_key).failure
        assert failure is not None and failure.check == "public key"

    def test_the_html_renders_only_a_verified_bundle(
        self, records: PupilRecords, ledger: Ledger
    ) -> None:
        pupil = _pupil_with_history(records)
        result = _export(records, ledger, pupil, s3="third-party information")
        withheld_text = records.entries(pupil.id)[2].payload["description"]
        html = render_bundle_html(result.bundle, result.digest)
        assert withheld_text not in html and "third-party information" in html
        assert TRIBUNAL.legal_basis in html and "tribunal-clerk-1" in html
        for _, tamper, _, _ in TRIBUNAL_FORGERIES:
            forged = copy.deepcopy(result.bundle)
            tamper(forged)
            with pytest.raises(UnverifiedBundle):
                render_bundle_html(forged, bundle_digest(forged))
        with pytest.raises(UnverifiedBundle, match="digest"):
            render_bundle_html(result.bundle, "00" * 32)

    def test_the_html_of_a_subject_access_bundle_refuses_forged_reads(
        self, subject_access_bundle: dict[str, Any]
    ) -> None:
        digest = bundle_digest(subject_access_bundle)
        assert "Who read these records" in render_bundle_html(subject_access_bundle, digest)
        for _, tamper, _, _ in SAR_FORGERIES:
            forged = copy.deepcopy(subject_access_bundle)
            tamper(forged)
            with pytest.raises(UnverifiedBundle):
                render_bundle_html(forged, bundle_digest(forged))

    def test_a_version_1_bundle_is_not_rendered(
        self, records: PupilRecords, ledger: Ledger
    ) -> None:
        v1 = json.loads((Path(__file__).parents[1] / V1_FIXTURE).read_text())
        assert verify_bundle(v1).version == 1
        with pytest.raises(UnverifiedBundle, match="chronicle-export/1"):
            render_bundle_html(v1, bundle_digest(v1))


V1_FIXTURE = "unit/crypto/testdata/export-v1.json"
