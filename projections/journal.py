"""Append-only JSON-lines journals kept outside the database (checkpoints, purges).

They outlive database restores, which is the point: a journal line is written and synced
before the caller goes on, and is never rewritten.
"""

from __future__ import annotations

import json
import os
import stat
from contextlib import suppress
from pathlib import Path
from typing import Any


def append_record(journal: Path, record: dict[str, Any]) -> None:
    """Append one JSON object as a line and fsync it. The file is created 0600 and its
    folder 0700 (whatever the umask); a journal found with looser modes is made 0600."""
    if not journal.parent.is_dir():
        journal.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(journal.parent, 0o700)
    line = json.dumps(record, sort_keys=True) + "\n"
    fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != 0o600:
            with suppress(OSError):  # not ours to change: still append, never lose a record
                os.fchmod(fd, 0o600)
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read_records(journal: Path | None) -> list[dict[str, Any]]:
    """Every record of the journal, oldest first (none if it does not exist)."""
    if journal is None or not journal.exists():
        return []
    return [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
