"""A restore loses what was written after the backup: `ledger verify` fails naming the lost
range until two DPOs acknowledge exactly it, then reports it as acknowledged (issue #14
part 5), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.application import PupilRecords
from api.bootstrap import build_ledger
from api.ledger_losses import LossRefused, acknowledge_loss
from api.users import Users
from crypto.chain import Checkpoint, log_id, sign_checkpoint
from crypto.signing import public_key_hex
from projections.journal import append_record, read_records
from projections.ledger import Ledger
from projections.ledger_audit import AuditReport, audit
from projections.ledger_losses import LossBook
from tests.conftest import Store
from tests.factories import a_pupil
from tests.integration.test_retention import _backup, _restore

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _audit(records: PupilRecords, ledger: Ledger) -> AuditReport:
    book = LossBook.beside(records.datastore.engine, ledger)
    return audit(
        ledger, records.sealing_mapper.committed, acknowledged=book.acknowledged(), settle=0.1
    )


def _acknowledge(records: PupilRecords, ledger: Ledger, key: Ed25519PrivateKey, **kw: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = {
        "reason": "restored the backup of 2 Dec (ticket OPS-41)",
        "by": "dpo-ada",
        "second": "dpo-bo",
    } | kw
    return acknowledge_loss(
        records.datastore.engine,
        ledger,
        key,
        now=NOW,
        settle=0.1,
        **args,  # type: ignore[arg-type]
    )


def test_a_restore_is_a_loss_until_two_dpos_acknowledge_exactly_it(
    records: PupilRecords, store: Store, tmp_path: Path
) -> None:
    key = Ed25519PrivateKey.generate()
    journal = tmp_path / "ledger" / "checkpoints.jsonl"
    ledger = build_ledger(records, key, journal)
    for n in range(3):
        records.save(a_pupil(f"Kept{n}", concerns=2))
    kept = ledger.checkpoint().checkpoint["size"]
    backup = _backup(store, tmp_path)
    for n in range(2):
        records.save(a_pupil(f"Lost{n}", concerns=1))
    lost = ledger.checkpoint().checkpoint["size"]
    ring = records.data_keys.ring
    records.close()
    _restore(store, backup)
    restored = PupilRecords(database_url=store.url, ring=ring)  # type: ignore[arg-type]
    try:
        ledger = build_ledger(restored, key, journal)
        restored.save(a_pupil("AfterRestore", concerns=4))  # the log grows past the lost size
        ledger.checkpoint()
        users = Users(restored.datastore.engine)
        for name, role in (("dpo-ada", "dpo"), ("dpo-bo", "dpo"), ("sen-cy", "sendco")):
            users.add(name, role, [], NOW)

        report = _audit(restored, ledger)
        assert not report.ok and report.loss is not None
        assert (report.loss.from_size, report.loss.to_size) == (kept, lost)
        assert any(
            f"checkpoint of size {lost} is in the journal but missing from the database" in str(p)
            for p in report.problems
        ), report.problems

        losses = tmp_path / "ledger" / "losses.jsonl"
        for refused, kw in (
            ("same person cannot acknowledge", {"second": "dpo-ada"}),
            ("'sen-cy' is not a data-protection officer", {"second": "sen-cy"}),
            ("'nobody' is not a data-protection officer", {"by": "nobody"}),
            ("give --reason", {"reason": "  "}),
            (f"from size {kept} to size {lost}, not from 0 to {lost}", {"from_size": 0}),
        ):
            args = {"from_size": kept, "to_size": lost} | kw
            with pytest.raises(LossRefused, match=refused):
                _acknowledge(restored, ledger, key, **args)
            assert not losses.exists()
            assert LossBook.beside(restored.datastore.engine, ledger).acknowledged() == []

        record = _acknowledge(restored, ledger, key, from_size=kept, to_size=lost)
        report = _audit(restored, ledger)
        assert report.ok, report.problems
        assert report.loss is None
        ((used, excused),) = report.acknowledged
        assert used.id == record.id and excused == 1
        assert "dpo-ada and dpo-bo" in used.describe() and "OPS-41" in used.describe()
        assert len(losses.read_text().splitlines()) == 1  # journalled once, and in the table
        with pytest.raises(LossRefused, match="no unacknowledged loss"):
            _acknowledge(restored, ledger, key, from_size=kept, to_size=lost)

        # The journal outlives the table: acknowledged still, from the journal alone.
        from sqlalchemy import text

        with restored.datastore.transaction(True) as session:
            session.execute(text("DELETE FROM ledger_losses"))
        assert _audit(restored, ledger).ok

        # A different mismatch is not excused: a journalled checkpoint of another size.
        size = ledger.size() + 5
        body: Checkpoint = {
            "log": log_id(public_key_hex(key)),
            "size": size,
            "root": "ab" * 32,
            "issued_at": "2026-12-03T13:00:00.000000Z",
        }
        append_record(
            journal,
            {
                "checkpoint": dict(body),
                "signature": sign_checkpoint(key, body),
                "public_key": public_key_hex(key),
            },
        )
        report = _audit(restored, ledger)
        assert not report.ok and report.loss is not None
        assert report.loss.checkpoints == ((size, "ab" * 32),)
        assert len(report.acknowledged) == 1  # the first loss stays acknowledged
    finally:
        restored.close()


def test_an_altered_acknowledgement_excuses_nothing(
    records: PupilRecords, store: Store, tmp_path: Path
) -> None:
    key = Ed25519PrivateKey.generate()
    journal = tmp_path / "ledger" / "checkpoints.jsonl"
    ledger = build_ledger(records, key, journal)
    records.save(a_pupil("Kept", concerns=2))
    ledger.checkpoint()
    backup = _backup(store, tmp_path)
    records.save(a_pupil("Lost", concerns=1))
    ledger.checkpoint()
    ring = records.data_keys.ring
    records.close()
    _restore(store, backup)
    restored = PupilRecords(database_url=store.url, ring=ring)  # type: ignore[arg-type]
    try:
        ledger = build_ledger(restored, key, journal)
        users = Users(restored.datastore.engine)
        for name in ("dpo-ada", "dpo-bo"):
            users.add(name, "dpo", [], NOW)
        loss = _audit(restored, ledger).loss
        assert loss is not None
        _acknowledge(restored, ledger, key, from_size=loss.from_size, to_size=loss.to_size)
        assert _audit(restored, ledger).ok
        losses = tmp_path / "ledger" / "losses.jsonl"
        from sqlalchemy import text

        with restored.datastore.transaction(True) as session:
            session.execute(text("DELETE FROM ledger_losses"))
        (acknowledgement,) = read_records(losses)
        acknowledgement["record"]["reason"] = "nothing happened"  # the signature no longer fits
        losses.unlink()
        append_record(losses, acknowledgement)
        report = _audit(restored, ledger)
        assert not report.ok
        assert any("is not signed by this trust's key" in str(p) for p in report.problems)
        assert report.loss is not None and report.acknowledged == []
    finally:
        restored.close()
