"""The restore runbook end to end, through the composition root every verb starts from:
a database restored from a backup older than its checkpoint journal is refused at start,
yet `ledger verify`, `ledger acknowledge-loss` and `retention reapply-purges` open it; once
two DPOs acknowledged exactly the lost checkpoints, the installation starts again, and a
later, unacknowledged loss is refused as before. On SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from api.bootstrap import SetupError, init_home, open_ledger
from api.bootstrap import open_records as open_home_records
from api.ledger_losses import acknowledge_loss
from api.users import Users
from crypto.signing import load_signing_key
from projections.ledger_audit import audit
from projections.ledger_losses import LossBook
from tests.conftest import Store
from tests.integration.test_damaged_store import _backup, _restore, _settings, _write


def test_a_restore_is_refused_at_start_until_two_dpos_acknowledge_the_loss(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(store, tmp_path)
    init_home(settings)
    kept = _write(settings, pupils=2)
    _backup(store, tmp_path / "older.backup")
    lost = _write(settings, pupils=2)
    _restore(store, tmp_path / "older.backup")

    with pytest.raises(SetupError, match=f"records a checkpoint of size {lost} "):
        open_home_records(settings)
    # The runbook's verbs open it, and say why.
    with caplog.at_level(logging.WARNING, logger="chronicle.start"):
        records = open_home_records(settings, check_behind=False)
    said = [r.getMessage() for r in caplog.records if r.name == "chronicle.start"]
    assert any("opened for the restore runbook's verbs only" in line for line in said), said
    try:
        ledger = open_ledger(settings, records)
        users = Users(records.datastore.engine)
        for name in ("dpo-ada", "dpo-bo"):
            users.add(name, "dpo", [], datetime.now(UTC))
        report = audit(ledger, opener=records.sealing_mapper.committed)
        assert report.loss is not None and (report.loss.from_size, report.loss.to_size) == (
            kept,
            lost,
        )
        acknowledge_loss(
            records.datastore.engine,
            ledger,
            load_signing_key(settings.keys_dir),
            from_size=kept,
            to_size=lost,
            reason="restored the backup after the disk failure (OPS-41)",
            by="dpo-ada",
            second="dpo-bo",
            now=datetime.now(UTC),
        )
        book = LossBook.beside(records.datastore.engine, ledger)
        assert audit(
            ledger, opener=records.sealing_mapper.committed, acknowledged=book.acknowledged()
        ).ok
    finally:
        records.close()

    # Acknowledged: every verb starts again, and the log grows on.
    open_home_records(settings).close()
    again = _write(settings, pupils=1)
    assert again > kept
    # A later loss nobody acknowledged is refused as before.
    _backup(store, tmp_path / "second.backup")
    newest = _write(settings, pupils=1)
    _restore(store, tmp_path / "second.backup")
    with pytest.raises(SetupError, match=f"records a checkpoint of size {newest} "):
        open_home_records(settings)
