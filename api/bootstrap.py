"""The composition root: builds the application from settings. Nothing connects at import."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy.exc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing import persistence
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from api.academies import Academies
from api.app.core import Parts
from api.app.idempotency import IdempotencyStore
from api.app.service import Chronicle
from api.application import Clock, PupilRecords
from api.retention import (
    PURGE_JOURNAL,
    Retention,
    create_tables,
    unapplied_purges,
    unapplied_purges_message,
)
from api.settings import Settings
from api.users import Users
from crypto.kek import FileKekRing
from crypto.signing import create_signing_key, load_signing_key, public_key_hex
from domain.policy import resolve_policy
from projections.catalogue import build_projections
from projections.ledger import Ledger
from projections.runner import ProjectionRunner


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
    """Create CHRONICLE_HOME, its keys (0600) and the database tables; never overwrite keys.
    A development home (CHRONICLE_ENV not production) lists the demo trust's academies; a
    production home starts with none (`chronicle academies add`)."""
    home = settings.home.resolve()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    existed = any(settings.keys_dir.glob("kek-*.json")) if settings.keys_dir.exists() else False
    FileKekRing.create(settings.keys_dir, development=not settings.production)
    create_signing_key(settings.keys_dir)
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


def open_records(
    settings: Settings, clock: Clock | None = None, *, check_purges: bool = True
) -> PupilRecords:
    """Open the pupil records named by the settings, failing closed on any key problem, and
    on a journalled purge this database does not reflect (unless `check_purges` is off, which
    only `chronicle retention reapply-purges` does)."""
    home = settings.home.resolve()
    if not home.is_dir():
        raise SetupError(
            f"CHRONICLE_HOME {home} does not exist: run `chronicle init` first, or set "
            "CHRONICLE_HOME to your installation's folder"
        )
    policy = resolve_policy(settings.policy)
    ring = FileKekRing(settings.keys_dir, allow_development=not settings.production)
    try:
        records = PupilRecords(
            database_url=settings.store_url, ring=ring, clock=clock, policy=policy
        )
    except _UNREACHABLE as e:
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        raise StoreUnavailable(
            f"cannot reach the database at {display_url(settings.store_url)}: {reason}. "
            "Check CHRONICLE_DATABASE_URL and that the server is running"
        ) from None
    if check_purges:
        pending = unapplied_purges(records, purge_journal_path(settings))
        if pending:
            records.close()
            raise SetupError(unapplied_purges_message(pending))
    return records


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
    return Retention(
        records,
        ledger,
        load_signing_key(settings.keys_dir),
        purge_journal_path(settings),
        after_purge=runner.catch_up,
    )


def assemble(
    records: PupilRecords,
    ledger: Ledger,
    *,
    users: Users | None = None,
    signing_key: Ed25519PrivateKey | None = None,
    purge_journal: Path | None = None,
) -> Chronicle:
    """The application over open records and ledger. Purges need the trust's signing key
    and a purge journal; without them the purge use cases answer "not available here"."""
    engine = records.datastore.engine
    create_tables(engine)
    Academies(engine)  # the trust's academy list: every academy code is checked against it
    runner = ProjectionRunner(records, build_projections(records.policy))
    retention = None
    if signing_key is not None and purge_journal is not None:
        retention = Retention(
            records, ledger, signing_key, purge_journal, after_purge=runner.catch_up
        )
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
    engine = create_engine(settings.store_url)
    return Users(engine), engine.dispose


def open_academies(settings: Settings) -> tuple[Academies, Callable[[], None]]:
    """The trust's academy list (no keys needed to manage it) and how to close it."""
    engine = create_engine(settings.store_url)
    return Academies(engine), engine.dispose


def display_url(url: str) -> str:
    """The URL with any password hidden, safe for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)
