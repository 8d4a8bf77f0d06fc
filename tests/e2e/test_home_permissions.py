"""CHRONICLE_HOME's permissions, as an operator meets them: Chronicle refuses to start on a
home or keys folder others may write, or a key file others may read, with one `error:` line
naming the path, its mode and the `chmod` that fixes it; and what it creates is the owner's
only (the database and its journals 0600, the folders 0700).

CI runs as root, which ignores permissions when opening files: the modes are checked with
stat, never by trying to read as someone else.
"""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_cli import ok, run


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _one_error_line(result: subprocess.CompletedProcess[str], *parts: str) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    for part in parts:
        assert part in lines[0], (part, lines[0])
    return lines[0]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    ok(run(home, "init"))
    return home


def test_a_fresh_init_and_demo_leave_the_database_and_journals_the_owners_only(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    ok(run(home, "init"))
    # 20 pupils or more: the demo's former pupils are purged, so the purge journal is written.
    ok(run(home, "demo", "--pupils", "20"))
    ok(run(home, "ledger", "checkpoint"))
    for folder in (home, home / "keys", home / "ledger"):
        assert _mode(folder) == 0o700, folder
    files = [
        home / "chronicle.db",
        home / "ledger" / "checkpoints.jsonl",
        home / "ledger" / "purges.jsonl",
        *(home / "keys").iterdir(),
    ]
    files += [p for p in (home / "chronicle.db-wal", home / "chronicle.db-shm") if p.exists()]
    for path in files:
        assert path.is_file(), path
        assert _mode(path) == 0o600, (path, oct(_mode(path)))


def test_a_world_writable_home_is_refused_by_every_verb_and_by_init(home: Path) -> None:
    home.chmod(0o777)
    try:
        for verb in (["pupils", "list"], ["init"], ["users", "list"], ["academies", "list"]):
            _one_error_line(
                run(home, *verb),
                f"CHRONICLE_HOME {home.resolve()}",
                "mode 0777",
                f"chmod 700 {home.resolve()}",
            )
        home.chmod(0o775)  # group-writable is refused too
        _one_error_line(run(home, "pupils", "list"), "mode 0775", "chmod 700")
    finally:
        home.chmod(0o700)
    ok(run(home, "pupils", "list"))  # after the chmod it starts


def test_a_group_writable_keys_folder_is_refused(home: Path) -> None:
    keys = (home / "keys").resolve()
    keys.chmod(0o770)
    try:
        _one_error_line(
            run(home, "pupils", "list"), f"the keys folder {keys}", "mode 0770", f"chmod 700 {keys}"
        )
        _one_error_line(run(home, "init"), "mode 0770", f"chmod 700 {keys}")
    finally:
        keys.chmod(0o700)
    ok(run(home, "pupils", "list"))


@pytest.mark.parametrize("pattern", ["kek-*.json", "checkpoint-signing.pem"])
def test_a_key_file_others_may_read_is_refused(home: Path, pattern: str) -> None:
    (key,) = (home / "keys").resolve().glob(pattern)
    key.chmod(0o644)
    try:
        for verb in (["pupils", "list"], ["init"]):
            _one_error_line(run(home, *verb), f"key file {key}", "mode 0644", f"chmod 600 {key}")
    finally:
        key.chmod(0o600)
    ok(run(home, "pupils", "list"))


def test_a_world_writable_ledger_folder_is_refused(home: Path) -> None:
    ledger = (home / "ledger").resolve()
    ledger.chmod(0o777)
    try:
        _one_error_line(run(home, "pupils", "list"), f"the ledger folder {ledger}", "chmod 700")
    finally:
        ledger.chmod(0o700)
