"""A full disk, as an operator meets it: every verb says so in one `error:` line (exit 1),
never a traceback, and once space is freed the same verbs work and nothing was half-written.

The disk is a real tmpfs this test mounts and unmounts. Mounting needs root: CI runs as root,
so under CI the test fails rather than skip when it cannot mount.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.e2e.test_cli import ok, run


@contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs under CI: {mounted.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(folder: Path) -> Path:
    """Fill the file system holding `folder` to the last block."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            try:
                while os.write(fd, b"\0" * size) == size:
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def one_error_line(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word.lower() in lines[0].lower(), lines[0]
    return lines[0]


def test_a_full_disk_under_the_whole_installation(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "8m") as disk:
        home = disk / "home"
        ok(run(home, "init"))
        ok(run(home, "demo", "--pupils", "4"))
        pupils = ok(run(home, "pupils", "list", "--json"))
        filler = fill(disk)
        for verb in (
            ("users", "add", "OAK-sendco-8", "--role", "sendco", "--academy", "OAK"),
            ("ledger", "checkpoint"),
            ("pupils", "list", "--json"),
            ("retention", "due"),
        ):
            one_error_line(run(home, *verb), "disk", "df -h")
        filler.unlink()
        # Nothing half-written: the refused user does not exist, the same pupils are listed.
        assert "OAK-sendco-8" not in ok(run(home, "users", "list"))
        assert ok(run(home, "pupils", "list", "--json")) == pupils
        ok(run(home, "users", "add", "OAK-sendco-8", "--role", "sendco", "--academy", "OAK"))
        ok(run(home, "ledger", "checkpoint"))


def test_a_full_disk_under_the_journals_only(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ok(run(home, "init"))
    with tmpfs(home / "ledger", "64k") as ledger:
        filler = fill(ledger)
        line = one_error_line(run(home, "demo", "--pupils", "4"), "no space left", "df -h")
        assert str(home / "ledger") in line
        filler.unlink()
        ok(run(home, "ledger", "checkpoint"))


def test_a_purge_approved_on_a_full_disk_is_finished_by_the_next_start(tmp_path: Path) -> None:
    """The journal step of a purge hits a full disk: the approval fails in one line, and once
    space is freed the next verb finishes it (key destroyed, record journalled once)."""
    home = tmp_path / "home"
    ok(run(home, "init"))
    ok(run(home, "demo", "--pupils", "4"))
    pupil = json.loads(ok(run(home, "pupils", "list", "--json")))[0]["pupil_id"]
    ok(
        run(
            home,
            *("retention", "propose-purge", pupil, "--by", "dpo-ada"),
            *("--override", "court order 2026/117"),
        )
    )
    with tmpfs(home / "ledger", "256k") as ledger:
        for name in ("checkpoints.jsonl", "purges.jsonl"):
            (ledger / name).touch(mode=0o600)
        filler = fill(ledger)
        refused = run(home, "retention", "approve-purge", pupil, "--by", "dpo-bo")
        # The start may first say that a checkpoint is not journalled yet (the same disk);
        # the verb's own failure is one error: line, last.
        assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
        last = refused.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and "no space left" in last.lower(), last
        filler.unlink()
        # The next start of anything finishes the purge, and says so.
        started = run(home, "retention", "records", "--json")
        assert started.returncode == 0, started.stderr
        assert f"finished the interrupted purge of pupil {pupil}" in started.stderr
        assert [r["record"]["pupil"] for r in json.loads(started.stdout)] == [pupil]
        journalled = [
            json.loads(line) for line in (ledger / "purges.jsonl").read_text().splitlines()
        ]
        assert len(journalled) == 1
        again = run(home, "retention", "records", "--json")
        assert "interrupted" not in again.stderr
    purged = run(home, "chronology", pupil)
    assert purged.returncode == 1 and "purged" in purged.stderr


@pytest.mark.parametrize("full_after", ["intent", "tombstone", "journal", "record", "key"])
def test_a_disk_that_fills_up_after_each_purge_step_leaves_a_purge_the_next_start_finishes(
    tmp_path: Path, full_after: str
) -> None:
    """The whole installation (SQLite, keys, journals) on a tmpfs that fills up right after
    each step of a purge: the approval fails, nothing is half-done that the next start does
    not finish, and once space is freed the pupil is purged with its key destroyed and its
    signed record journalled exactly once (or, filled before the tombstone, nothing was
    purged and the proposal stands)."""
    from api.bootstrap import init_home, open_chronicle, open_ledger, purge_journal_path
    from api.bootstrap import open_records as open_home_records
    from api.retention import Retention, read_journal
    from api.settings import Settings
    from crypto.signing import load_signing_key
    from domain.values import Recorder, Role
    from tests.factories import a_pupil

    later = datetime(2060, 1, 1, 12, 0, tzinfo=UTC)
    with tmpfs(tmp_path / "disk", "16m") as disk:
        settings = Settings(home=disk / "home")
        init_home(settings)
        filler: list[Path] = []

        def step(name: str) -> None:
            if name == full_after:
                filler.append(fill(disk))

        records = open_home_records(settings, clock=lambda: later)
        pupil = a_pupil("Zanzibarine")  # due in 2040
        try:
            records.save(pupil)
            retention = Retention(
                records,
                open_ledger(settings, records),
                load_signing_key(settings.keys_dir),
                purge_journal_path(settings),
                on_step=step,
            )
            retention.propose(pupil.id, Recorder("dpo-ada", Role.DPO))
            with pytest.raises(Exception) as failed:  # whatever the full disk raised
                retention.approve(pupil.id, Recorder("dpo-bo", Role.DPO))
            said = f"{type(failed.value).__name__}: {failed.value}".lower()
            assert any(w in said for w in ("space", "full", "disk i/o")), said
        finally:
            records.close()
        assert filler, "the disk was never filled"
        filler[0].unlink()

        open_chronicle(settings, clock=lambda: later).close()  # the next start
        records = open_home_records(settings, clock=lambda: later)
        try:
            journalled = [r.pupil_id for r in read_journal(purge_journal_path(settings))]
            if full_after == "intent":  # before the tombstone: nothing of it happened
                assert records.get_pupil(pupil.id).legal_given_names == "Zanzibarine"
                assert journalled == []
            else:
                assert records.data_keys.shredded_at(pupil.id) is not None
                assert journalled == [pupil.id]
        finally:
            records.close()
