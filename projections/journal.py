"""Append-only JSON-lines journals kept outside the database (checkpoints, purges).

They outlive database restores, which is the point: a journal line is written and synced
before the caller goes on, and is never rewritten.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def append_record(journal: Path, record: dict[str, Any]) -> None:
    """Append one JSON object as a line and fsync it; the file is created 0600."""
    journal.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=True) + "\n"
    fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read_records(journal: Path | None) -> list[dict[str, Any]]:
    """Every record of the journal, oldest first (none if it does not exist)."""
    if journal is None or not journal.exists():
        return []
    return [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
