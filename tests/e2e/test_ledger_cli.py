"""The ledger and export verbs as an operator and a tribunal clerk use them."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.e2e.test_cli import ok, refused, run


def _demo(home: Path) -> list[dict[str, object]]:
    ok(run(home, "init"))
    ok(run(home, "demo", "--pupils", "12"))
    return json.loads(ok(run(home, "pupils", "list", "--json")))  # type: ignore[no-any-return]


def test_export_then_verify_offline(tmp_path: Path) -> None:
    home = tmp_path / "home"
    pupil = _demo(home)[0]
    bundle, html = tmp_path / "bundle.json", tmp_path / "bundle.html"
    said = ok(
        run(
            home,
            "export",
            str(pupil["upn"]),
            "--purpose",
            "send_tribunal_appeal",
            "--out",
            str(bundle),
            "--html",
            str(html),
            "--redact",
            "2=third-party information",
            "--recipient",
            "First-tier Tribunal",
            "--by",
            "OAK-sendco-1",
        )
    )
    assert "recorded on the pupil as RecordsDisclosed" in said
    key = json.loads(ok(run(home, "ledger", "checkpoint", "--json")))["public_key"]
    elsewhere = tmp_path / "clerk"  # the clerk has no CHRONICLE_HOME at all
    assert "VALID" in ok(run(elsewhere, "verify", str(bundle), "--public-key", key))
    assert "third-party information" in html.read_text()
    chronology = json.loads(ok(run(home, "chronology", str(pupil["pupil_id"]), "--json")))
    assert chronology[-1]["type"] == "RecordsDisclosed" or any(
        e["type"] == "RecordsDisclosed" for e in chronology
    )
    data = json.loads(bundle.read_text())
    data["events"][0]["payload"]["legal_family_name"] = "Someone Else"
    bundle.write_text(json.dumps(data))
    result = run(elsewhere, "verify", str(bundle))
    assert result.returncode == 1 and "chain (event 1)" in result.stderr


def test_bad_redaction_is_a_usage_error(tmp_path: Path) -> None:
    pupil = _demo(tmp_path)[0]
    result = run(
        tmp_path,
        "export",
        str(pupil["pupil_id"]),
        "--purpose",
        "x",
        "--out",
        str(tmp_path / "b.json"),
        "--redact",
        "two=because",
    )
    assert result.returncode == 2 and "SEQ=REASON" in result.stderr + result.stdout
    assert not (tmp_path / "b.json").exists()


def test_ledger_verify_names_a_tampered_event(tmp_path: Path) -> None:
    _demo(tmp_path)
    assert "The ledger verifies" in ok(run(tmp_path, "ledger", "verify"))
    engine = create_engine(f"sqlite:///{tmp_path}/chronicle.db")
    with engine.begin() as conn:
        state = conn.execute(text("SELECT state FROM chronicle_events WHERE id = 7")).scalar_one()
        flipped = bytes(state[:-1]) + bytes([state[-1] ^ 1])
        conn.execute(text("UPDATE chronicle_events SET state = :s WHERE id = 7"), {"s": flipped})
    engine.dispose()
    result = run(tmp_path, "ledger", "verify")
    refused(result, "the ledger does not verify: 1 problems")
    assert "problem: ciphertext: entry" in result.stderr and "log index 6" in result.stderr


def test_consistency_between_checkpoints(tmp_path: Path) -> None:
    _demo(tmp_path)
    size = json.loads(ok(run(tmp_path, "ledger", "checkpoint", "--json")))["checkpoint"]["size"]
    proof = json.loads(ok(run(tmp_path, "ledger", "consistency", "5", str(size), "--json")))
    assert proof["old_size"] == 5 and proof["new_size"] == size and proof["proof"]
    refused(run(tmp_path, "ledger", "consistency", "5", str(size + 10)), "sizes must satisfy")
