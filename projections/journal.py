"""Append-only JSON-lines journals kept outside the database (checkpoints, purges).

They outlive database restores, which is the point: a journal line is written and synced
before the caller goes on.

**Line format.** Each line written since December 2026 is self-checking:

    {"record": <the record>, "sha256": "<hex SHA-256 of JCS(record)>"}

(JCS is RFC 8785; for these records, which hold only strings and integers, it is JSON with
sorted keys, no whitespace, UTF-8.) A line without `sha256` — written by earlier versions —
is read as the record itself. Records never have a top-level `sha256` key.

**Appending** (`append_record`, or `locked` for a writer that commits to the database and
journals as one step for every other process) takes an exclusive `flock` on the journal,
writes the whole line with one `os.write`, fsyncs the file, and fsyncs the folder when it
created the file. If the file does not end with a newline (an earlier append died
part-way), the line starts with one, so a torn tail stays a line of its own and never
swallows the new record. An append that fails (ENOSPC, EIO) cuts the file back to its
length before the append, so it leaves nothing behind, and raises `JournalError` with one
line naming the file and the fix.

**Reading** (`read_journal_file`) detects every line that does not parse, is not an object,
or fails its checksum ("torn": what a crash or a full disk leaves). Torn lines are never
silently dropped and never fatal: under the journal's lock each is appended to
`<journal>.torn` (one JSON object per torn line: when, the line number, why, the line's
text), fsynced, and the journal is rewritten without them (a temporary file, fsync,
atomic rename, folder fsync); one warning line says so (logger `chronicle.journal`) and the
caller gets it in `JournalRead.notice`. A complete self-checking record found inside a
torn line (two records joined on one line by an older version) is kept in the journal as
its own line. Where the journal cannot be rewritten (a read-only home) the torn lines are
skipped, reported on every read, and left in place.
"""

from __future__ import annotations

import base64
import errno
import fcntl
import hashlib
import json
import logging
import os
import stat
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crypto.jcs import CanonicalJSONError, canonical_json

log = logging.getLogger("chronicle.journal")
TORN_SUFFIX = ".torn"
_REWRITE_SUFFIX = ".rewrite"


class JournalError(OSError):
    """A journal could not be written; the message names the file and what to do. An
    `OSError` with the system's `errno` and the journal as `filename`, so whatever handles
    a failed file operation handles it too."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else super().__str__()


@dataclass(frozen=True)
class TornLine:
    """A line of a journal that is not a whole, intact record."""

    line: int  # 1-based line number in the journal as it was read
    reason: str


@dataclass(frozen=True)
class JournalRead:
    """What reading a journal found: its records, oldest first, and any torn lines."""

    records: list[dict[str, Any]] = field(default_factory=list)
    torn: list[TornLine] = field(default_factory=list)
    # Where the torn lines were kept, or None when they could not be set aside.
    set_aside: Path | None = None
    # One line for the operator when torn lines were found, else None.
    notice: str | None = None


def checksum(record: dict[str, Any], *, checked: bool = False) -> str:
    """Hex SHA-256 of JCS(record): the `sha256` of the record's journal line. Reading passes
    `checked=True`, skipping JCS's inspection for floats and unsafe integers (a line's
    record was inspected when it was written; one edited since fails its checksum anyway)."""
    return hashlib.sha256(canonical_json(record, checked=checked)).hexdigest()


def encode_line(record: dict[str, Any]) -> bytes:
    """The self-checking journal line for `record`, newline included: JCS(record) as it is
    hashed, so a reader checks the line's bytes without encoding the record again."""
    body = canonical_json(record)
    digest = hashlib.sha256(body).hexdigest().encode()
    return _HEAD + body + _DIGEST + digest + _TAIL + b"\n"


_HEAD, _DIGEST, _TAIL = b'{"record":', b',"sha256":"', b'"}'
_AFTER = len(_DIGEST) + 64 + len(_TAIL)  # the bytes after the record in such a line


def torn_path(journal: Path) -> Path:
    return journal.with_name(journal.name + TORN_SUFFIX)


# ----- appending --------------------------------------------------------------------------


def append_record(journal: Path, record: dict[str, Any]) -> None:
    """Append one record as a self-checking line, durably (see the module). The file is
    created 0600 and its folder 0700 (whatever the umask); a journal found with looser
    modes is made 0600. Raises `JournalError` when the line could not be written whole."""
    with locked(journal) as held:
        held.append([record])


def append_missing(
    journal: Path, records: list[dict[str, Any]], key: Callable[[dict[str, Any]], Hashable]
) -> list[dict[str, Any]]:
    """Append, in order, each of `records` whose `key` no record of the journal has, in one
    write under the journal's lock (so two processes reconciling at once add each once);
    return those appended. Torn lines count as absent (set them aside first)."""
    with locked(journal) as held:
        missing = held.missing(records, key)
        held.append(missing)
        return missing


class HeldJournal:
    """A journal under this process's exclusive lock (`locked`): no other process appends,
    sets torn lines aside or reconciles until the block ends."""

    def __init__(self, journal: Path, fd: int) -> None:
        self.path, self._fd = journal, fd

    def append(self, records: list[dict[str, Any]]) -> None:
        """Append the records' lines in one write (nothing for no records); `JournalError`
        when they could not be written whole (then none of them is left in the file)."""
        if not records:
            return
        try:
            _append(self._fd, b"".join(encode_line(r) for r in records))
        except OSError as e:
            raise _write_error(self.path, e) from None

    def missing(
        self, records: list[dict[str, Any]], key: Callable[[dict[str, Any]], Hashable]
    ) -> list[dict[str, Any]]:
        """Those of `records` whose `key` no intact record of the journal has, in order."""
        try:
            present, _, _ = _parse(_read_fd(self._fd))
        except OSError as e:
            raise _write_error(self.path, e) from None
        have = set()
        for record in present:
            with suppress(KeyError, TypeError, ValueError):
                have.add(key(record))
        missing = []
        for record in records:
            if key(record) not in have:
                have.add(key(record))
                missing.append(record)
        return missing


@contextmanager
def locked(journal: Path) -> Iterator[HeldJournal]:
    """The journal (created if missing) under an exclusive lock for the block: what a writer
    does inside — a database commit, then its journal line — happens as one step for every
    other process that takes the lock (a start reconciling the journal, a reader setting
    torn lines aside). `JournalError` if it cannot be opened or created."""
    opened = False
    try:
        with _for_append(journal) as fd:
            opened = True
            yield HeldJournal(journal, fd)
    except OSError as e:
        if opened or isinstance(e, JournalError):
            raise
        raise _write_error(journal, e) from None


@contextmanager
def _for_append(journal: Path) -> Iterator[int]:
    """The journal locked for appending (created 0600, its folder 0700, if missing); the
    folder is fsynced after a file it created was written."""
    if not journal.parent.is_dir():
        journal.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(journal.parent, 0o700)
    with _locked(journal, create=True) as (fd, created):
        if stat.S_IMODE(os.fstat(fd).st_mode) != 0o600:
            with suppress(OSError):  # not ours to change: still append, never lose a record
                os.fchmod(fd, 0o600)
        yield fd
        if created:
            _fsync_dir(journal.parent)


def _append(fd: int, data: bytes) -> None:
    """Write `data` (whole lines) at the end of the locked journal and fsync; on failure
    cut the file back to where it was, so no partial line stays."""
    size = os.fstat(fd).st_size
    if size and os.pread(fd, 1, size - 1) != b"\n":
        data = b"\n" + data  # a torn tail stays its own line
    try:
        written = os.write(fd, data)
        while written < len(data):  # a short write: the rest fails (ENOSPC) or goes on
            written += os.write(fd, data[written:])
        os.fsync(fd)
    except OSError:
        with suppress(OSError):  # we hold the lock: nobody appended after us
            os.ftruncate(fd, size)
            os.fsync(fd)
        raise


def _write_error(journal: Path, e: OSError) -> JournalError:
    reason = os.strerror(e.errno) if e.errno else str(e)
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = (
            "free space on the file system that holds it (df -h), then run the command "
            "again; nothing was lost"
        )
    elif e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        fix = "make CHRONICLE_HOME writable by the user Chronicle runs as, then try again"
    else:
        fix = "check the disk (dmesg) and try again"
    error = JournalError(f"cannot write the journal {journal}: {reason}; {fix}")
    error.errno, error.filename = e.errno, str(journal)
    return error


@contextmanager
def _locked(journal: Path, *, create: bool) -> Iterator[tuple[int, bool]]:
    """The journal opened read-write under an exclusive `flock`, and whether this call
    created it. After the lock is taken the path is checked to still name the same file (a
    reader may have replaced it while setting torn lines aside); if not, it is reopened."""
    while True:
        created = False
        try:
            fd = os.open(journal, os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:
            if not create:
                raise
            try:
                fd = os.open(journal, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
                created = True
            except FileExistsError:
                continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.stat(journal).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                yield fd, created
                return
        finally:
            os.close(fd)  # releases the lock


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ----- reading ----------------------------------------------------------------------------


def read_records(journal: Path | None) -> list[dict[str, Any]]:
    """Every intact record of the journal, oldest first (none if it does not exist); torn
    lines are set aside and reported (`read_journal_file`)."""
    return read_journal_file(journal).records


def read_journal_file(journal: Path | None) -> JournalRead:
    """Read the journal; set aside any torn line (see the module) and say so."""
    if journal is None:
        return JournalRead()
    try:
        data = journal.read_bytes()
    except FileNotFoundError:
        return JournalRead()
    records, torn, _ = _parse(data)
    if not torn:
        return JournalRead(records)
    # Something is wrong, or an append is under way: look again under the lock.
    return _set_aside(journal)


@dataclass
class _Line:
    number: int
    raw: bytes
    records: list[tuple[bytes, dict[str, Any]]]  # (the bytes to keep, the record)
    reason: str | None  # why the line is torn, or None


def _parse(data: bytes) -> tuple[list[dict[str, Any]], list[TornLine], list[_Line]]:
    lines: list[_Line] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        lines.append(_parse_line(number, raw))
    records = [record for line in lines for _, record in line.records]
    torn = [TornLine(line.number, line.reason) for line in lines if line.reason is not None]
    return records, torn, lines


def _parse_line(number: int, raw: bytes) -> _Line:
    fast = _as_written(raw)
    if fast is not None:
        return _Line(number, raw, [(raw, fast)], None)
    try:
        value = json.loads(raw)
    except ValueError:
        salvaged = _salvage(raw)
        return _Line(number, raw, salvaged, "not one valid JSON record")
    if not isinstance(value, dict):
        return _Line(number, raw, [], "not a JSON object")
    if "sha256" not in value:
        return _Line(number, raw, [(raw, value)], None)  # a line from an earlier version
    record = _checked(value)
    if record is None:
        return _Line(number, raw, [], "fails its checksum")
    return _Line(number, raw, [(raw, record)], None)


def _as_written(raw: bytes) -> dict[str, Any] | None:
    """The record of a line exactly as `encode_line` writes it whose checksum holds (the
    common case: the record's bytes are hashed as they stand), else None."""
    if len(raw) < len(_HEAD) + _AFTER or not raw.startswith(_HEAD) or not raw.endswith(_TAIL):
        return None
    body, rest = raw[len(_HEAD) : -_AFTER], raw[-_AFTER:]
    if not rest.startswith(_DIGEST):
        return None
    if hashlib.sha256(body).hexdigest().encode() != rest[len(_DIGEST) : -len(_TAIL)]:
        return None
    try:
        record = json.loads(body)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _checked(value: Any) -> dict[str, Any] | None:
    """The record of a self-checking line whose checksum holds, else None."""
    if not isinstance(value, dict) or set(value) != {"record", "sha256"}:
        return None
    record = value["record"]
    if not isinstance(record, dict) or not isinstance(value["sha256"], str):
        return None
    try:
        return record if checksum(record, checked=True) == value["sha256"] else None
    except CanonicalJSONError:
        return None


def _salvage(raw: bytes) -> list[tuple[bytes, dict[str, Any]]]:
    """Whole self-checking records inside a torn line (two joined, a torn one before a
    whole one). Only checksummed records are taken: a fragment cannot pass for one."""
    text = raw.decode("utf-8", "replace")
    decoder = json.JSONDecoder()
    found: list[tuple[bytes, dict[str, Any]]] = []
    start = text.find('{"record"')
    while start != -1:
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            end = start + 1
        else:
            record = _checked(value)
            if record is not None:
                found.append((text[start:end].encode(), record))
            else:
                end = start + 1
        start = text.find('{"record"', end)
    return found


def _set_aside(journal: Path) -> JournalRead:
    try:
        return _rewrite(journal)
    except OSError as e:
        return _skip(journal, e)


def _rewrite(journal: Path) -> JournalRead:
    with _locked(journal, create=False) as (fd, _):
        data = _read_fd(fd)
        records, torn, lines = _parse(data)
        if not torn:
            return JournalRead(records)
        kept = torn_path(journal)
        _append_torn(kept, journal, [line for line in lines if line.reason is not None])
        body = b"".join(raw + b"\n" for line in lines for raw, _ in line.records)
        temporary = journal.with_name(journal.name + _REWRITE_SUFFIX)
        try:
            out = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.fchmod(out, 0o600)
                _write_all(out, body)
                os.fsync(out)
            finally:
                os.close(out)
            os.replace(temporary, journal)
        except OSError:
            with suppress(OSError):
                temporary.unlink()
            raise
        _fsync_dir(journal.parent)
    total = _count_lines(kept)
    notice = (
        f"journal {journal}: {_describe(torn)} set aside in {kept} "
        f"({total} line(s) kept there in all); the journal was rewritten without "
        f"{'it' if len(torn) == 1 else 'them'}"
    )
    log.warning(notice)
    return JournalRead(records, torn, kept, notice)


def _skip(journal: Path, problem: OSError) -> JournalRead:
    """Read-only fallback: report the torn lines, skip them, leave the file alone."""
    try:
        fd = os.open(journal, os.O_RDONLY)
    except FileNotFoundError:
        return JournalRead()
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        records, torn, _ = _parse(_read_fd(fd))
    finally:
        os.close(fd)
    if not torn:
        return JournalRead(records)
    reason = os.strerror(problem.errno) if problem.errno else str(problem)
    notice = (
        f"journal {journal}: {_describe(torn)} skipped and left in place; it could not be "
        f"set aside in {torn_path(journal)} ({reason})"
    )
    log.warning(notice)
    return JournalRead(records, torn, None, notice)


def _append_torn(kept: Path, journal: Path, lines: list[_Line]) -> None:
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    out = b""
    for line in lines:
        entry: dict[str, Any] = {
            "set_aside_at": now,
            "journal": journal.name,
            "line": line.number,
            "reason": line.reason,
        }
        try:
            entry["text"] = line.raw.decode("utf-8")
        except UnicodeDecodeError:
            entry["base64"] = base64.b64encode(line.raw).decode()
        out += json.dumps(entry, sort_keys=True).encode() + b"\n"
    created = not kept.exists()
    fd = os.open(kept, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        _write_all(fd, out)
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        _fsync_dir(kept.parent)


def _describe(torn: list[TornLine]) -> str:
    shown = ", ".join(f"line {t.line}: {t.reason}" for t in torn[:3])
    more = f", and {len(torn) - 3} more" if len(torn) > 3 else ""
    return f"{len(torn)} torn line(s) ({shown}{more})"


def _read_fd(fd: int) -> bytes:
    chunks: list[bytes] = []
    offset = 0
    while True:
        chunk = os.pread(fd, 1 << 20, offset)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        offset += len(chunk)


def _write_all(fd: int, data: bytes) -> None:
    written = 0
    while written < len(data):
        written += os.write(fd, data[written:])


def _count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except OSError:
        return 0
