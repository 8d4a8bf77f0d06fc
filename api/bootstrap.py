"""The composition root: builds the application from settings. Nothing connects at import."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy.exc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing import persistence
from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url

from api.academies import Academies
from api.app.core import Parts
from api.app.idempotency import IdempotencyStore
from api.app.service import Chronicle
from api.application import Clock, PupilRecords, engine_options
from api.faults import explain_database_error
from api.retention import (
    PURGE_JOURNAL,
    Retention,
    create_tables,
    unapplied_purges,
    unapplied_purges_message,
)
from api.settings import Settings
from api.users import Users
from crypto.datakeys import keys_in_use
from crypto.kek import FileKekRing, key_file_problem, key_files
from crypto.signing import (
    SIGNING_KEY_FILE,
    create_signing_key,
    load_signing_key,
    public_key_hex,
)
from domain.policy import resolve_policy
from projections.catalogue import build_projections
from projections.journal import JournalError, read_journal_file
from projections.ledger import Ledger, SignedCheckpoint, rejournal, signed_checkpoint
from projections.ledger import checkpoints as checkpoint_table
from projections.ledger_losses import LOSS_JOURNAL, excused, read_loss_journal
from projections.runner import ProjectionRunner

log = logging.getLogger("chronicle.start")


class SetupError(Exception):
    """The installation is not set up (or not reachable); the message says what to run."""


class StoreUnavailable(SetupError):
    pass


_UNREACHABLE = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    persistence.OperationalError,
    persistence.InterfaceError,
)


@dataclass(frozen=True)
class InitReport:
    home: Path
    database: str
    created_keys: bool
    public_key: str
    # The trust's listed academies after init (a development home starts with the demo's).
    academies: tuple[str, ...] = ()


def init_home(settings: Settings) -> InitReport:
    """Create CHRONICLE_HOME (0700), its keys (0600), ledger/ (0700) and the database
    tables (a SQLite file 0600); never overwrite keys. An existing home whose folders others
    may write, or whose key files others may read, is refused before anything is written.
    A development home (CHRONICLE_ENV not production) lists the demo trust's academies; a
    production home starts with none (`chronicle academies add`)."""
    home = settings.home.resolve()
    if home.exists():
        check_home(settings)
    existed = any(settings.keys_dir.glob("kek-*.json")) if settings.keys_dir.exists() else False
    signing_existed = (settings.keys_dir / SIGNING_KEY_FILE).exists()
    if not (existed and signing_existed):
        _refuse_new_keys_for_keyed_database(settings, kek=not existed)
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    FileKekRing.create(settings.keys_dir, development=not settings.production)
    create_signing_key(settings.keys_dir)
    ledger_dir = home / "ledger"
    if not ledger_dir.exists():
        ledger_dir.mkdir(mode=0o700)
        os.chmod(ledger_dir, 0o700)
    records = open_records(settings)
    try:
        listed = Academies(records.datastore.engine)
        if not settings.production:
            from api.demo import list_academies

            list_academies(records.datastore.engine, datetime.now(UTC))
        academies = tuple(a.code for a in listed.everyone())
    finally:
        records.close()
    return InitReport(
        home=home,
        database=display_url(settings.store_url),
        created_keys=not existed,
        public_key=public_key_hex(load_signing_key(settings.keys_dir)),
        academies=academies,
    )


def _refuse_new_keys_for_keyed_database(settings: Settings, *, kek: bool) -> None:
    """`init` is about to create a KEK (`kek`) or the signing key: refuse if the database
    already relies on a KEK (one in force in its registry, or live wrapped data keys).
    A new KEK could not unwrap them, and once the real one is restored the new one would
    be current, wrapping new pupils' keys without ever having been backed up; a new
    signing key would not verify the purge journal or match the published key. Reads
    only; nothing is written."""
    if settings.database_url is None and not settings.sqlite_path.is_file():
        return  # a new SQLite home: no database yet
    engine = create_engine(settings.store_url)
    try:
        found = keys_in_use(engine)
    except _UNREACHABLE as e:
        raise _unreachable(settings, e) from None
    finally:
        engine.dispose()
    if not found.kids:
        return
    database = display_url(settings.store_url)
    if kek:
        raise SetupError(
            f"the database at {database} already relies on key-encryption key(s) "
            f"{', '.join(found.kids)} ({found.wrapped_keys} pupils' data keys are wrapped), "
            f"and {settings.keys_dir} holds none: restore kek-*.json (and retired/) from "
            'your key backup, then run the command again (docs/operations.md, "Missing or '
            'wrong key-encryption key"). `chronicle init` will not create a new key for '
            "this database; nothing was written"
        )
    raise SetupError(
        f"the checkpoint signing key {settings.keys_dir / SIGNING_KEY_FILE} is missing and "
        f"the database at {database} already holds the trust's records: restore it from "
        'your key backup (docs/operations.md, "Damaged signing key"). `chronicle init` '
        "will not create a new signing key for this database; nothing was written"
    )


def check_home(settings: Settings) -> None:
    """Refuse CHRONICLE_HOME, keys/ (and keys/retired/) or ledger/ when their group or other
    users may write them (they could swap a key or a journal), and any key file that is
    not 0600. One message, naming the path, its mode and the `chmod` that fixes it."""
    home = settings.home.resolve()
    folders = (
        ("CHRONICLE_HOME", home),
        ("the keys folder", settings.keys_dir),
        ("the retired keys folder", settings.keys_dir / "retired"),
        ("the ledger folder", home / "ledger"),
    )
    for what, folder in folders:
        if not folder.is_dir():
            continue
        mode = stat.S_IMODE(folder.stat().st_mode)
        if mode & 0o022:
            raise SetupError(
                f"{what} {folder} is group- or world-writable (mode {mode:04o}): anyone "
                f"who can write it can replace the trust's keys or journals. Run "
                f"`chmod 700 {folder}`"
            )
    if settings.keys_dir.is_dir():
        for path in key_files(settings.keys_dir):
            problem = key_file_problem(path)
            if problem is not None:
                raise SetupError(problem)


def open_records(
    settings: Settings,
    clock: Clock | None = None,
    *,
    check_purges: bool = True,
    check_behind: bool = True,
) -> PupilRecords:
    """Open the pupil records named by the settings, failing closed on any key problem, and
    on a journalled purge this database does not reflect (unless `check_purges` is off, which
    only `chronicle retention reapply-purges` does), and on a database behind its checkpoint
    journal (unless `check_behind` is off, which only the verbs of the restore runbook do:
    `ledger verify`, `ledger acknowledge-loss`, `retention reapply-purges`)."""
    home = settings.home.resolve()
    if not home.is_dir():
        raise SetupError(
            f"CHRONICLE_HOME {home} does not exist: run `chronicle init` first, or set "
            "CHRONICLE_HOME to your installation's folder"
        )
    check_home(settings)
    check_store(settings, behind_ok=not check_behind)  # damaged, emptied, rolled back
    policy = resolve_policy(settings.policy)
    ring = FileKekRing(settings.keys_dir, allow_development=not settings.production)
    try:
        with _private_files():
            _create_sqlite_file(settings.store_url)
            records = PupilRecords(
                database_url=settings.store_url, ring=ring, clock=clock, policy=policy
            )
    except _UNREACHABLE as e:
        raise _unreachable(settings, e) from None
    if check_purges:
        pending = unapplied_purges(records, purge_journal_path(settings))
        if pending:
            records.close()
            raise SetupError(unapplied_purges_message(pending))
    return records


@contextmanager
def _private_files() -> Iterator[None]:
    """Files created inside (the database, its -wal and -shm) are the owner's only."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def _create_sqlite_file(url: str) -> None:
    """Create an empty SQLite database file 0600 if there is none (SQLite makes the -wal
    and -shm files with its mode), so no other user may ever read the store's file."""
    path = _sqlite_path(url)
    if path is None or path.exists() or not path.parent.is_dir():
        return
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def build_ledger(
    records: PupilRecords, signing_key: Ed25519PrivateKey | None, journal: Path | None
) -> Ledger:
    """The ledger over `records`' event store, in the same database."""
    return Ledger(
        engine=records.datastore.engine,
        transaction=records.datastore.transaction,
        recorder=records.recorder,
        events_table=records.recorder.events_record_cls.__table__,  # type: ignore[attr-defined]
        signing_key=signing_key,
        journal=journal,
        clock=records.clock,
    )


def open_ledger(settings: Settings, records: PupilRecords) -> Ledger:
    """The installation's ledger: signing key and checkpoint journal from CHRONICLE_HOME."""
    return build_ledger(records, load_signing_key(settings.keys_dir), journal_path(settings))


def journal_path(settings: Settings) -> Path:
    return settings.home.resolve() / "ledger" / "checkpoints.jsonl"


def purge_journal_path(settings: Settings) -> Path:
    return settings.home.resolve() / "ledger" / PURGE_JOURNAL


def open_retention(settings: Settings, records: PupilRecords, ledger: Ledger) -> Retention:
    """The DPO's retention operations; purges also bring the read models up to date."""
    runner = ProjectionRunner(records, build_projections(records.policy))
    retention = Retention(
        records,
        ledger,
        load_signing_key(settings.keys_dir),
        purge_journal_path(settings),
        after_purge=runner.catch_up,
    )
    finish_interrupted_purges(retention)
    return retention


def finish_interrupted_purges(retention: Retention) -> list[str]:
    """Finish every purge a crash or a full disk interrupted (`Retention.resume`), at every
    start of the service and of every verb that opens the retention operations, and say so:
    one warning line per pupil (its id, never anything else), also returned."""
    said = []
    for pupil_id, outcome in retention.resume():
        if outcome == "purged":
            line = (
                f"finished the interrupted purge of pupil {pupil_id}: its key is destroyed "
                "and the signed purge record is in the table and the journal"
            )
        else:
            line = (
                f"dropped the interrupted purge of pupil {pupil_id}: it stopped before its "
                "tombstone, so nothing was purged; the proposal stands, approve it again"
            )
        log.warning(line)
        said.append(line)
    return said


def assemble(
    records: PupilRecords,
    ledger: Ledger,
    *,
    users: Users | None = None,
    signing_key: Ed25519PrivateKey | None = None,
    purge_journal: Path | None = None,
) -> Chronicle:
    """The application over open records and ledger. Purges need the trust's signing key
    and a purge journal; without them the purge use cases answer "not available here".
    With them, a purge an earlier process left half-done is finished first."""
    engine = records.datastore.engine
    create_tables(engine)
    Academies(engine)  # the trust's academy list: every academy code is checked against it
    runner = ProjectionRunner(records, build_projections(records.policy))
    retention = None
    if signing_key is not None and purge_journal is not None:
        retention = Retention(
            records, ledger, signing_key, purge_journal, after_purge=runner.catch_up
        )
        finish_interrupted_purges(retention)
    parts = Parts(
        records=records,
        ledger=ledger,
        users=users or Users(engine),
        idempotency=IdempotencyStore(engine),
        runner=runner,
        retention=retention,
    )
    return Chronicle(parts)


def open_chronicle(
    settings: Settings, clock: Clock | None = None, *, check_purges: bool = True
) -> Chronicle:
    """The installation's application: records, ledger, retention, users, from settings."""
    records = open_records(settings, clock, check_purges=check_purges)
    try:
        key = load_signing_key(settings.keys_dir)
        ledger = build_ledger(records, key, journal_path(settings))
        return assemble(
            records, ledger, signing_key=key, purge_journal=purge_journal_path(settings)
        )
    except BaseException:
        records.close()
        raise


def open_users(settings: Settings) -> tuple[Users, Callable[[], None]]:
    """The installation's user table (no keys needed to manage it) and how to close it."""
    engine = _open_engine(settings)
    return Users(engine), engine.dispose


def open_academies(settings: Settings) -> tuple[Academies, Callable[[], None]]:
    """The trust's academy list (no keys needed to manage it) and how to close it."""
    engine = _open_engine(settings)
    return Academies(engine), engine.dispose


def _open_engine(settings: Settings) -> sqlalchemy.engine.Engine:
    """An engine on the installation's database, for the verbs that need no keys; the home's
    modes are checked as for every other verb."""
    if settings.home.resolve().is_dir():
        check_home(settings)
    with _private_files():
        _create_sqlite_file(settings.store_url)
    # Checked on checkout, as the event store's (docs/api.md, "When the database is unavailable").
    engine = create_engine(settings.store_url, **engine_options(settings.store_url))
    try:
        with engine.connect():
            pass
    except _UNREACHABLE as e:
        engine.dispose()
        raise _unreachable(settings, e) from None
    return engine


def _unreachable(settings: Settings, e: Exception) -> StoreUnavailable:
    database = display_url(settings.store_url)
    return StoreUnavailable(
        explain_database_error(e, database)
        or f"cannot reach the database at {database}: {type(e).__name__}. Check "
        "CHRONICLE_DATABASE_URL and that the server is running"
    )


def display_url(url: str) -> str:
    """The URL with any password hidden, safe for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


# ----- the store and its journals, checked at every start -----------------------------------


def check_store(settings: Settings, *, behind_ok: bool = False) -> list[str]:
    """At every start, before the database is opened for use (docs/operations.md, "Recovery
    runbook"); returns the lines it said (each also logged as a warning):

    1. both journals are read: a torn line is set aside in `<journal>.torn` and said, never
       fatal (`projections.journal`);
    2. SQLite: the database file is checked with `PRAGMA quick_check`
       (CHRONICLE_SQLITE_QUICK_CHECK); a damaged file is refused;
    3. the database's newest checkpoint must be at least the journal's newest, and the
       journal's newest must be in the database with the same root: a database restored to
       before it, emptied (a missing or 0-byte SQLite file) or replaced is refused, naming
       both sizes. Nothing is written before a refusal. Journalled checkpoints that two
       DPOs acknowledged as lost (`chronicle ledger acknowledge-loss`, a signed record in
       `ledger/losses.jsonl`) are left out of this comparison; with `behind_ok` (the
       restore runbook's verbs) a database behind its journal is said, not refused;
    4. every database checkpoint the journal lacks (a crash or a full disk between the
       database commit and the journal append) is appended to it: "N checkpoint(s)
       re-journalled". A journal that cannot be written then is said, not fatal.
    """
    said: list[str] = []
    journal = journal_path(settings)
    found = read_journal_file(journal)
    purges_found = read_journal_file(purge_journal_path(settings))
    said += [n for n in (found.notice, purges_found.notice) if n]
    journalled = _checkpoints_of(found.records)
    acknowledged = read_loss_journal(journal.parent / LOSS_JOURNAL)
    if acknowledged:
        public = _public_key_or_none(settings)
        journalled = [c for c in journalled if excused(c, acknowledged, public) is None]
    newest = max(journalled, key=lambda c: c.checkpoint["size"], default=None)
    database = display_url(settings.store_url)
    sqlite = _sqlite_path(settings.store_url)
    if sqlite is not None:
        empty = "does not exist" if not sqlite.exists() else None
        if empty is None and sqlite.stat().st_size == 0:
            empty = "is empty (0 bytes)"
        if empty is not None:
            if newest is not None:
                raise SetupError(
                    _behind(database, 0, newest, journal, f"the database file {sqlite} {empty}")
                )
            return said
        if settings.sqlite_quick_check:
            _quick_check(sqlite)
    stored = _stored_checkpoints(settings)
    if newest is not None:
        size = newest.checkpoint["size"]
        top = max((c.checkpoint["size"] for c in stored), default=0)
        if top < size and behind_ok:
            line = _behind(database, top, newest, journal, None).split(": the database was")[0]
            line += ": opened for the restore runbook's verbs only"
            log.warning(line)
            return [*said, line]
        if top < size:
            raise SetupError(_behind(database, top, newest, journal, None))
        if not any(c.checkpoint == newest.checkpoint for c in stored):
            raise SetupError(
                f"the database at {database} has no checkpoint of size {size} with the root "
                f"the checkpoint journal {journal} records (the database's newest is size "
                f"{top}): it is another installation's database, or its history was "
                "rewritten. Nothing was changed. Point CHRONICLE_DATABASE_URL at this "
                "installation's database or restore it from your newest backup "
                '(docs/operations.md, Recovery runbook, "Database behind its journal")'
            )
    have = {(c.checkpoint["size"], c.checkpoint["root"]) for c in journalled}
    missing = [c for c in stored if (c.checkpoint["size"], c.checkpoint["root"]) not in have]
    if missing:
        try:
            added = rejournal(journal, missing)
        except JournalError as e:
            line = f"{len(missing)} checkpoint(s) of the database are not journalled yet: {e}"
        else:
            line = (
                f"{len(added)} checkpoint(s) re-journalled: the database had them and the "
                f"checkpoint journal {journal} did not (sizes "
                f"{_sizes([c.checkpoint['size'] for c in added])})"
            )
        log.warning(line)
        said.append(line)
    return said


def _behind(
    database: str, size: int, newest: SignedCheckpoint, journal: Path, what: str | None
) -> str:
    found = what or f"the database at {database} holds checkpoints up to size {size}"
    return (
        f"{found} but the checkpoint journal {journal} records a checkpoint of size "
        f"{newest.checkpoint['size']} (issued {newest.checkpoint['issued_at']}): the database "
        "was restored from an older backup, emptied or replaced, and entries written since "
        "would be lost. Nothing was changed. Restore the newest backup, or accept the loss "
        'as docs/operations.md, Recovery runbook, "Database behind its journal" says'
    )


def _public_key_or_none(settings: Settings) -> str | None:
    """The trust's public key, to check acknowledgements with; None when the signing key
    cannot be read (then nothing is excused, and the key's own error comes later)."""
    try:
        return public_key_hex(load_signing_key(settings.keys_dir))
    except Exception:
        return None


def _checkpoints_of(records: list[dict[str, object]]) -> list[SignedCheckpoint]:
    found = []
    for record in records:
        with suppress(KeyError, TypeError):
            found.append(signed_checkpoint(record))
    return found


def _sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL; None for another store or an in-memory one."""
    parsed = make_url(url)
    database = parsed.database
    if (
        parsed.get_backend_name() != "sqlite"
        or not database
        or database == ":memory:"
        or database.startswith("file:")
        or parsed.query.get("uri")
    ):
        return None
    return Path(database)


def _quick_check(path: Path) -> None:
    """`PRAGMA quick_check` on the file (reads every page; writes nothing). Only damage is
    refused here: SQLite's corrupt or not-a-database errors, or problems quick_check lists.
    Any other error (locked, a full disk, a read-only file) is not damage, so it is left to
    the opening that follows, which says what it is."""
    problem: str | None = None
    try:
        connection = sqlite3.connect(path, timeout=30)
        try:
            rows = [str(r[0]) for r in connection.execute("PRAGMA quick_check")]
        finally:
            connection.close()
    except sqlite3.DatabaseError as e:
        code = getattr(e, "sqlite_errorcode", 0) & 0xFF
        text = str(e).lower()
        if code not in (_SQLITE_CORRUPT, _SQLITE_NOTADB) and not (
            "malformed" in text or "not a database" in text
        ):
            return
        problem = str(e)
    else:
        if rows != ["ok"]:
            problem = f"{len(rows)} problem(s), the first: {rows[0][:120]}"
    if problem is not None:
        raise SetupError(
            f"the SQLite database {path} is damaged (quick_check: {problem}). Nothing was "
            "changed. Stop Chronicle and restore the database from your newest backup "
            '(docs/operations.md, Recovery runbook, "Damaged database")'
        )


_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26  # SQLite's primary result codes for damage


def _stored_checkpoints(settings: Settings) -> list[SignedCheckpoint]:
    """The database's checkpoints (none when it has no ledger yet), read on an engine of
    its own that is disposed of straight after."""
    engine = create_engine(settings.store_url)
    try:
        with engine.connect() as connection:
            if not sqlalchemy.inspect(connection).has_table(checkpoint_table.name):
                return []
            bodies = connection.execute(
                select(checkpoint_table.c.body).order_by(checkpoint_table.c.size)
            ).scalars()
            return _checkpoints_of([json.loads(b) for b in bodies])
    except _UNREACHABLE as e:
        raise _unreachable(settings, e) from None
    except sqlalchemy.exc.DatabaseError as e:
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0][:120]
        raise SetupError(
            f"the database at {display_url(settings.store_url)} cannot be read ({reason}). "
            "Nothing was changed. Restore it from your newest backup (docs/operations.md, "
            'Recovery runbook, "Damaged database")'
        ) from None
    finally:
        engine.dispose()


def _sizes(sizes: list[int]) -> str:
    shown = ", ".join(str(s) for s in sizes[:10])
    return shown + (f" and {len(sizes) - 10} more" if len(sizes) > 10 else "")
