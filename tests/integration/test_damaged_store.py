"""Every start checks the store against its journals (`api.bootstrap.check_store`).

- A crash between a checkpoint's database commit and its journal append is repaired by the
  next start, which says how many checkpoints it re-journalled.
- A database behind its checkpoint journal — restored from an older backup (a real SQLite
  `.backup` / `pg_dump` and restore), emptied, deleted or replaced by another
  installation's — is refused with one line naming both sizes and the runbook, and nothing
  is changed; the runbook's ways forward (restore the newer backup, or move the journal
  aside to accept the loss) then work.
- A damaged SQLite file (cut in half, a page overwritten) is refused by `PRAGMA
  quick_check` before anything reads it; CHRONICLE_SQLITE_QUICK_CHECK turns that off.
- Torn lines in both journals stop nothing: the CLI's `init` and `ledger verify` go on
  and say what was set aside.

On SQLite and PostgreSQL wherever a database is involved.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from api.bootstrap import SetupError, init_home, journal_path, open_ledger, purge_journal_path
from api.bootstrap import open_records as open_home_records
from api.settings import Settings, load_settings
from projections.journal import HeldJournal, read_journal_file, torn_path
from tests.conftest import Store
from tests.factories import a_pupil


class Crash(BaseException):
    """The process dies here."""


def _settings(store: Store, tmp_path: Path, name: str = "home", **kw: object) -> Settings:
    return Settings(home=tmp_path / name, database_url=store.url, **kw)  # type: ignore[arg-type]


def _write(settings: Settings, pupils: int = 1) -> int:
    """Register pupils and sign a checkpoint, as any verb does; the checkpoint's size."""
    records = open_home_records(settings)
    try:
        for _ in range(pupils):
            records.save(a_pupil())
        return int(open_ledger(settings, records).checkpoint().checkpoint["size"])
    finally:
        records.close()


def _journal_sizes(settings: Settings) -> list[int]:
    return [r["checkpoint"]["size"] for r in read_journal_file(journal_path(settings)).records]


def _database_sizes(store: Store) -> list[int]:
    engine = create_engine(store.url)
    try:
        with engine.connect() as c:
            return [s for (s,) in c.execute(text("SELECT size FROM ledger_checkpoints ORDER BY 1"))]
    finally:
        engine.dispose()


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg2://", "postgresql://", 1)


def _backup(store: Store, to: Path) -> None:
    """SQLite's online backup (`.backup`), or `pg_dump` of the test's schema."""
    if store.kind == "sqlite":
        assert store.sqlite_path is not None
        source, target = sqlite3.connect(store.sqlite_path), sqlite3.connect(to)
        source.backup(target)
        source.close(), target.close()
    else:
        assert store.database is not None and store.schema is not None
        subprocess.run(
            ["pg_dump", "--no-owner", "-n", store.schema, "-f", str(to), _libpq(store.database)],
            check=True,
        )


def _restore(store: Store, backup: Path) -> None:
    """As docs/operations.md says: the backup copied over the file (no -wal, -shm), or the
    schema dropped and the dump loaded."""
    if store.kind == "sqlite":
        assert store.sqlite_path is not None
        for extra in ("-wal", "-shm"):
            Path(f"{store.sqlite_path}{extra}").unlink(missing_ok=True)
        shutil.copyfile(backup, store.sqlite_path)
        return
    _wipe(store, recreate=False)
    assert store.database is not None
    subprocess.run(
        ["psql", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(backup), _libpq(store.database)],
        check=True,
        capture_output=True,
    )


def _wipe(store: Store, *, recreate: bool = True) -> None:
    """The database gone: the SQLite file deleted, or the schema dropped (and made anew)."""
    if store.kind == "sqlite":
        for extra in ("", "-wal", "-shm"):
            Path(f"{store.sqlite_path}{extra}").unlink(missing_ok=True)
        return
    assert store.database is not None
    engine = create_engine(store.database, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as c:
            c.execute(text(f"DROP SCHEMA {store.schema} CASCADE"))
            if recreate:
                c.execute(text(f"CREATE SCHEMA {store.schema}"))
    finally:
        engine.dispose()


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICLE_")}
    environ["CHRONICLE_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


# ----- the journal reconciled with the database ----------------------------------------------


def test_a_crash_between_the_database_commit_and_the_journal_append_is_repaired_at_start(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(store, tmp_path)
    init_home(settings)
    _write(settings)

    def crash(*_: object) -> None:
        raise Crash("after the database commit, before the journal append")

    monkeypatch.setattr(HeldJournal, "append", crash)
    records = open_home_records(settings)
    try:  # one process: two checkpoints committed, each dying before its journal line
        ledger = open_ledger(settings, records)
        for _ in range(2):
            records.save(a_pupil())
            with pytest.raises(Crash):
                ledger.checkpoint()
    finally:
        records.close()
    monkeypatch.undo()
    stored = _database_sizes(store)
    assert len(stored) == 3 and _journal_sizes(settings) == stored[:1]

    with caplog.at_level(logging.WARNING, logger="chronicle.start"):
        open_home_records(settings).close()
    said = [r.getMessage() for r in caplog.records if r.name == "chronicle.start"]
    assert len(said) == 1 and said[0].startswith("2 checkpoint(s) re-journalled")
    assert f"(sizes {stored[1]}, {stored[2]})" in said[0]
    assert _journal_sizes(settings) == stored
    records = open_home_records(settings)
    try:  # the very records the database holds, signatures and all
        ledger = open_ledger(settings, records)
        assert ledger.journal_checkpoints() == ledger.checkpoints()
    finally:
        records.close()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="chronicle.start"):
        open_home_records(settings).close()
    assert not [r for r in caplog.records if r.name == "chronicle.start"]  # said once


# ----- a database behind its journal -----------------------------------------------------


def test_a_database_restored_from_before_a_journalled_checkpoint_is_refused(
    store: Store, tmp_path: Path
) -> None:
    settings = _settings(store, tmp_path)
    init_home(settings)
    older = _write(settings, pupils=2)
    _backup(store, tmp_path / "older.backup")
    newer = _write(settings, pupils=2)
    _backup(store, tmp_path / "newer.backup")
    assert newer > older

    _restore(store, tmp_path / "older.backup")
    journal = journal_path(settings)
    before = journal.read_bytes()
    for check_purges in (True, False):  # `retention reapply-purges` too
        with pytest.raises(SetupError) as refused:
            open_home_records(settings, check_purges=check_purges)
        message = str(refused.value)
        assert f"holds checkpoints up to size {older} " in message
        assert f"records a checkpoint of size {newer} " in message
        assert 'Recovery runbook, "Database behind its journal"' in message
        assert "Nothing was changed" in message and "\n" not in message
    assert journal.read_bytes() == before and _database_sizes(store) == [older]

    # The runbook's first way forward: restore the newest backup.
    _restore(store, tmp_path / "newer.backup")
    open_home_records(settings).close()
    # Its second: accept the loss by moving the journal aside (kept: it records the loss).
    _restore(store, tmp_path / "older.backup")
    with pytest.raises(SetupError):
        open_home_records(settings)
    journal.rename(journal.with_name("checkpoints.jsonl.before-restore"))
    open_home_records(settings).close()
    assert _journal_sizes(settings) == [older]  # the database's checkpoints, journalled anew
    assert _write(settings) > older


def test_a_database_replaced_by_another_installations_is_refused(
    store: Store, tmp_path: Path
) -> None:
    ours = _settings(store, tmp_path, "ours")
    init_home(ours)
    size = _write(ours, pupils=2)
    _wipe(store)
    theirs = _settings(store, tmp_path, "theirs")
    init_home(theirs)
    assert _write(theirs, pupils=4) > size  # larger, but not our history
    with pytest.raises(SetupError) as refused:
        open_home_records(ours)
    message = str(refused.value)
    assert f"has no checkpoint of size {size} with the root" in message
    assert "another installation's database" in message and "\n" not in message


@pytest.mark.parametrize("how", ["deleted", "emptied"])
def test_a_deleted_or_emptied_sqlite_file_is_refused_and_not_made_anew(
    tmp_path: Path, how: str
) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home)
    init_home(settings)
    size = _write(settings, pupils=2)
    database = settings.sqlite_path
    if how == "deleted":
        database.unlink()
    else:
        database.write_bytes(b"")
    for extra in ("-wal", "-shm"):
        Path(f"{database}{extra}").unlink(missing_ok=True)
    what = "does not exist" if how == "deleted" else "is empty (0 bytes)"
    with pytest.raises(SetupError) as refused:
        open_home_records(settings)
    assert f"the database file {database} {what} but the checkpoint journal" in str(refused.value)
    # `init` too: it would otherwise start an empty store over the lost one.
    line = _one_error_line(_cli(home, *(["init"] if how == "deleted" else ["pupils", "list"])))
    assert f"the database file {database} {what} but the checkpoint journal" in line
    assert f"records a checkpoint of size {size} " in line
    assert 'Recovery runbook, "Database behind its journal"' in line
    assert database.exists() == (how == "emptied")  # nothing made anew, nothing written
    assert not database.exists() or database.stat().st_size == 0


# ----- a damaged SQLite file -------------------------------------------------------------


def _filled(tmp_path: Path, **kw: object) -> Settings:
    settings = Settings(home=tmp_path / "home", **kw)  # type: ignore[arg-type]
    init_home(settings)
    _write(settings, pupils=40)
    connection = sqlite3.connect(settings.sqlite_path)  # everything in the main file
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    return settings


def _events_root_page(database: Path, name: str = "chronicle_events") -> tuple[int, int]:
    """The page size and the root page of a table or index."""
    connection = sqlite3.connect(database)
    try:
        (page_size,) = connection.execute("PRAGMA page_size").fetchone()
        (root,) = connection.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = ?", (name,)
        ).fetchone()
    finally:
        connection.close()
    return int(page_size), int(root)


@pytest.mark.parametrize("damage", ["cut in half", "a page overwritten"])
def test_a_damaged_sqlite_file_is_refused_with_one_line(tmp_path: Path, damage: str) -> None:
    settings = _filled(tmp_path)
    database = settings.sqlite_path
    data = bytearray(database.read_bytes())
    if damage == "cut in half":
        data = data[: len(data) // 2]
    else:
        page_size, root = _events_root_page(database)
        data[(root - 1) * page_size : root * page_size] = b"\xa5" * page_size
    database.write_bytes(bytes(data))
    with pytest.raises(SetupError) as refused:
        open_home_records(settings)
    message = str(refused.value)
    assert message.startswith(f"the SQLite database {database} is damaged (quick_check: ")
    assert 'Recovery runbook, "Damaged database"' in message and "\n" not in message
    assert database.read_bytes() == bytes(data)  # refused before anything wrote to it
    if damage == "cut in half":
        line = _one_error_line(_cli(settings.home, "serve"))  # the service does not start
        assert "is damaged (quick_check: " in line


def test_quick_check_is_a_setting_on_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Settings().sqlite_quick_check is True
    monkeypatch.setenv("CHRONICLE_SQLITE_QUICK_CHECK", "false")
    assert load_settings().sqlite_quick_check is False
    monkeypatch.delenv("CHRONICLE_SQLITE_QUICK_CHECK")
    # A damaged page that nothing reads at start (an index of the ledger's leaves, used by
    # chain look-ups only): only quick_check finds it.
    settings = _filled(tmp_path, sqlite_quick_check=False)
    page_size, root = _events_root_page(settings.sqlite_path, "ledger_leaves_pupil_seq")
    with settings.sqlite_path.open("r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\xa5" * page_size)
    open_home_records(settings).close()  # not checked, so not refused
    with pytest.raises(SetupError, match="is damaged"):
        open_home_records(Settings(home=settings.home))


# ----- torn journal lines stop nothing ---------------------------------------------------


def test_torn_lines_in_both_journals_stop_no_command_and_are_said(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home)
    init_home(settings)
    _write(settings)
    _write(settings)
    checkpoints, purges = journal_path(settings), purge_journal_path(settings)
    whole = checkpoints.read_bytes().splitlines(keepends=True)[-1]
    with checkpoints.open("ab") as f:
        f.write(whole[: len(whole) // 2])  # a crash part-way through an append
    purges.write_bytes(b'{"record": {"record": {"format": "chronicle-purge/1", "pu')
    verify = _cli(home, "ledger", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "Traceback" not in verify.stderr
    said = [line for line in verify.stderr.splitlines() if "torn line(s)" in line]
    assert len(said) == 2 and all("set aside in" in line for line in said), verify.stderr
    for journal in (checkpoints, purges):
        kept = [json.loads(line) for line in torn_path(journal).read_text().splitlines()]
        assert len(kept) == 1 and kept[0]["reason"] == "not one valid JSON record"
        assert read_journal_file(journal).torn == []
    assert len(read_journal_file(checkpoints).records) == 2
    again = _cli(home, "init")
    assert again.returncode == 0 and "torn" not in again.stderr  # set aside once, said once
