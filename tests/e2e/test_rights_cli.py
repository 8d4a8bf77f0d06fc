"""The DPO's data-protection verbs as an operator runs them: a subject access request and its
export (verified offline), a correction and a refused erasure, visible in the chronology."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Store
from tests.e2e.test_cli import _json, ok, refused, run


def test_subject_access_rectification_and_erasure_refusal(tmp_path: Path, store: Store) -> None:
    home = tmp_path / "home"
    db = None if store.kind == "sqlite" else store.url
    ok(run(home, "init", db=db))
    ok(run(home, "demo", "--pupils", "4", db=db))
    pupil = _json(run(home, "pupils", "list", "--json", db=db))[0]["pupil_id"]
    refused(
        run(home, "export", pupil, "--subject-access", "--out", str(tmp_path / "x"), db=db),
        "no subject access request",
    )
    said = ok(
        run(
            home,
            *("retention", "sar-request", pupil, "--reference", "SAR-2026-014"),
            *("--requester", "parent", "--received", "2026-01-31", "--by", "dpo-ada"),
            db=db,
        )
    )
    assert "response due by 2026-02-28" in said
    bundle_path, html_path = tmp_path / "sar.json", tmp_path / "sar.html"
    ok(
        run(
            home,
            *("export", pupil, "--subject-access", "--by", "dpo-ada"),
            *("--out", str(bundle_path), "--html", str(html_path)),
            db=db,
        )
    )
    bundle = json.loads(bundle_path.read_text())
    assert bundle["purpose"] == "subject_access" and "access_log" in bundle
    assert "Subject access request SAR-2026-014" in html_path.read_text()
    verified = ok(run(home, "verify", str(bundle_path), db=db))
    assert "VALID" in verified and "access-log entries" in verified
    # The CLI's reads are logged too: the resolution of the UPN shows nothing, the export is
    # one read (the subject-access export reads the log first, so it holds the reads before).
    assert "and 0 access-log entries" not in verified
    bundle["access_log"]["stream"] = bundle["pupil"]  # another stream's log passed off
    bundle_path.write_text(json.dumps(bundle))
    tampered = run(home, "verify", str(bundle_path), db=db)
    assert tampered.returncode == 1 and "not this pupil's access stream" in tampered.stderr
    ok(
        run(
            home,
            *("retention", "correct", pupil, "--entry", "1", "--by", "dpo-ada"),
            *("--what-was-wrong", "Preferred name missing", "--correction", "Preferred: Jo"),
            *("--reason", "Rectification request SAR-2026-014"),
            db=db,
        )
    )
    ok(
        run(
            home,
            *("retention", "refuse-erasure", pupil, "--entry", "2", "--by", "dpo-ada"),
            *("--reference", "ER-2026-003", "--requester", "parent"),
            *("--reason", "Statutory SEND record", "--legal-basis", "UK GDPR art. 17(3)(b)"),
            db=db,
        )
    )
    refused(
        run(
            home,
            *("retention", "refuse-erasure", pupil, "--entry", "2", "--by", "dpo-ada"),
            *("--reference", "ER-2026-004", "--requester", "Mrs Smith"),
            *("--reason", "x", "--legal-basis", "y"),
            db=db,
        ),
        "requester_relationship: Input should be",
    )
    entries = _json(run(home, "chronology", pupil, "--json", db=db))
    first = next(e for e in entries if e["seq"] == 1)
    kinds = [e["type"] for e in entries]
    assert first["corrected_by"] and "ErasureRequestRefused" in kinds
    assert "SubjectAccessRequested" in kinds and "RecordsDisclosed" in kinds
