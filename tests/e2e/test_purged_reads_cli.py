"""Every CLI read of a purged pupil exits 1 with the signed purge record (who, when, the
record's signature), before and after a restore + `reapply-purges` (issue #14 part 7); and
`ledger acknowledge-loss` refuses staff ids that are not DPOs."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from projections.journal import read_records
from tests.e2e.test_cli import ok, refused, run


def _copy(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as a, sqlite3.connect(target) as b:
        a.backup(b)


def _purge_record(result_stderr: str, signature: str) -> None:
    assert "Purge record: purged at" in result_stderr, result_stderr
    assert "proposed by dpo-a, approved by dpo-b" in result_stderr
    assert f"signature {signature[:16]}" in result_stderr


def test_reads_of_a_purged_pupil_fail_with_the_purge_record(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ok(run(home, "init"))
    ok(run(home, "demo", "--pupils", "6"))
    pupil = json.loads(ok(run(home, "pupils", "list", "--json")))[0]["pupil_id"]
    database, backup = home / "chronicle.db", tmp_path / "backup.db"
    _copy(database, backup)
    ok(run(home, "retention", "propose-purge", pupil, "--by", "dpo-a", "--override", "test"))
    ok(run(home, "retention", "approve-purge", pupil, "--by", "dpo-b"))
    (record,) = read_records(home / "ledger" / "purges.jsonl")
    signature = record["signature"]
    result = run(home, "chronology", pupil)
    refused(result, "were purged")
    _purge_record(result.stderr, signature)

    _copy(backup, database)  # the backup from before the purge: the tombstone is gone
    ok(run(home, "retention", "reapply-purges"))
    for args in (
        ("chronology", pupil),
        ("chronology", pupil, "--json", "--as", "dsl"),
        ("access-log", "--pupil", pupil),
        ("export", pupil, "--purpose", "tribunal", "--out", str(tmp_path / "x.json")),
    ):
        result = run(home, *args)
        refused(result, "were purged")
        _purge_record(result.stderr, signature)
        assert result.stdout == ""
    assert not (tmp_path / "x.json").exists()

    # The CLI's two-DPO check: staff ids that are not DPOs on the users are refused first.
    acknowledge = ("ledger", "acknowledge-loss", "--from-size", "0", "--to-size", "9")
    who = ("--reason", "restore", "--by", "dpo-a", "--second", "dpo-b")
    refused(run(home, *acknowledge, *who), "'dpo-a' is not a data-protection officer")
    assert not (home / "ledger" / "losses.jsonl").exists()
