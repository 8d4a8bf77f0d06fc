"""Exports on SQLite and PostgreSQL: they verify offline, redactions keep them verifiable,
every tamper is named, and a shredded pupil breaks nobody else's proofs."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.application import PupilRecords
from api.bootstrap import build_ledger
from api.bundle_html import render_bundle_html
from api.export import Disclosure, Export, bundle_digest, export_pupil
from crypto.bundle_check import verify_bundle
from crypto.merkle import verify_consistency
from domain.errors import InvalidEntry, PupilPurged
from domain.values import Recorder, Role
from projections.ledger import Ledger
from tests.factories import SENDCO, a_pupil, add_concern

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
