"""The journals outside the database (checkpoints, purges) survive crashes and a full disk.

Real files throughout: lines cut mid-way and records joined on one line are set aside in
`<journal>.torn` (kept, counted, said once), never fatal and never silently dropped; every
new line carries its checksum and old lines still read; an append on a full disk (a small
tmpfs this test mounts) fails with one clear line and leaves no partial bytes, and after
space is freed everything reads and the next append is intact — through the ledger too, on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.bootstrap import build_ledger
from api.retention import read_journal
from crypto.jcs import canonical_json
from projections.journal import (
    HeldJournal,
    JournalError,
    append_record,
    read_journal_file,
    read_records,
    torn_path,
)
from projections.ledger import LedgerError
from tests.conftest import OpenRecords
from tests.factories import a_pupil


def _record(n: int) -> dict[str, Any]:
    return {"checkpoint": {"size": n, "root": f"{n:064x}"}, "signature": "ab" * 32, "n": n}


def _legacy_line(record: dict[str, Any]) -> bytes:
    """A line as versions before the checksum wrote it."""
    return json.dumps(record, sort_keys=True).encode() + b"\n"


def _torn(journal: Path) -> list[dict[str, Any]]:
    kept = torn_path(journal)
    return [json.loads(line) for line in kept.read_text().splitlines()] if kept.exists() else []


# ----- the line format ---------------------------------------------------------------------


def test_each_new_line_carries_the_sha256_of_its_record_and_old_lines_still_read(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "ledger" / "checkpoints.jsonl"
    journal.parent.mkdir()
    journal.write_bytes(_legacy_line(_record(1)))
    append_record(journal, _record(2))
    first, second = journal.read_bytes().splitlines()
    assert json.loads(first) == _record(1)
    line = json.loads(second)
    assert set(line) == {"record", "sha256"} and line["record"] == _record(2)
    assert line["sha256"] == hashlib.sha256(canonical_json(_record(2))).hexdigest()
    assert read_records(journal) == [_record(1), _record(2)]
    assert not torn_path(journal).exists()
    assert oct(journal.stat().st_mode & 0o777) == "0o600"


def test_a_line_that_fails_its_checksum_is_set_aside(tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    for n in (1, 2, 3):
        append_record(journal, _record(n))
    lines = journal.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"n":2', b'"n":7')  # parses, but not what was written
    journal.write_bytes(b"".join(lines))
    found = read_journal_file(journal)
    assert found.records == [_record(1), _record(3)]
    assert [(t.line, t.reason) for t in found.torn] == [(2, "fails its checksum")]
    assert [t["text"].encode() + b"\n" for t in _torn(journal)] == [lines[1]]


# ----- torn lines -------------------------------------------------------------------------


def test_a_line_cut_mid_way_is_set_aside_said_once_and_the_next_append_is_its_own_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = tmp_path / "purges.jsonl"
    append_record(journal, _record(1))
    whole = journal.read_bytes()
    with journal.open("ab") as f:  # a crash part-way through the second append
        f.write(whole[: len(whole) // 2])
    append_record(journal, _record(3))  # starts a new line: the torn tail swallows nothing
    assert journal.read_bytes().count(b"\n") == 3

    with caplog.at_level(logging.WARNING, logger="chronicle.journal"):
        found = read_journal_file(journal)
        again = read_journal_file(journal)
    assert found.records == again.records == [_record(1), _record(3)]
    assert [t.line for t in found.torn] == [2] and again.torn == [] and again.notice is None
    said = [r.getMessage() for r in caplog.records]
    assert said == [found.notice] and found.notice is not None
    assert "1 torn line(s) (line 2: not one valid JSON record)" in found.notice
    assert str(torn_path(journal)) in found.notice and "\n" not in found.notice
    kept = _torn(journal)
    assert [(t["line"], t["text"]) for t in kept] == [(2, whole[: len(whole) // 2].decode())]
    # The journal was rewritten without it (atomically: no temporary left, mode kept).
    assert journal.read_bytes().count(b"\n") == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["purges.jsonl", "purges.jsonl.torn"]
    assert oct(journal.stat().st_mode & 0o777) == "0o600"
    # A second torn line later is added to the same file, and the total is said.
    with journal.open("ab") as f:
        f.write(b'{"record": {"n"')
    later = read_journal_file(journal)
    assert later.notice is not None and "(2 line(s) kept there in all)" in later.notice
    assert len(_torn(journal)) == 2 and later.records == [_record(1), _record(3)]


def test_two_records_joined_on_one_line_keep_the_whole_one(tmp_path: Path) -> None:
    """What the old append did after a torn write: the next record joined the torn tail."""
    journal = tmp_path / "checkpoints.jsonl"
    append_record(journal, _record(1))
    append_record(journal, _record(2))
    one, two = journal.read_bytes().splitlines(keepends=True)
    joined = one[:40] + two  # a torn record, then a whole self-checking one on one line
    legacy_joined = _legacy_line(_record(4)).rstrip() + _legacy_line(_record(5))
    journal.write_bytes(one + joined + legacy_joined)
    found = read_journal_file(journal)
    # The whole self-checking record is kept; old unchecked ones cannot be told from a
    # fragment, so that line is only set aside (whole, so nothing is lost).
    assert found.records == [_record(1), _record(2)]
    assert [t.line for t in found.torn] == [2, 3]
    assert [t["text"].encode() + b"\n" for t in _torn(journal)] == [joined, legacy_joined]
    assert read_records(journal) == [_record(1), _record(2)]
    assert journal.read_bytes() == one + two


def test_a_torn_purge_line_is_not_fatal_to_reading_the_purge_journal(tmp_path: Path) -> None:
    journal = tmp_path / "purges.jsonl"
    record = {"record": {"pupil": "00000000-0000-4000-8000-000000000001"}, "signature": "aa"}
    record["public_key"] = "bb"
    journal.write_bytes(_legacy_line(record) + b'{"record": {"pupil": "0000')
    assert [str(r.pupil_id) for r in read_journal(journal)] == [record["record"]["pupil"]]
    assert len(_torn(journal)) == 1


def test_appends_racing_a_reader_that_sets_a_torn_line_aside_lose_nothing(
    tmp_path: Path,
) -> None:
    """The rewrite replaces the file under the journal's lock; an appender that opened the
    old file sees it was replaced and appends to the new one."""
    journal = tmp_path / "checkpoints.jsonl"
    journal.write_bytes(_legacy_line(_record(0)) + b'{"torn')
    writers, each = 4, 40

    def write(w: int) -> None:
        for i in range(each):
            append_record(journal, _record(1000 * (w + 1) + i))

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    reader = threading.Thread(target=lambda: [read_records(journal) for _ in range(30)])
    for t in [*threads, reader]:
        t.start()
    for t in [*threads, reader]:
        t.join()
    got = sorted(r["n"] for r in read_records(journal))
    assert got == sorted([0] + [1000 * (w + 1) + i for w in range(writers) for i in range(each)])
    assert len(_torn(journal)) == 1


# ----- a full disk ------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs mounted for this test (CI runs as root: there it must mount)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        why = f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{why}: CI runs as root and must run the full-disk tests")
        pytest.skip(why)
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(disk: Path) -> Path:
    """Fill the file system to the last byte; the filler file, to free it again."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (1 << 16, 1 << 12, 1 << 8, 1):
            while True:
                try:
                    os.write(fd, b"\0" * chunk)
                except OSError as e:
                    assert e.errno == errno.ENOSPC
                    break
    finally:
        os.close(fd)
    return filler


def test_an_append_on_a_full_disk_fails_cleanly_leaves_nothing_and_works_once_freed(
    small_disk: Path,
) -> None:
    journal = small_disk / "ledger" / "checkpoints.jsonl"
    append_record(journal, _record(1))
    filler = _fill(small_disk)
    appended = 1
    with pytest.raises(JournalError) as refused:
        # The file's last page may still hold a line or two; the disk refuses after that.
        for n in range(2, 40):
            before = journal.read_bytes()
            append_record(journal, _record(n))
            appended = n
    assert appended < 39
    assert refused.value.errno == errno.ENOSPC and refused.value.filename == str(journal)
    message = str(refused.value)
    assert message.startswith(f"cannot write the journal {journal}: No space left on device")
    assert "free space" in message and "\n" not in message
    assert journal.read_bytes() == before  # no partial line left behind
    assert read_journal_file(journal).torn == []

    filler.unlink()
    append_record(journal, _record(99))
    found = read_journal_file(journal)
    assert found.torn == [] and not torn_path(journal).exists()
    assert [r["n"] for r in found.records] == [*range(1, appended + 1), 99]


def test_a_torn_line_found_on_a_full_disk_is_skipped_left_in_place_and_set_aside_later(
    small_disk: Path,
) -> None:
    journal = small_disk / "purges.jsonl"
    append_record(journal, _record(1))
    with journal.open("ab") as f:
        f.write(b'{"record": {"checkpoint": {"si')
    append_record(journal, _record(2))
    before = journal.read_bytes()
    filler = _fill(small_disk)
    full = read_journal_file(journal)
    assert full.records == [_record(1), _record(2)] and full.set_aside is None
    assert full.notice is not None and "skipped and left in place" in full.notice
    assert "No space left on device" in full.notice
    assert journal.read_bytes() == before  # nothing lost, nothing half-rewritten
    assert not (small_disk / "purges.jsonl.rewrite").exists()

    filler.unlink()
    freed = read_journal_file(journal)
    assert freed.records == [_record(1), _record(2)] and freed.set_aside == torn_path(journal)
    assert len(_torn(journal)) == 1 and read_journal_file(journal).notice is None


def test_a_checkpoint_on_a_full_disk_is_one_error_and_journalled_once_space_is_freed(
    open_records: OpenRecords, small_disk: Path
) -> None:
    """Both stores: the database is elsewhere, the journal on the full disk."""
    records = open_records()
    ledger = build_ledger(records, Ed25519PrivateKey.generate(), small_disk / "checkpoints.jsonl")
    records.save(a_pupil())
    ledger.checkpoint()
    filler = _fill(small_disk)
    with pytest.raises(LedgerError) as refused:
        for _ in range(20):
            records.save(a_pupil())
            ledger.checkpoint()
    message = str(refused.value)
    assert "No space left on device" in message and "\n" not in message
    assert "is stored in the database; it is journalled at the next checkpoint" in message
    sizes_in_db = [c.checkpoint["size"] for c in ledger.checkpoints()]
    journalled = [c.checkpoint["size"] for c in ledger.journal_checkpoints()]
    assert journalled == sizes_in_db[:-1]  # the database has it; the journal does not yet

    filler.unlink()
    records.save(a_pupil())
    ledger.checkpoint()
    assert ledger.journal_checkpoints() == ledger.checkpoints()  # the missed one, then the new
    assert read_journal_file(ledger.journal).torn == []


def test_a_reconcile_racing_checkpoints_never_takes_one_being_journalled_for_missing(
    open_records: OpenRecords, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start reconciles while another process signs checkpoints: the journal is locked
    from before each commit until its line is written, so the reconcile finds nothing
    missing (it would, every time, if it could look between the two) and each checkpoint
    is journalled exactly once. The append is slowed to widen the window."""
    records = open_records()
    key = Ed25519PrivateKey.generate()
    journal = tmp_path / "checkpoints.jsonl"
    signer, starter = build_ledger(records, key, journal), build_ledger(records, None, journal)
    slow_append = HeldJournal.append

    def append(self: HeldJournal, lines: list[dict[str, Any]]) -> None:
        time.sleep(0.02)
        slow_append(self, lines)

    monkeypatch.setattr(HeldJournal, "append", append)
    done = threading.Event()
    rejournalled: list[int] = []

    def reconcile() -> None:
        while not done.is_set():
            rejournalled.extend(c.checkpoint["size"] for c in starter.reconcile_journal())

    thread = threading.Thread(target=reconcile)
    thread.start()
    try:
        for _ in range(15):
            records.save(a_pupil())
            signer.checkpoint()
    finally:
        done.set()
        thread.join()
    assert rejournalled == []
    sizes = [c.checkpoint["size"] for c in signer.journal_checkpoints()]
    assert sizes == [c.checkpoint["size"] for c in signer.checkpoints()] and len(sizes) == 15
