"""`chronicle keys rotate-kek`, `keys destroy-retired` and `keys list`: KEK epochs.

A rotation starts a new KEK epoch (every live data key re-wrapped under a new KEK, the old
KEK retired); destroying KEKs retired longer ago than the backup retention window ends the
readability of every database backup that needed them, purged pupils included
(docs/encryption.md, "KEK epochs"; docs/operations.md, "KEK epochs: rotate, then destroy").
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from api.cli_common import CommandFailed, out, records
from crypto.datakeys import Epoch


def add_key_commands(keys_app: typer.Typer) -> None:
    """Register the KEK-epoch verbs on `chronicle keys`."""
    keys_app.command("rotate-kek")(rotate_kek)
    keys_app.command("destroy-retired")(destroy_retired)
    keys_app.command("list")(list_keks)


def rotate_kek(
    batch: Annotated[
        int, typer.Option(min=1, max=100_000, help="Data keys re-wrapped per transaction.")
    ] = 500,
) -> None:
    """Start a new KEK epoch: re-wrap every data key under a new KEK, retire the old.

    Batches of one transaction each; an interrupted rotation is finished by running this
    again (same new KEK)."""
    with records() as app_:
        done = app_.data_keys.rotate_epoch(app_.clock(), batch)
    verb = "Finished the interrupted rotation to" if done.resumed else "New key-encryption key"
    out.print(f"{verb} {done.kid}; re-wrapped {done.rewrapped} data keys.", highlight=False)
    if done.retired:
        out.print(f"Retired (moved to keys/retired/): {', '.join(done.retired)}.", highlight=False)
    out.print(
        f"Back up keys/kek-{done.kid}.json now. Destroy retired keys once no kept backup "
        "needs them: chronicle keys destroy-retired --older-than <backup retention days>.",
        highlight=False,
    )


def destroy_retired(
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            envvar="CHRONICLE_BACKUP_RETENTION_DAYS",
            help="Destroy KEKs retired at least this long ago: days, e.g. 35 or 35d "
            "(your database backup retention). Default: CHRONICLE_BACKUP_RETENTION_DAYS.",
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list what would be destroyed.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Destroy KEKs retired longer ago than the backup retention window.

    Database backups that need them (taken before their retirement) can no longer be
    read, purged pupils included."""
    window = _days(older_than)
    with records() as app_:
        now = app_.clock()
        keys = app_.data_keys
        gone = (
            keys.due_for_destruction(window, now) if dry_run else keys.destroy_retired(window, now)
        )
    if as_json:
        out.print_json(json.dumps([_epoch_json(e) for e in gone]))
        return
    verb = "Would destroy" if dry_run else "Destroyed"
    if not gone:
        out.print(f"No retired key-encryption key is older than {window.days} days.")
        return
    for e in gone:
        retired = e.retired_at.strftime("%Y-%m-%d") if e.retired_at else "?"
        out.print(f"{verb} key-encryption key {e.kid} (retired {retired}).", highlight=False)
    if not dry_run:
        out.print(
            "Destroy every copy of these key files in your key backups too: while one is "
            "kept, database backups older than their retirement stay readable.",
            highlight=False,
        )


def list_keks(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the key-encryption keys: created, retired, destroyed, live data keys."""
    with records() as app_:
        epochs = app_.data_keys.epochs()
    if as_json:
        out.print_json(json.dumps([_epoch_json(e) for e in epochs]))
        return
    table = Table("kid", "created", "retired", "destroyed", "live data keys")
    for e in epochs:
        table.add_row(
            e.kid, _day(e.created_at), _day(e.retired_at), _day(e.destroyed_at), str(e.live_keys)
        )
    out.print(table)


def _days(text: str) -> timedelta:
    value = text.strip().lower().removesuffix("d").strip()
    if not value.isdigit():
        raise CommandFailed(
            f"--older-than {text!r}: give whole days, e.g. 35 or 35d (at least your database "
            "backup retention)"
        )
    return timedelta(days=int(value))


def _day(at: datetime | None) -> str:
    return "" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _epoch_json(e: Epoch) -> dict[str, object]:
    return {
        "kid": e.kid,
        "created_at": e.created_at.isoformat(),
        "retired_at": None if e.retired_at is None else e.retired_at.isoformat(),
        "destroyed_at": None if e.destroyed_at is None else e.destroyed_at.isoformat(),
        "live_data_keys": e.live_keys,
    }
